//! Export of stored history: every case's inputs (its report and the
//! actions people took) and the engine's decisions on them (class, level,
//! state, policy version), plus the timer effects, as JSON Lines in time
//! order (docs/history.md). Replaying an export re-runs its `report` and
//! `act` lines; `timer` lines are what the engine did on its own and are
//! recomputed by a replay, so it skips them.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use wangge_policy::Timestamp;
use wangge_policy::{Case, CaseEvent};
use wangge_store::prelude::*;
use wangge_store::StoreError;

/// What the engine decided when a line was applied.
#[derive(Debug, Serialize)]
struct Decided<'a> {
    state: &'a str,
    level: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ceiling: Option<&'a str>,
    policy_version: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Report {
        at: Timestamp,
        #[serde(rename = "ref")]
        case_ref: u64,
        workflow: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        unit: Option<&'a str>,
        /// The unit's attributes the classifier read, when it read them.
        #[serde(skip_serializing_if = "Option::is_none")]
        unit_seen: Option<&'a Value>,
        data: &'a Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<&'a str>,
        actor: &'a str,
        result: Decided<'a>,
    },
    Act {
        at: Timestamp,
        #[serde(rename = "ref")]
        case_ref: u64,
        action: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        outcome: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        departments: Vec<String>,
        actor: &'a str,
        result: Decided<'a>,
    },
    Timer {
        at: Timestamp,
        #[serde(rename = "ref")]
        case_ref: u64,
        action: &'a str,
        result: Decided<'a>,
    },
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    pub cases: u64,
    pub lines: u64,
}

/// The departments a summon or report-in event named (kept in its
/// explanation).
fn departments(e: &CaseEvent) -> Vec<String> {
    let why = e.explanation.json();
    match e.action.as_str() {
        "summon" => why
            .get("departments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        "report_in" => why
            .get("department")
            .and_then(Value::as_str)
            .map(|d| vec![d.to_string()])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn line(case: &Case, e: &CaseEvent) -> Result<String, serde_json::Error> {
    let result = Decided {
        state: &e.state_after,
        level: &e.level_after,
        class: if e.seq == 0 {
            case.class.as_deref()
        } else {
            None
        },
        ceiling: if e.seq == 0 {
            case.ceiling.as_deref()
        } else {
            None
        },
        policy_version: &e.policy_version,
    };
    let l = if e.seq == 0 {
        Line::Report {
            at: e.at,
            case_ref: case.id,
            workflow: &case.workflow,
            unit: case.unit.as_deref(),
            unit_seen: case.unit_seen.as_ref(),
            data: &case.data,
            key: case.idempotency_key.as_deref(),
            actor: &e.actor,
            result,
        }
    } else if e.actor == "timer" {
        Line::Timer {
            at: e.at,
            case_ref: case.id,
            action: &e.action,
            result,
        }
    } else {
        Line::Act {
            at: e.at,
            case_ref: case.id,
            action: &e.action,
            outcome: e.outcome.as_deref(),
            departments: departments(e),
            actor: &e.actor,
            result,
        }
    };
    serde_json::to_string(&l)
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),
    #[error("case {case}: cannot write event {seq}: {message}")]
    #[diagnostic(code(wangge::export::encode))]
    Encode {
        case: u64,
        seq: u64,
        message: String,
    },
    #[error("cannot write the export: {0}")]
    #[diagnostic(code(wangge::export::write))]
    Write(#[from] std::io::Error),
}

/// Writes the history of the cases reported in `[from, to)` (all when
/// `None`), in time order (ties in case and event order).
pub fn export(
    store: &dyn Store,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    out: &mut dyn Write,
) -> Result<ExportStats, ExportError> {
    export_redacted(store, from, to, out, &|_| {})
}

/// [`export`], each case passed through `redact` first (`wangge export
/// --redact` masks personal fields with it).
pub fn export_redacted(
    store: &dyn Store,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    out: &mut dyn Write,
    redact: &dyn Fn(&mut Case),
) -> Result<ExportStats, ExportError> {
    let mut stats = ExportStats::default();
    let mut lines: Vec<(Timestamp, u64, u64, String)> = Vec::new();
    let mut failure: Option<ExportError> = None;
    store.scan_cases(&mut |mut case| {
        if from.is_some_and(|f| case.created_at < f) || to.is_some_and(|t| case.created_at >= t) {
            return true;
        }
        redact(&mut case);
        let events = match store.events(case.id) {
            Ok(e) => e,
            Err(e) => {
                failure = Some(e.into());
                return false;
            }
        };
        stats.cases += 1;
        for e in &events {
            match line(&case, e) {
                Ok(text) => lines.push((e.at, case.id, e.seq, text)),
                Err(err) => {
                    failure = Some(ExportError::Encode {
                        case: case.id,
                        seq: e.seq,
                        message: err.to_string(),
                    });
                    return false;
                }
            }
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    lines.sort_unstable_by_key(|(at, id, seq, _)| (*at, *id, *seq));
    for (_, _, _, text) in &lines {
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
        stats.lines += 1;
    }
    Ok(stats)
}
