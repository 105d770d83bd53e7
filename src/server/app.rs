//! State shared by the gRPC services, and the helpers every method uses:
//! run blocking engine calls off the async threads, time and log each call.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Status};
use wangge_app::access::{self, Caller, Need, Principal, Target};
use wangge_app::audit::{AuditLog, AuditRecord};
use wangge_app::CaseService;
use wangge_app::PolicyRegistry;
use wangge_policy::ManualClock;
use wangge_proto::v1;

use super::audit_keys::AuditKeys;
use super::auth::Authenticator;
use super::metrics::Metrics;
use super::status::status;

pub struct App {
    pub cases: Arc<CaseService>,
    /// The store itself (the ledger space webhooks keep their cursors in).
    pub store: Arc<dyn wangge_store::Store>,
    /// The sled store, when the server runs on sled: for backups.
    pub sled: Option<Arc<wangge_store_sled::SledStore>>,
    /// This process's name on the leases it holds (webhook delivery).
    pub owner: String,
    pub incentives: Arc<wangge_app::Incentives>,
    pub evaluation: Arc<wangge_app::Evaluation>,
    pub org: Arc<wangge_app::Organisation>,
    pub tasks: Arc<wangge_app::TaskService>,
    pub intake: Arc<wangge_app::Intake>,
    pub registry: Arc<PolicyRegistry>,
    /// Set when the server runs on a manual clock.
    pub manual: Option<Arc<ManualClock>>,
    pub metrics: Arc<Metrics>,
    /// Serialises deploys and rollbacks.
    pub deploy_lock: tokio::sync::Mutex<()>,
    /// Serialises moves of the manual clock.
    pub clock_lock: tokio::sync::Mutex<()>,
    /// Open WatchCases streams and their limits.
    pub watchers: Arc<Watchers>,
    /// Largest `data_json` of a report, in bytes.
    pub max_data_bytes: usize,
    /// Verifies callers; `None`: no authentication (loopback operator).
    pub auth: Option<Arc<Authenticator>>,
    pub audit: Arc<AuditLog>,
    /// `[[webhooks]]`, for dead letters.
    pub webhooks: Vec<super::webhooks::WebhookConfig>,
}

/// Runs a blocking engine call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("a worker failed: {e}")))?
}

impl App {
    /// Runs one call: authenticates the caller, times, counts and logs it
    /// (with a request id), and records writes and refusals in the audit
    /// log. `f` gets the verified caller and the request message.
    pub async fn call<M, T, F, Fut>(
        &self,
        method: &'static str,
        req: Request<M>,
        f: F,
    ) -> Result<T, Status>
    where
        M: AuditKeys,
        F: FnOnce(Caller, M) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let id = self.metrics.request_id();
        self.metrics.start(method);
        let start = Instant::now();
        let peer = req.remote_addr().map(|a| a.to_string());
        let caller = self.authenticate(&req);
        let msg = req.into_inner();
        let keys = msg.audit_keys();
        let write = super::audit_keys::is_write(method);
        let record = |outcome: String, message: Option<String>| AuditRecord {
            at: self.cases.clock().now(),
            who: caller
                .as_ref()
                .map_or_else(|_| "anonymous".into(), Caller::name),
            on_behalf: match &caller {
                Ok(c) if matches!(c.principal, Principal::Service(_)) => keys.get("actor").cloned(),
                _ => None,
            },
            method: method.to_string(),
            keys: keys.clone(),
            peer: peer.clone(),
            request_id: id,
            outcome,
            message,
        };
        // A write is in the log before its answer: `RECEIVED` is queued
        // before the work and waited for with it (one flush, in parallel
        // with the write's own), the outcome follows.
        let received = match (&caller, write) {
            (Ok(_), true) => Some(self.audit.submit(record("RECEIVED".into(), None))),
            _ => None,
        };
        let span = tracing::debug_span!("rpc", method, request_id = id);
        let result = match &caller {
            Ok(c) => tracing::Instrument::instrument(f(c.clone(), msg), span).await,
            Err(s) => Err(s.clone()),
        };
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        };
        let refused = matches!(
            code,
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
        );
        let mut audited = match received {
            Some(r) => r.await.is_ok(),
            None => true,
        };
        if write || refused {
            let outcome = if code == tonic::Code::Ok {
                "OK".into()
            } else {
                format!("{code:?}")
            };
            let done = self.audit.submit(record(
                outcome,
                result.as_ref().err().map(|s| s.message().to_string()),
            ));
            // A refusal waits for its entry (nothing else was written); a
            // write's outcome rides the next audit batch (a failure there is
            // counted by the log, `wangge_audit_errors_total`).
            if refused {
                audited &= done.await.is_ok();
            }
        }
        if !audited {
            tracing::error!(
                request_id = id,
                method,
                "an audit entry could not be written"
            );
        }
        let took = start.elapsed();
        self.metrics.observe(method, code, took);
        match &result {
            Ok(_) => tracing::debug!(
                request_id = id,
                method,
                micros = took.as_micros() as u64,
                "ok"
            ),
            Err(s) => {
                tracing::info!(request_id = id, method, code = ?s.code(), message = s.message(), "error")
            }
        }
        result
    }

    /// The verified caller: the operator when authentication is off; else
    /// a token's or client certificate's subject, which must be a person in
    /// the registry or a service account the policy grants.
    fn authenticate<M>(&self, req: &Request<M>) -> Result<Caller, Status> {
        let Some(auth) = &self.auth else {
            return Ok(Caller::operator());
        };
        let subject = req.peer_certs().and_then(|certs| {
            certs
                .first()
                .and_then(|c| super::auth::certificate_subject(c))
        });
        let caller = auth.authenticate(req.metadata(), subject.as_deref())?;
        let known = match &caller.principal {
            Principal::Person(p) => self.directory()?.person(p).is_some(),
            Principal::Service(s) => self.cases.policy().grants.services.contains_key(s),
            Principal::Operator => false,
        };
        if !known {
            return Err(Status::unauthenticated(format!(
                "the token's subject `{}` is neither a person in the registry nor a service \
                 account the policy grants",
                caller.name()
            )));
        }
        Ok(caller)
    }

    /// A configured webhook by name (INVALID_ARGUMENT naming `webhook`).
    pub fn hook(&self, name: &str) -> Result<&super::webhooks::WebhookConfig, Status> {
        self.webhooks
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.webhooks.iter().map(|h| h.name.as_str()).collect();
                super::status::bad_request(
                    "webhook",
                    format!("no webhook `{name}` (configured: {})", known.join(", ")),
                )
            })
    }

    /// The registry index of the permission checks.
    pub fn directory(&self) -> Result<Arc<access::Directory>, Status> {
        self.org.directory().map_err(status)
    }

    /// Allows the call or answers PERMISSION_DENIED.
    pub fn authorize(&self, caller: &Caller, need: Need, target: Target) -> Result<(), Status> {
        if caller.is_operator() {
            return Ok(());
        }
        let set = self.cases.policy();
        access::authorize(&set, &*self.directory()?, caller, need, target).map_err(status)
    }

    /// [`App::authorize`] of a permission.
    pub fn may(
        &self,
        caller: &Caller,
        p: wangge_policy::Permission,
        target: Target,
    ) -> Result<(), Status> {
        self.authorize(caller, Need::May(p), target)
    }

    /// The cases the caller may read.
    pub fn read_scope(&self, caller: &Caller) -> Result<access::Scope, Status> {
        if caller.is_operator() {
            return Ok(access::Scope {
                all: true,
                ..access::Scope::default()
            });
        }
        let set = self.cases.policy();
        Ok(access::read_scope(&set, &*self.directory()?, caller))
    }

    /// The actor and on-behalf person a write records: the verified caller;
    /// a request's `actor` only from a caller granted `代办` (without
    /// authentication, the `actor` as given, as before).
    pub fn acting(
        &self,
        caller: &Caller,
        asked: String,
    ) -> Result<(String, Option<String>), Status> {
        if caller.is_operator() {
            return Ok((asked, None));
        }
        let me = caller.name();
        if asked.is_empty() || asked == me {
            return Ok((me, None));
        }
        self.may(
            caller,
            wangge_policy::Permission::OnBehalf,
            Target::Anywhere,
        )
        .map_err(|_| {
            super::status::field_denied(
                "actor",
                format!(
                    "`{me}` may not act on behalf of `{asked}`: only a caller granted \
                         `代办` names another actor; leave `actor` empty"
                ),
            )
        })?;
        Ok((me, Some(asked)))
    }

    /// A case as the caller may see it (personal fields masked without
    /// `查看个人信息`).
    pub fn shown_case(
        &self,
        caller: &Caller,
        case: wangge_policy::Case,
    ) -> Result<v1::Case, Status> {
        Ok(self.case_for(case, self.sees_personal(caller)?))
    }

    /// A case, masked unless `personal`.
    pub fn case_for(&self, mut case: wangge_policy::Case, personal: bool) -> v1::Case {
        if !personal {
            wangge_app::mask::mask_case(&self.cases.policy(), &mut case);
        }
        super::convert::case(&case)
    }

    /// An event of a case of `workflow`, its explanation masked unless `personal`.
    pub fn event_for(
        &self,
        workflow: &str,
        e: &wangge_policy::CaseEvent,
        personal: bool,
    ) -> v1::CaseEvent {
        let mut out = super::convert::event(e);
        if personal {
            return out;
        }
        let paths = wangge_app::mask::personal_paths(&self.cases.policy(), workflow);
        if paths.is_empty() {
            return out;
        }
        if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&out.explanation_json) {
            wangge_app::mask::mask_explanation(&mut v, &paths);
            out.explanation_json = v.to_string();
        }
        out
    }

    /// When and by whom a write is made.
    pub fn stamp(&self, caller: &Caller, at: i64) -> wangge_app::Stamp {
        wangge_app::Stamp {
            at,
            by: (!caller.is_operator()).then(|| caller.name()),
        }
    }

    /// A permission over a person's records: scoped to `unit` when given,
    /// else to the units the person serves (the first that allows it); no
    /// person named: the permission anywhere.
    pub fn may_for_person(
        &self,
        caller: &Caller,
        p: wangge_policy::Permission,
        person: &str,
        unit: Option<&str>,
    ) -> Result<(), Status> {
        if caller.is_operator() {
            return Ok(());
        }
        if let Some(u) = unit {
            return self.may(caller, p, Target::Unit(u));
        }
        if person.is_empty() {
            return self.may(caller, p, Target::Anywhere);
        }
        let dir = self.directory()?;
        let units: Vec<String> = dir
            .person(person)
            .map(|x| {
                x.positions()
                    .filter_map(|(_, u)| u.map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut last = None;
        for u in &units {
            match self.may(caller, p, Target::Unit(u)) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            Status::permission_denied(format!(
                "`{}` may not `{}` for `{person}`: the person serves no unit in the registry",
                caller.name(),
                p.word()
            ))
        }))
    }

    /// Whether the caller may read `person`'s activity and settlements
    /// (`查看补贴` over a unit they serve in).
    pub fn reads_records_of(&self, caller: &Caller, person: &str) -> bool {
        caller.is_operator()
            || self
                .may_for_person(
                    caller,
                    wangge_policy::Permission::ReadSettlements,
                    person,
                    None,
                )
                .is_ok()
    }

    /// `评分` over one scored unit or person.
    pub fn may_for_scored(&self, caller: &Caller, id: &str) -> Result<(), Status> {
        if caller.is_operator() {
            return Ok(());
        }
        let p = wangge_policy::Permission::Score;
        if self.directory()?.person(id).is_some() {
            self.may_for_person(caller, p, id, None)
        } else {
            self.may(caller, p, Target::Unit(id))
        }
    }

    /// An assignee the caller may assign: serving in a unit the caller's
    /// grant for the action reaches (PERMISSION_DENIED on `assignee`).
    pub fn assignee_in_reach(
        &self,
        caller: &Caller,
        need: Need,
        assignee: &str,
    ) -> Result<(), Status> {
        if !matches!(caller.principal, Principal::Person(_)) {
            return Ok(());
        }
        let dir = self.directory()?;
        // An unknown assignee is the case service's INVALID_ARGUMENT.
        let Some(person) = dir.person(assignee) else {
            return Ok(());
        };
        let units: Vec<String> = person
            .positions()
            .filter_map(|(_, u)| u.map(str::to_string))
            .collect();
        if units
            .iter()
            .any(|u| self.authorize(caller, need, Target::Unit(u)).is_ok())
        {
            return Ok(());
        }
        Err(super::status::field_denied(
            "assignee",
            format!(
                "`{assignee}` serves in no unit within the reach of `{}`",
                caller.name()
            ),
        ))
    }

    /// A caller's own records (a resident's points), or the permission.
    pub fn own_or(
        &self,
        caller: &Caller,
        whose: &str,
        p: wangge_policy::Permission,
    ) -> Result<(), Status> {
        if caller.principal == Principal::Person(whose.to_string()) {
            return Ok(());
        }
        self.may(caller, p, Target::Anywhere)
    }

    /// The actions of `case`'s state the caller may take now (`反馈 满意`
    /// for one with an outcome), each once.
    pub fn actions_for(&self, caller: &Caller, case: &wangge_policy::Case) -> Vec<String> {
        let set = self.cases.policy();
        let Ok(wf) = set.workflow(&case.workflow) else {
            return Vec::new();
        };
        let mut out: Vec<String> = Vec::new();
        for (action, outcome) in wf.actions_from(&case.state) {
            let need = Need::Act {
                workflow: &case.workflow,
                action,
            };
            if self.authorize(caller, need, Target::Case(case)).is_ok() {
                let name = match outcome {
                    Some(o) => format!("{action} {o}"),
                    None => action.to_string(),
                };
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// Whether the caller sees personal fields unmasked.
    pub fn sees_personal(&self, caller: &Caller) -> Result<bool, Status> {
        if caller.is_operator() {
            return Ok(true);
        }
        let set = self.cases.policy();
        Ok(access::sees_personal(&set, &*self.directory()?, caller))
    }
}

/// Open WatchCases streams, counted in total and per client connection;
/// past either limit a new stream is RESOURCE_EXHAUSTED.
pub struct Watchers {
    total: usize,
    per_connection: usize,
    open: std::sync::Mutex<(
        usize,
        std::collections::HashMap<Option<std::net::SocketAddr>, usize>,
    )>,
}

/// One admitted stream; dropping it frees its place.
pub struct Ticket {
    watchers: Arc<Watchers>,
    peer: Option<std::net::SocketAddr>,
}

impl Watchers {
    pub fn new(total: usize, per_connection: usize) -> Arc<Watchers> {
        Arc::new(Watchers {
            total,
            per_connection,
            open: std::sync::Mutex::default(),
        })
    }

    /// Admits one more stream from `peer`, or says which limit is reached.
    pub fn admit(self: &Arc<Self>, peer: Option<std::net::SocketAddr>) -> Result<Ticket, Status> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| Status::internal("the stream count is poisoned"))?;
        let mine = open.1.get(&peer).copied().unwrap_or(0);
        if open.0 >= self.total {
            return Err(exhausted(format!(
                "{} WatchCases streams are open, the server's limit; close one or retry later",
                open.0
            )));
        }
        if mine >= self.per_connection {
            return Err(exhausted(format!(
                "this connection has {mine} WatchCases streams open, the limit per connection"
            )));
        }
        open.0 += 1;
        open.1.insert(peer, mine + 1);
        Ok(Ticket {
            watchers: self.clone(),
            peer,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut open) = self.watchers.open.lock() {
            open.0 = open.0.saturating_sub(1);
            if let Some(n) = open.1.get_mut(&self.peer) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(&self.peer);
                }
            }
        }
    }
}

/// RESOURCE_EXHAUSTED with a retry hint (`retry-after-ms`).
pub fn exhausted(message: String) -> Status {
    let mut s = Status::resource_exhausted(message);
    s.metadata_mut().insert(
        "retry-after-ms",
        tonic::metadata::MetadataValue::from_static("1000"),
    );
    s
}
