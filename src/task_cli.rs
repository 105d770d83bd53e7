//! `wangge task create|list|progress|parts|accept|done|events`: tasks sent
//! down (下派任务) on a running server.

use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;

use crate::client::{finish, show, time, with_server, CliError, Show, Target};
use crate::output::Table;

#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Send a task down: `task create 燃气入户排查 --under JD-01 --note "…"`.
    Create {
        /// The policy's `task` item.
        task: String,
        /// The unit it is sent from: every unit of the task's level under it gets it.
        #[arg(long)]
        under: String,
        /// What is asked, in words.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The tasks you may see, newest first.
    List,
    /// The roll-up: `task progress 3 --level 社区`.
    Progress {
        /// The task's id.
        id: u64,
        /// Rows for this level only (社区, 一般网格).
        #[arg(long)]
        level: Option<String>,
        /// Only under this unit.
        #[arg(long)]
        under: Option<String>,
    },
    /// Units' parts: `task parts 3 --status late`.
    Parts {
        /// The task's id.
        id: u64,
        /// not_started, accepted, done, done_late or late.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        under: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// 签收: `task accept 3 WG-000001`.
    Accept {
        /// The task's id.
        id: u64,
        /// The unit taking its part on.
        unit: String,
    },
    /// 完成: `task done 3 WG-000001 --count 42 --check 查阀门,查软管 --attachment photo-17`.
    Done {
        /// The task's id.
        id: u64,
        /// The unit whose part is done.
        unit: String,
        #[arg(long)]
        count: Option<u64>,
        /// Checklist items done, comma-separated.
        #[arg(long, value_delimiter = ',')]
        check: Vec<String>,
        #[arg(long, default_value = "")]
        attachment: String,
    },
    /// Task events (created, 签收, 完成, remind, overdue) from a sequence.
    Events {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

impl Show for v1::Task {
    fn text(&self) {
        println!(
            "task {} {} · sent by {} from {} to every {} ({} units) · due {}{}",
            self.id,
            self.task,
            self.sent_by,
            self.under,
            self.level,
            self.units,
            time(self.due),
            if self.overdue { " · overdue" } else { "" }
        );
        if !self.note.is_empty() {
            println!("  {}", self.note);
        }
    }
    fn table(&self) -> Table {
        task_table(std::slice::from_ref(self))
    }
}

fn task_table(tasks: &[v1::Task]) -> Table {
    let mut t = Table::new(&["id", "task", "under", "level", "units", "due", "overdue"])
        .right(&["id", "units"]);
    for x in tasks {
        t.row([
            x.id.to_string(),
            x.task.clone(),
            x.under.clone(),
            x.level.clone(),
            x.units.to_string(),
            time(x.due),
            x.overdue.to_string(),
        ]);
    }
    t
}

impl Show for v1::ListTasksResponse {
    fn text(&self) {
        if self.tasks.is_empty() {
            println!("no tasks");
        }
        for t in &self.tasks {
            t.text();
        }
    }
    fn table(&self) -> Table {
        task_table(&self.tasks)
    }
}

fn tally_cells(t: &Option<v1::TaskTally>) -> [String; 6] {
    let t = t.unwrap_or_default();
    [
        t.total.to_string(),
        t.done.to_string(),
        t.done_late.to_string(),
        t.accepted.to_string(),
        t.not_started.to_string(),
        t.late.to_string(),
    ]
}

impl Show for v1::TaskProgress {
    fn text(&self) {
        let [total, done, done_late, accepted, not_started, late] = tally_cells(&self.totals);
        println!(
            "{total} units · done {done} · done late {done_late} · accepted {accepted} · not started {not_started} · late {late} · due {}",
            time(self.due)
        );
        print!("{}", self.table().render());
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&[
            "unit",
            "level",
            "total",
            "done",
            "done late",
            "accepted",
            "not started",
            "late",
        ])
        .right(&[
            "total",
            "done",
            "done late",
            "accepted",
            "not started",
            "late",
        ]);
        for r in &self.rows {
            let [a, b, c, d, e, f] = tally_cells(&r.tally);
            t.row([r.unit.clone(), r.level.clone(), a, b, c, d, e, f]);
        }
        t
    }
}

impl Show for v1::TaskPart {
    fn text(&self) {
        println!("task {} · {} · {}", self.task_id, self.unit, self.status);
        if !self.done_by.is_empty() {
            println!("  done by {} at {}", self.done_by, time(self.done_at));
        } else if !self.accepted_by.is_empty() {
            println!(
                "  签收 by {} at {}",
                self.accepted_by,
                time(self.accepted_at)
            );
        }
        if !self.escalated_to.is_empty() {
            println!("  late: escalated to {}", self.escalated_to);
        }
    }
    fn table(&self) -> Table {
        part_table(std::slice::from_ref(self))
    }
}

fn part_table(parts: &[v1::TaskPart]) -> Table {
    let mut t = Table::new(&["unit", "status", "by", "at", "escalated to"]);
    for p in parts {
        let (by, at) = if p.done_by.is_empty() {
            (&p.accepted_by, p.accepted_at)
        } else {
            (&p.done_by, p.done_at)
        };
        t.row([
            p.unit.clone(),
            p.status.clone(),
            by.clone(),
            if at == 0 { "-".into() } else { time(at) },
            p.escalated_to.clone(),
        ]);
    }
    t
}

impl Show for v1::TaskPartsResponse {
    fn text(&self) {
        print!("{}", part_table(&self.parts).render());
    }
    fn table(&self) -> Table {
        part_table(&self.parts)
    }
}

impl Show for v1::TaskEventsResponse {
    fn text(&self) {
        print!("{}", self.table().render());
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["seq", "task", "unit", "action", "at", "actor", "detail"])
            .right(&["seq", "task"]);
        for e in &self.events {
            t.row([
                e.sequence.to_string(),
                e.task_id.to_string(),
                e.unit.clone(),
                e.action.clone(),
                time(e.at),
                e.actor.clone(),
                e.detail_json.clone(),
            ]);
        }
        t
    }
}

pub fn task(args: &TaskArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = v1::task_service_client::TaskServiceClient::new(ch);
        let r: Result<(), CliError> = async {
            match &args.command {
                TaskCommand::Create { task, under, note } => {
                    let req = v1::CreateTaskRequest {
                        task: task.clone(),
                        under: under.clone(),
                        note: note.clone(),
                    };
                    show(out, &c.create(req).await?.into_inner())
                }
                TaskCommand::List => {
                    show(out, &c.list(v1::ListTasksRequest {}).await?.into_inner())
                }
                TaskCommand::Progress { id, level, under } => {
                    let req = v1::TaskProgressRequest {
                        id: *id,
                        level: level.clone().unwrap_or_default(),
                        under: under.clone().unwrap_or_default(),
                    };
                    show(out, &c.progress(req).await?.into_inner())
                }
                TaskCommand::Parts {
                    id,
                    status,
                    under,
                    limit,
                } => {
                    let req = v1::TaskPartsRequest {
                        id: *id,
                        status: status.clone().unwrap_or_default(),
                        under: under.clone().unwrap_or_default(),
                        limit: *limit,
                    };
                    show(out, &c.parts(req).await?.into_inner())
                }
                TaskCommand::Accept { id, unit } => {
                    let req = v1::TaskUnitRequest {
                        id: *id,
                        unit: unit.clone(),
                    };
                    show(out, &c.accept(req).await?.into_inner())
                }
                TaskCommand::Done {
                    id,
                    unit,
                    count,
                    check,
                    attachment,
                } => {
                    let req = v1::CompleteTaskRequest {
                        id: *id,
                        unit: unit.clone(),
                        count: *count,
                        checked: check.clone(),
                        attachment: attachment.clone(),
                    };
                    show(out, &c.complete(req).await?.into_inner())
                }
                TaskCommand::Events { from, limit } => {
                    let req = v1::TaskEventsRequest {
                        from_sequence: *from,
                        limit: *limit,
                    };
                    show(out, &c.events(req).await?.into_inner())
                }
            }
        }
        .await;
        finish(r)
    })
}
