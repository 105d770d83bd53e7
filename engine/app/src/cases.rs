//! The case service: reports, actions and timers on stored cases. Actions
//! on one case are serialised (striped locks); each may name the version it
//! expects. Every acknowledged write is durable (group commit) before the
//! call returns. Time comes from the [`Clock`] only.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde_json::Value;
use sha2::{Digest, Sha256};

use wangge_policy::{
    Action, Actor, Case, CaseError, CaseEvent, CaseId, Change, Clock, PolicySet, Timestamp, Why,
};
pub use wangge_store::CaseFilter;
use wangge_store::{
    Created, Feed, IdemRecord, Outcome, Pending, Store, StoreError, StoreErrorKind,
};

use crate::checks;
use crate::error::{invalid, AppError};
use crate::observe::CaseObserver;

const STRIPES: usize = 1024;

/// The setting that holds the active policy version's hash.
const ACTIVE_POLICY: &str = "active_policy";

/// A case before and after a change (what the observer is told).
type Moved = (Case, Case);

/// The setting that holds a manual clock's time.
const MANUAL_CLOCK: &str = "manual_clock";

/// A report of a new event.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub workflow: String,
    /// The unit (grid) it was reported in.
    pub unit: Option<String>,
    /// The event as the reporter describes it (what the classification reads).
    pub data: Value,
    /// Retries with the same key and payload return the same case.
    pub idempotency_key: Option<String>,
    /// The verified caller.
    pub actor: String,
    /// The person a service account reports for.
    pub on_behalf: Option<String>,
}

/// A report checked and either answered from an earlier one (a retry with
/// the same key and payload) or handed to the store.
enum Submitted {
    Retry(CaseId),
    New(Box<SubmittedReport>),
}

impl Submitted {
    fn wait(self, svc: &CaseService) -> Result<Reported, AppError> {
        match self {
            Submitted::Retry(id) => svc.retried(id),
            Submitted::New(s) => s.wait(svc),
        }
    }
}

/// A report handed to the store, not yet durable.
struct SubmittedReport {
    case: Case,
    explanation: Why,
    key: Option<String>,
    pending: Pending,
}

/// A report's outcome: the case, whether it was created (false for an
/// idempotent retry), the explanation of its first event, and that event's
/// change-feed sequence (`None` for a retry: the first report wrote it).
#[derive(Debug, Clone)]
pub struct Reported {
    pub case: Case,
    pub created: bool,
    pub explanation: Why,
    pub sequence: Option<u64>,
}

/// An action's outcome: the case after it and the change-feed sequence of
/// the event it wrote.
#[derive(Debug, Clone)]
pub struct Acted {
    pub case: Case,
    pub sequence: Option<u64>,
}

impl SubmittedReport {
    fn wait(self, svc: &CaseService) -> Result<Reported, AppError> {
        let SubmittedReport {
            case,
            explanation,
            key,
            pending,
        } = self;
        let outcome = pending.wait()?;
        SubmittedReport::finish(svc, case, explanation, key, outcome)
    }

    fn finish(
        svc: &CaseService,
        case: Case,
        explanation: Why,
        key: Option<String>,
        outcome: Outcome,
    ) -> Result<Reported, AppError> {
        let this = (case, explanation, key);
        match outcome {
            Outcome::Created(Created::Existing {
                case_id,
                same_payload: true,
            }) => svc.retried(case_id),
            Outcome::Created(Created::Existing { .. }) => Err(CaseError::IdempotencyMismatch {
                key: this.2.unwrap_or_default(),
            }
            .into()),
            Outcome::Created(Created::New { sequence }) | Outcome::Written { sequence } => {
                svc.observe(None, &this.0);
                Ok(Reported {
                    case: this.0,
                    created: true,
                    explanation: this.1,
                    sequence: Some(sequence),
                })
            }
            Outcome::Done => Ok(Reported {
                case: this.0,
                created: true,
                explanation: this.1,
                sequence: None,
            }),
        }
    }
}

/// Reports, actions and timers over a [`Store`] under the active policy set.
pub struct CaseService {
    store: Arc<dyn Store>,
    policy: RwLock<Arc<PolicySet>>,
    clock: Arc<dyn Clock>,
    locks: Vec<Mutex<()>>,
    /// Check reports and actions as live input (see [`Self::checking_inputs`]).
    strict: bool,
    /// Whether an activation has checked every stored case against the
    /// active set (see [`Self::activate`]).
    checked: std::sync::atomic::AtomicBool,
    /// Told about every durable change (see [`Self::observed_by`]).
    observer: Option<Arc<dyn CaseObserver>>,
}

fn storage(message: &str) -> AppError {
    StoreError::internal(message).into()
}

/// An action's names are short printable text, and a summons names a few
/// departments, each once.
fn check_action(action: &Action) -> Result<(), AppError> {
    match action {
        Action::Transition { name, outcome, .. } => {
            checks::required("action", name, checks::MAX_NAME)?;
            if let Some(o) = outcome {
                checks::name("outcome", o, checks::MAX_NAME)?;
            }
        }
        Action::Summon { departments } => {
            if departments.len() > checks::MAX_DEPARTMENTS {
                return Err(invalid(
                    "departments",
                    format!(
                        "names {}; one summons names at most {}",
                        departments.len(),
                        checks::MAX_DEPARTMENTS
                    ),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for d in departments {
                checks::required("departments", d, checks::MAX_NAME)?;
                if !seen.insert(d) {
                    return Err(invalid("departments", format!("`{d}` is named twice")));
                }
            }
        }
        Action::ReportIn { department } => {
            checks::required("department", department, checks::MAX_NAME)?
        }
        _ => {}
    }
    Ok(())
}

/// Feeds `v` to `h` as compact JSON with object keys sorted (so equal
/// payloads hash equally whatever their key order), written straight into
/// the hasher.
fn hash_canonical(h: &mut Sha256, v: &Value) -> serde_json::Result<()> {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (k, v) in entries {
                serde_json::to_writer(&mut *h, k)?;
                h.update(b":");
                hash_canonical(h, v)?;
                h.update(b",");
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for v in a {
                hash_canonical(h, v)?;
                h.update(b",");
            }
            h.update(b"]");
        }
        other => serde_json::to_writer(&mut *h, other)?,
    }
    Ok(())
}

/// What an idempotency record keeps of a report: the hex SHA-256 of its
/// workflow, unit and canonical data.
fn payload_hash(r: &Report) -> Result<String, AppError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = Sha256::new();
    h.update(r.workflow.as_bytes());
    h.update([0]);
    h.update(r.unit.as_deref().unwrap_or("").as_bytes());
    h.update([0, u8::from(r.unit.is_some())]);
    hash_canonical(&mut h, &r.data)
        .map_err(|e| storage(&format!("the report cannot be hashed: {e}")))?;
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    Ok(out)
}

impl CaseService {
    pub fn new(store: Arc<dyn Store>, policy: Arc<PolicySet>, clock: Arc<dyn Clock>) -> Self {
        CaseService {
            store,
            policy: RwLock::new(policy),
            clock,
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            strict: false,
            checked: std::sync::atomic::AtomicBool::new(false),
            observer: None,
        }
    }

    /// Tells `observer` about every change once it is durable.
    pub fn observed_by(mut self, observer: Arc<dyn CaseObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe(&self, before: Option<&Case>, after: &Case) {
        if let Some(o) = &self.observer {
            o.changed(before, after);
        }
    }

    /// Checks every report and action as live input from people and other
    /// services: ids and names bounded and printable, the unit and summoned
    /// departments registered, the data holding what the classifying table
    /// reads. A server turns this on; replays of recorded history and
    /// scenario runs (whose worlds need no registry) leave it off.
    pub fn checking_inputs(mut self) -> Self {
        self.strict = true;
        self
    }

    /// The active policy set.
    pub fn policy(&self) -> Arc<PolicySet> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Makes `set` the active policy set, durably (a restart comes back
    /// on it). Refused, changing nothing, when open cases run a workflow
    /// that `set` no longer has: their timers and actions would fail.
    /// Reports are held while it checks, so none slips in between.
    pub fn activate(&self, set: Arc<PolicySet>) -> Result<(), AppError> {
        let mut active = self
            .policy
            .write()
            .map_err(|_| storage("the active policy lock is poisoned"))?;
        // Open cases can only run workflows of the active set (once the
        // first activation has checked the stored cases): scan only when
        // the new set drops one of those.
        let drops = active.workflows().any(|w| set.workflow(&w.name).is_err());
        if !drops && self.checked.load(std::sync::atomic::Ordering::SeqCst) {
            self.store.put_setting(ACTIVE_POLICY, set.hash.as_bytes())?;
            *active = set;
            return Ok(());
        }
        self.store.flush()?;
        let mut orphaned: std::collections::BTreeMap<String, u64> = Default::default();
        self.store.scan_cases(&mut |c| {
            if c.closed_at.is_none() && set.workflow(&c.workflow).is_err() {
                *orphaned.entry(c.workflow).or_insert(0) += 1;
            }
            true
        })?;
        if !orphaned.is_empty() {
            return Err(AppError::Orphans {
                workflows: orphaned
                    .iter()
                    .map(|(w, n)| format!("`{w}` ({n} open)"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        self.store.put_setting(ACTIVE_POLICY, set.hash.as_bytes())?;
        self.checked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        *active = set;
        Ok(())
    }

    /// Stores a manual clock's time, so a restart resumes from it.
    pub fn remember_clock(&self, now: i64) -> Result<(), AppError> {
        Ok(self.store.put_setting(MANUAL_CLOCK, &now.to_be_bytes())?)
    }

    /// Forgets a stored manual clock (the data moves to the system clock).
    pub fn forget_clock(&self) -> Result<(), AppError> {
        Ok(self.store.put_setting(MANUAL_CLOCK, &[])?)
    }

    /// The manual clock's time stored by [`Self::remember_clock`].
    pub fn remembered_clock(&self) -> Result<Option<i64>, AppError> {
        match self.store.setting(MANUAL_CLOCK)? {
            Some(bytes) if bytes.is_empty() => Ok(None),
            Some(bytes) => {
                let b: [u8; 8] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::corrupt("the stored manual clock is not 8 bytes"))?;
                Ok(Some(i64::from_be_bytes(b)))
            }
            None => Ok(None),
        }
    }

    /// Follows the version stored as active when another server sharing
    /// the database made it so (a deploy or a rollback there): when it
    /// differs from this server's, `load` gives its set, which becomes
    /// active here without storing anything (the deploying server checked
    /// it). Returns the hash followed, if any.
    pub fn follow_active(
        &self,
        load: impl FnOnce(&str) -> Result<Arc<PolicySet>, AppError>,
    ) -> Result<Option<String>, AppError> {
        let Some(stored) = self.stored_active()? else {
            return Ok(None);
        };
        if *self.policy().hash == *stored {
            return Ok(None);
        }
        let set = load(&stored)?;
        let mut active = self
            .policy
            .write()
            .map_err(|_| storage("the active policy lock is poisoned"))?;
        // A deploy here may have won the race meanwhile: the stored one
        // is still the one to serve.
        if self.stored_active()?.as_deref() == Some(&*set.hash) {
            *active = set;
            return Ok(Some(stored));
        }
        Ok(None)
    }

    /// The policy version stored as active by the last [`Self::activate`].
    pub fn stored_active(&self) -> Result<Option<String>, AppError> {
        match self.store.setting(ACTIVE_POLICY)? {
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                StoreError::corrupt("the stored active policy version is not text").into()
            }),
            None => Ok(None),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The change feed of durable case events.
    pub fn feed(&self) -> &Feed {
        self.store.feed()
    }

    /// Up to `max` change-feed events with sequence ≥ `from`, without
    /// waiting: the newest from memory, older ones (before a restart, or
    /// beyond what memory keeps) from the store. Empty when `from` is
    /// still in the future.
    pub fn changes(&self, from: u64, max: usize) -> Result<Vec<(u64, Arc<CaseEvent>)>, AppError> {
        let feed = self.store.feed();
        if from >= feed.earliest() {
            if let Ok(batch) = feed.read(from, max, std::time::Duration::ZERO) {
                return Ok(batch);
            }
        }
        let stored = self.store.history(from, max)?;
        match stored.first() {
            Some((seq, _)) if *seq == from => Ok(stored),
            _ if from >= feed.next_sequence() => Ok(Vec::new()),
            _ => Err(CaseError::InvalidArgument {
                field: "from_sequence".into(),
                message: format!(
                    "sequence {from} is not stored (the feed starts at {}); list the cases \
                     again, then watch from `0` for new changes",
                    stored.first().map_or(feed.next_sequence(), |(q, _)| *q)
                ),
            }
            .into()),
        }
    }

    /// Stored cases and pending timers, for metrics.
    pub fn totals(&self) -> (u64, u64) {
        (self.store.case_count(), self.store.timer_count())
    }

    /// How many seconds the oldest due timer is late by the clock (0 when
    /// none is due): the timer loop's lag.
    pub fn timer_lag(&self) -> Result<i64, AppError> {
        let now = self.clock.now();
        Ok(self
            .store
            .earliest_due()?
            .map_or(0, |due| now.saturating_sub(due).max(0)))
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn lock(&self, id: CaseId) -> Result<MutexGuard<'_, ()>, AppError> {
        let stripe = (id as usize) % STRIPES;
        self.locks
            .get(stripe)
            .ok_or_else(|| storage("no lock stripe"))?
            .lock()
            .map_err(|_| storage("case lock poisoned"))
    }

    /// Waits until every write so far is durable.
    pub fn durable(&self) -> Result<(), AppError> {
        Ok(self.store.flush()?)
    }

    /// The answer to a retried report: the case it created first.
    fn retried(&self, case_id: CaseId) -> Result<Reported, AppError> {
        let first = self.store.events(case_id)?.into_iter().next();
        Ok(Reported {
            case: self.get(case_id)?,
            created: false,
            explanation: first.map_or_else(Why::null, |e| e.explanation),
            sequence: None,
        })
    }

    /// Reports an event: classify, open the case, persist it durably.
    /// Returns the case and whether it was created (false: an idempotent retry).
    pub fn report(&self, r: Report) -> Result<(Case, bool), AppError> {
        self.report_full(r).map(|r| (r.case, r.created))
    }

    /// Like [`CaseService::report`], with the first event's explanation.
    pub fn report_full(&self, r: Report) -> Result<Reported, AppError> {
        self.submit_report(r)?.wait(self)
    }

    /// Like [`CaseService::report_full`] for async callers: classifying and
    /// submitting take microseconds of CPU; waiting for durability does not
    /// hold a thread.
    pub async fn report_async(&self, r: Report) -> Result<Reported, AppError> {
        let SubmittedReport {
            case,
            explanation,
            key,
            pending,
        } = match self.submit_report(r)? {
            Submitted::Retry(id) => return self.retried(id),
            Submitted::New(s) => *s,
        };
        let outcome = pending.await?;
        SubmittedReport::finish(self, case, explanation, key, outcome)
    }

    /// Reports many events at once: all are classified and submitted, then
    /// awaited together (they share flushes). Results are in input order;
    /// one bad report does not stop the others.
    pub fn report_many(&self, reports: Vec<Report>) -> Vec<Result<(Case, bool), AppError>> {
        let submitted: Vec<Result<Submitted, AppError>> =
            reports.into_iter().map(|r| self.submit_report(r)).collect();
        submitted
            .into_iter()
            .map(|s| s.and_then(|s| s.wait(self)).map(|r| (r.case, r.created)))
            .collect()
    }

    fn submit_report(&self, r: Report) -> Result<Submitted, AppError> {
        // Held until the create is submitted: a deploy waits for it (see
        // `activate`), so no case opens under a workflow being dropped.
        let policy = self
            .policy
            .read()
            .map_err(|_| storage("the active policy lock is poisoned"))?;
        if self.strict {
            self.check_report(&policy, &r)?;
        }
        let wf = policy.workflow(&r.workflow)?;
        // The data fits the workflow's schema in every mode: a misspelt
        // field never falls through to a default row.
        if !self.strict {
            checks::report_data(&policy, wf, wf.classifier(), &r.data)?;
        }
        let mut idem = match &r.idempotency_key {
            Some(k) => Some(IdemRecord {
                key: format!("{}\u{0}{k}", r.workflow),
                hash: payload_hash(&r)?,
                case_id: 0,
            }),
            None => None,
        };
        if let Some(rec) = &idem {
            match self.store.existing(rec)? {
                Some(Created::Existing {
                    case_id,
                    same_payload: true,
                }) => return Ok(Submitted::Retry(case_id)),
                Some(_) => {
                    return Err(CaseError::IdempotencyMismatch {
                        key: r.idempotency_key.unwrap_or_default(),
                    }
                    .into())
                }
                None => {}
            }
        }
        let who = Actor {
            on_behalf: r.on_behalf.clone(),
            actor: r.actor,
            note: None,
        };
        let unit_seen = match &r.unit {
            Some(u) if wf.reads_context(policy.as_ref()) || wf.has_several_ladders() => {
                self.store.unit(u)?.map(|u| u.to_policy_json())
            }
            _ => None,
        };
        // Classify before taking an id, so a refused report uses none.
        let mut change = wf.open_with(
            policy.as_ref(),
            0,
            self.clock.now(),
            r.unit,
            r.data,
            &who,
            r.idempotency_key.clone(),
            true,
            unit_seen,
        )?;
        let id = self.store.next_id()?;
        change.case.id = id;
        change.event.case_id = id;
        if let Some(rec) = &mut idem {
            rec.case_id = id;
        }
        let case = change.case.clone();
        let explanation = change.event.explanation.clone();
        Ok(Submitted::New(Box::new(SubmittedReport {
            case,
            explanation,
            key: r.idempotency_key,
            pending: self.store.create(change, idem)?,
        })))
    }

    /// Refuses a report whose fields are malformed, whose unit is not in the
    /// registry, or whose data lacks what the classifying table reads.
    fn check_report(&self, policy: &PolicySet, r: &Report) -> Result<(), AppError> {
        checks::required("workflow", &r.workflow, checks::MAX_NAME)?;
        let wf = policy.workflow(&r.workflow)?;
        let unit = r.unit.as_deref().unwrap_or("");
        checks::required("unit", unit, checks::MAX_NAME)?;
        checks::name("actor", &r.actor, checks::MAX_NAME)?;
        if let Some(k) = &r.idempotency_key {
            checks::required("idempotency_key", k, checks::MAX_KEY)?;
        }
        if !self.store.has_unit(unit)? {
            return Err(invalid(
                "unit",
                format!(
                    "no unit `{unit}` in the organisation registry; import it first \
                     (`wangge org import`)"
                ),
            ));
        }
        checks::report_data(policy, wf, wf.classifier(), &r.data)
    }

    /// An action the policy reserves for party members (`requires 党员`,
    /// 党员接单) is taken by a registered person who is one: the person
    /// acted for, else the actor.
    fn check_party(
        &self,
        wf: &wangge_policy::CompiledWorkflow,
        action: &Action,
        who: &Actor,
    ) -> Result<(), AppError> {
        let Action::Transition { name, .. } = action else {
            return Ok(());
        };
        let Some(req) = wf.requires(name) else {
            return Ok(());
        };
        let id = who.credited();
        let person = self.store.person(id)?;
        let why = match &person {
            None => format!("`{id}` is no person in the registry"),
            Some(p) if !req.met_by(p) => format!("`{id}` ({}) is not a {}", p.name, req.word()),
            Some(_) => return Ok(()),
        };
        Err(AppError::PermissionDenied {
            who: id.to_string(),
            what: format!("`{name}`"),
            why: format!("`{}` requires {} ({why})", name, req.word()),
        })
    }

    /// The assignee a dispatching action or 改派 names is a registered
    /// person holding one of the roles its `assign` line allows.
    fn check_assignee(
        &self,
        wf: &wangge_policy::CompiledWorkflow,
        case: &Case,
        action: &Action,
    ) -> Result<(), AppError> {
        let (rule_action, to) = match action {
            Action::Transition {
                name,
                assignee: Some(to),
                ..
            } => (name.as_str(), to),
            Action::Reassign { assignee } => match &case.assignment {
                Some(a) => (a.action.as_str(), assignee),
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let Some(rule) = wf.assign_rule(rule_action) else {
            return Ok(());
        };
        checks::name("assignee", to, checks::MAX_NAME)?;
        let Some(person) = self.store.person(to)? else {
            return Err(invalid(
                "assignee",
                format!("no person `{to}` in the registry"),
            ));
        };
        let roles = rule.roles_at(&case.level);
        if !roles.iter().any(|r| person.holds(r)) {
            let holds: Vec<&str> = person.positions().map(|(r, _)| r).collect();
            return Err(invalid(
                "assignee",
                format!(
                    "`{to}` ({}) holds {}; `{rule_action}` at {} assigns {}",
                    person.name,
                    holds.join(", "),
                    case.level,
                    roles.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Refuses an action with malformed names or unregistered departments.
    fn check_act(&self, action: &Action, who: &Actor) -> Result<(), AppError> {
        checks::name("actor", &who.actor, checks::MAX_NAME)?;
        if let Some(n) = &who.note {
            checks::note("note", n)?;
        }
        check_action(action)?;
        if let Action::Summon { departments } = action {
            for d in departments {
                if !self.store.has_unit(d)? {
                    return Err(invalid(
                        "departments",
                        format!("no department `{d}` in the organisation registry"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses a filter value no case can have (a typo would otherwise
    /// answer an empty list): the workflow must exist and the state, class
    /// and level must be ones its workflows (or any workflow) know.
    pub fn check_filter(&self, filter: &CaseFilter) -> Result<(), AppError> {
        let policy = self.policy();
        let workflows: Vec<&Arc<wangge_policy::CompiledWorkflow>> = match &filter.workflow {
            Some(w) => vec![policy.workflow(w)?],
            None => policy.workflows().collect(),
        };
        let known = |field: &str, value: &Option<String>, all: Vec<&str>| {
            let Some(v) = value else { return Ok(()) };
            if all.contains(&v.as_str()) {
                return Ok(());
            }
            let mut all = all;
            all.sort_unstable();
            all.dedup();
            Err(invalid(
                field,
                format!("no case can have {field} `{v}`; known: {}", all.join(", ")),
            ))
        };
        known(
            "state",
            &filter.state,
            workflows.iter().flat_map(|w| w.states()).collect(),
        )?;
        known(
            "class",
            &filter.class,
            workflows.iter().flat_map(|w| w.classes()).collect(),
        )?;
        known(
            "level",
            &filter.level,
            workflows
                .iter()
                .flat_map(|w| {
                    w.ladders
                        .iter()
                        .flat_map(|(_, ls)| ls.iter().map(String::as_str))
                })
                .collect(),
        )
    }

    /// Up to `limit` cases with id ≥ `from` matching `filter`, and the id to
    /// continue from when there may be more.
    /// Open cases matching `filter` with a pending deadline before
    /// `due_before` (any when `None`), nearest deadline first; `keep`
    /// decides which are the caller's work. With the backend's deadline
    /// index the cases are looked at nearest deadline first until `want`
    /// are kept (at most `scan` looked at); without it, the first `scan`
    /// in id order are sorted.
    pub fn todo(
        &self,
        filter: &CaseFilter,
        due_before: Option<Timestamp>,
        (scan, want): (usize, usize),
        keep: &mut dyn FnMut(&Case) -> bool,
    ) -> Result<Vec<Case>, AppError> {
        let mut f = filter.clone();
        f.deadline_from = Some(Timestamp::MIN);
        f.deadline_to = Some(due_before.unwrap_or(Timestamp::MAX));
        // With the backend's index: nearest deadline first, so the `scan`
        // cases looked at are the most urgent ones, not the lowest ids.
        let mut after = (Timestamp::MIN, 0);
        let mut out = Vec::new();
        let mut seen = 0;
        while seen < scan && out.len() < want {
            let chunk = (want - out.len()).clamp(16, 1000).min(scan - seen);
            let Some(ids) = self.store.find_by_deadline(&f, after, chunk)? else {
                return self.todo_by_id(&f, scan, keep);
            };
            let Some(last) = ids.last() else { break };
            after = *last;
            seen += ids.len();
            for (_, id) in ids {
                if let Some(c) = self.store.case(id)? {
                    if f.matches(&c) && keep(&c) {
                        out.push(c);
                    }
                }
            }
        }
        out.sort_by_key(|c| (c.next_deadline().map(|d| d.due), c.id));
        Ok(out)
    }

    /// [`Self::todo`] without an index: the first `scan` cases in id
    /// order, sorted by deadline.
    fn todo_by_id(
        &self,
        f: &CaseFilter,
        scan: usize,
        keep: &mut dyn FnMut(&Case) -> bool,
    ) -> Result<Vec<Case>, AppError> {
        let mut out = Vec::new();
        let (mut from, mut seen) = (1, 0);
        loop {
            let (page, next) = self.list(f, from, 1000)?;
            seen += page.len();
            out.extend(page.into_iter().filter(|c| keep(c)));
            match next {
                Some(n) if seen < scan => from = n,
                _ => break,
            }
        }
        out.sort_by_key(|c| (c.next_deadline().map(|d| d.due), c.id));
        Ok(out)
    }

    pub fn list(
        &self,
        filter: &CaseFilter,
        from: CaseId,
        limit: usize,
    ) -> Result<(Vec<Case>, Option<CaseId>), AppError> {
        // The backend's index names the page's cases; read only those (a
        // case changed since still matches or is dropped by the check).
        if let Some(found) = self.store.find(filter, from, limit)? {
            let mut out = Vec::with_capacity(found.ids.len());
            for id in found.ids {
                if let Some(c) = self.store.case(id)? {
                    if filter.matches(&c) {
                        out.push(c);
                    }
                }
            }
            return Ok((out, found.next));
        }
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut next = None;
        self.store.scan_cases_from(from, &mut |c| {
            if out.len() == limit {
                next = Some(c.id);
                return false;
            }
            if filter.matches(&c) {
                out.push(c);
            }
            true
        })?;
        Ok((out, next))
    }

    /// Stored cases by workflow and state (for metrics and boards): the
    /// store's counters, not a scan.
    pub fn count_by_state(
        &self,
    ) -> Result<std::collections::BTreeMap<(String, String), u64>, AppError> {
        Ok(self.store.state_counts()?)
    }

    pub fn get(&self, id: CaseId) -> Result<Case, AppError> {
        self.store
            .case(id)?
            .ok_or_else(|| CaseError::NotFound { id }.into())
    }

    pub fn events(&self, id: CaseId) -> Result<Vec<CaseEvent>, AppError> {
        self.get(id)?;
        Ok(self.store.events(id)?)
    }

    /// Applies an action; with `expected_version`, a stale version is
    /// rejected without effect.
    pub fn act(
        &self,
        id: CaseId,
        action: &Action,
        who: &Actor,
        expected_version: Option<u64>,
    ) -> Result<Case, AppError> {
        let (before, case, pending) = self.submit_act(id, action, who, expected_version)?;
        pending.wait()?;
        self.observe(Some(&before), &case);
        Ok(case)
    }

    /// Like [`CaseService::act`] for async callers: the case's lock is held
    /// only while reading, deciding and submitting; the wait for durability
    /// does not hold a thread.
    pub async fn act_async(
        &self,
        id: CaseId,
        action: &Action,
        who: &Actor,
        expected_version: Option<u64>,
    ) -> Result<Acted, AppError> {
        let (before, case, pending) = self.submit_act(id, action, who, expected_version)?;
        let outcome = pending.await?;
        self.observe(Some(&before), &case);
        Ok(Acted {
            case,
            sequence: outcome.sequence(),
        })
    }

    fn submit_act(
        &self,
        id: CaseId,
        action: &Action,
        who: &Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, Case, Pending), AppError> {
        if self.strict {
            self.check_act(action, who)?;
        }
        let _guard = self.lock(id)?;
        let case = self.get(id)?;
        if let Some(expected) = expected_version {
            if expected != case.version {
                return Err(CaseError::VersionConflict {
                    id,
                    expected,
                    actual: case.version,
                }
                .into());
            }
        }
        let policy = self.policy();
        let wf = policy.workflow(&case.workflow)?;
        if self.strict {
            self.check_party(wf, action, who)?;
            self.check_assignee(wf, &case, action)?;
        }
        let mut change = wf.act(&case, action, who, self.clock.now())?;
        // An action moves the case on: its timers start afresh.
        change.case.incident = None;
        let after = change.case.clone();
        let pending = self.store.update(&case, change, None)?;
        Ok((case, after, pending))
    }

    /// Fires every timer due by the clock's now, in due order, each exactly
    /// once (the timer is removed in the same transaction as its effect).
    /// Returns how many changed a case.
    pub fn fire_due(&self) -> Result<usize, AppError> {
        let mut fired = 0;
        let policy = self.policy();
        loop {
            let now = self.clock.now();
            let batch = self.store.due(now, 1024)?;
            if batch.is_empty() {
                break;
            }
            // Each write, whether it fired a deadline, and (before, after)
            // of its change for the observer.
            let mut pending: Vec<(Pending, bool, Option<Moved>)> = Vec::with_capacity(batch.len());
            for (i, t) in batch.iter().enumerate() {
                let _guard = self.lock(t.case_id)?;
                let Some(case) = self.store.case(t.case_id)? else {
                    pending.push((self.store.drop_timer(t.clone())?, false, None));
                    continue;
                };
                // Another timer of this case failed earlier in this batch:
                // its timers wait for the retry (already re-queued then).
                if case.incident.as_ref().is_some_and(|i| i.retry_at > now) {
                    continue;
                }
                let tried = policy
                    .workflow(&case.workflow)
                    .and_then(|wf| wf.fire(&case, &t.deadline));
                match tried {
                    Ok(Some(mut change)) => {
                        change.case.incident = None;
                        // A new deadline already due and earlier than the rest of
                        // this batch: apply what we have and rescan, to keep due order.
                        let next_in_batch = batch.get(i + 1).map(|n| n.due);
                        let rescan = match (change.case.next_timer(), next_in_batch) {
                            (Some(d), Some(n)) => d.due <= now && d.due < n,
                            _ => false,
                        };
                        let after = self.observer.as_ref().map(|_| change.case.clone());
                        let written = self.store.update(&case, change, Some(t.clone()))?;
                        pending.push((written, true, after.map(|after| (case, after))));
                        if rescan {
                            break;
                        }
                    }
                    Ok(None) => pending.push((self.store.drop_timer(t.clone())?, false, None)),
                    // This case's policy fails: mark it and retry later;
                    // the other timers go on.
                    Err(e) => {
                        let change = Change::incident(&case, e.to_string(), now);
                        pending.push((
                            self.store.update(&case, change, Some(t.clone()))?,
                            false,
                            None,
                        ));
                    }
                }
            }
            for (p, counts, changed) in pending {
                match p.wait() {
                    Ok(_) => {
                        fired += usize::from(counts);
                        if let Some((before, after)) = &changed {
                            self.observe(Some(before), after);
                        }
                    }
                    // Another server (sharing the database) acted on the
                    // case first: its write rewrote the case's timers, and
                    // the next pass fires what is still due on the new
                    // version.
                    Err(e) if e.kind() == StoreErrorKind::Conflict => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored idempotency records keep this hash: it must not change with
    /// how it is computed (keys sorted, compact JSON, hex).
    #[test]
    fn the_payload_hash_of_stored_idempotency_records_is_stable() {
        let r = |data: Value| Report {
            on_behalf: None,
            workflow: "事件处置".into(),
            unit: Some("M1".into()),
            data,
            idempotency_key: Some("k".into()),
            actor: "cli".into(),
        };
        let a = payload_hash(&r(serde_json::json!(
            {"类别": "垃圾堆放", "人数": 1, "风险": 1.5, "附件": ["a\"b", null, true], "位置": {"楼": 3, "栋": "二"}}
        )));
        let b = payload_hash(&r(serde_json::json!(
            {"位置": {"栋": "二", "楼": 3}, "附件": ["a\"b", null, true], "风险": 1.5, "人数": 1, "类别": "垃圾堆放"}
        )));
        assert_eq!(
            a.as_deref().ok(),
            b.as_deref().ok(),
            "key order does not matter"
        );
        assert_eq!(
            a.as_deref().ok(),
            Some("2520d9f2628e12919cbfaa44984cb9e64662544a421de01f5c6598b8445cc723")
        );
    }
}
