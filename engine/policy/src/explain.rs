//! Decisions and their explanations: which rows, rules or inputs produced a
//! result, with the values they saw and the policy version that decided.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// The result of evaluating one table, rule set or calc.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// `table`, `rules` or `calc`.
    pub kind: &'static str,
    pub item: Arc<str>,
    /// Content hash of the policy set that decided.
    pub policy_version: Arc<str>,
    /// Shared with the table row that gave it where there is one.
    pub result: Arc<Value>,
    pub explanation: Explanation,
    /// The decisions of the items it called (composition), in call order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Decision>,
}

/// Why a result came out as it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Explanation {
    Table {
        hit_policy: &'static str,
        /// Each input column with the value it saw.
        inputs: Vec<InputSeen>,
        /// Every matching row, in table order.
        matched: Vec<RowMatch>,
        /// The rows whose outputs make up the result.
        selected: Vec<usize>,
    },
    Rules {
        mode: &'static str,
        /// The rules whose condition held, in order.
        matched: Vec<RuleMatch>,
        /// How many conditions were evaluated.
        evaluated: usize,
    },
    Calc {
        /// The values its body read from its inputs (`事件.人数`), or a
        /// whole input where the body uses it whole.
        inputs: Vec<InputSeen>,
        /// The `param`s its body refers to.
        params: Vec<InputSeen>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSeen {
    pub name: Arc<str>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowMatch {
    /// 1-based row number in the table.
    pub row: usize,
    /// `file:line` of the row.
    pub at: Arc<str>,
    pub outputs: Arc<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMatch {
    pub rule: Arc<str>,
    pub at: Arc<str>,
    pub condition: Arc<str>,
    pub outputs: Arc<Value>,
}

impl Decision {
    /// A human-readable account of the decision.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} `{}` (policy {}):\n  result: {}\n",
            self.kind,
            self.item,
            short_hash(&self.policy_version),
            self.result
        );
        match &self.explanation {
            Explanation::Table {
                hit_policy,
                inputs,
                matched,
                selected,
            } => {
                out.push_str(&format!("  hit policy: {hit_policy}\n  inputs:\n"));
                for i in inputs {
                    out.push_str(&format!("    {} = {}\n", i.name, i.value));
                }
                if matched.is_empty() {
                    out.push_str("  no row matched\n");
                }
                for m in matched {
                    let mark = if selected.contains(&m.row) { "*" } else { " " };
                    out.push_str(&format!(
                        "  {mark} row {} ({}) matched → {}\n",
                        m.row, m.at, m.outputs
                    ));
                }
            }
            Explanation::Rules {
                mode,
                matched,
                evaluated,
            } => {
                out.push_str(&format!(
                    "  mode: {mode}; {evaluated} condition(s) evaluated\n"
                ));
                if matched.is_empty() {
                    out.push_str("  no rule matched\n");
                }
                for m in matched {
                    out.push_str(&format!(
                        "  * rule `{}` ({}) when {} → {}\n",
                        m.rule, m.at, m.condition, m.outputs
                    ));
                }
            }
            Explanation::Calc { inputs, params } => {
                out.push_str("  inputs:\n");
                for i in inputs {
                    out.push_str(&format!("    {} = {}\n", i.name, i.value));
                }
                if !params.is_empty() {
                    out.push_str("  params:\n");
                    for p in params {
                        out.push_str(&format!("    {} = {}\n", p.name, p.value));
                    }
                }
            }
        }
        // The items it called, each explained one level further in.
        for call in &self.calls {
            out.push_str("  called ");
            for line in call.render().lines() {
                out.push_str(line);
                out.push_str("\n  ");
            }
            out.truncate(out.trim_end_matches(' ').len());
        }
        out
    }
}

/// The first 12 hex digits of a content hash.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
