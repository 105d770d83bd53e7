//! Incentives: activity the engine cannot see (recorded idempotently per
//! period), monthly subsidy previews and settlements computed from the
//! engine's own case records plus that activity, and residents' points
//! ledgers. Every write is idempotent by key; settlements are immutable
//! (settling again returns the same record; a correction is a new, linked
//! record); a points balance never goes negative.

use crate::Stamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use rhai::Dynamic;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use wangge_dsl::suggest::help_for;

use crate::case_figures::{closed_within, map_of, workflow_of, Tally};
use crate::error::{invalid, AppError, AppResult as R};
use crate::ledger::{
    self, bucket_part, chunk_part, run_part, storage, ActivityTotals, Bucket, Place, TotalsBucket,
    ACTIVITY, PARAMS, RUNS, SETTLEMENTS, SETTLEMENT_INDEX, TOTALS,
};
use crate::org::Person;
use crate::period::Period;
use wangge_policy::json_to_dynamic;
use wangge_policy::PolicySet;
use wangge_policy::Timestamp;
use wangge_policy::{rhai_map, Breakdown, CompiledSubsidy, LineItem, Params};
use wangge_store::{LedgerBatch, Store, StoreError};

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
    /// Who recorded it (the verified caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
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
    /// The figures the calcs saw (`统计`), as JSON.
    pub stats: wangge_policy::Why,
    pub settled_at: Timestamp,
    /// Who settled or corrected it (the verified caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_by: Option<String>,
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

/// Per-person figures of one period, gathered from cases and activity.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Cases the person reported.
    pub reported: i64,
    /// The closed cases they acted on.
    pub tally: Tally,
    pub units: BTreeSet<String>,
    pub activities: BTreeMap<String, Decimal>,
}

impl Figures {
    /// `统计` as calcs see it: the shared figures of closed cases (every
    /// declared class present), counts as integers, rates and quantities
    /// as exact decimals, every declared activity kind present.
    pub fn to_rhai(&self, kinds: &[String], classes: &[String]) -> Dynamic {
        let mut acts = rhai::Map::new();
        for k in kinds {
            acts.insert(k.as_str().into(), Dynamic::from_decimal(Decimal::ZERO));
        }
        for (k, v) in &self.activities {
            acts.insert(k.as_str().into(), Dynamic::from_decimal(*v));
        }
        let mut entries = vec![("上报", Dynamic::from_int(self.reported))];
        entries.extend(self.tally.entries(classes));
        entries.push(("活动", Dynamic::from_map(acts)));
        entries.push((
            "网格",
            Dynamic::from_array(
                self.units
                    .iter()
                    .map(|u| Dynamic::from(u.clone()))
                    .collect(),
            ),
        ));
        map_of(entries)
    }
}

/// A number from calc `calc`'s JSON result, exactly (floats as they
/// print); anything that is not a number is an error, never zero.
pub(crate) fn value_decimal(v: &serde_json::Value, calc: &str) -> R<Decimal> {
    let parsed = match v {
        serde_json::Value::String(s) => s.parse::<Decimal>().ok(),
        serde_json::Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        wangge_policy::EvalError::ResultType {
            item: calc.to_string(),
            expected: "a number".to_string(),
            found: format!("`{v}`"),
        }
        .into()
    })
}

/// Figures over a longer span (a quarter, a year): cases in `range`, and
/// the activity of each of `months` (`2026-07`, …).
pub fn gather_range(
    set: &PolicySet,
    store: &dyn Store,
    range: &Period,
) -> R<HashMap<String, Figures>> {
    let mut out = case_figures(set, store, range)?;
    for month in range.months() {
        for (person, totals) in activity_totals(store, &month)? {
            let f = out.entry(person).or_default();
            for (kind, (q, units)) in totals.0 {
                *f.activities.entry(kind).or_default() += q;
                f.units.extend(units);
            }
        }
    }
    Ok(out)
}

/// Gathers every person's figures for `period`: from the stored cases (who
/// reported each, who acted on it, its outcomes) and the activity totals.
/// The two scans run side by side.
pub fn gather(set: &PolicySet, store: &dyn Store, period: &Period) -> R<HashMap<String, Figures>> {
    let (cases, acts) = std::thread::scope(|s| {
        let acts = s.spawn(|| activity_totals(store, period));
        let cases = case_figures(set, store, period);
        let acts = acts.join().unwrap_or_else(|_| {
            Err(AppError::Store(StoreError::internal(
                "the activity scan failed",
            )))
        });
        (cases, acts)
    });
    let mut out = cases?;
    for (person, totals) in acts? {
        let f = out.entry(person).or_default();
        for (kind, (q, units)) in totals.0 {
            *f.activities.entry(kind).or_default() += q;
            f.units.extend(units);
        }
    }
    Ok(out)
}

/// Case figures, the id range scanned in two halves side by side.
fn case_figures(
    set: &PolicySet,
    store: &dyn Store,
    period: &Period,
) -> R<HashMap<String, Figures>> {
    let last = store.case_count() + 1;
    let mid = last / 2 + 1;
    let (a, b) = std::thread::scope(|s| {
        let b = s.spawn(|| case_figures_range(set, store, period, mid, u64::MAX));
        let a = case_figures_range(set, store, period, 1, mid);
        (
            a,
            b.join().unwrap_or_else(|_| {
                Err(AppError::Store(StoreError::internal(
                    "the case scan failed",
                )))
            }),
        )
    });
    let mut out = a?;
    for (person, f) in b? {
        let e = out.entry(person).or_default();
        e.reported += f.reported;
        e.tally.add(&f.tally);
        e.units.extend(f.units);
    }
    Ok(out)
}

fn case_figures_range(
    set: &PolicySet,
    store: &dyn Store,
    period: &Period,
    from: u64,
    to: u64,
) -> R<HashMap<String, Figures>> {
    let mut out: HashMap<String, Figures> = HashMap::new();
    store.scan_facts(from, to, &mut |c| {
        if period.contains(c.created_at) {
            if let Some(r) = &c.reported_by {
                out.entry(r.to_string()).or_default().reported += 1;
            }
        }
        let wf = workflow_of(set, c);
        if !closed_within(wf, c, |t| period.contains(t)) {
            return true;
        }
        for a in &c.handlers {
            let f = out.entry(a.to_string()).or_default();
            f.tally.count(wf, c);
            if let Some(u) = &c.unit {
                f.units.insert(u.to_string());
            }
        }
        true
    })?;
    Ok(out)
}

fn activity_totals(store: &dyn Store, period: &Period) -> R<Vec<(String, ActivityTotals)>> {
    let buckets = TOTALS.scan(store, &[&period.key()])?;
    Ok(buckets.into_iter().flat_map(|(_, b)| b.0).collect())
}

/// Every line item (components, then factors) of every settlement.
fn line_items(chunk: &mut [Settlement]) -> impl Iterator<Item = &mut LineItem> {
    chunk.iter_mut().flat_map(|s| {
        let b = &mut s.breakdown;
        b.components.iter_mut().chain(b.factors.iter_mut())
    })
}

/// Settlements encoded for one chunk, with who is in it.
struct EncodedChunk {
    number: u32,
    members: Vec<(String, u32)>,
    bytes: Vec<u8>,
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
    /// Late activity for a month already settled for the person: recorded
    /// on purpose, it counts when the settlement is corrected. Without it,
    /// such activity is refused (it would silently change nothing).
    pub correction: bool,
}

/// The incentive service over a store.
pub struct Incentives {
    store: Arc<dyn Store>,
    /// Writes are serialised: settlements per period and points per
    /// resident must see their own previous writes.
    write: Mutex<()>,
}

fn lock_failed() -> AppError {
    AppError::Store(StoreError::internal("the incentive lock is poisoned"))
}

impl Incentives {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Incentives {
            store,
            write: Mutex::new(()),
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn lock(&self) -> R<std::sync::MutexGuard<'_, ()>> {
        self.write.lock().map_err(|_| lock_failed())
    }

    fn person(&self, id: &str) -> R<Person> {
        let people = self.store.people()?;
        let help = help_for(id, people.iter().map(|p| p.id.as_str()));
        people
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(AppError::UnknownPerson {
                id: id.to_string(),
                help,
            })
    }

    fn scheme<'a>(&self, set: &'a PolicySet, p: &Person) -> R<&'a Arc<CompiledSubsidy>> {
        set.subsidy_for(p).ok_or_else(|| AppError::NoScheme {
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
        now: impl Into<Stamp>,
    ) -> R<(Activity, bool)> {
        self.record_activities(set, vec![a], now)?
            .pop()
            .unwrap_or_else(|| Err(invalid("activity", "is required")))
    }

    /// Records many activities at once (an import from a patrol app): each
    /// is validated and idempotent as in [`Self::record_activity`]; the new
    /// ones are written together. Results are in input order.
    pub fn record_activities(
        &self,
        set: &PolicySet,
        batch: Vec<NewActivity>,
        now: impl Into<Stamp>,
    ) -> R<Vec<R<(Activity, bool)>>> {
        let now = now.into();
        let people: HashMap<String, Person> = self
            .store
            .people()?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let _g = self.lock()?;
        let store = self.store.as_ref();
        let mut writes = LedgerBatch::new();
        let mut seen: HashMap<(String, String), Activity> = HashMap::new();
        let mut totals: BTreeMap<(String, u32), TotalsBucket> = BTreeMap::new();
        let mut settled: HashMap<String, BTreeMap<u32, Bucket>> = HashMap::new();
        let mut out = Vec::with_capacity(batch.len());
        for a in batch {
            let late = a.correction;
            let r = self
                .check_activity(set, &people, a, &now)
                .and_then(|record| {
                    let id_key = (record.person.clone(), record.key.clone());
                    let old = match seen.get(&id_key) {
                        Some(a) => Some(a.clone()),
                        None => ACTIVITY.get(store, &[&record.person, &record.key])?,
                    };
                    if let Some(old) = old {
                        return Self::same_activity(old, record);
                    }
                    if !late && self.is_settled(&mut settled, &record.period, &record.person)? {
                        return Err(AppError::Settled {
                            person: record.person.clone(),
                            period: record.period.clone(),
                        });
                    }
                    let tk = (record.period.clone(), ledger::bucket_of(&record.person));
                    if !totals.contains_key(&tk) {
                        let t = TOTALS
                            .get(store, &[&tk.0, &bucket_part(tk.1)])?
                            .unwrap_or_default();
                        totals.insert(tk.clone(), t);
                    }
                    if let Some(t) = totals.get_mut(&tk) {
                        t.0.entry(record.person.clone()).or_default().add(
                            &record.kind,
                            record.quantity,
                            record.unit.as_deref(),
                        );
                    }
                    writes.put(&ACTIVITY, &[&record.person, &record.key], &record)?;
                    seen.insert(id_key, record.clone());
                    Ok((record, true))
                });
            out.push(r);
        }
        for ((period, bucket), t) in totals {
            writes.put(&TOTALS, &[&period, &bucket_part(bucket)], &t)?;
        }
        writes.write(store)?;
        Ok(out)
    }

    fn same_activity(old: Activity, new: Activity) -> R<(Activity, bool)> {
        let same = Activity {
            recorded_at: old.recorded_at,
            recorded_by: old.recorded_by.clone(),
            ..new.clone()
        };
        if same == old {
            Ok((old, false))
        } else {
            Err(AppError::KeyReused {
                key: new.key,
                what: "activity",
            })
        }
    }

    fn check_activity(
        &self,
        set: &PolicySet,
        people: &HashMap<String, Person>,
        a: NewActivity,
        now: &Stamp,
    ) -> R<Activity> {
        if a.key.is_empty() {
            return Err(invalid("key", "is required (it makes retries safe)"));
        }
        if a.quantity <= Decimal::ZERO {
            return Err(invalid(
                "quantity",
                format!("`{}` is not above zero", a.quantity),
            ));
        }
        let period = Period::month(&a.period, &set.zone())?;
        let person = people
            .get(&a.person)
            .ok_or_else(|| AppError::UnknownPerson {
                id: a.person.clone(),
                help: help_for(&a.person, people.keys().map(String::as_str)),
            })?;
        let scheme = self.scheme(set, person)?;
        if !scheme.activities.contains(&a.kind) {
            return Err(AppError::UnknownRule {
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
        Ok(Activity {
            person: a.person,
            kind: a.kind,
            quantity: a.quantity.normalize(),
            period: period.key(),
            unit: a.unit,
            key: a.key,
            note: a.note,
            recorded_at: now.at,
            recorded_by: now.by.clone(),
        })
    }

    /// Recorded activity of a period (and a person, if given).
    pub fn activities(&self, period: &str, person: Option<&str>) -> R<Vec<Activity>> {
        let prefix: &[&str] = match &person {
            Some(p) => &[p],
            None => &[],
        };
        let all = ACTIVITY.scan(self.store.as_ref(), prefix)?;
        Ok(all
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| a.period == period)
            .collect())
    }

    fn compute(
        set: &PolicySet,
        scheme: &CompiledSubsidy,
        person: &Person,
        period: &Period,
        figures: Option<&Figures>,
    ) -> R<(Breakdown, wangge_policy::Why)> {
        let empty = Figures::default();
        let classes = crate::case_figures::declared_classes(set);
        let stats = figures
            .unwrap_or(&empty)
            .to_rhai(&scheme.activities, &classes);
        let shown = wangge_policy::Why::new(&wangge_policy::ExactJson(&stats));
        // Shared, so each calc gets it without a deep copy.
        let mut context = vec![("统计", stats.into_shared())];
        // Only what the scheme's calcs take.
        if scheme.takes("人员") {
            let positions: Vec<serde_json::Value> = person
                .positions()
                .map(|(role, unit)| serde_json::json!({"角色": role, "单位": unit}))
                .collect();
            let person_json = serde_json::json!({
                "编号": person.id, "姓名": person.name, "角色": person.role,
                "网格": person.unit, "党员": person.party_member,
                "政治面貌": person.party_word(), "职务": positions,
            });
            context.push(("人员", json_to_dynamic(&person_json)));
        }
        if scheme.takes("期间") {
            let days = (period.end - period.start) / 86_400;
            context.push((
                "期间",
                rhai_map(vec![
                    ("月份", Dynamic::from(period.key())),
                    ("天数", Dynamic::from_int(days)),
                ]),
            ));
        }
        let b = scheme.compute(set, &context)?;
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
        let period = Period::month(period, &set.zone())?;
        let figures = gather(set, self.store.as_ref(), &period)?;
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
            settled_by: None,
            corrects: None,
            reason: None,
        })
    }

    /// The person index of a period: bucket → (person → places).
    /// Whether `person` has a settlement for `period` (the period's index
    /// read once into `cache`).
    fn is_settled(
        &self,
        cache: &mut HashMap<String, BTreeMap<u32, Bucket>>,
        period: &str,
        person: &str,
    ) -> R<bool> {
        if !cache.contains_key(period) {
            cache.insert(period.to_string(), self.buckets(period)?);
        }
        Ok(cache
            .get(period)
            .and_then(|b| b.get(&ledger::bucket_of(person)))
            .is_some_and(|b| b.contains_key(person)))
    }

    fn buckets(&self, period: &str) -> R<BTreeMap<u32, Bucket>> {
        let mut out = BTreeMap::new();
        for (rest, bucket) in SETTLEMENT_INDEX.scan(self.store.as_ref(), &[period])? {
            let n = rest
                .first()
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or_else(|| storage("a bad person-index key"))?;
            out.insert(n, bucket);
        }
        Ok(out)
    }

    /// Reads the settlements at `places` (chunks read once each).
    fn read_places(&self, period: &str, wanted: &[(String, Place)]) -> R<Vec<Settlement>> {
        let mut chunks: HashMap<(u32, u32), Vec<Settlement>> = HashMap::new();
        let mut out = Vec::with_capacity(wanted.len());
        for (person, place) in wanted {
            let ck = (place.run, place.chunk);
            if let std::collections::hash_map::Entry::Vacant(slot) = chunks.entry(ck) {
                let parts = [
                    period,
                    &run_part(place.run),
                    &chunk_part(place.chunk as usize),
                ];
                let list = match SETTLEMENTS.get(self.store.as_ref(), &parts)? {
                    Some(list) => list,
                    None => {
                        return Err(AppError::Store(storage(format!(
                            "settlement chunk {}/{} of {period} is missing",
                            place.run, place.chunk
                        ))))
                    }
                };
                slot.insert(list);
            }
            if let Some(s) = chunks
                .get(&ck)
                .and_then(|l| l.iter().find(|s| s.person == *person && s.seq == place.seq))
            {
                out.push(s.clone());
            }
        }
        self.fill_params(&mut out)?;
        Ok(out)
    }

    fn latest(&self, period: &str, person: &str) -> R<Option<Settlement>> {
        let b = ledger::bucket_of(person);
        let Some(bucket) = SETTLEMENT_INDEX.get(self.store.as_ref(), &[period, &bucket_part(b)])?
        else {
            return Ok(None);
        };
        let Some(place) = bucket.get(person).and_then(|p| p.last()) else {
            return Ok(None);
        };
        Ok(self
            .read_places(period, &[(person.to_string(), *place)])?
            .pop())
    }

    /// Writes a run of new settlements: chunks, the updated index buckets,
    /// the run counter and the parameter record, in one batch — only if
    /// the run counter is still `runs` (as read before the settled ones
    /// were looked up). Otherwise another server settled the month
    /// meanwhile: nothing is written and the caller is told to try again
    /// (records are never overwritten, a person never settled twice).
    fn write_run(
        &self,
        set: &PolicySet,
        period: &str,
        chunks: Vec<EncodedChunk>,
        buckets: &mut BTreeMap<u32, Bucket>,
        runs: Option<Vec<u8>>,
    ) -> R<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let run: u32 = match &runs {
            Some(bytes) => RUNS.decode(bytes)?,
            None => 1,
        };
        let mut batch = LedgerBatch::new();
        let mut touched = BTreeSet::new();
        for c in chunks {
            for (person, seq) in c.members {
                let b = ledger::bucket_of(&person);
                buckets
                    .entry(b)
                    .or_default()
                    .entry(person)
                    .or_default()
                    .push(Place {
                        run,
                        chunk: c.number,
                        seq,
                    });
                touched.insert(b);
            }
            let parts = [period, &run_part(run), &chunk_part(c.number as usize)];
            batch.put_encoded(&SETTLEMENTS, &parts, c.bytes);
        }
        for b in touched {
            if let Some(bucket) = buckets.get(&b) {
                batch.put(&SETTLEMENT_INDEX, &[period, &bucket_part(b)], bucket)?;
            }
        }
        batch.put(&RUNS, &[period], &(run + 1))?;
        batch.put(&PARAMS, &[period, &set.hash], &Self::params_record(set))?;
        if !batch.write_if(self.store.as_ref(), &RUNS, &[period], runs.as_deref())? {
            return Err(AppError::Store(StoreError::conflict(format!(
                "`{period}` was settled by another server meanwhile: nothing was written; \
                 settle again (those already settled are kept)"
            ))));
        }
        self.store.flush()?;
        Ok(())
    }

    /// Encodes settlements into chunks numbered from `first`.
    fn encode_chunks(list: &mut [Settlement], first: u32) -> R<Vec<EncodedChunk>> {
        let mut out = Vec::new();
        for (i, chunk) in list.chunks_mut(ledger::CHUNK).enumerate() {
            let n = u32::try_from(i).map_err(|_| invalid("persons", "too many"))?;
            out.push(EncodedChunk {
                number: first + n,
                members: chunk.iter().map(|s| (s.person.clone(), s.seq)).collect(),
                bytes: Self::encode_chunk(chunk)?,
            });
        }
        Ok(out)
    }

    /// Settlements as stored: without the parameter values of their line
    /// items, which are stored once per period and policy version.
    fn encode_chunk(chunk: &mut [Settlement]) -> R<Vec<u8>> {
        let saved: Vec<Params> = line_items(chunk)
            .map(|l| std::mem::take(&mut l.params))
            .collect();
        let mut bytes = Vec::with_capacity(chunk.len() * 1024);
        let written = serde_json::to_writer(&mut bytes, &chunk)
            .map_err(|e| StoreError::internal(e.to_string()));
        for (l, p) in line_items(chunk).zip(saved) {
            l.params = p;
        }
        written?;
        Ok(bytes)
    }

    /// The parameter record of a version: calc → params.
    fn params_record(set: &PolicySet) -> BTreeMap<String, Params> {
        set.subsidies
            .values()
            .flat_map(|s| s.params.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }

    /// Puts the parameter values back into stored settlements.
    fn fill_params(&self, list: &mut [Settlement]) -> R<()> {
        let mut cache: HashMap<(String, String), BTreeMap<String, Params>> = HashMap::new();
        for s in list {
            let k = (s.period.clone(), s.breakdown.policy_version.clone());
            if !cache.contains_key(&k) {
                let rec = PARAMS
                    .get(self.store.as_ref(), &[&k.0, &k.1])?
                    .unwrap_or_default();
                cache.insert(k.clone(), rec);
            }
            let Some(params) = cache.get(&k) else {
                continue;
            };
            for l in s
                .breakdown
                .components
                .iter_mut()
                .chain(s.breakdown.factors.iter_mut())
            {
                if l.params.is_empty() {
                    if let Some(p) = params.get(&l.calc) {
                        l.params = p.clone();
                    }
                }
            }
        }
        Ok(())
    }

    /// Settles `period` for `persons`, or for every person a scheme pays
    /// when `persons` is empty. A person settled before keeps the earlier
    /// record. Figures are gathered once; subsidies are computed on
    /// `threads` threads; the new records are written in one batch. The
    /// summary lists the settlements of named persons (for a whole period,
    /// use [`Self::settlements`]).
    pub fn settle(
        &self,
        set: &PolicySet,
        period: &str,
        persons: &[String],
        now: impl Into<Stamp>,
        threads: usize,
    ) -> R<SettleSummary> {
        let stamp = now.into();
        let now = stamp.at;
        let period = Period::month(period, &set.zone())?;
        let pk = period.key();
        if period.end > now {
            return Err(AppError::PeriodOpen { period: pk });
        }
        let (people, gathered) = std::thread::scope(|s| {
            let g = s.spawn(|| gather(set, self.store.as_ref(), &period));
            let people = self.store.people();
            let g = g
                .join()
                .unwrap_or_else(|_| Err(AppError::Store(StoreError::internal("gathering failed"))));
            (people, g)
        });
        let people = people?;
        let chosen = self.chosen(set, &people, persons)?;
        let _g = self.lock()?;
        // The run counter as found: another server's run meanwhile makes
        // this one's write refused (see `write_run`).
        let runs = RUNS.get_raw(self.store.as_ref(), &[&pk])?;
        let mut buckets = self.buckets(&pk)?;
        let settled = |id: &str| {
            buckets
                .get(&ledger::bucket_of(id))
                .and_then(|b| b.get(id))
                .and_then(|v| v.last())
                .copied()
        };
        let todo: Vec<&Person> = chosen
            .iter()
            .copied()
            .filter(|p| settled(&p.id).is_none())
            .collect();
        let existing: Vec<(String, Place)> = chosen
            .iter()
            .filter_map(|p| settled(&p.id).map(|pl| (p.id.clone(), pl)))
            .collect();
        let figures = gathered?;
        let (new, chunks) = Self::compute_run(set, &todo, &figures, &period, &stamp, threads)?;
        self.write_run(set, &pk, chunks, &mut buckets, runs)?;
        // Freeing a month of figures takes a while: not on the caller's time.
        std::thread::spawn(move || drop(figures));
        let mut summary = SettleSummary {
            period: pk.clone(),
            created: new.len() as u64,
            existing: existing.len() as u64,
            ..SettleSummary::default()
        };
        // Totals of earlier settlements come from their chunks.
        let old = self.read_places(&pk, &existing)?;
        summary.total = new.iter().chain(&old).map(|s| s.breakdown.total).sum();
        if !persons.is_empty() {
            let mut list: Vec<Settlement> = new.into_iter().chain(old).collect();
            list.sort_by(|a, b| a.person.cmp(&b.person));
            summary.settlements = list;
        }
        Ok(summary)
    }

    /// Who a settlement run pays: everyone a scheme pays, or the named
    /// persons (each must exist and have a scheme).
    fn chosen<'p>(
        &self,
        set: &PolicySet,
        people: &'p [Person],
        persons: &[String],
    ) -> R<Vec<&'p Person>> {
        if persons.is_empty() {
            return Ok(people
                .iter()
                .filter(|p| set.subsidy_for(p).is_some())
                .collect());
        }
        let by_id: HashMap<&str, &Person> = people.iter().map(|p| (p.id.as_str(), p)).collect();
        let mut v = Vec::with_capacity(persons.len());
        for id in persons {
            let p = by_id
                .get(id.as_str())
                .copied()
                .ok_or_else(|| AppError::UnknownPerson {
                    id: id.clone(),
                    help: help_for(id, by_id.keys().copied()),
                })?;
            self.scheme(set, p)?;
            v.push(p);
        }
        Ok(v)
    }

    /// Computes first settlements for `todo` on `threads` threads, each
    /// encoding its own chunks (numbered apart).
    fn compute_run(
        set: &PolicySet,
        todo: &[&Person],
        figures: &HashMap<String, Figures>,
        period: &Period,
        now: &Stamp,
        threads: usize,
    ) -> R<(Vec<Settlement>, Vec<EncodedChunk>)> {
        let computed = crate::parallel::map_slices_on(
            todo,
            threads,
            || AppError::Store(StoreError::internal("a settlement worker failed")),
            |t, part| -> R<(Vec<Settlement>, Vec<EncodedChunk>)> {
                let mut out = Vec::with_capacity(part.len());
                for p in part {
                    let Some(scheme) = set.subsidy_for(p) else {
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
                        settled_at: now.at,
                        settled_by: now.by.clone(),
                        corrects: None,
                        reason: None,
                    });
                }
                let first =
                    u32::try_from(t * 100_000).map_err(|_| invalid("persons", "too many"))?;
                let encoded = Self::encode_chunks(&mut out, first)?;
                Ok((out, encoded))
            },
        )?;
        let mut new = Vec::with_capacity(todo.len());
        let mut chunks = Vec::new();
        for (list, encoded) in computed {
            new.extend(list);
            chunks.extend(encoded);
        }
        Ok((new, chunks))
    }

    /// A correction: recomputes `person`'s settlement for `period` now and
    /// stores it as a new record linked to the one it replaces.
    pub fn correct(
        &self,
        set: &PolicySet,
        period: &str,
        person: &str,
        reason: &str,
        now: impl Into<Stamp>,
    ) -> R<Settlement> {
        let stamp = now.into();
        if reason.trim().is_empty() {
            return Err(invalid("reason", "a correction states why"));
        }
        let p = self.person(person)?;
        let scheme = self.scheme(set, &p)?;
        let period = Period::month(period, &set.zone())?;
        let pk = period.key();
        let _g = self.lock()?;
        let runs = RUNS.get_raw(self.store.as_ref(), &[&pk])?;
        let Some(prev) = self.latest(&pk, &p.id)? else {
            return Err(AppError::NotSettled {
                person: p.id.clone(),
                period: pk,
            });
        };
        let figures = gather(set, self.store.as_ref(), &period)?;
        let (breakdown, stats) = Self::compute(set, scheme, &p, &period, figures.get(&p.id))?;
        let seq = prev.seq + 1;
        let mut new = vec![Settlement {
            id: format!("{pk}/{}/{seq}", p.id),
            period: pk.clone(),
            person: p.id.clone(),
            name: p.name.clone(),
            seq,
            breakdown,
            stats,
            settled_at: stamp.at,
            settled_by: stamp.by,
            corrects: Some(prev.id),
            reason: Some(reason.to_string()),
        }];
        let mut buckets = self.buckets(&pk)?;
        let chunks = Self::encode_chunks(&mut new, 0)?;
        self.write_run(set, &pk, chunks, &mut buckets, runs)?;
        new.pop()
            .ok_or_else(|| AppError::Store(StoreError::internal("the correction was not kept")))
    }

    /// Stored settlements of a period (every record, corrections included),
    /// of one person if given, in person then sequence order.
    pub fn settlements(&self, period: &str, person: Option<&str>) -> R<Vec<Settlement>> {
        let buckets = self.buckets(period)?;
        let mut wanted: Vec<(String, Place)> = buckets
            .values()
            .flat_map(|b| b.iter())
            .filter(|(p, _)| person.is_none_or(|x| x == p.as_str()))
            .flat_map(|(p, places)| places.iter().map(move |pl| (p.clone(), *pl)))
            .collect();
        wanted.sort_by(|a, b| (a.0.as_str(), a.1.seq).cmp(&(b.0.as_str(), b.1.seq)));
        self.read_places(period, &wanted)
    }
}
