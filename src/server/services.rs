//! The gRPC services. Each method is thin: validate → convert → call the
//! engine (on the blocking pool) → map the error to a status in one place
//! (`status.rs`).

use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use wangge_app::access::{Need, Target};
use wangge_app::Imported;
use wangge_app::{CaseFilter, Report};
use wangge_policy::Clock;
use wangge_policy::{Action, Actor, Permission, LATEST_TIMESTAMP};
use wangge_proto::v1;

use super::app::{blocking, App};
use super::convert::{self, some};
use super::status::{bad_request, status};

/// Most open cases a 待办 query looks at (in id order) before sorting.
const TODO_SCAN: usize = 50_000;

/// Most bytes of cases one List page carries (clients accept 4 MiB).
const LIST_BYTES: usize = 2 << 20;

/// A JSON object input, parsed strictly (unique keys, exact integers).
fn parse_object(field: &str, text: &str) -> Result<Value, Status> {
    wangge_app::parse_object(field, text).map_err(status)
}

// ----------------------------------------------------------------- cases ---

pub struct Cases(pub Arc<App>);

type ChangeStream = Pin<Box<dyn Stream<Item = Result<v1::CaseChange, Status>> + Send>>;
type ExportStream = Pin<Box<dyn Stream<Item = Result<v1::ExportChunk, Status>> + Send>>;

#[tonic::async_trait]
impl v1::case_service_server::CaseService for Cases {
    async fn report(
        &self,
        req: Request<v1::ReportRequest>,
    ) -> Result<Response<v1::ReportResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("CaseService/Report", req, move |caller, r| async move {
                if r.workflow.is_empty() {
                    return Err(bad_request("workflow", "is required"));
                }
                if r.data_json.len() > app.max_data_bytes {
                    return Err(bad_request(
                        "data_json",
                        format!(
                            "is {} bytes; the limit is {} (`max_data_kib`)",
                            r.data_json.len(),
                            app.max_data_bytes
                        ),
                    ));
                }
                let data = parse_object("data_json", &r.data_json)?;
                let unit = some(&r.unit);
                let target = unit.as_deref().map_or(Target::Anywhere, Target::Unit);
                app.may(&caller, Permission::Report, target)?;
                let (actor, on_behalf) = app.acting(&caller, r.actor)?;
                let report = Report {
                    on_behalf,
                    workflow: r.workflow,
                    unit,
                    data,
                    idempotency_key: some(&r.idempotency_key),
                    actor,
                };
                // Classifying and submitting take microseconds; the wait for
                // the group commit does not hold a thread.
                let out = app.cases.report_async(report).await.map_err(status)?;
                let mut case = app.shown_case(&caller, out.case)?;
                case.feed_sequence = out.sequence.unwrap_or(0);
                Ok(Response::new(v1::ReportResponse {
                    case: Some(case),
                    created: out.created,
                    explanation_json: out.explanation.as_str().to_string(),
                }))
            })
            .await
    }

    async fn get(&self, req: Request<v1::GetCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let app = self.0.clone();
        self.0
            .call("CaseService/Get", req, move |caller, req| async move {
                let id = req.id;
                if id == 0 {
                    return Err(bad_request("id", "is required"));
                }
                let reader = app.clone();
                let c = blocking(move || reader.cases.get(id).map_err(status)).await?;
                app.may(&caller, Permission::ReadCases, Target::Case(&c))?;
                Ok(Response::new(app.shown_case(&caller, c)?))
            })
            .await
    }

    async fn list(
        &self,
        req: Request<v1::ListCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("CaseService/List", req, move |caller, r| async move {
                let size = match r.page_size {
                    0 => 100,
                    n @ 1..=1000 => n as usize,
                    _ => return Err(bad_request("page_size", "must be 1 to 1000")),
                };
                let from = match r.page_token.as_str() {
                    "" => 1,
                    t => t.parse::<u64>().map_err(|_| {
                        bad_request("page_token", "not a token from a previous page")
                    })?,
                };
                let set = |v: i64| (v != 0).then_some(v);
                let unit = some(&r.unit);
                let mut filter = CaseFilter {
                    workflow: some(&r.workflow),
                    units: None,
                    state: some(&r.state),
                    class: some(&r.class),
                    level: some(&r.level),
                    channel: some(&r.channel),
                    breached: r.breached,
                    overdue: r.overdue,
                    created_from: set(r.created_from),
                    created_to: set(r.created_to),
                    deadline_from: set(r.deadline_from),
                    deadline_to: set(r.deadline_to),
                };
                app.cases.check_filter(&filter).map_err(status)?;
                let scope = app.read_scope(&caller)?;
                let shown = app.clone();
                let (cases, next) = blocking(move || {
                    if let Some(u) = unit {
                        filter.units = Some(app.org.subtree(&u, "unit").map_err(status)?);
                    }
                    // The caller's subtrees narrow the filter; cases its
                    // units were summoned to are picked from the pages.
                    if !scope.all && scope.summoned.is_empty() {
                        filter.units = Some(match filter.units.take() {
                            Some(asked) => asked.intersection(&scope.units).cloned().collect(),
                            None => scope.units.clone(),
                        });
                    }
                    let (cases, next) = app.cases.list(&filter, from, size).map_err(status)?;
                    Ok((
                        cases
                            .into_iter()
                            .filter(|c| scope.sees(c))
                            .collect::<Vec<_>>(),
                        next,
                    ))
                })
                .await?;
                let personal = shown.sees_personal(&caller)?;
                // A page stops early rather than grow past LIST_BYTES; the
                // token then resumes at the first case left out.
                let mut page = Vec::with_capacity(cases.len());
                let mut bytes = 0;
                let mut next = next;
                for c in cases {
                    let id = c.id;
                    let m = shown.case_for(c, personal);
                    bytes += prost::Message::encoded_len(&m) + 4;
                    if bytes > LIST_BYTES && !page.is_empty() {
                        next = Some(id);
                        break;
                    }
                    page.push(m);
                }
                Ok(Response::new(v1::ListCasesResponse {
                    cases: page,
                    next_page_token: next.map(|n| n.to_string()).unwrap_or_default(),
                }))
            })
            .await
    }

    async fn events(
        &self,
        req: Request<v1::GetCaseRequest>,
    ) -> Result<Response<v1::EventsResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("CaseService/Events", req, move |caller, req| async move {
                let id = req.id;
                if id == 0 {
                    return Err(bad_request("id", "is required"));
                }
                let reader = app.clone();
                let (case, events) = blocking(move || {
                    Ok((
                        reader.cases.get(id).map_err(status)?,
                        reader.cases.events(id).map_err(status)?,
                    ))
                })
                .await?;
                app.may(&caller, Permission::ReadCases, Target::Case(&case))?;
                let personal = app.sees_personal(&caller)?;
                Ok(Response::new(v1::EventsResponse {
                    events: events
                        .iter()
                        .map(|e| app.event_for(&case.workflow, e, personal))
                        .collect(),
                }))
            })
            .await
    }

    async fn act(&self, req: Request<v1::ActRequest>) -> Result<Response<v1::Case>, Status> {
        let app = self.0.clone();
        self.0
            .call("CaseService/Act", req, move |caller, r| async move {
                if r.id == 0 {
                    return Err(bad_request("id", "is required"));
                }
                let action = Action::parse(
                    &r.action,
                    some(&r.outcome).as_deref(),
                    &r.departments,
                    some(&r.assignee).as_deref(),
                )
                .map_err(|(field, message)| bad_request(field, message))?;
                let id = r.id;
                let reader = app.clone();
                let case = blocking(move || reader.cases.get(id).map_err(status)).await?;
                let need = Need::Act {
                    workflow: &case.workflow,
                    action: &r.action,
                };
                app.authorize(&caller, need, Target::Case(&case))?;
                let assignee = match &action {
                    Action::Transition {
                        assignee: Some(a), ..
                    }
                    | Action::Reassign { assignee: a } => Some(a.as_str()),
                    _ => None,
                };
                if let Some(a) = assignee {
                    app.assignee_in_reach(&caller, need, a)?;
                }
                let (actor, on_behalf) = app.acting(&caller, r.actor)?;
                let who = Actor {
                    on_behalf,
                    actor,
                    note: some(&r.note),
                };
                let expected = (r.expected_version != 0).then_some(r.expected_version);
                // Deciding takes microseconds; the wait for the group commit
                // does not hold a thread.
                let acted = app
                    .cases
                    .act_async(id, &action, &who, expected)
                    .await
                    .map_err(status)?;
                let mut case = app.shown_case(&caller, acted.case)?;
                case.feed_sequence = acted.sequence.unwrap_or(0);
                Ok(Response::new(case))
            })
            .await
    }

    async fn todo(
        &self,
        req: Request<v1::TodoRequest>,
    ) -> Result<Response<v1::TodoResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("CaseService/Todo", req, move |caller, r| async move {
                let size = match r.page_size {
                    0 => 100,
                    n @ 1..=1000 => n as usize,
                    _ => return Err(bad_request("page_size", "must be 1 to 1000")),
                };
                if r.due_within_seconds < 0 {
                    return Err(bad_request("due_within_seconds", "must not be negative"));
                }
                let now = app.cases.clock().now();
                let due_before =
                    (r.due_within_seconds > 0).then(|| now.saturating_add(r.due_within_seconds));
                let mut filter = CaseFilter {
                    workflow: some(&r.workflow),
                    ..CaseFilter::default()
                };
                app.cases.check_filter(&filter).map_err(status)?;
                let scope = app.read_scope(&caller)?;
                let unit = some(&r.unit);
                let worker = app.clone();
                let who = caller.clone();
                let cases = blocking(move || {
                    if let Some(u) = unit {
                        filter.units = Some(worker.org.subtree(&u, "unit").map_err(status)?);
                    }
                    if !scope.all && scope.summoned.is_empty() {
                        filter.units = Some(match filter.units.take() {
                            Some(asked) => asked.intersection(&scope.units).cloned().collect(),
                            None => scope.units.clone(),
                        });
                    }
                    worker
                        .cases
                        .todo(&filter, due_before, (TODO_SCAN, size), &mut |c| {
                            scope.sees(c) && !worker.actions_for(&who, c).is_empty()
                        })
                        .map_err(status)
                })
                .await?;
                let personal = app.sees_personal(&caller)?;
                let items = cases
                    .into_iter()
                    .take(size)
                    .map(|c| {
                        let actions = app.actions_for(&caller, &c);
                        let next = c.next_deadline().cloned();
                        v1::TodoItem {
                            seconds_left: next.as_ref().map_or(0, |d| d.due - now),
                            deadline: next.as_ref().map(convert::deadline),
                            actions,
                            case: Some(app.case_for(c, personal)),
                        }
                    })
                    .collect();
                Ok(Response::new(v1::TodoResponse { items, now }))
            })
            .await
    }

    type WatchCasesStream = ChangeStream;

    async fn watch_cases(
        &self,
        req: Request<v1::WatchCasesRequest>,
    ) -> Result<Response<ChangeStream>, Status> {
        let app = self.0.clone();
        let peer = req.remote_addr();
        self.0
            .call(
                "CaseService/WatchCases",
                req,
                move |caller, req| async move {
                    let scope = app.read_scope(&caller)?;
                    if !scope.all && scope.units.is_empty() && scope.summoned.is_empty() {
                        app.may(&caller, Permission::ReadCases, Target::Anywhere)?;
                    }
                    let personal = app.sees_personal(&caller)?;
                    let from = if req.from_sequence == 0 {
                        app.cases.feed().next_sequence()
                    } else {
                        req.from_sequence
                    };
                    // Fail fast on a resume point that is gone, and on too many streams.
                    app.cases.changes(from, 1).map_err(status)?;
                    let ticket = app.watchers.admit(peer)?;
                    let (tx, rx) =
                        tokio::sync::mpsc::channel::<Result<v1::CaseChange, Status>>(256);
                    tokio::spawn(watch(app, scope, personal, from, tx, ticket));
                    Ok(Response::new(
                        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as ChangeStream,
                    ))
                },
            )
            .await
    }
}

/// Writes the export into the stream in chunks of about 256 KiB, on a
/// blocking thread; an error ends the stream with its status.
fn export_to(
    app: &App,
    from: Option<i64>,
    to: Option<i64>,
    redact: bool,
    tx: tokio::sync::mpsc::Sender<Result<v1::ExportChunk, Status>>,
) {
    /// Sends whole lines once 256 KiB have gathered.
    struct Chunks {
        buf: Vec<u8>,
        tx: tokio::sync::mpsc::Sender<Result<v1::ExportChunk, Status>>,
    }
    impl Chunks {
        fn send(&mut self, upto: usize) -> std::io::Result<()> {
            let rest = self.buf.split_off(upto);
            let lines = std::mem::replace(&mut self.buf, rest);
            self.tx
                .blocking_send(Ok(v1::ExportChunk { lines }))
                .map_err(|_| std::io::Error::other("the client went away"))
        }
    }
    impl std::io::Write for Chunks {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.buf.extend_from_slice(b);
            if self.buf.len() >= 256 << 10 {
                if let Some(end) = self.buf.iter().rposition(|&c| c == b'\n') {
                    self.send(end + 1)?;
                }
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            if self.buf.is_empty() {
                return Ok(());
            }
            self.send(self.buf.len())
        }
    }
    let set = app.cases.policy();
    let mask = |case: &mut wangge_policy::Case| {
        if redact {
            wangge_app::mask::mask_case(&set, case);
        }
    };
    let mut out = Chunks {
        buf: Vec::with_capacity(300 << 10),
        tx: tx.clone(),
    };
    let done = wangge_testkit::export_redacted(app.store.as_ref(), from, to, &mut out, &mask)
        .map_err(|e| Status::internal(format!("the export failed: {e}")))
        .and_then(|_| {
            std::io::Write::flush(&mut out)
                .map_err(|e| Status::cancelled(format!("the export stopped: {e}")))
        });
    if let Err(s) = done {
        let _ = tx.blocking_send(Err(s));
    }
}

/// Feeds one WatchCases stream from `from` on: the events of cases in the
/// caller's scope (each case read once per batch when the scope is not
/// everything), personal fields masked unless `personal`.
async fn watch(
    app: Arc<App>,
    scope: wangge_app::access::Scope,
    personal: bool,
    from: u64,
    tx: tokio::sync::mpsc::Sender<Result<v1::CaseChange, Status>>,
    ticket: super::app::Ticket,
) {
    let _ticket = ticket;
    let mut next = from;
    loop {
        let batch = match app.cases.changes(next, 256) {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.send(Err(status(e))).await;
                return;
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = app.cases.feed().wait_for(next) => continue,
                _ = tx.closed() => return,
            }
        }
        let mut seen: std::collections::HashMap<u64, Option<String>> = Default::default();
        for (seq, e) in batch {
            next = seq + 1;
            let workflow = if scope.all {
                None
            } else {
                let id = e.case_id;
                let entry = match seen.get(&id) {
                    Some(w) => w.clone(),
                    None => {
                        let w = app
                            .cases
                            .get(id)
                            .ok()
                            .filter(|c| scope.sees(c))
                            .map(|c| c.workflow);
                        seen.insert(id, w.clone());
                        w
                    }
                };
                match entry {
                    Some(w) => Some(w),
                    None => continue,
                }
            };
            let event = match (&workflow, personal) {
                (_, true) => convert::event(&e),
                (Some(w), false) => app.event_for(w, &e, false),
                (None, false) => match app.cases.get(e.case_id) {
                    Ok(c) => app.event_for(&c.workflow, &e, false),
                    Err(_) => continue,
                },
            };
            let change = v1::CaseChange {
                sequence: seq,
                event: Some(event),
            };
            if tx.send(Ok(change)).await.is_err() {
                return;
            }
        }
    }
}

// -------------------------------------------------------------- policies ---

pub struct Policies(pub Arc<App>);

fn files(fs: Vec<v1::PolicyFile>) -> Result<Vec<(String, String)>, Status> {
    if fs.is_empty() {
        return Err(bad_request("files", "name at least one policy file"));
    }
    let mut out = Vec::with_capacity(fs.len());
    for (i, f) in fs.into_iter().enumerate() {
        if f.name.is_empty() {
            return Err(bad_request(&format!("files[{i}].name"), "is required"));
        }
        out.push((f.name, f.text));
    }
    Ok(out)
}

fn diagnostics(
    sources: &wangge_dsl::SourceSet,
    ds: &[wangge_dsl::Diagnostic],
) -> Vec<v1::Diagnostic> {
    ds.iter()
        .map(|d| convert::diagnostic(d.to_json(sources)))
        .collect()
}

#[tonic::async_trait]
impl v1::policy_service_server::PolicyService for Policies {
    async fn list_versions(
        &self,
        req: Request<v1::ListVersionsRequest>,
    ) -> Result<Response<v1::ListVersionsResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "PolicyService/ListVersions",
                req,
                move |_caller, _| async move {
                    let active = app.cases.policy().hash.to_string();
                    Ok(Response::new(v1::ListVersionsResponse {
                        versions: app
                            .registry
                            .list()
                            .iter()
                            .map(|v| convert::version(v, &active))
                            .collect(),
                    }))
                },
            )
            .await
    }

    async fn get_active(
        &self,
        req: Request<v1::GetActiveRequest>,
    ) -> Result<Response<v1::PolicyVersion>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "PolicyService/GetActive",
                req,
                move |_caller, _| async move {
                    let active = app.cases.policy().hash.to_string();
                    app.registry
                        .list()
                        .iter()
                        .find(|v| v.hash == active)
                        .map(|v| Response::new(convert::version(v, &active)))
                        .ok_or_else(|| {
                            Status::internal("the active version is not in the registry")
                        })
                },
            )
            .await
    }

    async fn validate(
        &self,
        req: Request<v1::ValidateRequest>,
    ) -> Result<Response<v1::ValidateResponse>, Status> {
        self.0
            .call(
                "PolicyService/Validate",
                req,
                move |_caller, req| async move {
                    let files = files(req.files)?;
                    let compiled = blocking(move || {
                        Ok(wangge_app::compile_files(
                            &files,
                            &wangge_policy::RhaiHost::default(),
                        ))
                    })
                    .await?;
                    Ok(Response::new(v1::ValidateResponse {
                        ok: compiled.set.is_some(),
                        hash: wangge_policy::content_hash(&compiled.sources),
                        diagnostics: diagnostics(&compiled.sources, &compiled.diagnostics),
                    }))
                },
            )
            .await
    }

    async fn deploy(
        &self,
        req: Request<v1::DeployRequest>,
    ) -> Result<Response<v1::DeployResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("PolicyService/Deploy", req, move |caller, req| async move {
                self.0.may(&caller, Permission::Deploy, Target::Anywhere)?;
                let files = files(req.files)?;
                let _guard = app.deploy_lock.lock().await;
                let now = app.cases.clock().now();
                let registry = app.registry.clone();
                let deployed = blocking(move || Ok(registry.deploy(files, now))).await?;
                match deployed {
                    Ok((set, record, compiled)) => {
                        let cases = app.cases.clone();
                        let activated = blocking(move || cases.activate(set).map_err(status)).await;
                        app.metrics.deploy(if activated.is_ok() {
                            "deployed"
                        } else {
                            "refused"
                        });
                        activated?;
                        tracing::info!(hash = %record.hash, "policy version deployed and active");
                        let active = record.hash.clone();
                        Ok(Response::new(v1::DeployResponse {
                            version: Some(convert::version(&record, &active)),
                            diagnostics: diagnostics(&compiled.sources, &compiled.diagnostics),
                        }))
                    }
                    Err(rejected) => {
                        app.metrics.deploy("refused");
                        let errors: Vec<_> = rejected
                            .diagnostics
                            .iter()
                            .filter(|d| d.is_error())
                            .collect();
                        let violations: Vec<FieldViolation> = errors
                            .iter()
                            .map(|d| {
                                FieldViolation::new(
                                    rejected.sources.location(d.span),
                                    d.message.clone(),
                                )
                            })
                            .collect();
                        Err(Status::with_error_details(
                            tonic::Code::FailedPrecondition,
                            format!(
                                "the bundle has {} error(s); the active version is unchanged",
                                errors.len()
                            ),
                            ErrorDetails::with_bad_request(violations),
                        ))
                    }
                }
            })
            .await
    }

    async fn rollback(
        &self,
        req: Request<v1::RollbackRequest>,
    ) -> Result<Response<v1::PolicyVersion>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "PolicyService/Rollback",
                req,
                move |caller, req| async move {
                    self.0.may(&caller, Permission::Deploy, Target::Anywhere)?;
                    let hash = req.hash;
                    if hash.is_empty() {
                        return Err(bad_request("hash", "is required"));
                    }
                    let _guard = app.deploy_lock.lock().await;
                    let registry = app.registry.clone();
                    let set = blocking(move || registry.load(&hash).map_err(status)).await?;
                    let active = set.hash.to_string();
                    let cases = app.cases.clone();
                    let activated = blocking(move || cases.activate(set).map_err(status)).await;
                    app.metrics.deploy(if activated.is_ok() {
                        "rolled_back"
                    } else {
                        "refused"
                    });
                    activated?;
                    tracing::info!(hash = %active, "policy version rolled back to");
                    app.registry
                        .list()
                        .iter()
                        .find(|v| v.hash == active)
                        .map(|v| Response::new(convert::version(v, &active)))
                        .ok_or_else(|| Status::internal("the version vanished from the registry"))
                },
            )
            .await
    }

    async fn evaluate(
        &self,
        req: Request<v1::EvaluateRequest>,
    ) -> Result<Response<v1::EvaluateResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "PolicyService/Evaluate",
                req,
                move |_caller, r| async move {
                    if r.item.is_empty() {
                        return Err(bad_request("item", "is required"));
                    }
                    let input = parse_object("input_json", &r.input_json)?;
                    let set = app.cases.policy();
                    let d = blocking(move || set.evaluate(&r.item, &input).map_err(status)).await?;
                    Ok(Response::new(v1::EvaluateResponse {
                        kind: d.kind.into(),
                        policy_version: d.policy_version.to_string(),
                        result_json: d.result.to_string(),
                        explanation_json: serde_json::to_string(&d.explanation).unwrap_or_default(),
                    }))
                },
            )
            .await
    }
}

// ------------------------------------------------------------------- org ---

pub struct Org(pub Arc<App>);

#[tonic::async_trait]
impl v1::org_service_server::OrgService for Org {
    async fn upsert_units(
        &self,
        req: Request<v1::UpsertUnitsRequest>,
    ) -> Result<Response<v1::UpsertResponse>, Status> {
        self.0
            .call("OrgService/UpsertUnits", req, move |caller, r| async move {
                self.0
                    .may(&caller, Permission::ImportOrg, Target::Anywhere)?;
                let rows = r
                    .units
                    .iter()
                    .enumerate()
                    .map(|(i, u)| convert::unit_row(u, i))
                    .collect();
                let app = self.0.clone();
                let count = blocking(move || {
                    app.org
                        .put_units(&app.cases.policy(), rows, &r.ladder, "units")
                        .map(|(n, _)| n)
                        .map_err(status)
                })
                .await?;
                let count = count as u32;
                Ok(Response::new(v1::UpsertResponse { count }))
            })
            .await
    }

    async fn upsert_people(
        &self,
        req: Request<v1::UpsertPeopleRequest>,
    ) -> Result<Response<v1::UpsertResponse>, Status> {
        self.0
            .call(
                "OrgService/UpsertPeople",
                req,
                move |caller, r| async move {
                    self.0
                        .may(&caller, Permission::ImportOrg, Target::Anywhere)?;
                    let rows = r
                        .people
                        .iter()
                        .enumerate()
                        .flat_map(|(i, p)| convert::person_rows(p, i))
                        .collect();
                    let app = self.0.clone();
                    let count = blocking(move || {
                        app.org
                            .put_people(&app.cases.policy(), rows, "people")
                            .map_err(status)
                    })
                    .await?;
                    let count = count as u32;
                    Ok(Response::new(v1::UpsertResponse { count }))
                },
            )
            .await
    }

    async fn import(
        &self,
        req: Request<v1::ImportRequest>,
    ) -> Result<Response<v1::UpsertResponse>, Status> {
        self.0
            .call("OrgService/Import", req, move |caller, r| async move {
                self.0
                    .may(&caller, Permission::ImportOrg, Target::Anywhere)?;
                let name = if r.name.is_empty() {
                    "import".to_string()
                } else {
                    r.name
                };
                let app = self.0.clone();
                let imported = blocking(move || {
                    app.org
                        .import(&app.cases.policy(), &r.text, &name, &r.ladder)
                        .map_err(status)
                })
                .await?;
                let count = match imported {
                    Imported::Units(n, _) | Imported::People(n) => n as u32,
                };
                Ok(Response::new(v1::UpsertResponse { count }))
            })
            .await
    }

    async fn get_unit(
        &self,
        req: Request<v1::GetUnitRequest>,
    ) -> Result<Response<v1::Unit>, Status> {
        self.0
            .call("OrgService/GetUnit", req, move |_caller, req| async move {
                let id = req.id;
                if id.is_empty() {
                    return Err(bad_request("id", "is required"));
                }
                let unit = self.0.org.unit(&id).map_err(status)?;
                Ok(Response::new(convert::unit(&unit)))
            })
            .await
    }

    async fn list_units(
        &self,
        req: Request<v1::ListUnitsRequest>,
    ) -> Result<Response<v1::ListUnitsResponse>, Status> {
        self.0
            .call("OrgService/ListUnits", req, move |_caller, r| async move {
                let level = some(&r.level);
                let units = self
                    .0
                    .org
                    .units(some(&r.under).as_deref(), level.as_deref())
                    .map_err(status)?;
                Ok(Response::new(v1::ListUnitsResponse {
                    units: units.iter().map(convert::unit).collect(),
                }))
            })
            .await
    }

    async fn list_people(
        &self,
        req: Request<v1::ListPeopleRequest>,
    ) -> Result<Response<v1::ListPeopleResponse>, Status> {
        self.0
            .call(
                "OrgService/ListPeople",
                req,
                move |caller, req| async move {
                    let unit = req.unit;
                    let target = if unit.is_empty() {
                        Target::Anywhere
                    } else {
                        Target::Unit(&unit)
                    };
                    self.0.may(&caller, Permission::ReadPeople, target)?;
                    let people = self.0.org.people(some(&unit).as_deref()).map_err(status)?;
                    Ok(Response::new(v1::ListPeopleResponse {
                        people: people.iter().map(convert::person).collect(),
                    }))
                },
            )
            .await
    }
}

// ----------------------------------------------------------------- admin ---

pub struct Admin(pub Arc<App>);

impl Admin {
    async fn move_clock(
        &self,
        to: impl FnOnce(i64) -> Result<i64, Status>,
    ) -> Result<Response<v1::ClockResponse>, Status> {
        let Some(manual) = self.0.manual.clone() else {
            return Err(Status::failed_precondition(
                "the server runs on the system clock; start it with `--clock manual` to set time",
            ));
        };
        let _moving = self.0.clock_lock.lock().await;
        let before = manual.now();
        let now = to(before)?;
        let app = self.0.clone();
        // Stored first, so a restart resumes at the new time; on a failure
        // to fire, the move is undone (in memory and in the store).
        let fired = blocking(move || {
            app.cases.remember_clock(now).map_err(status)?;
            manual.set(now);
            let fired = app
                .cases
                .fire_due()
                .and_then(|n| Ok(n + app.tasks.fire_due()?));
            fired.map_err(|e| {
                manual.set(before);
                match app.cases.remember_clock(before) {
                    Ok(()) => status(e),
                    Err(undo) => Status::internal(format!(
                        "firing timers failed ({e}) and the clock could not be moved back: {undo}"
                    )),
                }
            })
        })
        .await?;
        Ok(Response::new(v1::ClockResponse {
            now,
            mode: "manual".into(),
            fired: fired as u32,
        }))
    }
}

#[tonic::async_trait]
impl v1::admin_service_server::AdminService for Admin {
    type ExportStream = ExportStream;

    async fn export(
        &self,
        req: Request<v1::ExportRequest>,
    ) -> Result<Response<ExportStream>, Status> {
        let app = self.0.clone();
        self.0
            .call("AdminService/Export", req, move |caller, req| async move {
                app.may(&caller, Permission::Export, Target::Anywhere)?;
                let redact = req.redact || !app.sees_personal(&caller)?;
                let time = |t: i64| (t != 0).then_some(t);
                let (from, to) = (time(req.from_time), time(req.to_time));
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<v1::ExportChunk, Status>>(16);
                tokio::task::spawn_blocking(move || export_to(&app, from, to, redact, tx));
                Ok(Response::new(
                    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as ExportStream,
                ))
            })
            .await
    }

    async fn get_clock(
        &self,
        req: Request<v1::GetClockRequest>,
    ) -> Result<Response<v1::ClockResponse>, Status> {
        self.0
            .call("AdminService/GetClock", req, move |_caller, _| async move {
                Ok(Response::new(v1::ClockResponse {
                    now: self.0.cases.clock().now(),
                    mode: if self.0.manual.is_some() {
                        "manual"
                    } else {
                        "system"
                    }
                    .into(),
                    fired: 0,
                }))
            })
            .await
    }

    async fn set_clock(
        &self,
        req: Request<v1::SetClockRequest>,
    ) -> Result<Response<v1::ClockResponse>, Status> {
        let to = req.get_ref().now;
        self.0
            .call("AdminService/SetClock", req, move |caller, _| async move {
                self.0.may(&caller, Permission::Clock, Target::Anywhere)?;
                self.move_clock(|now| {
                    if to < now {
                        Err(bad_request(
                            "now",
                            format!("the clock may not go backwards (it is at {now})"),
                        ))
                    } else if to > LATEST_TIMESTAMP {
                        Err(bad_request(
                            "now",
                            format!("must be at most {LATEST_TIMESTAMP} (9999-12-31T23:59:59Z)"),
                        ))
                    } else {
                        Ok(to)
                    }
                })
                .await
            })
            .await
    }

    async fn backup(
        &self,
        req: Request<v1::BackupRequest>,
    ) -> Result<Response<v1::BackupResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("AdminService/Backup", req, move |caller, req| async move {
                app.may(&caller, Permission::Export, Target::Anywhere)?;
                let dir = req.dir;
                if dir.is_empty() {
                    return Err(bad_request("dir", "is required"));
                }
                let Some(sled) = app.sled.clone() else {
                    return Err(Status::failed_precondition(
                        "this server stores on PostgreSQL: back it up with the database's own \
                         tools (pg_dump, replication)",
                    ));
                };
                let done =
                    blocking(move || sled.backup(std::path::Path::new(&dir)).map_err(status))
                        .await?;
                Ok(Response::new(v1::BackupResponse {
                    records: done.records,
                    bytes: done.bytes,
                }))
            })
            .await
    }

    async fn list_dead_letters(
        &self,
        req: Request<v1::ListDeadLettersRequest>,
    ) -> Result<Response<v1::ListDeadLettersResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "AdminService/ListDeadLetters",
                req,
                move |caller, r| async move {
                    app.may(&caller, Permission::Audit, Target::Anywhere)?;
                    let hook = app.hook(&r.webhook)?.name.clone();
                    let space = app.store.clone();
                    let letters = blocking(move || {
                        super::webhooks::dead_letters(&*space, &hook).map_err(Status::unavailable)
                    })
                    .await?;
                    Ok(Response::new(v1::ListDeadLettersResponse {
                        letters: letters
                            .into_iter()
                            .map(|d| v1::DeadLetter {
                                sequence: d.sequence,
                                body_json: d.body,
                                error: d.error,
                                attempts: d.attempts,
                                task: d.task,
                            })
                            .collect(),
                    }))
                },
            )
            .await
    }

    async fn resend_dead_letter(
        &self,
        req: Request<v1::ResendDeadLetterRequest>,
    ) -> Result<Response<v1::ResendDeadLetterResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call(
                "AdminService/ResendDeadLetter",
                req,
                move |caller, r| async move {
                    app.may(&caller, Permission::Audit, Target::Anywhere)?;
                    let hook = app.hook(&r.webhook)?.clone();
                    super::webhooks::resend(app.store.as_ref(), &hook, r.sequence, r.task)
                        .await
                        .map_err(|e| bad_request("sequence", e))?;
                    Ok(Response::new(v1::ResendDeadLetterResponse {}))
                },
            )
            .await
    }

    async fn advance_clock(
        &self,
        req: Request<v1::AdvanceClockRequest>,
    ) -> Result<Response<v1::ClockResponse>, Status> {
        let by = req.get_ref().seconds;
        self.0
            .call(
                "AdminService/AdvanceClock",
                req,
                move |caller, _| async move {
                    self.0.may(&caller, Permission::Clock, Target::Anywhere)?;
                    self.move_clock(|now| match now.checked_add(by) {
                        _ if by < 0 => Err(bad_request("seconds", "must not be negative")),
                        Some(to) if to <= LATEST_TIMESTAMP => Ok(to),
                        _ => Err(bad_request(
                            "seconds",
                            format!(
                                "moves the clock past {LATEST_TIMESTAMP} (9999-12-31T23:59:59Z)"
                            ),
                        )),
                    })
                    .await
                },
            )
            .await
    }
}
