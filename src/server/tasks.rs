//! TaskService: tasks sent down (下派任务) over gRPC. Thin methods:
//! validate, authorize against the unit the call acts on, call
//! `wangge_app::TaskService` off the async threads, map the answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use wangge_app::access::{Caller, Principal, Target};
use wangge_app::{PartView, TaskHeader};
use wangge_policy::{Completion, Permission};
use wangge_proto::v1;

use super::app::{blocking, App};
use super::convert::some;
use super::status::{bad_request, status};

pub struct Tasks(pub Arc<App>);

fn task(h: TaskHeader) -> v1::Task {
    v1::Task {
        id: h.id,
        task: h.task,
        note: h.note,
        sent_by: h.sent_by,
        under: h.root,
        level: h.level,
        created_at: h.created_at,
        due: h.due,
        units: h.units,
        policy_version: h.policy_version,
        overdue: h.overdue,
        needs_count: h.needs.count.unwrap_or_default(),
        needs_checklist: h.needs.checklist,
        needs_attachment: h.needs.attachment,
    }
}

fn tally(t: wangge_app::Tally) -> v1::TaskTally {
    v1::TaskTally {
        total: t.total,
        not_started: t.not_started,
        accepted: t.accepted,
        done: t.done,
        done_late: t.done_late,
        late: t.late,
    }
}

fn part(id: u64, p: PartView) -> v1::TaskPart {
    let r = p.record;
    v1::TaskPart {
        task_id: id,
        unit: p.unit,
        status: p.status.as_str().into(),
        accepted_by: r
            .accepted
            .as_ref()
            .map(|s| s.by.clone())
            .unwrap_or_default(),
        accepted_at: r.accepted.as_ref().map_or(0, |s| s.at),
        done_by: r.done.as_ref().map(|s| s.by.clone()).unwrap_or_default(),
        done_at: r.done.as_ref().map_or(0, |s| s.at),
        count: r.completion.count.unwrap_or(0),
        checked: r.completion.checked,
        attachment: r.completion.attachment.unwrap_or_default(),
        escalated_to: p.escalated_to.unwrap_or_default(),
    }
}

fn required_id(id: u64) -> Result<u64, Status> {
    if id == 0 {
        return Err(bad_request("id", "is required"));
    }
    Ok(id)
}

fn required_unit(unit: &str) -> Result<String, Status> {
    some(unit).ok_or_else(|| bad_request("unit", "is required"))
}

impl Tasks {
    /// Whether the caller may see task `h`: `查看任务` where it was sent
    /// from, or a position in a unit it went to (their own part).
    fn sees(&self, caller: &Caller, h: &TaskHeader) -> bool {
        if self
            .0
            .may(caller, Permission::ReadTasks, Target::Unit(&h.root))
            .is_ok()
        {
            return true;
        }
        let (Principal::Person(id), Ok(dir)) = (&caller.principal, self.0.directory()) else {
            return false;
        };
        dir.person(id).is_some_and(|p| {
            p.positions()
                .filter_map(|(_, u)| u)
                .any(|u| dir.within(u, &h.root))
        })
    }

    fn header(&self, id: u64) -> Result<TaskHeader, Status> {
        self.0.tasks.get(id).map_err(status)
    }
}

#[tonic::async_trait]
impl v1::task_service_server::TaskService for Tasks {
    async fn create(
        &self,
        req: Request<v1::CreateTaskRequest>,
    ) -> Result<Response<v1::Task>, Status> {
        let app = self.0.clone();
        self.0
            .call("TaskService/Create", req, move |caller, r| async move {
                let name = some(&r.task).ok_or_else(|| bad_request("task", "is required"))?;
                let under = some(&r.under).ok_or_else(|| bad_request("under", "is required"))?;
                app.may(&caller, Permission::SendTask, Target::Unit(&under))?;
                let by = caller.name();
                let worker = app.clone();
                let h = blocking(move || {
                    let set = worker.cases.policy();
                    (worker.tasks.create(&set, &name, &under, &r.note, &by)).map_err(status)
                })
                .await?;
                Ok(Response::new(task(h)))
            })
            .await
    }

    async fn list(
        &self,
        req: Request<v1::ListTasksRequest>,
    ) -> Result<Response<v1::ListTasksResponse>, Status> {
        self.0
            .call("TaskService/List", req, move |caller, _| async move {
                let tasks = (self.0.tasks.list(&mut |h| self.sees(&caller, h))).map_err(status)?;
                Ok(Response::new(v1::ListTasksResponse {
                    tasks: tasks.into_iter().map(task).collect(),
                }))
            })
            .await
    }

    async fn progress(
        &self,
        req: Request<v1::TaskProgressRequest>,
    ) -> Result<Response<v1::TaskProgress>, Status> {
        let app = self.0.clone();
        self.0
            .call("TaskService/Progress", req, move |caller, r| async move {
                let id = required_id(r.id)?;
                let h = self.header(id)?;
                let under = some(&r.under).unwrap_or_else(|| h.root.clone());
                app.may(&caller, Permission::ReadTasks, Target::Unit(&under))?;
                let level = some(&r.level);
                let worker = app.clone();
                let p = blocking(move || {
                    (worker.tasks.progress(id, level.as_deref(), Some(&under))).map_err(status)
                })
                .await?;
                Ok(Response::new(v1::TaskProgress {
                    totals: Some(tally(p.totals)),
                    rows: p
                        .rows
                        .into_iter()
                        .map(|r| v1::TaskProgressRow {
                            unit: r.unit,
                            level: r.level,
                            tally: Some(tally(r.tally)),
                        })
                        .collect(),
                    due: h.due,
                    now: app.cases.clock().now(),
                }))
            })
            .await
    }

    async fn parts(
        &self,
        req: Request<v1::TaskPartsRequest>,
    ) -> Result<Response<v1::TaskPartsResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("TaskService/Parts", req, move |caller, r| async move {
                let id = required_id(r.id)?;
                let h = self.header(id)?;
                let under = some(&r.under).unwrap_or_else(|| h.root.clone());
                app.may(&caller, Permission::ReadTasks, Target::Unit(&under))?;
                let status_filter = match some(&r.status) {
                    None => None,
                    Some(s) => Some(wangge_app::PartStatus::parse(&s).ok_or_else(|| {
                        bad_request(
                            "status",
                            format!(
                                "`{s}` is not one of not_started, accepted, done, done_late, late"
                            ),
                        )
                    })?),
                };
                let limit = match r.limit {
                    0 => 100,
                    n @ 1..=10_000 => n as usize,
                    _ => return Err(bad_request("limit", "must be 1 to 10000")),
                };
                let worker = app.clone();
                let parts = blocking(move || {
                    (worker.tasks.parts(id, status_filter, Some(&under), limit)).map_err(status)
                })
                .await?;
                Ok(Response::new(v1::TaskPartsResponse {
                    parts: parts.into_iter().map(|p| part(id, p)).collect(),
                }))
            })
            .await
    }

    async fn accept(
        &self,
        req: Request<v1::TaskUnitRequest>,
    ) -> Result<Response<v1::TaskPart>, Status> {
        let app = self.0.clone();
        self.0
            .call("TaskService/Accept", req, move |caller, r| async move {
                let id = required_id(r.id)?;
                let unit = required_unit(&r.unit)?;
                self.header(id)?;
                app.may(&caller, Permission::DoTask, Target::Unit(&unit))?;
                let by = caller.name();
                let worker = app.clone();
                let p =
                    blocking(move || worker.tasks.accept(id, &unit, &by).map_err(status)).await?;
                Ok(Response::new(part(id, p)))
            })
            .await
    }

    async fn complete(
        &self,
        req: Request<v1::CompleteTaskRequest>,
    ) -> Result<Response<v1::TaskPart>, Status> {
        let app = self.0.clone();
        self.0
            .call("TaskService/Complete", req, move |caller, r| async move {
                let id = required_id(r.id)?;
                let unit = required_unit(&r.unit)?;
                self.header(id)?;
                app.may(&caller, Permission::DoTask, Target::Unit(&unit))?;
                let by = caller.name();
                let completion = Completion {
                    count: r.count,
                    checked: r.checked,
                    attachment: some(&r.attachment),
                };
                let worker = app.clone();
                let p = blocking(move || {
                    (worker.tasks.complete(id, &unit, &by, completion)).map_err(status)
                })
                .await?;
                Ok(Response::new(part(id, p)))
            })
            .await
    }

    async fn events(
        &self,
        req: Request<v1::TaskEventsRequest>,
    ) -> Result<Response<v1::TaskEventsResponse>, Status> {
        let app = self.0.clone();
        self.0
            .call("TaskService/Events", req, move |caller, r| async move {
                let limit = match r.limit {
                    0 => 100,
                    n @ 1..=1000 => n as usize,
                    _ => return Err(bad_request("limit", "must be 1 to 1000")),
                };
                let from = r.from_sequence;
                let worker = app.clone();
                let events = blocking(move || {
                    (worker.tasks.events(from, limit.saturating_mul(4))).map_err(status)
                })
                .await?;
                let events = events
                    .into_iter()
                    .filter(|e| self.header(e.task_id).is_ok_and(|h| self.sees(&caller, &h)))
                    .take(limit)
                    .map(|e| v1::TaskEvent {
                        sequence: e.seq,
                        task_id: e.task_id,
                        task: e.task,
                        unit: e.unit.unwrap_or_default(),
                        action: e.action,
                        at: e.at,
                        actor: e.actor,
                        detail_json: e.detail.to_string(),
                    })
                    .collect();
                Ok(Response::new(v1::TaskEventsResponse { events }))
            })
            .await
    }
}
