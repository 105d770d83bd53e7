//! What a test run can exercise — every table row, rule, ladder rung and
//! workflow transition of a policy set — and which of them it did.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use wangge_dsl::ast::{File, Item};
use wangge_dsl::SourceSet;

use crate::case::CaseEvent;
use crate::workflow::CompiledWorkflow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Row,
    Rule,
    Rung,
    Transition,
    /// A subsidy's component or factor.
    Component,
    /// A scorecard's indicator or penalty.
    Indicator,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Row => "table rows",
            Kind::Rule => "rules",
            Kind::Rung => "ladder rungs",
            Kind::Transition => "transitions",
            Kind::Component => "subsidy items",
            Kind::Indicator => "indicators",
        }
    }
}

/// One thing a scenario can exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub kind: Kind,
    /// The table, rule set, ladder or workflow.
    pub item: String,
    /// Row number (from 1), rule name, level, or transition number (from 1).
    pub key: String,
    /// How it reads (`row 3`, the rule, the level, the transition).
    pub label: String,
    /// `file:line:column` where it is written.
    pub at: String,
}

/// A covered target: `(kind, item, key)`.
pub type Hit = (Kind, String, String);

/// Every target of a policy set's files, in source order.
pub fn targets(files: &[File], sources: &SourceSet) -> Vec<Target> {
    let mut out = Vec::new();
    for item in files.iter().flat_map(|f| f.items.iter()) {
        match item {
            Item::Table(t) => {
                for (i, r) in t.rows.iter().enumerate() {
                    out.push(Target {
                        kind: Kind::Row,
                        item: t.name.name.clone(),
                        key: (i + 1).to_string(),
                        label: format!("row {}", i + 1),
                        at: sources.location(r.span),
                    });
                }
            }
            Item::Rules(rs) => {
                for r in &rs.rules {
                    out.push(Target {
                        kind: Kind::Rule,
                        item: rs.name.name.clone(),
                        key: r.name.name.clone(),
                        label: format!("rule {}", r.name.name),
                        at: sources.location(r.name.span),
                    });
                }
            }
            Item::Ladder(l) => {
                for lv in &l.levels {
                    out.push(Target {
                        kind: Kind::Rung,
                        item: l.name.name.clone(),
                        key: lv.name.clone(),
                        label: lv.name.clone(),
                        at: sources.location(lv.span),
                    });
                }
            }
            Item::Workflow(w) => {
                for (i, t) in w.transitions.iter().enumerate() {
                    out.push(Target {
                        kind: Kind::Transition,
                        item: w.name.name.clone(),
                        key: (i + 1).to_string(),
                        label: sources
                            .text(t.span)
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" "),
                        at: sources.location(t.span),
                    });
                }
            }
            Item::Subsidy(sub) => {
                for (name, calc) in sub
                    .components
                    .iter()
                    .map(|(n, c)| (n, c))
                    .chain(sub.factors.iter().map(|(n, c, _)| (n, c)))
                {
                    out.push(Target {
                        kind: Kind::Component,
                        item: sub.name.name.clone(),
                        key: name.name.clone(),
                        label: format!("{} = {}", name.name, calc.name),
                        at: sources.location(name.span),
                    });
                }
            }
            Item::Scorecard(card) => {
                for (name, span) in card
                    .indicators
                    .iter()
                    .map(|i| (&i.name.name, i.name.span))
                    .chain(card.penalties.iter().map(|p| (&p.name.name, p.name.span)))
                {
                    out.push(Target {
                        kind: Kind::Indicator,
                        item: card.name.name.clone(),
                        key: name.clone(),
                        label: name.clone(),
                        at: sources.location(span),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The rows or rules a serialised decision used.
pub fn decision_hits(decision: &Value, hits: &mut BTreeSet<Hit>) {
    let Some(item) = decision.get("item").and_then(Value::as_str) else {
        return;
    };
    let Some(ex) = decision.get("explanation") else {
        return;
    };
    let matched = ex.get("matched").and_then(Value::as_array);
    for m in matched.into_iter().flatten() {
        if let Some(row) = m.get("row").and_then(Value::as_u64) {
            hits.insert((Kind::Row, item.to_string(), row.to_string()));
        }
        if let Some(rule) = m.get("rule").and_then(Value::as_str) {
            hits.insert((Kind::Rule, item.to_string(), rule.to_string()));
        }
    }
}

/// The rungs, transitions and classification rows one case event used.
pub fn event_hits(wf: &CompiledWorkflow, e: &CaseEvent, hits: &mut BTreeSet<Hit>) {
    // The rung of every ladder of the workflow that has the level (the
    // event does not say which ladder the case climbs).
    for (name, levels) in &wf.ladders {
        if levels.contains(&e.level_after) {
            hits.insert((Kind::Rung, name.clone(), e.level_after.clone()));
        }
    }
    if e.seq == 0 {
        if let Some(d) = e.explanation.json().get("classification") {
            decision_hits(d, hits);
        }
        return;
    }
    let Some(before) = &e.state_before else {
        return;
    };
    if let Some(i) = wf.transitions.iter().position(|t| {
        t.action == e.action
            && t.outcome == e.outcome
            && t.from.contains(before)
            && t.to == e.state_after
    }) {
        hits.insert((Kind::Transition, wf.name.clone(), (i + 1).to_string()));
    }
}
