//! The case-facts query: the few fields of every stored case that
//! incentives and evaluation count, decoded by the backend (borrowed from
//! its stored bytes where it can), so no service parses stored JSON.

use std::borrow::Cow;

use serde::Deserialize;
use wangge_policy::{Case, CaseId, Timestamp};

use crate::error::StoreError;

/// What the figures of a person or a unit need to know of one case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CaseFact<'a> {
    pub id: CaseId,
    #[serde(borrow)]
    pub workflow: Cow<'a, str>,
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    #[serde(borrow, default)]
    pub class: Option<Cow<'a, str>>,
    /// The unit it was reported in.
    #[serde(borrow, default)]
    pub unit: Option<Cow<'a, str>>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    pub escalations: u32,
    pub overdue: u32,
    pub reopened: u32,
    /// How many times it climbed past its ceiling.
    #[serde(default, deserialize_with = "count")]
    pub breaches: usize,
    #[serde(borrow, default)]
    pub reported_by: Option<Cow<'a, str>>,
    /// Everyone who acted on it.
    #[serde(borrow, default)]
    pub handlers: Vec<Cow<'a, str>>,
    /// The outcomes of its actions, in order.
    #[serde(borrow, default)]
    pub outcomes: Vec<Cow<'a, str>>,
    /// Where it came from (its workflow's `channel` field).
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
}

fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(Vec::<serde::de::IgnoredAny>::deserialize(d)?.len())
}

impl<'a> CaseFact<'a> {
    /// The facts of a case held in memory.
    pub fn of(case: &'a Case) -> CaseFact<'a> {
        CaseFact {
            id: case.id,
            workflow: Cow::Borrowed(&case.workflow),
            state: Cow::Borrowed(&case.state),
            class: case.class.as_deref().map(Cow::Borrowed),
            unit: case.unit.as_deref().map(Cow::Borrowed),
            created_at: case.created_at,
            closed_at: case.closed_at,
            escalations: case.escalations,
            overdue: case.overdue,
            reopened: case.reopened,
            breaches: case.breaches.len(),
            reported_by: case.reported_by.as_deref().map(Cow::Borrowed),
            handlers: case
                .handlers
                .iter()
                .map(|h| Cow::Borrowed(h.as_str()))
                .collect(),
            outcomes: case
                .outcomes
                .iter()
                .map(|o| Cow::Borrowed(o.as_str()))
                .collect(),
            channel: case.channel.as_deref().map(Cow::Borrowed),
        }
    }

    /// The facts of a case stored as JSON (a backend's codec).
    pub fn from_json(bytes: &'a [u8]) -> Result<CaseFact<'a>, StoreError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// Reading the facts of every stored case.
pub trait CaseFacts: Send + Sync {
    /// The facts of applied cases with ids in `from..to`, in id order, until
    /// `f` returns false.
    fn scan_facts(
        &self,
        from: CaseId,
        to: CaseId,
        f: &mut dyn FnMut(&CaseFact<'_>) -> bool,
    ) -> Result<(), StoreError>;
}
