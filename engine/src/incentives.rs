//! Incentives: activity the engine cannot see (recorded idempotently per
//! period), monthly subsidy previews and settlements computed from the
//! engine's own case records plus that activity, and residents' points
//! ledgers. Every write is idempotent by key; settlements are immutable
//! (settling again returns the same record; a correction is a new, linked
//! record); a points balance never goes negative.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rhai::Dynamic;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wangge_dsl::suggest::help_for;

use crate::case_error::CaseError;
use crate::clock::Timestamp;
use crate::error::EvalError;
use crate::org::Person;
use crate::policy::PolicySet;
use crate::store::Store;
use crate::subsidy::{rhai_map, Breakdown, CompiledSubsidy};
use crate::value::json_to_dynamic;

/// Why an incentive call was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, thiserror::Error, miette::Diagnostic)]
pub enum IncentiveError {
    /// NOT_FOUND
    #[error("no person `{id}` in the organisation registry")]
    #[diagnostic(code(wangge::incentive::unknown_person))]
    UnknownPerson {
        id: String,
        #[help]
        help: Option<String>,
    },
    /// FAILED_PRECONDITION
    #[error("no subsidy scheme pays the role `{role}` of `{person}`")]
    #[diagnostic(
        code(wangge::incentive::no_scheme),
        help("schemes in the active policy pay: {known}")
    )]
    NoScheme {
        person: String,
        role: String,
        known: String,
    },
    /// INVALID_ARGUMENT
    #[error("no {what} `{name}`")]
    #[diagnostic(code(wangge::incentive::unknown_rule))]
    UnknownRule {
        what: &'static str,
        name: String,
        #[help]
        help: Option<String>,
    },
    /// INVALID_ARGUMENT
    #[error("invalid `{field}`: {message}")]
    #[diagnostic(code(wangge::incentive::invalid_argument))]
    InvalidArgument { field: String, message: String },
    /// FAILED_PRECONDITION
    #[error("`{resident}` has {balance} points; redeeming needs {needed}")]
    #[diagnostic(code(wangge::incentive::insufficient_points))]
    InsufficientPoints {
        resident: String,
        balance: i64,
        needed: i64,
    },
    /// ALREADY_EXISTS
    #[error("key `{key}` was already used for a different {what}")]
    #[diagnostic(code(wangge::incentive::key_reused))]
    KeyReused { key: String, what: &'static str },
    /// NOT_FOUND
    #[error("`{person}` has no settlement for {period}")]
    #[diagnostic(
        code(wangge::incentive::not_settled),
        help("settle the period first; a correction replaces a settlement")
    )]
    NotSettled { person: String, period: String },
    /// INVALID_ARGUMENT (input) or INTERNAL (script failure)
    #[error(transparent)]
    #[diagnostic(transparent)]
    Eval(#[from] EvalError),
    /// UNAVAILABLE
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] CaseError),
}

type R<T> = Result<T, IncentiveError>;

fn invalid(field: &str, message: impl Into<String>) -> IncentiveError {
    IncentiveError::InvalidArgument {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A month, `2026-09`, in the policy's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub month: u8,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Period {
    pub fn parse(text: &str, offset: i64) -> R<Period> {
        let bad = || invalid("period", format!("`{text}` is not a month like `2026-09`"));
        let (y, m) = text.split_once('-').ok_or_else(bad)?;
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u8 = m.parse().map_err(|_| bad())?;
        let first = wangge_dsl::ast::Date::new(year, month, 1).ok_or_else(bad)?;
        let (ny, nm) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let next = wangge_dsl::ast::Date::new(ny, nm, 1).ok_or_else(bad)?;
        Ok(Period {
            year,
            month,
            start: first.to_days() * 86_400 - offset,
            end: next.to_days() * 86_400 - offset,
        })
    }

    pub fn key(&self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    fn contains(&self, t: Timestamp) -> bool {
        t >= self.start && t < self.end
    }
}

/// Activity recorded through the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub person: String,
    pub kind: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub period: String,
    pub unit: Option<String>,
    pub key: String,
    pub note: Option<String>,
    pub recorded_at: Timestamp,
}

/// A settlement (or a preview, which is never stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settlement {
    /// `2026-09/P001/1`; later corrections count up.
    pub id: String,
    pub period: String,
    pub person: String,
    pub name: String,
    pub seq: u32,
    pub breakdown: Breakdown,
    /// The figures the calcs saw (`统计`).
    pub stats: Value,
    pub settled_at: Timestamp,
    /// The settlement this one corrects.
    pub corrects: Option<String>,
    pub reason: Option<String>,
}

/// What settling a period did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SettleSummary {
    pub period: String,
    /// Settled now.
    pub created: u64,
    /// Already settled before (returned unchanged).
    pub existing: u64,
    /// The sum of every returned settlement's total.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub settlements: Vec<Settlement>,
}

/// One entry of a resident's points ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointsEntry {
    pub resident: String,
    pub seq: u64,
    /// `earn` or `redeem`.
    pub kind: String,
    pub rule: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Signed: positive when earned.
    pub points: i64,
    /// The balance after this entry.
    pub balance: i64,
    pub key: String,
    pub note: Option<String>,
    pub at: Timestamp,
    pub policy_version: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Balance {
    balance: i64,
    next: u64,
}

fn enc<T: Serialize>(v: &T) -> R<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| {
        IncentiveError::Store(CaseError::Storage {
            message: e.to_string(),
        })
    })
}

fn dec<T: for<'de> Deserialize<'de>>(b: &[u8]) -> R<T> {
    serde_json::from_slice(b).map_err(|e| {
        IncentiveError::Store(CaseError::Storage {
            message: format!("a ledger record cannot be read: {e}"),
        })
    })
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\u{0}").into_bytes()
}

/// Per-person figures of one period, gathered from cases and activity.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub reported: i64,
    pub closed: i64,
    pub on_time: i64,
    pub satisfied: i64,
    pub unsatisfied: i64,
    pub reopened: i64,
    pub by_workflow: BTreeMap<String, i64>,
    pub by_class: BTreeMap<String, i64>,
    pub units: BTreeSet<String>,
    pub activities: BTreeMap<String, Decimal>,
}

fn rate(n: i64, d: i64) -> Decimal {
    if d <= 0 {
        Decimal::ZERO
    } else {
        (Decimal::from(n) / Decimal::from(d)).round_dp(4)
    }
}

impl Figures {
    /// `统计` as calcs see it: counts as integers, rates and quantities as
    /// exact decimals, every declared activity kind present.
    pub fn to_rhai(&self, kinds: &[String]) -> Dynamic {
        let counts = |m: &BTreeMap<String, i64>| {
            let mut map = rhai::Map::new();
            for (k, v) in m {
                map.insert(k.as_str().into(), Dynamic::from_int(*v));
            }
            Dynamic::from_map(map)
        };
        let mut acts = rhai::Map::new();
        for k in kinds {
            acts.insert(k.as_str().into(), Dynamic::from_decimal(Decimal::ZERO));
        }
        for (k, v) in &self.activities {
            acts.insert(k.as_str().into(), Dynamic::from_decimal(*v));
        }
        let feedback = self.satisfied + self.unsatisfied;
        rhai_map(vec![
            ("上报", Dynamic::from_int(self.reported)),
            ("办结", Dynamic::from_int(self.closed)),
            ("按期", Dynamic::from_int(self.on_time)),
            ("满意", Dynamic::from_int(self.satisfied)),
            ("不满意", Dynamic::from_int(self.unsatisfied)),
            ("返工", Dynamic::from_int(self.reopened)),
            (
                "按期率",
                Dynamic::from_decimal(rate(self.on_time, self.closed)),
            ),
            (
                "满意率",
                Dynamic::from_decimal(rate(self.satisfied, feedback)),
            ),
            (
                "返工率",
                Dynamic::from_decimal(rate(self.reopened, self.closed)),
            ),
            ("按流程", counts(&self.by_workflow)),
            ("按等级", counts(&self.by_class)),
            ("活动", Dynamic::from_map(acts)),
            (
                "网格",
                Dynamic::from_array(
                    self.units
                        .iter()
                        .map(|u| Dynamic::from(u.clone()))
                        .collect(),
                ),
            ),
        ])
    }
}

/// Gathers every person's figures for `period` from the stored cases (who
/// acted on each case, from its events) and the recorded activity.
pub fn gather(store: &dyn Store, period: &Period) -> R<HashMap<String, Figures>> {
    let mut out: HashMap<String, Figures> = HashMap::new();
    let mut relevant = Vec::new();
    store.scan_cases(&mut |c| {
        let created = period.contains(c.created_at);
        let closed = c.closed_at.is_some_and(|t| period.contains(t));
        if created || closed {
            relevant.push(c);
        }
        true
    })?;
    for c in relevant {
        let events = store.events(c.id)?;
        if period.contains(c.created_at) {
            if let Some(r) = events.first().filter(|e| e.seq == 0) {
                out.entry(r.actor.clone()).or_default().reported += 1;
            }
        }
        let closed = c.closed_at.is_some_and(|t| period.contains(t)) && c.state != "作废";
        if !closed {
            continue;
        }
        let actors: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.seq > 0 && e.actor != "timer")
            .map(|e| e.actor.as_str())
            .collect();
        let feedback = events
            .iter()
            .rev()
            .find_map(|e| match e.outcome.as_deref() {
                Some("满意") => Some(true),
                Some("不满意") => Some(false),
                _ => None,
            });
        for a in actors {
            let f = out.entry(a.to_string()).or_default();
            f.closed += 1;
            if c.escalations == 0 && c.overdue == 0 {
                f.on_time += 1;
            }
            match feedback {
                Some(true) => f.satisfied += 1,
                Some(false) => f.unsatisfied += 1,
                None => {}
            }
            if c.reopened > 0 {
                f.reopened += 1;
            }
            *f.by_workflow.entry(c.workflow.clone()).or_default() += 1;
            if let Some(class) = &c.class {
                *f.by_class.entry(class.clone()).or_default() += 1;
            }
            if let Some(u) = &c.unit {
                f.units.insert(u.clone());
            }
        }
    }
    let mut acts: Vec<Activity> = Vec::new();
    let mut failed = None;
    store.ledger_scan(&key(&["A", &period.key(), ""]), &mut |_, v| {
        match dec::<Activity>(v) {
            Ok(a) => acts.push(a),
            Err(e) => {
                failed = Some(e);
                return false;
            }
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    for a in acts {
        let f = out.entry(a.person.clone()).or_default();
        *f.activities.entry(a.kind.clone()).or_default() += a.quantity;
        if let Some(u) = a.unit {
            f.units.insert(u);
        }
    }
    Ok(out)
}

/// A new activity record.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub person: String,
    pub kind: String,
    pub quantity: Decimal,
    pub period: String,
    pub unit: Option<String>,
    pub key: String,
    pub note: Option<String>,
}

/// The incentive service over a store.
pub struct Incentives {
    store: Arc<dyn Store>,
    /// Writes are serialised: settlements per period and points per
    /// resident must see their own previous writes.
    write: Mutex<()>,
}

fn lock_failed() -> IncentiveError {
    IncentiveError::Store(CaseError::Storage {
        message: "the incentive lock is poisoned".into(),
    })
}

impl Incentives {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Incentives {
            store,
            write: Mutex::new(()),
        }
    }

    fn person(&self, id: &str) -> R<Person> {
        let people = self.store.people()?;
        let help = help_for(id, people.iter().map(|p| p.id.as_str()));
        people
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(IncentiveError::UnknownPerson {
                id: id.to_string(),
                help,
            })
    }

    fn scheme<'a>(&self, set: &'a PolicySet, p: &Person) -> R<&'a Arc<CompiledSubsidy>> {
        set.subsidies
            .get(&p.role)
            .ok_or_else(|| IncentiveError::NoScheme {
                person: p.id.clone(),
                role: p.role.clone(),
                known: set
                    .subsidies
                    .keys()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Records activity; the same key with the same content returns the
    /// first record (`false`), with other content is refused.
    pub fn record_activity(
        &self,
        set: &PolicySet,
        a: NewActivity,
        now: Timestamp,
    ) -> R<(Activity, bool)> {
        if a.key.is_empty() {
            return Err(invalid("key", "is required (it makes retries safe)"));
        }
        if a.quantity <= Decimal::ZERO {
            return Err(invalid(
                "quantity",
                format!("`{}` is not above zero", a.quantity),
            ));
        }
        let period = Period::parse(&a.period, set.utc_offset())?;
        let person = self.person(&a.person)?;
        let scheme = self.scheme(set, &person)?;
        if !scheme.activities.contains(&a.kind) {
            return Err(IncentiveError::UnknownRule {
                what: "activity kind",
                name: a.kind.clone(),
                help: help_for(&a.kind, scheme.activities.iter().map(String::as_str)).or_else(
                    || {
                        Some(format!(
                            "`{}` records: {}",
                            scheme.name,
                            scheme.activities.join(", ")
                        ))
                    },
                ),
            });
        }
        let record = Activity {
            person: a.person.clone(),
            kind: a.kind,
            quantity: a.quantity.normalize(),
            period: period.key(),
            unit: a.unit,
            key: a.key.clone(),
            note: a.note,
            recorded_at: now,
        };
        let _g = self.write.lock().map_err(|_| lock_failed())?;
        let id_key = key(&["a", &a.person, &a.key]);
        if let Some(old) = self.store.ledger_get(&id_key)? {
            let old: Activity = dec(&old)?;
            let same = Activity {
                recorded_at: old.recorded_at,
                ..record.clone()
            };
            return if same == old {
                Ok((old, false))
            } else {
                Err(IncentiveError::KeyReused {
                    key: a.key,
                    what: "activity",
                })
            };
        }
        let bytes = enc(&record)?;
        self.store.ledger_put(vec![
            (id_key, bytes.clone()),
            (
                key(&["A", &record.period, &record.person, &record.key]),
                bytes,
            ),
        ])?;
        Ok((record, true))
    }

    /// Recorded activity of a period (and a person, if given).
    pub fn activities(&self, period: &str, person: Option<&str>) -> R<Vec<Activity>> {
        let prefix = match person {
            Some(p) => key(&["A", period, p, ""]),
            None => key(&["A", period, ""]),
        };
        let mut out = Vec::new();
        let mut failed = None;
        self.store.ledger_scan(&prefix, &mut |_, v| match dec(v) {
            Ok(a) => {
                out.push(a);
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn compute(
        set: &PolicySet,
        scheme: &CompiledSubsidy,
        person: &Person,
        period: &Period,
        figures: Option<&Figures>,
    ) -> R<(Breakdown, Value)> {
        let empty = Figures::default();
        let stats = figures.unwrap_or(&empty).to_rhai(&scheme.activities);
        let person_json = serde_json::json!({
            "编号": person.id, "姓名": person.name, "角色": person.role,
            "网格": person.unit, "党员": person.party_member,
        });
        let days = (period.end - period.start) / 86_400;
        let period_map = rhai_map(vec![
            ("月份", Dynamic::from(period.key())),
            ("天数", Dynamic::from_int(days)),
        ]);
        let shown = crate::subsidy::context_json(&stats);
        let b = scheme.compute(
            set,
            &[
                ("统计", stats),
                ("人员", json_to_dynamic(&person_json)),
                ("期间", period_map),
            ],
        )?;
        Ok((b, shown))
    }

    /// What `person` would be paid for `period` now (nothing is stored).
    pub fn preview(
        &self,
        set: &PolicySet,
        person: &str,
        period: &str,
        now: Timestamp,
    ) -> R<Settlement> {
        let p = self.person(person)?;
        let scheme = self.scheme(set, &p)?;
        let period = Period::parse(period, set.utc_offset())?;
        let figures = gather(self.store.as_ref(), &period)?;
        let (breakdown, stats) = Self::compute(set, scheme, &p, &period, figures.get(&p.id))?;
        Ok(Settlement {
            id: String::new(),
            period: period.key(),
            person: p.id.clone(),
            name: p.name.clone(),
            seq: 0,
            breakdown,
            stats,
            settled_at: now,
            corrects: None,
            reason: None,
        })
    }

    fn latest(&self, period: &str, person: &str) -> R<Option<Settlement>> {
        let mut last = None;
        let mut failed = None;
        self.store
            .ledger_scan(&key(&["s", period, person, ""]), &mut |_, v| {
                match dec::<Settlement>(v) {
                    Ok(s) => last = Some(s),
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
                true
            })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(last),
        }
    }

    fn settlement_key(s: &Settlement) -> Vec<u8> {
        key(&["s", &s.period, &s.person, &format!("{:010}", s.seq)])
    }

    /// Settles `period` for `persons` (every person a scheme pays when
    /// empty). A person settled before keeps the earlier record. Computing
    /// runs on `threads` threads; all new records are written at once.
    pub fn settle(
        &self,
        set: &PolicySet,
        period: &str,
        persons: &[String],
        now: Timestamp,
        threads: usize,
    ) -> R<SettleSummary> {
        let period = Period::parse(period, set.utc_offset())?;
        let people = self.store.people()?;
        let chosen: Vec<&Person> = if persons.is_empty() {
            people
                .iter()
                .filter(|p| set.subsidies.contains_key(&p.role))
                .collect()
        } else {
            let by_id: HashMap<&str, &Person> = people.iter().map(|p| (p.id.as_str(), p)).collect();
            let mut v = Vec::with_capacity(persons.len());
            for id in persons {
                let p = by_id.get(id.as_str()).copied().ok_or_else(|| {
                    IncentiveError::UnknownPerson {
                        id: id.clone(),
                        help: help_for(id, by_id.keys().copied()),
                    }
                })?;
                self.scheme(set, p)?;
                v.push(p);
            }
            v
        };
        let _g = self.write.lock().map_err(|_| lock_failed())?;
        let mut done: HashMap<String, Settlement> = HashMap::new();
        let mut failed = None;
        self.store
            .ledger_scan(&key(&["s", &period.key(), ""]), &mut |_, v| {
                match dec::<Settlement>(v) {
                    Ok(s) => {
                        done.insert(s.person.clone(), s);
                    }
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
                true
            })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let todo: Vec<&Person> = chosen
            .iter()
            .copied()
            .filter(|p| !done.contains_key(&p.id))
            .collect();
        let figures = if todo.is_empty() {
            HashMap::new()
        } else {
            gather(self.store.as_ref(), &period)?
        };
        let threads = threads.clamp(1, todo.len().max(1));
        let chunk = todo.len().div_ceil(threads).max(1);
        let computed: Vec<R<Vec<Settlement>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = todo
                .chunks(chunk)
                .map(|part| {
                    let figures = &figures;
                    let period = &period;
                    scope.spawn(move || -> R<Vec<Settlement>> {
                        let mut out = Vec::with_capacity(part.len());
                        for p in part {
                            let Some(scheme) = set.subsidies.get(&p.role) else {
                                continue;
                            };
                            let (breakdown, stats) =
                                Self::compute(set, scheme, p, period, figures.get(&p.id))?;
                            out.push(Settlement {
                                id: format!("{}/{}/1", period.key(), p.id),
                                period: period.key(),
                                person: p.id.clone(),
                                name: p.name.clone(),
                                seq: 1,
                                breakdown,
                                stats,
                                settled_at: now,
                                corrects: None,
                                reason: None,
                            });
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(IncentiveError::Store(CaseError::Storage {
                            message: "a settlement worker failed".into(),
                        }))
                    })
                })
                .collect()
        });
        let mut new = Vec::with_capacity(todo.len());
        for part in computed {
            new.extend(part?);
        }
        let mut pairs = Vec::with_capacity(new.len());
        for s in &new {
            pairs.push((Self::settlement_key(s), enc(s)?));
        }
        if !pairs.is_empty() {
            self.store.ledger_put(pairs)?;
        }
        let mut summary = SettleSummary {
            period: period.key(),
            created: new.len() as u64,
            ..SettleSummary::default()
        };
        let new_ids: HashSet<String> = new.iter().map(|s| s.person.clone()).collect();
        let mut all: HashMap<String, Settlement> =
            new.into_iter().map(|s| (s.person.clone(), s)).collect();
        for p in &chosen {
            if !new_ids.contains(&p.id) {
                if let Some(s) = done.remove(&p.id) {
                    summary.existing += 1;
                    all.insert(p.id.clone(), s);
                }
            }
        }
        let mut list: Vec<Settlement> = all.into_values().collect();
        list.sort_by(|a, b| a.person.cmp(&b.person));
        for s in &list {
            summary.total += s
                .breakdown
                .total
                .parse::<Decimal>()
                .unwrap_or(Decimal::ZERO);
        }
        summary.settlements = list;
        Ok(summary)
    }

    /// A correction: recomputes `person`'s settlement for `period` now and
    /// stores it as a new record linked to the one it replaces.
    pub fn correct(
        &self,
        set: &PolicySet,
        period: &str,
        person: &str,
        reason: &str,
        now: Timestamp,
    ) -> R<Settlement> {
        if reason.trim().is_empty() {
            return Err(invalid("reason", "a correction states why"));
        }
        let p = self.person(person)?;
        let scheme = self.scheme(set, &p)?;
        let period = Period::parse(period, set.utc_offset())?;
        let _g = self.write.lock().map_err(|_| lock_failed())?;
        let Some(prev) = self.latest(&period.key(), &p.id)? else {
            return Err(IncentiveError::NotSettled {
                person: p.id.clone(),
                period: period.key(),
            });
        };
        let figures = gather(self.store.as_ref(), &period)?;
        let (breakdown, stats) = Self::compute(set, scheme, &p, &period, figures.get(&p.id))?;
        let seq = prev.seq + 1;
        let s = Settlement {
            id: format!("{}/{}/{seq}", period.key(), p.id),
            period: period.key(),
            person: p.id.clone(),
            name: p.name.clone(),
            seq,
            breakdown,
            stats,
            settled_at: now,
            corrects: Some(prev.id),
            reason: Some(reason.to_string()),
        };
        self.store
            .ledger_put(vec![(Self::settlement_key(&s), enc(&s)?)])?;
        Ok(s)
    }

    /// Stored settlements of a period (every record, corrections included),
    /// of one person if given, in person then sequence order.
    pub fn settlements(&self, period: &str, person: Option<&str>) -> R<Vec<Settlement>> {
        let prefix = match person {
            Some(p) => key(&["s", period, p, ""]),
            None => key(&["s", period, ""]),
        };
        let mut out = Vec::new();
        let mut failed = None;
        self.store.ledger_scan(&prefix, &mut |_, v| match dec(v) {
            Ok(s) => {
                out.push(s);
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn balance_of(&self, resident: &str) -> R<Balance> {
        match self.store.ledger_get(&key(&["b", resident]))? {
            Some(b) => dec(&b),
            None => Ok(Balance::default()),
        }
    }

    /// A resident's balance.
    pub fn balance(&self, resident: &str) -> R<i64> {
        Ok(self.balance_of(resident)?.balance)
    }

    /// A resident's ledger, oldest first.
    pub fn history(&self, resident: &str) -> R<Vec<PointsEntry>> {
        let mut out = Vec::new();
        let mut failed = None;
        self.store
            .ledger_scan(&key(&["p", resident, ""]), &mut |_, v| match dec(v) {
                Ok(e) => {
                    out.push(e);
                    true
                }
                Err(e) => {
                    failed = Some(e);
                    false
                }
            })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Earns points by an earning rule (points per unit × `quantity`).
    #[allow(clippy::too_many_arguments)]
    pub fn earn(
        &self,
        set: &PolicySet,
        resident: &str,
        rule: &str,
        quantity: Decimal,
        key_: &str,
        note: Option<String>,
        now: Timestamp,
    ) -> R<(PointsEntry, bool)> {
        self.points_entry(set, resident, rule, quantity, key_, note, now, true)
    }

    /// Redeems points by a redemption rule (points per unit × `quantity`,
    /// e.g. per 元 of property fee); refused when the balance is short.
    #[allow(clippy::too_many_arguments)]
    pub fn redeem(
        &self,
        set: &PolicySet,
        resident: &str,
        rule: &str,
        quantity: Decimal,
        key_: &str,
        note: Option<String>,
        now: Timestamp,
    ) -> R<(PointsEntry, bool)> {
        self.points_entry(set, resident, rule, quantity, key_, note, now, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn points_entry(
        &self,
        set: &PolicySet,
        resident: &str,
        rule: &str,
        quantity: Decimal,
        key_: &str,
        note: Option<String>,
        now: Timestamp,
        earn: bool,
    ) -> R<(PointsEntry, bool)> {
        if resident.trim().is_empty() {
            return Err(invalid("resident", "is required"));
        }
        if key_.is_empty() {
            return Err(invalid("key", "is required (it makes retries safe)"));
        }
        if quantity <= Decimal::ZERO {
            return Err(invalid(
                "quantity",
                format!("`{quantity}` is not above zero"),
            ));
        }
        let Some(rules) = &set.points else {
            return Err(IncentiveError::UnknownRule {
                what: "points scheme",
                name: rule.to_string(),
                help: Some("the active policy has no `points` block".into()),
            });
        };
        let (table, what) = if earn {
            (&rules.earn, "earning rule")
        } else {
            (&rules.redeem, "redemption rule")
        };
        let Some(rate) = table.get(rule) else {
            return Err(IncentiveError::UnknownRule {
                what,
                name: rule.to_string(),
                help: help_for(rule, table.keys().map(String::as_str)).or_else(|| {
                    Some(format!(
                        "known: {}",
                        table.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                }),
            });
        };
        let exact = Decimal::from(*rate) * quantity;
        if !exact.fract().is_zero() {
            return Err(invalid(
                "quantity",
                format!("{quantity} × {rate} points is {exact}: it must come to whole points"),
            ));
        }
        let points = rust_decimal::prelude::ToPrimitive::to_i64(&exact)
            .ok_or_else(|| invalid("quantity", "is too large"))?;
        let signed = if earn { points } else { -points };
        let _g = self.write.lock().map_err(|_| lock_failed())?;
        let idem = key(&["k", resident, key_]);
        if let Some(seq) = self.store.ledger_get(&idem)? {
            let seq: u64 = dec(&seq)?;
            let old: PointsEntry =
                match self
                    .store
                    .ledger_get(&key(&["p", resident, &format!("{seq:016}")]))?
                {
                    Some(b) => dec(&b)?,
                    None => {
                        return Err(IncentiveError::Store(CaseError::Storage {
                            message: format!("points entry {seq} of `{resident}` is missing"),
                        }))
                    }
                };
            let same = old.kind == if earn { "earn" } else { "redeem" }
                && old.rule == rule
                && old.quantity == quantity.normalize();
            return if same {
                Ok((old, false))
            } else {
                Err(IncentiveError::KeyReused {
                    key: key_.to_string(),
                    what: "points entry",
                })
            };
        }
        let b = self.balance_of(resident)?;
        let after = b.balance + signed;
        if after < 0 {
            return Err(IncentiveError::InsufficientPoints {
                resident: resident.to_string(),
                balance: b.balance,
                needed: points,
            });
        }
        let seq = b.next + 1;
        let entry = PointsEntry {
            resident: resident.to_string(),
            seq,
            kind: if earn { "earn" } else { "redeem" }.to_string(),
            rule: rule.to_string(),
            quantity: quantity.normalize(),
            points: signed,
            balance: after,
            key: key_.to_string(),
            note,
            at: now,
            policy_version: set.hash.to_string(),
        };
        self.store.ledger_put(vec![
            (key(&["p", resident, &format!("{seq:016}")]), enc(&entry)?),
            (
                key(&["b", resident]),
                enc(&Balance {
                    balance: after,
                    next: seq,
                })?,
            ),
            (idem, enc(&seq)?),
        ])?;
        Ok((entry, true))
    }
}
