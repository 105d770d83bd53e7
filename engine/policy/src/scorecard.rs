//! Scorecards and awards, compiled from `scorecard` and `award` items, and
//! the scoring itself: each indicator's raw value (a rhai expression over
//! the period's figures), normalised to 0–100 (linear between bounds and
//! clamped, banded, or raw), weighted; penalties per occurrence with a cap;
//! the total; stars by bands. Awards rank scores within a parent unit or
//! the whole city, with eligibility, quotas and a stated tie rule. Scores
//! are exact decimals, rounded to two places.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::Dynamic;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use wangge_dsl::ast::{self, LitKind, Norm, PeriodKind, Within};
use wangge_dsl::suggest::help_for;
use wangge_dsl::Diagnostic;

use crate::case::Why;
use crate::error::EvalError;
use crate::host::RhaiHost;
use crate::script::{Script, ScriptEnv};

fn dec_of(l: &ast::Lit) -> Option<Decimal> {
    match &l.kind {
        LitKind::Int(i) => Some(Decimal::from(*i)),
        LitKind::Dec(d) | LitKind::Money(d) => Some(*d),
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum CNorm {
    Linear(Decimal, Decimal),
    Bands(Vec<(Option<(String, Decimal)>, Decimal)>),
    Raw,
}

#[derive(Debug, Clone)]
struct CIndicator {
    name: String,
    expr: Script,
    weight: Decimal,
    norm: CNorm,
}

#[derive(Debug, Clone)]
struct CPenalty {
    name: String,
    expr: Script,
    per: Decimal,
    cap: Option<Decimal>,
}

/// A compiled `scorecard`.
#[derive(Debug, Clone)]
pub struct CompiledScorecard {
    pub name: String,
    /// The ladder level (or role) it scores.
    pub of: String,
    /// Whether it scores people (a role) rather than units (a level).
    pub people: bool,
    pub period: PeriodKind,
    /// The calc giving the index (社情指数) from the figures, if any.
    pub index: Option<String>,
    indicators: Vec<CIndicator>,
    penalties: Vec<CPenalty>,
    /// `(stars, minimum total)`, highest threshold first.
    stars: Vec<(u8, Decimal)>,
    /// Every indicator and penalty in one script returning an array: one
    /// run per unit. On an error the expressions run one by one, so the
    /// error names the one that failed.
    all: Option<Script>,
}

/// A compiled `award`.
#[derive(Debug, Clone)]
pub struct CompiledAward {
    pub name: String,
    pub scorecard: String,
    eligible: Option<Script>,
    /// The ladder level whose units group the ranking (`None`: the city).
    pub within: Option<String>,
    /// `(N, percent)`.
    pub top: Option<(Decimal, bool)>,
    pub ties: Vec<String>,
}

fn err(span: wangge_dsl::Span, message: String, label: &str) -> Diagnostic {
    Diagnostic::error("wangge::scorecard", span, message).with_label(label)
}

/// Compiled scorecards and awards by name, and the diagnostics.
pub(crate) type Compiled = (
    BTreeMap<String, Arc<CompiledScorecard>>,
    BTreeMap<String, Arc<CompiledAward>>,
    Vec<Diagnostic>,
);

/// Compiles scorecards (units of a level, or people of a role) and awards.
pub(crate) fn compile(
    cards: &[&ast::Scorecard],
    awards: &[&ast::Award],
    env: &ScriptEnv,
    levels: &[String],
    roles: &[&str],
) -> Compiled {
    let mut diags = Vec::new();
    let mut out = BTreeMap::new();
    for c in cards {
        let people = roles.contains(&c.of.name.as_str());
        if !people && !levels.contains(&c.of.name) {
            let mut d = err(
                c.of.span,
                format!("`{}` is neither a ladder level nor a role", c.of.name),
                "what does it score?",
            );
            if let Some(h) = help_for(
                &c.of.name,
                levels
                    .iter()
                    .map(String::as_str)
                    .chain(roles.iter().copied()),
            ) {
                d = d.with_help(h);
            }
            diags.push(d);
            continue;
        }
        let mut ok = true;
        let mut indicators = Vec::new();
        for i in &c.indicators {
            let expr = match env.compile(
                &i.expr,
                &format!("{}.{}", c.name.name, i.name.name),
                &["统计"],
                true,
            ) {
                Ok(s) => s,
                Err(d) => {
                    diags.push(d);
                    ok = false;
                    continue;
                }
            };
            let weight = match dec_of(&i.weight) {
                Some(w) if w > Decimal::ZERO => w,
                _ => {
                    diags.push(err(
                        i.weight.span,
                        "a weight is a number above zero".into(),
                        "weight",
                    ));
                    ok = false;
                    continue;
                }
            };
            let norm = match &i.norm {
                Norm::Linear(a, b) => match (dec_of(a), dec_of(b)) {
                    (Some(a), Some(b)) if a != b => CNorm::Linear(a, b),
                    _ => {
                        diags.push(err(
                            a.span,
                            "`linear A..B` needs two different numbers".into(),
                            "bounds",
                        ));
                        ok = false;
                        continue;
                    }
                },
                Norm::Bands(bands) => {
                    let mut v = Vec::new();
                    for (cond, score) in bands {
                        let Some(s) = dec_of(score) else {
                            diags.push(err(
                                score.span,
                                "a band's score is a number".into(),
                                "score",
                            ));
                            ok = false;
                            continue;
                        };
                        let cond = match cond {
                            None => None,
                            Some((op, at)) => match dec_of(at) {
                                Some(x) => Some((op.clone(), x)),
                                None => {
                                    diags.push(err(
                                        at.span,
                                        "a band's bound is a number".into(),
                                        "bound",
                                    ));
                                    ok = false;
                                    continue;
                                }
                            },
                        };
                        v.push((cond, s));
                    }
                    CNorm::Bands(v)
                }
                Norm::Raw => CNorm::Raw,
            };
            indicators.push(CIndicator {
                name: i.name.name.clone(),
                expr,
                weight,
                norm,
            });
        }
        let mut penalties = Vec::new();
        for p in &c.penalties {
            let expr = match env.compile(
                &p.expr,
                &format!("{}.{}", c.name.name, p.name.name),
                &["统计"],
                true,
            ) {
                Ok(s) => s,
                Err(d) => {
                    diags.push(d);
                    ok = false;
                    continue;
                }
            };
            let (Some(per), cap) = (dec_of(&p.per), p.cap.as_ref().and_then(dec_of)) else {
                diags.push(err(
                    p.per.span,
                    "points per occurrence are a number".into(),
                    "per",
                ));
                ok = false;
                continue;
            };
            penalties.push(CPenalty {
                name: p.name.name.clone(),
                expr,
                per,
                cap,
            });
        }
        let mut stars = Vec::new();
        for (s, t) in &c.stars {
            match (&s.kind, dec_of(t)) {
                (LitKind::Int(n @ 1..=5), Some(t)) => stars.push((*n as u8, t)),
                _ => {
                    diags.push(err(
                        s.span,
                        "stars are 1 to 5, each with a minimum total".into(),
                        "e.g. `5: 90`",
                    ));
                    ok = false;
                }
            }
        }
        stars.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        if indicators.is_empty() && ok {
            diags.push(err(
                c.name.span,
                format!("scorecard `{}` has no indicator", c.name.name),
                "nothing to score",
            ));
            ok = false;
        }
        let combined = ast::RhaiCode {
            text: format!(
                "[{}]",
                c.indicators
                    .iter()
                    .map(|i| format!("({})", i.expr.text))
                    .chain(c.penalties.iter().map(|p| format!("({})", p.expr.text)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            span: c.name.span,
        };
        let all = env.compile(&combined, &c.name.name, &["统计"], true).ok();
        if ok {
            out.insert(
                c.name.name.clone(),
                Arc::new(CompiledScorecard {
                    all,
                    name: c.name.name.clone(),
                    of: c.of.name.clone(),
                    people,
                    period: c.period,
                    index: c.index.as_ref().map(|i| i.name.clone()),
                    indicators,
                    penalties,
                    stars,
                }),
            );
        }
    }
    let mut awarded = BTreeMap::new();
    for a in awards {
        let Some(card) = out.get(&a.scorecard.name) else {
            continue; // unknown scorecards are reported by name resolution
        };
        let eligible = match &a.eligible {
            Some(code) => match env.compile(code, &a.name.name, &["星级", "总分", "统计"], true)
            {
                Ok(s) => Some(s),
                Err(d) => {
                    diags.push(d);
                    continue;
                }
            },
            None => None,
        };
        let within = match &a.within {
            Within::City => None,
            Within::Level(l) => {
                if !levels.contains(&l.name) {
                    diags.push(err(
                        l.span,
                        format!("`{}` is not a ladder level", l.name),
                        "rank within what?",
                    ));
                    continue;
                }
                Some(l.name.clone())
            }
        };
        let top = match &a.top {
            Some((n, pct)) => match dec_of(n) {
                Some(x) if x > Decimal::ZERO => Some((x, *pct)),
                _ => {
                    diags.push(err(
                        n.span,
                        "a quota is a number above zero".into(),
                        "quota",
                    ));
                    continue;
                }
            },
            None => None,
        };
        let mut bad = false;
        for t in &a.ties {
            if t.name != "编号" && !card.indicators.iter().any(|i| i.name == t.name) {
                let mut d = err(
                    t.span,
                    format!(
                        "`{}` is not an indicator of `{}` (or `编号`)",
                        t.name, card.name
                    ),
                    "tie breaker",
                );
                if let Some(h) = help_for(&t.name, card.indicators.iter().map(|i| i.name.as_str()))
                {
                    d = d.with_help(h);
                }
                diags.push(d);
                bad = true;
            }
        }
        if bad {
            continue;
        }
        awarded.insert(
            a.name.name.clone(),
            Arc::new(CompiledAward {
                name: a.name.name.clone(),
                scorecard: a.scorecard.name.clone(),
                eligible,
                within,
                top,
                ties: a.ties.iter().map(|t| t.name.clone()).collect(),
            }),
        );
    }
    (out, awarded, diags)
}

/// One indicator of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndicatorScore {
    pub name: String,
    pub raw: Decimal,
    pub normalised: Decimal,
    pub weight: Decimal,
    pub contribution: Decimal,
}

/// One penalty of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PenaltyScore {
    pub name: String,
    pub count: Decimal,
    /// Points off (after the cap).
    pub points: Decimal,
}

/// A unit's (or person's) score for a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub scorecard: Arc<str>,
    pub period: Arc<str>,
    /// Unit or person id.
    pub id: String,
    pub name: String,
    /// (Shared by every unit with the same figures.)
    pub indicators: Arc<Vec<IndicatorScore>>,
    pub penalties: Arc<Vec<PenaltyScore>>,
    pub total: Decimal,
    pub stars: u8,
    pub stats: Arc<Why>,
    pub policy_version: Arc<str>,
}

fn to_decimal(d: &Dynamic, item: &str) -> Result<Decimal, EvalError> {
    if let Ok(x) = d.as_decimal() {
        return Ok(x);
    }
    if let Ok(i) = d.as_int() {
        return Ok(Decimal::from(i));
    }
    if let Ok(f) = d.as_float() {
        // The decimal the float prints as (deterministic everywhere).
        if let Ok(x) = format!("{f}").parse::<Decimal>() {
            return Ok(x);
        }
    }
    if let Ok(b) = d.as_bool() {
        return Ok(Decimal::from(u8::from(b)));
    }
    Err(EvalError::ResultType {
        item: item.to_string(),
        expected: "a number".to_string(),
        found: format!("a `{}` (`{d}`)", d.type_name()),
    })
}

fn two(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn show(d: Decimal) -> Decimal {
    two(d).normalize()
}

/// An award's quota as a count; one that does not fit is an error.
fn quota_of(n: Decimal, award: &str) -> Result<usize, EvalError> {
    use rust_decimal::prelude::ToPrimitive;
    n.to_usize().ok_or_else(|| EvalError::ResultType {
        item: award.to_string(),
        expected: "a quota between 0 and the number of units".into(),
        found: format!("`{n}`"),
    })
}

fn holds(op: &str, x: Decimal, at: Decimal) -> bool {
    match op {
        ">=" => x >= at,
        ">" => x > at,
        "<=" => x <= at,
        "<" => x < at,
        "=" => x == at,
        "!=" => x != at,
        _ => false,
    }
}

impl CompiledScorecard {
    /// The names of its indicators and penalties.
    pub fn item_names(&self) -> Vec<String> {
        self.indicators
            .iter()
            .map(|i| i.name.clone())
            .chain(self.penalties.iter().map(|p| p.name.clone()))
            .collect()
    }

    /// Scores one unit from its figures (`统计`, shared).
    pub fn score(
        &self,
        host: &RhaiHost,
        stats: &Dynamic,
        version: &str,
    ) -> Result<(Vec<IndicatorScore>, Vec<PenaltyScore>, Decimal, u8), EvalError> {
        let total_weight: Decimal = self.indicators.iter().map(|i| i.weight).sum();
        let mut total = Decimal::ZERO;
        let mut inds = Vec::with_capacity(self.indicators.len());
        // The fast path: every expression in one run.
        let fast: Option<Vec<Decimal>> = self.all.as_ref().and_then(|all| {
            let v = all
                .run(host, vec![("统计", stats.clone())], &self.name)
                .ok()?;
            let arr = v.into_array().ok()?;
            arr.iter().map(|d| to_decimal(d, &self.name).ok()).collect()
        });
        let value = |k: usize, expr: &Script, item: &str| -> Result<Decimal, EvalError> {
            match fast.as_ref().and_then(|f| f.get(k)) {
                Some(v) => Ok(*v),
                None => to_decimal(&expr.run(host, vec![("统计", stats.clone())], item)?, item),
            }
        };
        for (k, i) in self.indicators.iter().enumerate() {
            let item = format!("{}.{}", self.name, i.name);
            let raw = value(k, &i.expr, &item)?;
            let n = match &i.norm {
                CNorm::Linear(a, b) => {
                    let v = (raw - a) / (b - a) * Decimal::ONE_HUNDRED;
                    v.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED)
                }
                CNorm::Bands(bands) => bands
                    .iter()
                    .find(|(c, _)| c.as_ref().is_none_or(|(op, at)| holds(op, raw, *at)))
                    .map_or(Decimal::ZERO, |(_, s)| *s),
                CNorm::Raw => raw,
            };
            let contribution = n * i.weight / total_weight;
            total += contribution;
            inds.push(IndicatorScore {
                name: i.name.clone(),
                raw: raw.normalize(),
                normalised: show(n),
                weight: i.weight.normalize(),
                contribution: show(contribution),
            });
        }
        let mut pens = Vec::with_capacity(self.penalties.len());
        for (k, p) in self.penalties.iter().enumerate() {
            let item = format!("{}.{}", self.name, p.name);
            let count = value(self.indicators.len() + k, &p.expr, &item)?;
            let mut off = count * p.per;
            if let Some(cap) = p.cap {
                off = off.min(cap);
            }
            total -= off;
            pens.push(PenaltyScore {
                name: p.name.clone(),
                count: count.normalize(),
                points: show(off),
            });
        }
        let total = two(total.max(Decimal::ZERO));
        let stars = self
            .stars
            .iter()
            .find(|(_, t)| total >= *t)
            .map_or(0, |(s, _)| *s);
        let _ = version;
        Ok((inds, pens, total, stars))
    }
}

/// A score's place in an award's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub id: String,
    pub name: String,
    /// The unit it is ranked within (empty for the city).
    pub group: String,
    /// 1-based within the group.
    pub rank: u32,
    pub total: Decimal,
    pub stars: u8,
    pub eligible: bool,
    pub awarded: bool,
}

impl CompiledAward {
    /// Ranks `scores`; `group_of` gives the unit each is ranked within.
    pub fn rank(
        &self,
        host: &RhaiHost,
        scores: &[Score],
        group_of: &dyn Fn(&str) -> String,
    ) -> Result<Vec<Ranked>, EvalError> {
        let mut groups: BTreeMap<String, Vec<(&Score, bool, Decimal)>> = BTreeMap::new();
        for s in scores {
            let total = s.total;
            let eligible = match &self.eligible {
                Some(script) => {
                    let stats = crate::value::json_to_dynamic(&s.stats.json());
                    let v = script.run(
                        host,
                        vec![
                            ("星级", Dynamic::from_int(i64::from(s.stars))),
                            ("总分", Dynamic::from_decimal(total)),
                            ("统计", stats),
                        ],
                        &self.name,
                    )?;
                    v.as_bool().map_err(|_| EvalError::ResultType {
                        item: self.name.clone(),
                        expected: "`true` or `false`".into(),
                        found: format!("`{v}`"),
                    })?
                }
                None => true,
            };
            groups
                .entry(group_of(&s.id))
                .or_default()
                .push((s, eligible, total));
        }
        let key = |s: &Score, name: &str| -> Decimal {
            s.indicators
                .iter()
                .find(|i| i.name == name)
                .map_or(Decimal::ZERO, |i| i.contribution)
        };
        let mut out = Vec::with_capacity(scores.len());
        for (group, mut list) in groups {
            // The stated rule: total, then each tie breaker (indicators:
            // higher contribution first; 编号: lower first), then the id.
            list.sort_by(|a, b| {
                let mut o = b.2.cmp(&a.2);
                for t in &self.ties {
                    if o.is_ne() {
                        break;
                    }
                    o = if t == "编号" {
                        a.0.id.cmp(&b.0.id)
                    } else {
                        key(b.0, t).cmp(&key(a.0, t))
                    };
                }
                o.then(a.0.id.cmp(&b.0.id))
            });
            let eligible_count = list.iter().filter(|x| x.1).count();
            let quota = match self.top {
                None => eligible_count,
                Some((n, false)) => quota_of(n.trunc(), &self.name)?,
                Some((pct, true)) => quota_of(
                    (Decimal::from(eligible_count) * pct / Decimal::ONE_HUNDRED).ceil(),
                    &self.name,
                )?,
            };
            let mut given = 0usize;
            for (i, (s, eligible, _)) in list.iter().enumerate() {
                let awarded = *eligible && given < quota;
                if awarded {
                    given += 1;
                }
                out.push(Ranked {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    group: group.clone(),
                    rank: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    total: s.total,
                    stars: s.stars,
                    eligible: *eligible,
                    awarded,
                });
            }
        }
        Ok(out)
    }
}
