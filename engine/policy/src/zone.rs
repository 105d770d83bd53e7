//! The time zone a calendar counts in: a fixed UTC offset (`timezone
//! "+08:00"`) or an IANA zone (`timezone "Asia/Shanghai"`) from the zone
//! database built into the binary (the same answers on every machine).
//! "Local seconds" are seconds since 1970-01-01T00:00 on the zone's wall
//! clock.

use jiff::tz::TimeZone;

use crate::calendar::format_ts;
use crate::clock::Timestamp;

/// A calendar's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// A fixed UTC offset, in seconds.
    Fixed(i64),
    /// An IANA zone: its offset follows the zone's rules (daylight saving,
    /// historical changes).
    Named(TimeZone),
}

/// `t` as a jiff timestamp, held within the years jiff represents (±9999,
/// beyond any time a case has).
fn timestamp(t: Timestamp) -> jiff::Timestamp {
    let t = t.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    jiff::Timestamp::from_second(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

impl Zone {
    /// China Standard Time: the zone of a calendar that names none.
    pub const CHINA: Zone = Zone::Fixed(8 * 3600);

    /// The UTC offset in force at `t`, in seconds.
    pub fn offset_at(&self, t: Timestamp) -> i64 {
        match self {
            Zone::Fixed(o) => *o,
            Zone::Named(tz) => i64::from(tz.to_offset(timestamp(t)).seconds()),
        }
    }

    /// The moment of a wall-clock time. A time skipped by a change of
    /// offset (spring forward) is read with the offset before the change,
    /// a repeated one (fall back) as its first occurrence (RFC 5545's
    /// "compatible" choice).
    pub fn to_utc(&self, local: i64) -> Timestamp {
        match self {
            Zone::Fixed(o) => local - o,
            Zone::Named(tz) => {
                let wall = timestamp(local).to_zoned_datetime(TimeZone::UTC).datetime();
                match tz.to_timestamp(wall) {
                    Ok(t) => t.as_second(),
                    // Out of jiff's range: the offset at that edge.
                    Err(_) => local - self.offset_at(local),
                }
            }
        }
    }

    /// Local seconds of `t`.
    pub fn to_local(&self, t: Timestamp) -> i64 {
        t + self.offset_at(t)
    }

    /// `t` as RFC 3339 at the offset in force then.
    pub fn format(&self, t: Timestamp) -> String {
        format_ts(t, self.offset_at(t))
    }

    /// How the policy names it: `+08:00` or `Asia/Shanghai`.
    pub fn name(&self) -> String {
        match self {
            Zone::Fixed(o) => {
                let sign = if *o < 0 { '-' } else { '+' };
                format!("{sign}{:02}:{:02}", o.abs() / 3600, o.abs() % 3600 / 60)
            }
            Zone::Named(tz) => tz.iana_name().unwrap_or("UTC").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::parse_ts;

    fn named(name: &str) -> Zone {
        Zone::Named(jiff::tz::db().get(name).unwrap())
    }

    #[test]
    fn a_named_zone_follows_daylight_saving() {
        let ny = named("America/New_York");
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
        let before = parse_ts("2026-03-07T12:00:00-05:00").unwrap();
        let after = parse_ts("2026-03-09T12:00:00-04:00").unwrap();
        assert_eq!(ny.offset_at(before), -5 * 3600);
        assert_eq!(ny.offset_at(after), -4 * 3600);
        assert_eq!(ny.to_utc(ny.to_local(after)), after);
        assert_eq!(ny.format(after), "2026-03-09T12:00:00-04:00");
        // 02:30 does not exist that day: read with the offset before.
        let gap = ny.to_utc(ny.to_local(before) + 86_400 - 12 * 3600 + 2 * 3600 + 1800);
        assert_eq!(ny.format(gap), "2026-03-08T03:30:00-04:00");
        assert_eq!(ny.name(), "America/New_York");
    }

    #[test]
    fn shanghai_is_the_fixed_eight_hours() {
        let sh = named("Asia/Shanghai");
        let t = parse_ts("2026-10-09T17:30:00+08:00").unwrap();
        assert_eq!(sh.offset_at(t), Zone::CHINA.offset_at(t));
        assert_eq!(
            sh.to_utc(sh.to_local(t)),
            Zone::CHINA.to_utc(Zone::CHINA.to_local(t))
        );
        assert_eq!(Zone::CHINA.name(), "+08:00");
        assert_eq!(Zone::Fixed(-(5 * 3600 + 1800)).name(), "-05:30");
    }
}
