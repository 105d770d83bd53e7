//! What incentives and evaluation count of a case, in one place and in one
//! vocabulary (docs/language.md, "Figures"): whether it counts as 办结 (the
//! workflow's `closed` states), handled on time, the residents' feedback
//! (the workflow's `feedback` outcomes and their weights), and the shared
//! figures of closed cases both subsidies and scorecards read.

use std::collections::BTreeMap;

use rhai::Dynamic;
use rust_decimal::Decimal;
use wangge_policy::{rhai_map, CompiledWorkflow, PolicySet};
use wangge_store::CaseFact;

/// A case's workflow in `set`, if the set still has it.
pub fn workflow_of<'s>(set: &'s PolicySet, c: &CaseFact<'_>) -> Option<&'s CompiledWorkflow> {
    set.workflows()
        .find(|w| w.name == c.workflow)
        .map(|w| w.as_ref())
}

/// Counted as 办结 at a moment `within` accepts: closed in a state its
/// workflow counts (a workflow the policy no longer has: any final state).
pub fn closed_within(
    wf: Option<&CompiledWorkflow>,
    c: &CaseFact<'_>,
    within: impl Fn(i64) -> bool,
) -> bool {
    c.closed_at.is_some_and(within) && wf.is_none_or(|w| w.counts_as_closed(&c.state))
}

/// Closed without an escalation or an overdue deadline.
pub fn on_time(c: &CaseFact<'_>) -> bool {
    c.escalations == 0 && c.overdue == 0
}

/// The weight of the last feedback outcome (1 satisfied … 0 not), if any.
pub fn last_feedback(wf: Option<&CompiledWorkflow>, c: &CaseFact<'_>) -> Option<Decimal> {
    let wf = wf?;
    c.outcomes
        .iter()
        .rev()
        .find_map(|o| wf.feedback_weight(o.as_ref()))
}

/// `n / d` exactly (to the 28 digits a decimal holds; never rounded here:
/// the calc or scorecard rounds once, where the policy says); 0 when there
/// is nothing to divide (no case is not a perfect record).
pub fn rate(n: i64, d: i64) -> Decimal {
    if d <= 0 {
        Decimal::ZERO
    } else {
        (Decimal::from(n) / Decimal::from(d)).normalize()
    }
}

/// Adds one to `key`'s count (the key copied only when new).
pub fn bump(counts: &mut BTreeMap<String, i64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_string(), 1);
        }
    }
}

/// The figures of closed cases, shared by subsidies (per person) and
/// scorecards (per unit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tally {
    pub closed: i64,
    pub on_time: i64,
    pub reopened: i64,
    /// Closed cases with feedback, and their weights summed.
    pub feedback: i64,
    pub feedback_weight: Decimal,
    /// Feedback of weight 1, and of weight 0.
    pub satisfied: i64,
    pub unsatisfied: i64,
    pub by_class: BTreeMap<String, i64>,
    pub by_workflow: BTreeMap<String, i64>,
    pub by_channel: BTreeMap<String, i64>,
}

impl Tally {
    /// Counts one closed case.
    pub fn count(&mut self, wf: Option<&CompiledWorkflow>, c: &CaseFact<'_>) {
        self.closed += 1;
        if on_time(c) {
            self.on_time += 1;
        }
        if c.reopened > 0 {
            self.reopened += 1;
        }
        if let Some(w) = last_feedback(wf, c) {
            self.feedback += 1;
            self.feedback_weight += w;
            if w == Decimal::ONE {
                self.satisfied += 1;
            } else if w.is_zero() {
                self.unsatisfied += 1;
            }
        }
        bump(&mut self.by_class, c.class.as_deref().unwrap_or("-"));
        bump(&mut self.by_workflow, &c.workflow);
        if let Some(ch) = &c.channel {
            bump(&mut self.by_channel, ch);
        }
    }

    pub fn add(&mut self, o: &Tally) {
        self.closed += o.closed;
        self.on_time += o.on_time;
        self.reopened += o.reopened;
        self.feedback += o.feedback;
        self.feedback_weight += o.feedback_weight;
        self.satisfied += o.satisfied;
        self.unsatisfied += o.unsatisfied;
        for (m, n) in [
            (&mut self.by_class, &o.by_class),
            (&mut self.by_workflow, &o.by_workflow),
            (&mut self.by_channel, &o.by_channel),
        ] {
            for (k, v) in n {
                *m.entry(k.clone()).or_default() += v;
            }
        }
    }

    /// The satisfaction rate: feedback weights over feedback given.
    pub fn satisfaction(&self) -> Decimal {
        if self.feedback <= 0 {
            Decimal::ZERO
        } else {
            (self.feedback_weight / Decimal::from(self.feedback)).normalize()
        }
    }

    /// The shared figures, by their policy names; `classes` are present in
    /// `办结按等级` even when zero.
    pub fn entries(&self, classes: &[String]) -> Vec<(&'static str, Dynamic)> {
        vec![
            ("办结", Dynamic::from_int(self.closed)),
            ("按期", Dynamic::from_int(self.on_time)),
            (
                "按期率",
                Dynamic::from_decimal(rate(self.on_time, self.closed)),
            ),
            ("返工", Dynamic::from_int(self.reopened)),
            (
                "返工率",
                Dynamic::from_decimal(rate(self.reopened, self.closed)),
            ),
            ("评价", Dynamic::from_int(self.feedback)),
            ("满意", Dynamic::from_int(self.satisfied)),
            ("不满意", Dynamic::from_int(self.unsatisfied)),
            ("满意率", Dynamic::from_decimal(self.satisfaction())),
            ("办结按等级", counts(&self.by_class, classes)),
            ("办结按流程", counts(&self.by_workflow, &[])),
            ("办结按来源", counts(&self.by_channel, &[])),
        ]
    }
}

/// A map of counts, with `keys` present (zero) even when not counted.
pub fn counts(m: &BTreeMap<String, i64>, keys: &[String]) -> Dynamic {
    let mut map = rhai::Map::new();
    for k in keys {
        map.insert(k.as_str().into(), Dynamic::from_int(0));
    }
    for (k, v) in m {
        map.insert(k.as_str().into(), Dynamic::from_int(*v));
    }
    Dynamic::from_map(map)
}

/// Every class the policy's classifiers declare, in order, once.
pub fn declared_classes(set: &PolicySet) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in set.workflows() {
        for c in w.declared_classes() {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    out
}

/// A rhai map of `entries`.
pub fn map_of(entries: Vec<(&'static str, Dynamic)>) -> Dynamic {
    rhai_map(entries)
}
