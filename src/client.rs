//! The client CLI (in the style of zbctl): `wangge case|policy|clock …`
//! talk to a running server over gRPC.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use wangge_proto::v1;

/// Where the server is.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Server address.
    #[arg(
        long,
        global = true,
        env = "WANGGE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
}

#[derive(Debug, clap::Args)]
pub struct CaseArgs {
    #[command(subcommand)]
    command: CaseCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum CaseCommand {
    /// Report an event.
    Report {
        #[arg(long, default_value = "事件处置")]
        workflow: String,
        /// The event as a JSON object.
        #[arg(long)]
        data: String,
        #[arg(long, default_value = "")]
        unit: String,
        /// Idempotency key.
        #[arg(long, default_value = "")]
        key: String,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Show a case.
    Get { id: u64 },
    /// Show a case's event log.
    Events { id: u64 },
    /// List cases (all pages).
    List {
        #[arg(long, default_value = "")]
        workflow: String,
        #[arg(long, default_value = "")]
        unit: String,
        #[arg(long, default_value = "")]
        state: String,
        #[arg(long, default_value = "")]
        class: String,
        #[arg(long, default_value = "")]
        level: String,
        #[arg(long)]
        breached: bool,
        /// Only cases that missed a limit at the top of their ladder.
        #[arg(long)]
        overdue: bool,
        /// Only cases whose next deadline is at or after this time (RFC 3339).
        #[arg(long, value_parser = timestamp)]
        deadline_from: Option<i64>,
        /// … and before this time (RFC 3339).
        #[arg(long, value_parser = timestamp)]
        deadline_to: Option<i64>,
    },
    /// Act on a case: a transition of its workflow (e.g. 立案, 反馈 --outcome 满意)
    /// or escalate, pause, resume, summon --department …, report_in --department ….
    Act {
        id: u64,
        action: String,
        #[arg(long, default_value = "")]
        outcome: String,
        #[arg(long = "department")]
        departments: Vec<String>,
        /// Fail unless the case is at this version.
        #[arg(long, default_value_t = 0)]
        expect_version: u64,
        #[arg(long, default_value = "cli")]
        actor: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Print case changes as they happen.
    Watch {
        /// Resume from this sequence (0: only new changes).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Stop after this many changes (0: never).
        #[arg(long, default_value_t = 0)]
        count: u64,
    },
}

#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// List the versions the server knows.
    List,
    /// Check a policy folder on the server without deploying it.
    Validate { dir: PathBuf },
    /// Deploy a policy folder (it becomes active only if it compiles).
    Deploy { dir: PathBuf },
    /// Activate an earlier version (hash or a prefix of 8+ digits).
    Rollback { hash: String },
    /// Evaluate a table, rule set or calc of the active version.
    Eval {
        item: String,
        #[arg(long)]
        input: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct ClockArgs {
    #[command(subcommand)]
    command: ClockCommand,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Subcommand)]
enum ClockCommand {
    /// Show the server's clock.
    Get,
    /// Set a manual clock, e.g. 2026-09-14T13:00:00+08:00, and fire due timers.
    Set { time: String },
    /// Advance a manual clock, e.g. 3h or 2d, and fire due timers.
    Advance { by: String },
}

/// Connects to the server and runs `f` with the channel.
pub fn with_server<F, Fut>(target: &Target, f: F) -> ExitCode
where
    F: FnOnce(Channel) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let rt = match runtime() {
        Ok(r) => r,
        Err(c) => return c,
    };
    rt.block_on(async {
        match connect(target).await {
            Ok(ch) => f(ch).await,
            Err(code) => code,
        }
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

async fn connect(t: &Target) -> Result<Channel, ExitCode> {
    Channel::from_shared(t.server.clone())
        .map_err(|e| {
            eprintln!("error: `{}` is not a server address: {e}", t.server);
            ExitCode::FAILURE
        })?
        .connect()
        .await
        .map_err(|e| {
            eprintln!("error: cannot reach `{}`: {e}", t.server);
            ExitCode::FAILURE
        })
}

/// Prints a status with its field violations.
pub fn failed(s: tonic::Status) -> ExitCode {
    eprintln!("error: {:?}: {}", s.code(), s.message());
    if let Some(bad) = s.get_details_bad_request() {
        for v in bad.field_violations {
            eprintln!("  {}: {}", v.field, v.description);
        }
    }
    ExitCode::FAILURE
}

pub fn time(t: i64) -> String {
    if t == 0 {
        "-".into()
    } else {
        wangge_policy::format_ts(t, 8 * 3600)
    }
}

fn print_case(c: &v1::Case) {
    println!(
        "case {} [{}] v{}: state {} · level {} · class {} · ceiling {}",
        c.id,
        c.workflow,
        c.version,
        c.state,
        c.level,
        if c.class.is_empty() { "-" } else { &c.class },
        if c.ceiling.is_empty() {
            "-"
        } else {
            &c.ceiling
        }
    );
    println!(
        "  unit {} · reported {} · data {}",
        if c.unit.is_empty() { "-" } else { &c.unit },
        time(c.created_at),
        c.data_json
    );
    for d in &c.deadlines {
        println!(
            "  deadline: {} {} ({}) due {}",
            d.kind,
            d.subject,
            d.clock,
            time(d.due)
        );
    }
    for b in &c.breaches {
        println!(
            "  breach (出格): {} → {} at {}",
            b.from_level,
            b.to_level,
            time(b.at)
        );
    }
    for s in &c.summons {
        let state = if s.reported_at != 0 {
            format!("reported {}", time(s.reported_at))
        } else if s.missed {
            "missed".into()
        } else {
            "pending".into()
        };
        println!("  summoned: {} due {} ({state})", s.department, time(s.due));
    }
    if c.paused_at != 0 {
        println!("  paused since {}", time(c.paused_at));
    }
    if c.closed_at != 0 {
        println!("  closed {}", time(c.closed_at));
    }
}

fn print_event(e: &v1::CaseEvent) {
    let outcome = if e.outcome.is_empty() {
        String::new()
    } else {
        format!(" {}", e.outcome)
    };
    println!(
        "  #{} {} {}{} by {}: {} {} → {} {}",
        e.seq,
        time(e.at),
        e.action,
        outcome,
        if e.actor.is_empty() { "-" } else { &e.actor },
        if e.state_before.is_empty() {
            "·"
        } else {
            &e.state_before
        },
        if e.level_before.is_empty() {
            "·"
        } else {
            &e.level_before
        },
        e.state_after,
        e.level_after
    );
}

pub fn case(args: &CaseArgs) -> ExitCode {
    with_server(&args.target, |ch| async move {
        let mut client = v1::case_service_client::CaseServiceClient::new(ch);
        let result =
            match &args.command {
                CaseCommand::Report {
                    workflow,
                    data,
                    unit,
                    key,
                    actor,
                } => client
                    .report(v1::ReportRequest {
                        workflow: workflow.clone(),
                        unit: unit.clone(),
                        data_json: data.clone(),
                        idempotency_key: key.clone(),
                        actor: actor.clone(),
                    })
                    .await
                    .map(|r| {
                        let r = r.into_inner();
                        println!(
                            "{}",
                            if r.created {
                                "reported"
                            } else {
                                "already reported (same idempotency key)"
                            }
                        );
                        if let Some(c) = &r.case {
                            print_case(c);
                        }
                    }),
                CaseCommand::Get { id } => client
                    .get(v1::GetCaseRequest { id: *id })
                    .await
                    .map(|r| print_case(r.get_ref())),
                CaseCommand::Events { id } => client
                    .events(v1::GetCaseRequest { id: *id })
                    .await
                    .map(|r| {
                        for e in &r.get_ref().events {
                            print_event(e);
                        }
                    }),
                CaseCommand::List {
                    workflow,
                    unit,
                    state,
                    class,
                    level,
                    breached,
                    overdue,
                    deadline_from,
                    deadline_to,
                } => {
                    let mut token = String::new();
                    let mut total = 0;
                    loop {
                        let page = client
                            .list(v1::ListCasesRequest {
                                workflow: workflow.clone(),
                                unit: unit.clone(),
                                state: state.clone(),
                                class: class.clone(),
                                level: level.clone(),
                                breached: *breached,
                                overdue: *overdue,
                                deadline_from: deadline_from.unwrap_or(0),
                                deadline_to: deadline_to.unwrap_or(0),
                                page_size: 500,
                                page_token: token.clone(),
                                ..Default::default()
                            })
                            .await;
                        match page {
                            Ok(p) => {
                                let p = p.into_inner();
                                for c in &p.cases {
                                    total += 1;
                                    println!(
                                        "{}\t{}\t{}\t{}\t{}\t{}",
                                        c.id,
                                        c.workflow,
                                        c.state,
                                        c.level,
                                        c.class,
                                        if c.breaches.is_empty() { "" } else { "出格" }
                                    );
                                }
                                if p.next_page_token.is_empty() {
                                    println!("{total} case(s)");
                                    break Ok(());
                                }
                                token = p.next_page_token;
                            }
                            Err(s) => break Err(s),
                        }
                    }
                }
                CaseCommand::Act {
                    id,
                    action,
                    outcome,
                    departments,
                    expect_version,
                    actor,
                    note,
                } => client
                    .act(v1::ActRequest {
                        id: *id,
                        action: action.clone(),
                        outcome: outcome.clone(),
                        departments: departments.clone(),
                        expected_version: *expect_version,
                        actor: actor.clone(),
                        note: note.clone(),
                    })
                    .await
                    .map(|r| print_case(r.get_ref())),
                CaseCommand::Watch { from, count } => match client
                    .watch_cases(v1::WatchCasesRequest {
                        from_sequence: *from,
                    })
                    .await
                {
                    Ok(stream) => {
                        let mut stream = stream.into_inner();
                        let mut seen = 0;
                        loop {
                            match stream.message().await {
                                Ok(Some(ch)) => {
                                    print!(
                                        "[{}] case {}",
                                        ch.sequence,
                                        ch.event.as_ref().map_or(0, |e| e.case_id)
                                    );
                                    if let Some(e) = &ch.event {
                                        print_event(e);
                                    } else {
                                        println!();
                                    }
                                    seen += 1;
                                    if *count != 0 && seen >= *count {
                                        break Ok(());
                                    }
                                }
                                Ok(None) => break Ok(()),
                                Err(s) => break Err(s),
                            }
                        }
                    }
                    Err(s) => Err(s),
                },
            };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(s) => failed(s),
        }
    })
}

fn bundle(dir: &std::path::Path) -> Result<Vec<v1::PolicyFile>, ExitCode> {
    wangge_app::read_dir_with_tests(dir)
        .map(|fs| {
            fs.into_iter()
                .map(|(name, text)| v1::PolicyFile { name, text })
                .collect()
        })
        .map_err(|e| {
            crate::report(e);
            ExitCode::FAILURE
        })
}

fn print_diagnostics(ds: &[v1::Diagnostic]) {
    for d in ds {
        let help = if d.help.is_empty() {
            String::new()
        } else {
            format!(" (help: {})", d.help)
        };
        println!(
            "{}:{}:{}: {}: {}{help}",
            d.file, d.line, d.column, d.severity, d.message
        );
    }
}

pub fn policy(args: &PolicyArgs) -> ExitCode {
    with_server(&args.target, |ch| async move {
        let mut client = v1::policy_service_client::PolicyServiceClient::new(ch);
        let result = match &args.command {
            PolicyCommand::List => {
                client
                    .list_versions(v1::ListVersionsRequest {})
                    .await
                    .map(|r| {
                        for v in &r.get_ref().versions {
                            println!(
                                "{} {}\t{} {}\tdeployed {}\t{} item(s)",
                                if v.active { "*" } else { " " },
                                &v.hash[..12.min(v.hash.len())],
                                v.name,
                                v.label,
                                time(v.deployed_at),
                                v.items.len()
                            );
                        }
                    })
            }
            PolicyCommand::Validate { dir } => {
                let files = match bundle(dir) {
                    Ok(f) => f,
                    Err(c) => return c,
                };
                match client.validate(v1::ValidateRequest { files }).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        print_diagnostics(&r.diagnostics);
                        println!(
                            "{}: {}",
                            if r.ok { "ok" } else { "errors" },
                            &r.hash[..12.min(r.hash.len())]
                        );
                        if !r.ok {
                            return ExitCode::FAILURE;
                        }
                        Ok(())
                    }
                    Err(s) => Err(s),
                }
            }
            PolicyCommand::Deploy { dir } => {
                let files = match bundle(dir) {
                    Ok(f) => f,
                    Err(c) => return c,
                };
                client.deploy(v1::DeployRequest { files }).await.map(|r| {
                    let r = r.into_inner();
                    print_diagnostics(&r.diagnostics);
                    if let Some(v) = r.version {
                        println!("deployed and active: {}", v.hash);
                    }
                })
            }
            PolicyCommand::Rollback { hash } => client
                .rollback(v1::RollbackRequest { hash: hash.clone() })
                .await
                .map(|r| println!("active: {}", r.get_ref().hash)),
            PolicyCommand::Eval { item, input } => client
                .evaluate(v1::EvaluateRequest {
                    item: item.clone(),
                    input_json: input.clone(),
                })
                .await
                .map(|r| {
                    let r = r.into_inner();
                    println!("{}", r.result_json);
                    println!("why: {}", r.explanation_json);
                }),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(s) => failed(s),
        }
    })
}

pub fn clock(args: &ClockArgs) -> ExitCode {
    with_server(&args.target, |ch| async move {
        let mut client = v1::admin_service_client::AdminServiceClient::new(ch);
        let result = match &args.command {
            ClockCommand::Get => client.get_clock(v1::GetClockRequest {}).await,
            ClockCommand::Set { time } => match wangge_policy::parse_ts(time) {
                Some(now) => client.set_clock(v1::SetClockRequest { now }).await,
                None => {
                    eprintln!("error: `{time}` is not a time like 2026-09-14T13:00:00+08:00");
                    return ExitCode::FAILURE;
                }
            },
            ClockCommand::Advance { by } => match wangge_dsl::parser::parse_duration(by) {
                Some(seconds) => {
                    client
                        .advance_clock(v1::AdvanceClockRequest { seconds })
                        .await
                }
                None => {
                    eprintln!("error: `{by}` is not a duration like 3h, 2d or 1h30m");
                    return ExitCode::FAILURE;
                }
            },
        };
        match result {
            Ok(r) => {
                let r = r.into_inner();
                println!(
                    "{} ({} clock); {} timer(s) fired",
                    time(r.now),
                    r.mode,
                    r.fired
                );
                ExitCode::SUCCESS
            }
            Err(s) => failed(s),
        }
    })
}

/// `wangge org import FILE --server URL`.
pub fn org_import(server: &str, file: &std::path::Path, ladder: Option<&str>) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let target = Target {
        server: server.to_string(),
    };
    with_server(&target, |ch| async move {
        let mut client = v1::org_service_client::OrgServiceClient::new(ch);
        match client
            .import(v1::ImportRequest {
                name: file.display().to_string(),
                text,
                ladder: ladder.unwrap_or_default().to_string(),
            })
            .await
        {
            Ok(r) => {
                println!(
                    "imported {} record(s) from {}",
                    r.get_ref().count,
                    file.display()
                );
                ExitCode::SUCCESS
            }
            Err(s) => failed(s),
        }
    })
}

/// A command-line time (RFC 3339, e.g. `2026-09-14T10:00:00+08:00`).
fn timestamp(s: &str) -> Result<i64, String> {
    wangge_policy::parse_ts(s)
        .ok_or_else(|| format!("`{s}` is not a time like `2026-09-14T10:00:00+08:00`"))
}
