//! Evaluation: the figures of every unit for a period (its own cases and
//! those of its sub-units, from one scan of the case records), survey
//! results recorded through the API, the index (社情指数) against the
//! previous period, scoring a whole level through a scorecard (stored per
//! period with the policy version), awards ranked from stored scores, and
//! a unit's history across periods.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rhai::Dynamic;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use wangge_dsl::suggest::help_for;

use crate::case_figures::{
    bump, closed_within, counts, declared_classes, rate, workflow_of, Tally,
};
use crate::error::AppError;
use crate::incentives::Incentives;
use crate::ledger::{self, bucket_part, chunk_part, SCORED, SCORES, SCORE_INDEX, SURVEYS};
use crate::org::Unit;
use crate::period::Period;
use wangge_policy::rhai_map;
use wangge_policy::PolicySet;
use wangge_policy::Timestamp;
use wangge_policy::Why;
use wangge_policy::{CompiledScorecard, CompiledWorkflow, Ranked, Score};
use wangge_store::{CaseFact, LedgerBatch, Store, StoreError};

use crate::error::{invalid, AppResult as R};

/// Case counts of one unit (its own and its sub-units') in one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Cases reported in the period, by class and by channel.
    cases: i64,
    by_class: BTreeMap<String, i64>,
    by_channel: BTreeMap<String, i64>,
    /// Cases closed in the period: the figures shared with subsidies.
    tally: Tally,
    /// Closed without climbing past the ceiling, in all and by class.
    within: i64,
    within_by_class: BTreeMap<String, i64>,
    breaches: i64,
    breaches_by_class: BTreeMap<String, i64>,
    responded: i64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.cases += o.cases;
        self.tally.add(&o.tally);
        self.within += o.within;
        self.breaches += o.breaches;
        self.responded += o.responded;
        for (m, n) in [
            (&mut self.by_class, &o.by_class),
            (&mut self.by_channel, &o.by_channel),
            (&mut self.within_by_class, &o.within_by_class),
            (&mut self.breaches_by_class, &o.breaches_by_class),
        ] {
            for (k, v) in n {
                *m.entry(k.clone()).or_default() += v;
            }
        }
    }

    /// Counts a case reported in the period.
    fn count_reported(&mut self, c: &CaseFact<'_>) {
        let class = c.class.as_deref().unwrap_or("-");
        self.cases += 1;
        bump(&mut self.by_class, class);
        if let Some(ch) = &c.channel {
            bump(&mut self.by_channel, ch);
        }
        self.breaches += c.breaches as i64;
        if c.breaches > 0 {
            *self.breaches_by_class.entry(class.to_string()).or_default() += c.breaches as i64;
        }
        if !c.handlers.is_empty() {
            self.responded += 1;
        }
    }

    /// Counts a case closed in the period.
    fn count_closed(&mut self, wf: Option<&CompiledWorkflow>, c: &CaseFact<'_>) {
        self.tally.count(wf, c);
        if c.breaches == 0 {
            self.within += 1;
            bump(&mut self.within_by_class, c.class.as_deref().unwrap_or("-"));
        }
    }
}

/// Own counts per unit for this period and the previous one, and whether
/// the store has any case of the previous period.
type BothPeriods = (HashMap<String, Counts>, HashMap<String, Counts>, bool);

/// Per own unit: counts for `this` and `prev` periods, from one scan of the
/// cases (two halves side by side).
fn own_counts(set: &PolicySet, store: &dyn Store, this: &Period, prev: &Period) -> R<BothPeriods> {
    let scan = |from: u64, to: u64| -> R<BothPeriods> {
        let mut a: HashMap<String, Counts> = HashMap::new();
        let mut b: HashMap<String, Counts> = HashMap::new();
        let mut any_prev = false;
        store.scan_facts(from, to, &mut |c| {
            let Some(unit) = &c.unit else { return true };
            any_prev |= prev.contains(c.created_at);
            let wf = workflow_of(set, c);
            for (span, out) in [(this, &mut a), (prev, &mut b)] {
                let created = span.contains(c.created_at);
                let closed = closed_within(wf, c, |t| span.contains(t));
                if !created && !closed {
                    continue;
                }
                // Keys are copied only the first time they are seen.
                if !out.contains_key(unit.as_ref()) {
                    out.insert(unit.to_string(), Counts::default());
                }
                let Some(n) = out.get_mut(unit.as_ref()) else {
                    continue;
                };
                if created {
                    n.count_reported(c);
                }
                if closed {
                    n.count_closed(wf, c);
                }
            }
            true
        })?;
        Ok((a, b, any_prev))
    };
    let mid = store.case_count() / 2 + 1;
    let (x, y) = std::thread::scope(|s| {
        let h = s.spawn(|| scan(mid, u64::MAX));
        let x = scan(1, mid);
        (
            x,
            h.join().unwrap_or_else(|_| {
                Err(AppError::Store(StoreError::internal(
                    "the case scan failed",
                )))
            }),
        )
    });
    let (mut a, mut b, p1) = x?;
    let (a2, b2, p2) = y?;
    for (m, n) in [(&mut a, a2), (&mut b, b2)] {
        for (k, v) in n {
            m.entry(k).or_default().add(&v);
        }
    }
    Ok((a, b, p1 || p2))
}

/// The unit at `level` that `unit` is (or is under), if any.
fn at_level<'u>(tree: &HashMap<&'u str, &'u Unit>, unit: &str, level: &str) -> Option<&'u str> {
    let mut at = tree.get(unit)?;
    for _ in 0..32 {
        if at.level == level {
            return Some(at.id.as_str());
        }
        at = tree.get(at.parent.as_deref()?)?;
    }
    None
}

/// Adds every unit's own counts to the unit of `level` above it (or itself).
fn roll_up(
    tree: &HashMap<&str, &Unit>,
    level: &str,
    own: HashMap<String, Counts>,
) -> HashMap<String, Counts> {
    let mut out: HashMap<String, Counts> = HashMap::with_capacity(own.len());
    for (unit, c) in own {
        if let Some(target) = at_level(tree, &unit, level) {
            if target == unit {
                match out.entry(unit) {
                    std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().add(&c),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(c);
                    }
                }
            } else {
                out.entry(target.to_string()).or_default().add(&c);
            }
        }
    }
    out
}

fn households(tree: &HashMap<&str, &Unit>, units: &[Unit], level: &str) -> HashMap<String, i64> {
    let mut out: HashMap<String, i64> = HashMap::new();
    for u in units {
        if let Some(target) = at_level(tree, &u.id, level) {
            *out.entry(target.to_string()).or_default() += u.households;
        }
    }
    out
}

/// A survey result recorded for a unit and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Survey {
    pub unit: String,
    pub period: String,
    /// Average satisfaction, 0–100.
    #[serde(with = "rust_decimal::serde::str")]
    pub score: Decimal,
    pub respondents: i64,
    pub key: String,
    /// Who recorded it (the verified caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
}

/// `统计` of one unit: the figures shared with subsidies, then those of
/// units (every class the classifiers declare present in the by-class
/// maps). Rates with nothing to divide are 0: a unit with no cases has no
/// record, not a perfect one.
fn stats_of(
    c: &Counts,
    households: i64,
    survey: Option<(Decimal, i64)>,
    classes: &[String],
) -> Dynamic {
    let class_rate = |class: &str| {
        rate(
            c.within_by_class.get(class).copied().unwrap_or(0),
            c.tally.by_class.get(class).copied().unwrap_or(0),
        )
    };
    let mut by_class_rate = rhai::Map::new();
    for k in classes.iter().chain(c.tally.by_class.keys()) {
        by_class_rate.insert(k.as_str().into(), Dynamic::from_decimal(class_rate(k)));
    }
    let (score, people) = survey.unwrap_or((Decimal::ZERO, 0));
    let mut entries = vec![
        ("案件", Dynamic::from_int(c.cases)),
        ("按等级", counts(&c.by_class, classes)),
        ("按来源", counts(&c.by_channel, &[])),
    ];
    entries.extend(c.tally.entries(classes));
    entries.extend([
        (
            "办结率",
            Dynamic::from_decimal(rate(c.tally.closed, c.cases)),
        ),
        ("不出格", Dynamic::from_int(c.within)),
        (
            "不出格率",
            Dynamic::from_decimal(rate(c.within, c.tally.closed)),
        ),
        ("不出格率按等级", Dynamic::from_map(by_class_rate)),
        ("出格", Dynamic::from_int(c.breaches)),
        ("出格按等级", counts(&c.breaches_by_class, classes)),
        ("响应", Dynamic::from_int(c.responded)),
        ("响应率", Dynamic::from_decimal(rate(c.responded, c.cases))),
        ("调查满意度", Dynamic::from_decimal(score)),
        ("调查人数", Dynamic::from_int(people)),
        ("户数", Dynamic::from_int(households)),
    ]);
    rhai_map(entries)
}

fn insert(stats: &mut Dynamic, k: &str, v: Dynamic) {
    if let Some(mut m) = stats.write_lock::<rhai::Map>() {
        m.insert(k.into(), v);
    }
}

/// Summary of scoring a level.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScoredLevel {
    pub scorecard: String,
    pub period: String,
    pub scored: u64,
    /// How many got each number of stars (index = stars, 0–5).
    pub by_stars: [u64; 6],
    #[serde(with = "rust_decimal::serde::str")]
    pub average: Decimal,
    pub policy_version: String,
}

/// The evaluation service over a store.
pub struct Evaluation {
    store: Arc<dyn Store>,
    incentives: Incentives,
}

impl Evaluation {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Evaluation {
            incentives: Incentives::new(store.clone()),
            store,
        }
    }

    fn card<'a>(&self, set: &'a PolicySet, name: &str) -> R<&'a Arc<CompiledScorecard>> {
        set.scorecards
            .get(name)
            .ok_or_else(|| AppError::UnknownRule {
                what: "scorecard",
                name: name.to_string(),
                help: help_for(name, set.scorecards.keys().map(String::as_str)),
            })
    }

    /// Records a survey result for a unit and period (idempotent by key).
    pub fn record_survey(&self, s: Survey) -> R<(Survey, bool)> {
        if s.key.is_empty() {
            return Err(invalid("key", "is required (it makes retries safe)"));
        }
        if s.score < Decimal::ZERO || s.score > Decimal::ONE_HUNDRED {
            return Err(invalid(
                "score",
                format!("`{}` is not between 0 and 100", s.score),
            ));
        }
        if s.respondents <= 0 {
            return Err(invalid("respondents", "must be at least one"));
        }
        if !self.store.units()?.iter().any(|u| u.id == s.unit) {
            return Err(invalid(
                "unit",
                format!("no unit `{}` in the registry", s.unit),
            ));
        }
        let _g = self.incentives.lock()?;
        if let Some(old) = SURVEYS.get(self.store.as_ref(), &[&s.period, &s.unit, &s.key])? {
            return if old == s {
                Ok((old, false))
            } else {
                Err(AppError::KeyReused {
                    key: s.key,
                    what: "survey",
                })
            };
        }
        let mut batch = LedgerBatch::new();
        batch.put(&SURVEYS, &[&s.period, &s.unit, &s.key], &s)?;
        batch.write(self.store.as_ref())?;
        Ok((s, true))
    }

    /// Surveys of a period, averaged per unit and rolled up (weighted by
    /// respondents).
    fn surveys(&self, units: &[Unit], period: &str) -> R<HashMap<String, (Decimal, i64)>> {
        let mut own: HashMap<String, (Decimal, i64)> = HashMap::new();
        for (_, s) in SURVEYS.scan(self.store.as_ref(), &[period])? {
            let e = own.entry(s.unit).or_default();
            e.0 += s.score * Decimal::from(s.respondents);
            e.1 += s.respondents;
        }
        let parent: HashMap<&str, &str> = units
            .iter()
            .filter_map(|u| u.parent.as_deref().map(|p| (u.id.as_str(), p)))
            .collect();
        let mut sums: HashMap<String, (Decimal, i64)> = HashMap::new();
        for (unit, (sum, n)) in own {
            let mut at = unit.as_str();
            for _ in 0..32 {
                let e = sums.entry(at.to_string()).or_default();
                e.0 += sum;
                e.1 += n;
                match parent.get(at) {
                    Some(p) => at = p,
                    None => break,
                }
            }
        }
        Ok(sums
            .into_iter()
            .map(|(k, (sum, n))| (k, ((sum / Decimal::from(n.max(1))).normalize(), n)))
            .collect())
    }

    /// The figures (`统计`) of every unit for `card`'s period, with the
    /// index against the previous period.
    /// The figures (`统计`) of every unit at the scorecard's level (or just
    /// `only`) for the period, with the index against the previous period;
    /// built on all cores, the index memoised per distinct figures.
    fn unit_stats(
        &self,
        set: &PolicySet,
        card: &CompiledScorecard,
        period: &Period,
        only: Option<&str>,
    ) -> R<Vec<(String, String, Dynamic)>> {
        let units = self.store.units()?;
        let prev = period.previous()?;
        let (this, before, had_prev) = own_counts(set, self.store.as_ref(), period, &prev)?;
        let classes = declared_classes(set);
        let classes = &classes;
        let tree: HashMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
        let this = roll_up(&tree, &card.of, this);
        let before = roll_up(&tree, &card.of, before);
        let homes = households(&tree, &units, &card.of);
        let surveys = self.surveys(&units, &period.key())?;
        let mut targets: Vec<&Unit> = units
            .iter()
            .filter(|u| u.level == card.of && only.is_none_or(|o| o == u.id))
            .collect();
        targets.sort_by(|a, b| a.id.cmp(&b.id));
        let index_calc = match &card.index {
            Some(calc) => match set.get(calc)? {
                wangge_policy::Evaluable::Calc(c) => Some(c.clone()),
                _ => None,
            },
            None => None,
        };
        let (this, before, homes, surveys, index_calc) =
            (&this, &before, &homes, &surveys, &index_calc);
        let parts = crate::parallel::map_slices(
            &targets,
            || AppError::Store(StoreError::internal("a worker failed")),
            |_, part| -> R<Vec<(String, String, Dynamic)>> {
                let empty = Counts::default();
                let index = |stats: &Dynamic| -> R<Decimal> {
                    let Some(c) = index_calc else {
                        return Ok(Decimal::ZERO);
                    };
                    let v = c.run_dynamic(set.host(), vec![stats.clone()])?;
                    Ok(crate::incentives::value_decimal(&v, &c.name)?.normalize())
                };
                let mut out = Vec::with_capacity(part.len());
                // The figures are a pure function of the counts, the
                // households and the survey: built once per distinct input.
                // By reference: the counts live as long as the scoring.
                type Input<'c> = (&'c Counts, &'c Counts, i64, Option<(Decimal, i64)>);
                let mut memo: HashMap<u64, Vec<(Input, Dynamic)>> = HashMap::new();
                // (Figures built once per distinct input, shared so a
                // repeat costs a reference.)
                for u in part {
                    let h = homes.get(&u.id).copied().unwrap_or(0);
                    let now_counts = this.get(&u.id).unwrap_or(&empty);
                    let then_counts = before.get(&u.id).unwrap_or(&empty);
                    let survey = surveys.get(&u.id).copied();
                    // A fast hash (the counts hold several maps); equal
                    // inputs are still compared in full below.
                    let hash = {
                        use std::hash::BuildHasher;
                        foldhash::fast::FixedState::with_seed(0).hash_one((
                            now_counts,
                            then_counts,
                            h,
                            survey,
                        ))
                    };
                    if let Some(found) = memo.get(&hash).and_then(|v| {
                        v.iter().find(|(k, _)| {
                            k.0 == now_counts && k.1 == then_counts && k.2 == h && k.3 == survey
                        })
                    }) {
                        out.push((u.id.clone(), u.name.clone(), found.1.clone()));
                        continue;
                    }
                    let mut stats = stats_of(now_counts, h, survey, classes);
                    if index_calc.is_some() {
                        let now = index(&stats)?;
                        let prev_stats = stats_of(then_counts, h, None, classes);
                        let then = index(&prev_stats)?;
                        insert(&mut stats, "社情指数", Dynamic::from_decimal(now));
                        insert(&mut stats, "上期社情指数", Dynamic::from_decimal(then));
                        insert(
                            &mut stats,
                            "社情指数变化",
                            Dynamic::from_decimal(if had_prev {
                                now - then
                            } else {
                                Decimal::ZERO
                            }),
                        );
                    }
                    insert(&mut stats, "有上期", Dynamic::from_bool(had_prev));
                    let stats = stats.into_shared();
                    memo.entry(hash)
                        .or_default()
                        .push(((now_counts, then_counts, h, survey), stats.clone()));
                    out.push((u.id.clone(), u.name.clone(), stats));
                }
                Ok(out)
            },
        )?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Scores one unit (or person) now, without storing it.
    pub fn score_one(&self, set: &PolicySet, card: &str, id: &str, period: &str) -> R<Score> {
        let card = self.card(set, card)?;
        let span = Period::parse(period, card.period, &set.zone())?;
        let list = self.score_all(set, card, &span, Some(id))?;
        list.into_iter()
            .next()
            .ok_or_else(|| AppError::UnknownPerson {
                id: id.to_string(),
                help: Some(format!("`{}` scores units at `{}`", card.name, card.of)),
            })
    }

    fn score_all(
        &self,
        set: &PolicySet,
        card: &CompiledScorecard,
        span: &Period,
        only: Option<&str>,
    ) -> R<Vec<Score>> {
        let mut subjects: Vec<(String, String, Dynamic)> = Vec::new();
        if card.people {
            let figures = crate::incentives::gather_range(set, self.store.as_ref(), span)?;
            // Every activity kind any scheme records, so indicators can name them.
            let mut kinds: Vec<String> = set
                .subsidies
                .values()
                .flat_map(|s| s.activities.iter().cloned())
                .collect();
            kinds.sort();
            kinds.dedup();
            let classes = declared_classes(set);
            for p in self.store.people()? {
                if !p.holds(&card.of) || only.is_some_and(|o| o != p.id) {
                    continue;
                }
                let f = figures.get(&p.id).cloned().unwrap_or_default();
                subjects.push((p.id.clone(), p.name.clone(), f.to_rhai(&kinds, &classes)));
            }
        } else {
            subjects = self.unit_stats(set, card, span, only)?;
        }
        let results = crate::parallel::map_slices(
            &subjects,
            || AppError::Store(StoreError::internal("a scoring worker failed")),
            |_, part| -> R<Vec<Score>> {
                let mut out = Vec::with_capacity(part.len());
                // Scoring is a pure function of the figures: units with
                // the same figures get the same score, computed once.
                type Scored = (
                    Arc<Vec<wangge_policy::IndicatorScore>>,
                    Arc<Vec<wangge_policy::PenaltyScore>>,
                    Decimal,
                    u8,
                );
                let mut memo: HashMap<usize, (Arc<Why>, Scored)> = HashMap::new();
                let (card_name, period_key, version): (Arc<str>, Arc<str>, Arc<str>) = (
                    Arc::from(card.name.as_str()),
                    Arc::from(span.key().as_str()),
                    set.hash.clone(),
                );
                for (id, name, stats) in part {
                    // Shared figures built once have one address: use it
                    // as the key before falling back to the text.
                    let addr = stats
                        .read_lock::<rhai::Map>()
                        .map(|m| &*m as *const rhai::Map as usize)
                        .unwrap_or(0);
                    let (json, (indicators, penalties, total, stars)) =
                        match memo.get(&addr).filter(|_| stats.is_shared() && addr != 0) {
                            Some((json, v)) => (json.clone(), v.clone()),
                            None => {
                                let json = serde_json::to_string(&wangge_policy::ExactJson(stats))
                                    .map_err(|e| {
                                        StoreError::internal(format!(
                                            "the figures of `{id}` cannot be encoded: {e}"
                                        ))
                                    })?;
                                let shared = stats.clone().into_shared();
                                let (i, p, t, st) = card.score(set.host(), &shared, &set.hash)?;
                                let v: Scored = (Arc::new(i), Arc::new(p), t.normalize(), st);
                                let json = Arc::new(Why::from_json(json));
                                if stats.is_shared() && addr != 0 {
                                    memo.insert(addr, (json.clone(), v.clone()));
                                }
                                (json, v)
                            }
                        };
                    out.push(Score {
                        scorecard: card_name.clone(),
                        period: period_key.clone(),
                        id: id.clone(),
                        name: name.clone(),
                        indicators,
                        penalties,
                        total,
                        stars,
                        stats: json,
                        policy_version: version.clone(),
                    });
                }
                Ok(out)
            },
        )?;
        Ok(results.into_iter().flatten().collect())
    }

    /// Scores every unit of the scorecard's level (or person of its role)
    /// for `period` and stores the scores (replacing an earlier scoring of
    /// the same period).
    pub fn score_level(
        &self,
        set: &PolicySet,
        card: &str,
        period: &str,
        now: Timestamp,
    ) -> R<ScoredLevel> {
        let card = self.card(set, card)?;
        let span = Period::parse(period, card.period, &set.zone())?;
        let scores = self.score_all(set, card, &span, None)?;
        let mut summary = ScoredLevel {
            scorecard: card.name.clone(),
            period: span.key().clone(),
            scored: scores.len() as u64,
            policy_version: set.hash.to_string(),
            ..ScoredLevel::default()
        };
        let mut sum = Decimal::ZERO;
        for s in &scores {
            summary.by_stars[usize::from(s.stars.min(5))] += 1;
            sum += s.total;
        }
        summary.average = if scores.is_empty() {
            Decimal::ZERO
        } else {
            (sum / Decimal::from(scores.len() as i64)).round_dp(2)
        };
        let _g = self.incentives.lock()?;
        let mut index: BTreeMap<u32, BTreeMap<String, u32>> = BTreeMap::new();
        let chunks: Vec<&[Score]> = scores.chunks(ledger::CHUNK).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            let n = u32::try_from(n).map_err(|_| invalid("period", "too many units"))?;
            for s in *chunk {
                index
                    .entry(ledger::bucket_of(&s.id))
                    .or_default()
                    .insert(s.id.clone(), n);
            }
        }
        // Encoding on every core: each thread takes every other chunk.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(1);
        type Encoded = R<Vec<(usize, Vec<u8>)>>;
        let encoded: Vec<Encoded> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let chunks = &chunks;
                    s.spawn(move || -> R<Vec<(usize, Vec<u8>)>> {
                        let mut out = Vec::new();
                        for (n, chunk) in chunks.iter().enumerate().skip(t).step_by(threads) {
                            let mut bytes = Vec::with_capacity(chunk.len() * 1024);
                            serde_json::to_writer(&mut bytes, chunk)
                                .map_err(|e| StoreError::internal(e.to_string()))?;
                            // The chunk as `SCORES` stores it: a JSON array.
                            out.push((n, bytes));
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(AppError::Store(StoreError::internal("an encoder failed")))
                    })
                })
                .collect()
        });
        let period_key = span.key();
        let mut batch = LedgerBatch::new();
        for part in encoded {
            for (n, bytes) in part? {
                batch.put_encoded(&SCORES, &[&card.name, &period_key, &chunk_part(n)], bytes);
            }
        }
        for (b, m) in index {
            batch.put(
                &SCORE_INDEX,
                &[&card.name, &period_key, &bucket_part(b)],
                &m,
            )?;
        }
        batch.put(
            &SCORED,
            &[&card.name, &period_key],
            &(now, scores.len() as u64, set.hash.to_string()),
        )?;
        batch.write(self.store.as_ref())?;
        Ok(summary)
    }

    /// Every stored score of a scorecard and period.
    pub fn scores(&self, card: &str, period: &str) -> R<Vec<Score>> {
        if SCORED.get(self.store.as_ref(), &[card, period])?.is_none() {
            return Err(AppError::NotScored {
                scorecard: card.to_string(),
                period: period.to_string(),
            });
        }
        let chunks = SCORES.scan(self.store.as_ref(), &[card, period])?;
        Ok(chunks.into_iter().flat_map(|(_, c)| c).collect())
    }

    /// Ranks the stored scores of the award's scorecard for `period`.
    pub fn rank(&self, set: &PolicySet, award: &str, period: &str) -> R<Vec<Ranked>> {
        let a = set.awards.get(award).ok_or_else(|| AppError::UnknownRule {
            what: "award",
            name: award.to_string(),
            help: help_for(award, set.awards.keys().map(String::as_str)),
        })?;
        let scores = self.scores(&a.scorecard, period)?;
        let units = self.store.units()?;
        let by_id: HashMap<&str, &Unit> = units.iter().map(|u| (u.id.as_str(), u)).collect();
        let people: HashMap<String, Option<String>> = self
            .store
            .people()?
            .into_iter()
            .map(|p| (p.id, p.unit))
            .collect();
        let group_of = |id: &str| -> String {
            let Some(level) = &a.within else {
                return String::new();
            };
            // A person is ranked by the unit they belong to.
            let start = match by_id.get(id) {
                Some(_) => Some(id.to_string()),
                None => people.get(id).cloned().flatten(),
            };
            let mut at = start;
            for _ in 0..32 {
                let Some(u) = at.as_deref().and_then(|x| by_id.get(x)) else {
                    break;
                };
                if u.level == *level {
                    return u.id.clone();
                }
                at = u.parent.clone();
            }
            String::new()
        };
        Ok(a.rank(set.host(), &scores, &group_of)?)
    }

    /// A unit's (or person's) stored scores across periods, oldest first.
    pub fn history(&self, card: &str, id: &str) -> R<Vec<Score>> {
        let store = self.store.as_ref();
        let bucket = bucket_part(ledger::bucket_of(id));
        let mut out = Vec::new();
        for (rest, _) in SCORED.scan(store, &[card])? {
            let p = rest.join("\u{0}");
            let Some(m) = SCORE_INDEX.get(store, &[card, &p, &bucket])? else {
                continue;
            };
            let Some(n) = m.get(id) else { continue };
            if let Some(list) = SCORES.get(store, &[card, &p, &chunk_part(*n as usize)])? {
                out.extend(list.into_iter().filter(|s| s.id == id));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rates were rounded to 4 places (and survey means to 2) before
    /// scoring, so a total could differ from the exact computation by 0.01
    /// and cross a star boundary: the figures are exact now.
    #[test]
    fn rates_are_not_rounded_before_scoring() {
        let exact = Decimal::from(2) / Decimal::from(3);
        assert_eq!(rate(2, 3), exact.normalize());
        assert_ne!(rate(2, 3), Decimal::new(6667, 4));
        // Nothing counted is no record, not a perfect one.
        assert_eq!(rate(0, 0), Decimal::ZERO);
    }
}
