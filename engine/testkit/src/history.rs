//! Synthetic history: a deterministic, realistic event log for a city of a
//! given size (micro grids, events over days), with daily and weekly
//! rhythms, peak days, category mix, and each case's follow-up actions.
//! Written as JSON Lines in the recorded-history format (see
//! docs/history.md): one `report` line per event and one `act` line per
//! action, in time order, cases referred to by a log-local `ref`.

use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use wangge_policy::Timestamp;

/// One line of a history log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// An event reported into a workflow.
    Report {
        at: Timestamp,
        /// Log-local case reference (case ids are assigned on replay).
        #[serde(rename = "ref")]
        case_ref: u64,
        workflow: String,
        unit: String,
        data: Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// An action on the case reported as `ref`.
    Act {
        at: Timestamp,
        #[serde(rename = "ref")]
        case_ref: u64,
        action: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
    },
}

impl Record {
    pub fn at(&self) -> Timestamp {
        match self {
            Record::Report { at, .. } | Record::Act { at, .. } => *at,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub micro_grids: u64,
    pub events: u64,
    pub days: u64,
    pub seed: u64,
    /// Local midnight of the first day.
    pub start: Timestamp,
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index by integer weights.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// Categories and how often they are reported (per mille, roughly as in
/// the source: everyday matters dominate, disputes next, hazards rare).
const CATEGORIES: &[(&str, u64)] = &[
    ("垃圾堆放", 180),
    ("占道经营", 120),
    ("噪音扰民", 90),
    ("设施损坏", 110),
    ("绿化养护", 60),
    ("乱贴乱画", 60),
    ("物业纠纷", 90),
    ("邻里纠纷", 80),
    ("婚姻家庭", 30),
    ("消费维权", 40),
    ("劳资纠纷", 30),
    ("燃气安全", 25),
    ("消防安全", 25),
    ("治安隐患", 40),
    ("群体性聚集", 5),
    ("其他", 15),
];

/// Relative volume by hour of day (0–23): quiet nights, morning and
/// afternoon peaks.
const HOURS: &[u64] = &[
    1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 15, 12, 8, 9, 13, 14, 13, 11, 8, 6, 5, 4, 2, 1,
];

/// A record waiting to be written, ordered by time then creation.
struct Queued {
    at: Timestamp,
    seq: u64,
    record: Record,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Generates the log, in time order, into `out`. Returns the number of lines.
pub fn generate(cfg: &GenConfig, out: &mut dyn Write) -> std::io::Result<u64> {
    let mut rng = Rng(cfg.seed);
    let days = cfg.days.max(1);
    // Day weights: weekdays busier than weekends, ~1 day in 60 a peak (3×).
    let day_weights: Vec<u64> = (0..days)
        .map(|d| {
            let weekday = (d + 3) % 7; // `start` is taken as a Thursday-aligned day count
            let base = if weekday >= 5 { 6 } else { 10 };
            if rng.below(60) == 0 {
                base * 3
            } else {
                base
            }
        })
        .collect();
    let total_weight: u64 = day_weights.iter().sum();
    let cat_weights: Vec<u64> = CATEGORIES.iter().map(|(_, w)| *w).collect();
    let mut lines = 0u64;
    let mut next_ref = 1u64;
    let mut seq = 0u64;
    let mut queue: std::collections::BinaryHeap<std::cmp::Reverse<Queued>> =
        std::collections::BinaryHeap::new();
    let emit = |q: Queued, out: &mut dyn Write| -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &q.record)?;
        out.write_all(b"\n")
    };
    for (d, w) in day_weights.iter().enumerate() {
        // This day's share of the events (the last day takes the remainder).
        let count = if d as u64 + 1 == days {
            cfg.events.saturating_sub(next_ref - 1)
        } else {
            cfg.events * w / total_weight.max(1)
        };
        let mut day: Vec<Record> = Vec::with_capacity(count as usize * 6);
        let day_start = cfg.start + d as i64 * 86_400;
        for _ in 0..count {
            let hour = rng.weighted(HOURS) as i64;
            let at = day_start + hour * 3600 + rng.below(3600) as i64;
            let case_ref = next_ref;
            next_ref += 1;
            let (category, _) = CATEGORIES[rng.weighted(&cat_weights)];
            let people = match rng.below(100) {
                0..=79 => 1 + rng.below(3),
                80..=96 => 3 + rng.below(10),
                _ => 10 + rng.below(40),
            };
            let risk = 1 + rng.weighted(&[60, 25, 10, 4, 1]) as u64;
            let unit = format!("WG-{:06}", rng.below(cfg.micro_grids.max(1)));
            day.push(Record::Report {
                at,
                case_ref,
                workflow: "事件处置".into(),
                unit,
                data: json!({"类别": category, "人数": people, "风险": risk}),
                key: Some(format!("gen-{}-{case_ref}", cfg.seed)),
            });
            // Follow-up: most cases are handled promptly, some slowly
            // (their limits run out), a few are voided or reopened.
            let mut t = at;
            let mut step = |rng: &mut Rng, minutes: u64| {
                t += (5 + rng.below(minutes.max(1))) as i64 * 60;
                t
            };
            if rng.chance(3) {
                day.push(Record::Act {
                    at: step(&mut rng, 30),
                    case_ref,
                    action: "作废".into(),
                    outcome: None,
                });
                continue;
            }
            let slow = if rng.chance(12) { 24 * 60 } else { 90 };
            for action in ["立案", "派遣", "处置"] {
                day.push(Record::Act {
                    at: step(&mut rng, slow),
                    case_ref,
                    action: action.into(),
                    outcome: None,
                });
            }
            let satisfied = !rng.chance(6);
            day.push(Record::Act {
                at: step(&mut rng, 120),
                case_ref,
                action: "反馈".into(),
                outcome: Some(if satisfied { "满意" } else { "不满意" }.into()),
            });
            if satisfied {
                day.push(Record::Act {
                    at: step(&mut rng, 240),
                    case_ref,
                    action: "核查".into(),
                    outcome: Some("合格".into()),
                });
            }
        }
        // Follow-ups may fall on later days: everything goes through one
        // time-ordered queue, written out up to the end of this day.
        for record in day {
            seq += 1;
            queue.push(std::cmp::Reverse(Queued {
                at: record.at(),
                seq,
                record,
            }));
        }
        let day_end = day_start + 86_400;
        while queue.peek().is_some_and(|q| q.0.at < day_end) {
            if let Some(std::cmp::Reverse(q)) = queue.pop() {
                emit(q, out)?;
                lines += 1;
            }
        }
    }
    while let Some(std::cmp::Reverse(q)) = queue.pop() {
        emit(q, out)?;
        lines += 1;
    }
    Ok(lines)
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub lines: u64,
    pub reports: u64,
    pub actions: u64,
    /// Actions the policy refused (illegal in the case's state, …).
    pub refused: u64,
    pub timers_fired: u64,
}

/// Replays a log through `svc` on `clock`: for each line, the clock moves to
/// its time, due timers fire, then the report or action is applied. A line
/// that is not valid JSON is an error naming its line number.
pub fn replay(
    svc: &wangge_app::CaseService,
    clock: &wangge_policy::ManualClock,
    lines: impl Iterator<Item = std::io::Result<String>>,
) -> Result<ReplayStats, wangge_app::AppError> {
    use wangge_policy::CaseError;
    use wangge_policy::{Action, Actor};
    let mut stats = ReplayStats::default();
    let mut ids: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let replayer = Actor {
        on_behalf: None,
        actor: "replay".into(),
        note: None,
    };
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| CaseError::InvalidArgument {
            field: format!("line {}", n + 1),
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record =
            serde_json::from_str(&line).map_err(|e| CaseError::InvalidArgument {
                field: format!("line {}", n + 1),
                message: e.to_string(),
            })?;
        stats.lines += 1;
        if record.at() > wangge_policy::Clock::now(clock) {
            clock.set(record.at());
        }
        stats.timers_fired += svc.fire_due()? as u64;
        match record {
            Record::Report {
                case_ref,
                workflow,
                unit,
                data,
                key,
                ..
            } => {
                let (c, _) = svc.report(wangge_app::Report {
                    on_behalf: None,
                    workflow,
                    unit: Some(unit),
                    data,
                    idempotency_key: key,
                    actor: "replay".into(),
                })?;
                ids.insert(case_ref, c.id);
                stats.reports += 1;
            }
            Record::Act {
                case_ref,
                action,
                outcome,
                ..
            } => {
                stats.actions += 1;
                let Some(id) = ids.get(&case_ref) else {
                    stats.refused += 1;
                    continue;
                };
                let a = Action::Transition {
                    name: action,
                    outcome,
                    assignee: None,
                };
                if svc.act(*id, &a, &replayer, None).is_err() {
                    stats.refused += 1;
                }
            }
        }
    }
    Ok(stats)
}
