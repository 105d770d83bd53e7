//! Intake of external work orders (a 12345 hotline 工单): read by the
//! policy's `intake` item into a report, linked to its case by the order's
//! own key (a retry answers the same case), linked to an open case of the
//! same matter at the same place within the policy's window instead of
//! opening a second one (a duplicate is not counted twice), and the
//! hotline's 回访 result taken as the case's feedback action.

use std::sync::Arc;

use serde_json::Value;
use wangge_policy::{Action, Actor, Case, CaseId, CompiledIntake, Misread, PolicySet};
use wangge_store::{Book, LedgerBatch, Store};

use crate::cases::{CaseFilter, CaseService, Report};
use crate::error::{AppError, AppResult};

/// `intake␀NAME␀KEY`: the case an order went to.
const LINKS: Book<Link> = Book::json("intake");

/// Where an order went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub case: CaseId,
    /// It was linked to an open case of the same matter, not opened.
    pub duplicate: bool,
}

/// An order taken in.
#[derive(Debug, Clone, PartialEq)]
pub struct Intaken {
    pub case: Case,
    /// A new case was opened for it.
    pub created: bool,
    /// The open case of the same matter it was linked to.
    pub duplicate_of: Option<CaseId>,
}

/// The intake service.
pub struct Intake {
    store: Arc<dyn Store>,
    cases: Arc<CaseService>,
}

/// A misread order: INVALID_ARGUMENT naming the order's field.
fn misread(e: Misread) -> AppError {
    AppError::InvalidArgument {
        field: format!("order.{}", e.field),
        message: e.message,
    }
}

impl Intake {
    pub fn new(store: Arc<dyn Store>, cases: Arc<CaseService>) -> Intake {
        Intake { store, cases }
    }

    fn intake<'s>(set: &'s PolicySet, name: &str) -> AppResult<&'s CompiledIntake> {
        set.intakes.get(name).map(|i| &**i).ok_or_else(|| {
            let known: Vec<&str> = set.intakes.keys().map(String::as_str).collect();
            AppError::UnknownRule {
                what: "intake",
                name: name.into(),
                help: Some(format!("the policy's intakes: {}", known.join(", "))),
            }
        })
    }

    /// The intake of `name` reads `order` (without taking it in): the unit
    /// a caller's permission is checked against.
    pub fn unit_of(&self, set: &PolicySet, name: &str, order: &Value) -> AppResult<String> {
        Ok(Self::intake(set, name)?.read(order).map_err(misread)?.unit)
    }

    /// Takes an order in: a retry answers its case; a duplicate is linked
    /// to the open case of the same matter; else a case is reported.
    pub fn submit(
        &self,
        set: &PolicySet,
        name: &str,
        order: &Value,
        actor: &str,
        on_behalf: Option<String>,
    ) -> AppResult<Intaken> {
        let intake = Self::intake(set, name)?;
        let m = intake.read(order).map_err(misread)?;
        if let Some(link) = LINKS.get(self.store.as_ref(), &[name, &m.key])? {
            return Ok(Intaken {
                case: self.cases.get(link.case)?,
                created: false,
                duplicate_of: link.duplicate.then_some(link.case),
            });
        }
        if let Some(open) = self.same_matter(intake, &m.unit, &m.data)? {
            self.link(name, &m.key, open.id, true)?;
            return Ok(Intaken {
                duplicate_of: Some(open.id),
                case: open,
                created: false,
            });
        }
        let (case, created) = self.cases.report(Report {
            workflow: intake.workflow.clone(),
            unit: Some(m.unit),
            data: m.data,
            idempotency_key: Some(format!("{name}:{}", m.key)),
            actor: actor.into(),
            on_behalf,
        })?;
        self.link(name, &m.key, case.id, false)?;
        Ok(Intaken {
            case,
            created,
            duplicate_of: None,
        })
    }

    fn link(&self, name: &str, key: &str, case: CaseId, duplicate: bool) -> AppResult<()> {
        let mut b = LedgerBatch::new();
        b.put(&LINKS, &[name, key], &Link { case, duplicate })?;
        Ok(b.write(self.store.as_ref())?)
    }

    /// An open case of the intake's workflow at `unit`, reported within the
    /// duplicate window, whose duplicate field equals this order's.
    fn same_matter(
        &self,
        intake: &CompiledIntake,
        unit: &str,
        data: &Value,
    ) -> AppResult<Option<Case>> {
        let Some((field, window)) = &intake.duplicate else {
            return Ok(None);
        };
        let Some(want) = data.get(field) else {
            return Ok(None);
        };
        let now = self.cases.clock().now();
        let filter = CaseFilter {
            workflow: Some(intake.workflow.clone()),
            units: Some(std::iter::once(unit.to_string()).collect()),
            created_from: Some(now - window),
            ..CaseFilter::default()
        };
        let policy = self.cases.policy();
        let wf = policy.workflow(&intake.workflow)?;
        let mut from = 0;
        loop {
            let (page, next) = self.cases.list(&filter, from, 256)?;
            if let Some(c) = page
                .into_iter()
                .find(|c| !wf.is_final(&c.state) && c.data.get(field) == Some(want))
            {
                return Ok(Some(c));
            }
            match next {
                Some(n) => from = n,
                None => return Ok(None),
            }
        }
    }

    /// The case an order went to.
    pub fn case_of(&self, set: &PolicySet, name: &str, order: &Value) -> AppResult<Case> {
        let intake = Self::intake(set, name)?;
        let key = intake.key_of(order).map_err(misread)?;
        let link = LINKS
            .get(self.store.as_ref(), &[name, &key])?
            .ok_or_else(|| AppError::InvalidArgument {
                field: format!("order.{}", intake.key),
                message: format!("no order `{key}` came in through intake `{name}`"),
            })?;
        self.cases.get(link.case)
    }

    /// The hotline's 回访: the result, mapped to an outcome, taken as the
    /// intake's callback action on the order's case.
    pub fn callback(
        &self,
        set: &PolicySet,
        name: &str,
        order: &Value,
        who: &Actor,
    ) -> AppResult<Case> {
        let intake = Self::intake(set, name)?;
        let (action, outcome) = intake.callback_outcome(order).map_err(misread)?;
        let case = self.case_of(set, name, order)?;
        let action = Action::Transition {
            name: action,
            outcome: Some(outcome),
            assignee: None,
        };
        self.cases.act(case.id, &action, who, None)
    }

    /// The action a callback takes (for permission checks before it runs).
    pub fn callback_action(set: &PolicySet, name: &str) -> AppResult<Option<String>> {
        Ok(Self::intake(set, name)?
            .callback
            .as_ref()
            .map(|c| c.action.clone()))
    }
}
