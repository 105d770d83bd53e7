//! What a classifying table of two parameters reads in its second: when
//! and where a report came in. The time is the report's, on the workflow's
//! calendar (its zone, its working days and hours); the unit is the
//! reporting unit's attributes as the registry had them at report time.

use serde_json::{json, Value};
use wangge_dsl::date::weekday_of_days;

use crate::calendar::CompiledCalendar;
use crate::clock::Timestamp;
use crate::zone::Zone;

const DAY: i64 = 86_400;
const WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];

/// `{时间, 日期, 时刻, 星期, 工作日, 工作时间, 单位}`. Without a calendar,
/// `工作日` and `工作时间` are `null` (unknown), never a guess.
pub(crate) fn report_context(
    zone: &Zone,
    calendar: Option<&CompiledCalendar>,
    now: Timestamp,
    unit: Option<&Value>,
) -> Value {
    let local = zone.to_local(now);
    let (day, sod) = (local.div_euclid(DAY), local.rem_euclid(DAY));
    let weekday = WEEKDAYS[usize::from(weekday_of_days(day)) % 7];
    let text = zone.format(now);
    let working_day = calendar.map(|c| c.is_working_day(day));
    let working_time = calendar.map(|c| c.intervals(day).iter().any(|&(a, b)| a <= sod && sod < b));
    json!({
        "时间": text,
        "日期": text.get(..10),
        "时刻": text.get(11..16),
        "星期": weekday,
        "工作日": working_day,
        "工作时间": working_time,
        "单位": unit,
    })
}
