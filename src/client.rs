//! The client CLI (in the style of zbctl and the Temporal CLI): `wangge
//! case|policy|clock …` talk to a running server over gRPC. Every command
//! prints with `-o text|table|json` (see `output`); errors are one place
//! ([`finish`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use wangge_proto::v1;
use wangge_proto::v1::case_service_client::CaseServiceClient;

use crate::input::{self, InputError};
use crate::output::{self, Output, Table};

/// Where the server is and how to print its answers.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Server address: `host:port` or a URL such as `http://host:port`.
    #[arg(
        long,
        global = true,
        env = "WANGGE_SERVER",
        default_value = "127.0.0.1:50051"
    )]
    pub server: String,
    /// Bearer token for a server that requires authentication (`wangge token issue`).
    #[arg(long, global = true, env = "WANGGE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA that signed the server's certificate (for an `https://` server).
    #[arg(long, global = true, env = "WANGGE_CA")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// PEM client certificate for mutual TLS (with `--tls-key`).
    #[arg(long, global = true, env = "WANGGE_CLIENT_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, global = true, env = "WANGGE_CLIENT_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Output format: text for people, an aligned table, or JSON.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t)]
    pub output: Output,
}

/// Why a client command failed.
#[derive(Debug)]
pub enum CliError {
    /// The server refused the call.
    Server(tonic::Status),
    /// An argument could not be read.
    Input(InputError),
    /// The answer could not be written as JSON.
    Print(serde_json::Error),
    /// The answer was printed and says the command failed (e.g. a policy
    /// bundle with errors).
    Failed,
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> CliError {
        CliError::Server(s)
    }
}

impl From<InputError> for CliError {
    fn from(e: InputError) -> CliError {
        CliError::Input(e)
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> CliError {
        CliError::Print(e)
    }
}

/// The exit code of a client command; prints the error on stderr.
pub fn finish(r: Result<(), CliError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Server(s)) => failed(s),
        Err(CliError::Input(e)) => {
            crate::report(e);
            ExitCode::FAILURE
        }
        Err(CliError::Print(e)) => {
            output::error(format!("cannot write the answer as JSON: {e}"));
            ExitCode::FAILURE
        }
        Err(CliError::Failed) => ExitCode::FAILURE,
    }
}

/// How an answer prints as text and as a table; JSON comes from its fields.
pub trait Show: serde::Serialize {
    fn text(&self);
    fn table(&self) -> Table;
}

/// Prints `answer` in the chosen format.
pub fn show<T: Show>(out: Output, answer: &T) -> Result<(), CliError> {
    match out {
        Output::Text => answer.text(),
        Output::Table => print!("{}", answer.table().render()),
        Output::Json => output::print_json(answer)?,
    }
    Ok(())
}

/// A two-column table of one answer's fields.
pub fn card(pairs: &[(&str, String)]) -> Table {
    let mut t = Table::new(&["field", "value"]);
    for (k, v) in pairs {
        t.row([k.to_string(), v.clone()]);
    }
    t
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
    /// Report an event: `report --unit G1 --data '{"类别": "噪音"}'` (or `--data @event.json`, `--data -`).
    Report {
        #[arg(long, default_value = "事件处置")]
        workflow: String,
        /// The event as a JSON object; `@FILE` reads a file, `-` stdin.
        #[arg(long)]
        data: String,
        /// The unit (grid) the event happened in.
        #[arg(long, default_value = "")]
        unit: String,
        /// Idempotency key: a retry with the same key is answered with the first case.
        #[arg(long, default_value = "")]
        key: String,
        /// Who reports it, without authentication [default: cli]; with a
        /// token, the person a service account granted `代办` reports for.
        #[arg(long)]
        actor: Option<String>,
    },
    /// Show a case.
    Get {
        /// The case id.
        id: u64,
    },
    /// Show a case's event log.
    Events {
        /// The case id.
        id: u64,
    },
    /// List cases (all pages).
    List {
        #[arg(long, default_value = "")]
        workflow: String,
        /// Cases of this unit and the units under it.
        #[arg(long, default_value = "")]
        unit: String,
        #[arg(long, default_value = "")]
        state: String,
        #[arg(long, default_value = "")]
        class: String,
        #[arg(long, default_value = "")]
        level: String,
        /// Only cases that climbed past their class's ceiling (出格).
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
        /// The case id.
        id: u64,
        /// The action: a transition of the workflow or a built-in one (escalate, pause, …).
        action: String,
        /// The action's outcome, where it declares outcomes (满意, 不满意 …).
        #[arg(long, default_value = "")]
        outcome: String,
        /// Departments to summon or that report in.
        #[arg(long = "department")]
        departments: Vec<String>,
        /// Fail unless the case is at this version.
        #[arg(long, default_value_t = 0)]
        expect_version: u64,
        /// Who acts, without authentication [default: cli]; with a token,
        /// the person a service account granted `代办` acts for.
        #[arg(long)]
        actor: Option<String>,
        /// The reason (改派, 退单 state one).
        #[arg(long, default_value = "")]
        note: String,
        /// Whom a dispatching action (派遣) or 改派 assigns the case to (a person's 编号).
        #[arg(long, default_value = "")]
        assignee: String,
    },
    /// 待办: your open work, nearest deadline first, with the actions you may take.
    Todo {
        /// Only cases of this unit and the units under it.
        #[arg(long, default_value = "")]
        unit: String,
        #[arg(long, default_value = "")]
        workflow: String,
        /// Only work due within this long (`8h`, `2d`, `3小时`).
        #[arg(long, value_parser = crate::input::duration)]
        within: Option<i64>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Print case changes as they happen (`-o json`: one JSON document per line).
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
    Validate {
        /// The policy folder (its `.wg` files and scenarios).
        dir: PathBuf,
    },
    /// Deploy a policy folder (it becomes active only if it compiles).
    Deploy {
        /// The policy folder (its `.wg` files and scenarios).
        dir: PathBuf,
    },
    /// Activate an earlier version (hash or a prefix of 8+ digits).
    Rollback {
        /// The version's hash, or a prefix of 8 or more hex digits.
        hash: String,
    },
    /// Evaluate a table, rule set or calc of the active version.
    Eval {
        /// The table, rule set or calc.
        item: String,
        /// Input as JSON keyed by parameter name; `@FILE` reads a file, `-` stdin.
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
    /// Set a manual clock and fire due timers.
    Set {
        /// The new time, e.g. 2026-09-14T13:00:00+08:00.
        time: String,
    },
    /// Advance a manual clock and fire due timers.
    Advance {
        /// How far, e.g. 3h, 2d, 1h30m, 90min, 1.5h, 3小时.
        by: String,
    },
}

/// Connects to the server and runs `f` with the channel.
pub fn with_server<F, Fut>(target: &Target, f: F) -> ExitCode
where
    F: FnOnce(Conn) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::error(format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        match connect(target).await {
            Ok(ch) => f(ch).await,
            Err(code) => code,
        }
    })
}

/// The URL of a `--server` value: `host:port` means `http://host:port`.
pub fn server_url(server: &str) -> String {
    if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    }
}

/// A connection that sends the bearer token (when given) with every call.
pub type Conn = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer TOKEN` to every request.
#[derive(Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

fn fail(message: String) -> ExitCode {
    output::error(message);
    ExitCode::FAILURE
}

/// The client TLS of `target` (its CA, its client certificate).
fn tls(target: &Target) -> Result<tonic::transport::ClientTlsConfig, ExitCode> {
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p).map_err(|e| fail(format!("cannot read the {what} `{}`: {e}", p.display())))
    };
    let mut tls = tonic::transport::ClientTlsConfig::new();
    if let Some(ca) = &target.tls_ca {
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read("CA", ca)?));
    }
    match (&target.tls_cert, &target.tls_key) {
        (Some(c), Some(k)) => {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read("client certificate", c)?,
                read("client key", k)?,
            ))
        }
        (None, None) => {}
        _ => return Err(fail("`--tls-cert` and `--tls-key` go together".into())),
    }
    Ok(tls)
}

/// Connects to `target.server` (TLS for `https://`), with its token.
pub async fn connect(target: &Target) -> Result<Conn, ExitCode> {
    let server = &target.server;
    let token = match &target.token {
        Some(t) => Some(
            format!("Bearer {}", t.trim())
                .parse()
                .map_err(|_| fail("the token is not a valid header value".into()))?,
        ),
        None => None,
    };
    let url = server_url(server);
    let mut endpoint = Channel::from_shared(url.clone())
        .map_err(|e| fail(format!("`{server}` is not a server address: {e}")))?;
    if url.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls(target)?)
            .map_err(|e| fail(format!("TLS cannot be set up: {e}")))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| fail(format!("cannot reach `{server}`: {e}")))?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        Bearer(token),
    ))
}

/// Prints a status with its field violations.
pub fn failed(s: tonic::Status) -> ExitCode {
    output::error(format!("{:?}: {}", s.code(), s.message()));
    if let Some(bad) = s.get_details_bad_request() {
        for v in bad.field_violations {
            eprintln!("  {}: {}", v.field, v.description);
        }
    }
    ExitCode::FAILURE
}

/// Time left (or overdue) for people: `2h05m`, `-1d03h` (overdue).
fn left(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{sign}{d}d{h:02}h")
    } else {
        format!("{sign}{h}h{m:02}m")
    }
}

impl Show for v1::TodoResponse {
    fn text(&self) {
        if self.items.is_empty() {
            println!("nothing to do");
        }
        for i in &self.items {
            let c = i.case.clone().unwrap_or_default();
            let (due, clock) = i
                .deadline
                .as_ref()
                .map_or(("-".to_string(), String::new()), |d| {
                    (time(d.due), d.clock.clone())
                });
            println!(
                "#{} {} {} {} at {}: due {due} ({clock}), {} left; may {}",
                c.id,
                c.workflow,
                c.state,
                c.unit,
                c.level,
                left(i.seconds_left),
                i.actions.join(", ")
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&[
            "case", "workflow", "state", "unit", "level", "due", "clock", "left", "actions",
        ])
        .right(&["case", "left"]);
        for i in &self.items {
            let c = i.case.clone().unwrap_or_default();
            let (due, clock) = i
                .deadline
                .as_ref()
                .map_or(("-".to_string(), String::new()), |d| {
                    (time(d.due), d.clock.clone())
                });
            t.row([
                c.id.to_string(),
                c.workflow,
                c.state,
                c.unit,
                c.level,
                due,
                clock,
                left(i.seconds_left),
                i.actions.join(", "),
            ]);
        }
        t
    }
}

/// A time for people (UTC+8, the case reports' zone), `-` for none.
pub fn time(t: i64) -> String {
    if t == 0 {
        "-".into()
    } else {
        wangge_policy::format_ts(t, 8 * 3600)
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

const CASE_COLUMNS: [&str; 9] = [
    "id", "workflow", "state", "level", "class", "unit", "version", "next due", "出格",
];

fn case_row(c: &v1::Case) -> [String; 9] {
    let next = c
        .deadlines
        .iter()
        .filter(|d| d.kind != "remind")
        .map(|d| d.due)
        .min()
        .unwrap_or(0);
    [
        c.id.to_string(),
        c.workflow.clone(),
        c.state.clone(),
        c.level.clone(),
        or_dash(&c.class).to_string(),
        or_dash(&c.unit).to_string(),
        c.version.to_string(),
        time(next),
        if c.breaches.is_empty() { "" } else { "出格" }.to_string(),
    ]
}

impl Show for v1::Case {
    fn text(&self) {
        print_case(self);
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&CASE_COLUMNS).right(&["id", "version"]);
        t.row(case_row(self));
        t
    }
}

impl Show for v1::ReportResponse {
    fn text(&self) {
        println!(
            "{}",
            if self.created {
                "reported"
            } else {
                "already reported (same idempotency key)"
            }
        );
        if let Some(c) = &self.case {
            print_case(c);
        }
    }
    fn table(&self) -> Table {
        match &self.case {
            Some(c) => c.table(),
            None => Table::new(&CASE_COLUMNS),
        }
    }
}

/// Every page of a listing.
#[derive(serde::Serialize)]
struct CaseList {
    cases: Vec<v1::Case>,
}

impl Show for CaseList {
    fn text(&self) {
        for c in &self.cases {
            println!(
                "case {} [{}] {} · {} · {}{}",
                c.id,
                c.workflow,
                c.state,
                c.level,
                or_dash(&c.class),
                if c.breaches.is_empty() {
                    ""
                } else {
                    " · 出格"
                }
            );
        }
        println!("{} case(s)", self.cases.len());
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&CASE_COLUMNS).right(&["id", "version"]);
        for c in &self.cases {
            t.row(case_row(c));
        }
        t
    }
}

impl Show for v1::EventsResponse {
    fn text(&self) {
        for e in &self.events {
            print_event(e);
        }
    }
    fn table(&self) -> Table {
        let mut t =
            Table::new(&["#", "at", "action", "outcome", "actor", "state", "level"]).right(&["#"]);
        for e in &self.events {
            t.row([
                e.seq.to_string(),
                time(e.at),
                e.action.clone(),
                e.outcome.clone(),
                or_dash(&e.actor).to_string(),
                format!("{} → {}", or_dot(&e.state_before), e.state_after),
                format!("{} → {}", or_dot(&e.level_before), e.level_after),
            ]);
        }
        t
    }
}

fn or_dot(s: &str) -> &str {
    if s.is_empty() {
        "·"
    } else {
        s
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
        or_dash(&c.class),
        or_dash(&c.ceiling)
    );
    println!(
        "  unit {} · reported {} · data {}",
        or_dash(&c.unit),
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
        or_dash(&e.actor),
        or_dot(&e.state_before),
        or_dot(&e.level_before),
        e.state_after,
        e.level_after
    );
}

pub fn case(args: &CaseArgs) -> ExitCode {
    let out = args.target.output;
    // A file argument is read before connecting: a wrong path is the
    // error, whether or not the server is up.
    let data = match &args.command {
        CaseCommand::Report { data, .. } => match input::json_text(data, "data") {
            Ok(text) => text,
            Err(e) => return finish(Err(e.into())),
        },
        _ => String::new(),
    };
    with_server(&args.target, |ch| async move {
        let mut client = CaseServiceClient::new(ch);
        let authenticated = args.target.token.is_some();
        finish(run_case(&mut client, &args.command, data, out, authenticated).await)
    })
}

async fn run_case(
    client: &mut CaseServiceClient<Conn>,
    command: &CaseCommand,
    data_json: String,
    out: Output,
    authenticated: bool,
) -> Result<(), CliError> {
    // With a token the verified caller is the actor; `--actor` names the
    // person a service account acts for.
    let actor = |given: &Option<String>| match given {
        Some(a) => a.clone(),
        None if authenticated => String::new(),
        None => "cli".into(),
    };
    match command {
        CaseCommand::Report {
            workflow,
            data: _,
            unit,
            key,
            actor: actor_arg,
        } => {
            let r = client
                .report(v1::ReportRequest {
                    workflow: workflow.clone(),
                    unit: unit.clone(),
                    data_json,
                    idempotency_key: key.clone(),
                    actor: actor(actor_arg),
                })
                .await?;
            show(out, r.get_ref())
        }
        CaseCommand::Get { id } => {
            let r = client.get(v1::GetCaseRequest { id: *id }).await?;
            show(out, r.get_ref())
        }
        CaseCommand::Events { id } => {
            let r = client.events(v1::GetCaseRequest { id: *id }).await?;
            show(out, r.get_ref())
        }
        CaseCommand::Todo {
            unit,
            workflow,
            within,
            limit,
        } => {
            let r = client
                .todo(v1::TodoRequest {
                    unit: unit.clone(),
                    workflow: workflow.clone(),
                    due_within_seconds: within.unwrap_or(0),
                    page_size: *limit,
                })
                .await?;
            show(out, r.get_ref())
        }
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
            let mut request = v1::ListCasesRequest {
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
                ..Default::default()
            };
            let mut list = CaseList { cases: Vec::new() };
            loop {
                let page = client.list(request.clone()).await?.into_inner();
                list.cases.extend(page.cases);
                if page.next_page_token.is_empty() {
                    break;
                }
                request.page_token = page.next_page_token;
            }
            show(out, &list)
        }
        CaseCommand::Act {
            id,
            action,
            outcome,
            departments,
            expect_version,
            actor: actor_arg,
            note,
            assignee,
        } => {
            let r = client
                .act(v1::ActRequest {
                    id: *id,
                    action: action.clone(),
                    outcome: outcome.clone(),
                    departments: departments.clone(),
                    expected_version: *expect_version,
                    actor: actor(actor_arg),
                    note: note.clone(),
                    assignee: assignee.clone(),
                })
                .await?;
            show(out, r.get_ref())
        }
        CaseCommand::Watch { from, count } => {
            let mut stream = client
                .watch_cases(v1::WatchCasesRequest {
                    from_sequence: *from,
                })
                .await?
                .into_inner();
            let mut seen = 0;
            while let Some(change) = stream.message().await? {
                if out == Output::Json {
                    output::print_json_line(&change)?;
                } else {
                    print!(
                        "[{}] case {}",
                        change.sequence,
                        change.event.as_ref().map_or(0, |e| e.case_id)
                    );
                    match &change.event {
                        Some(e) => print_event(e),
                        None => println!(),
                    }
                }
                seen += 1;
                if *count != 0 && seen >= *count {
                    break;
                }
            }
            Ok(())
        }
    }
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

fn diagnostics_table(ds: &[v1::Diagnostic]) -> Table {
    let mut t = Table::new(&["file", "line", "column", "severity", "message", "help"])
        .right(&["line", "column"]);
    for d in ds {
        t.row([
            d.file.clone(),
            d.line.to_string(),
            d.column.to_string(),
            d.severity.clone(),
            d.message.clone(),
            d.help.clone(),
        ]);
    }
    t
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

const VERSION_COLUMNS: [&str; 6] = ["active", "hash", "name", "label", "deployed", "items"];

fn version_row(v: &v1::PolicyVersion) -> [String; 6] {
    [
        if v.active { "*" } else { "" }.to_string(),
        short(&v.hash).to_string(),
        v.name.clone(),
        v.label.clone(),
        time(v.deployed_at),
        v.items.len().to_string(),
    ]
}

impl Show for v1::ListVersionsResponse {
    fn text(&self) {
        for v in &self.versions {
            println!(
                "{} {}\t{} {}\tdeployed {}\t{} item(s)",
                if v.active { "*" } else { " " },
                short(&v.hash),
                v.name,
                v.label,
                time(v.deployed_at),
                v.items.len()
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&VERSION_COLUMNS).right(&["items"]);
        for v in &self.versions {
            t.row(version_row(v));
        }
        t
    }
}

impl Show for v1::PolicyVersion {
    fn text(&self) {
        println!("active: {}", self.hash);
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&VERSION_COLUMNS).right(&["items"]);
        t.row(version_row(self));
        t
    }
}

impl Show for v1::ValidateResponse {
    fn text(&self) {
        print_diagnostics(&self.diagnostics);
        println!(
            "{}: {}",
            if self.ok { "ok" } else { "errors" },
            short(&self.hash)
        );
    }
    fn table(&self) -> Table {
        diagnostics_table(&self.diagnostics)
    }
}

impl Show for v1::DeployResponse {
    fn text(&self) {
        print_diagnostics(&self.diagnostics);
        if let Some(v) = &self.version {
            println!("deployed and active: {}", v.hash);
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&VERSION_COLUMNS).right(&["items"]);
        if let Some(v) = &self.version {
            t.row(version_row(v));
        }
        t
    }
}

impl Show for v1::EvaluateResponse {
    fn text(&self) {
        println!("{}", self.result_json);
        println!("why: {}", self.explanation_json);
    }
    fn table(&self) -> Table {
        card(&[
            ("result", self.result_json.clone()),
            ("why", self.explanation_json.clone()),
        ])
    }
}

pub fn policy(args: &PolicyArgs) -> ExitCode {
    let out = args.target.output;
    let input_json = match &args.command {
        PolicyCommand::Eval { input, .. } => match input::json_text(input, "input") {
            Ok(text) => text,
            Err(e) => return finish(Err(e.into())),
        },
        _ => String::new(),
    };
    with_server(&args.target, |ch| async move {
        let mut client = v1::policy_service_client::PolicyServiceClient::new(ch);
        let result: Result<(), CliError> = async {
            match &args.command {
                PolicyCommand::List => {
                    let r = client.list_versions(v1::ListVersionsRequest {}).await?;
                    show(out, r.get_ref())
                }
                PolicyCommand::Validate { dir } => {
                    let files = match bundle(dir) {
                        Ok(f) => f,
                        Err(_) => return Err(CliError::Failed),
                    };
                    let r = client.validate(v1::ValidateRequest { files }).await?;
                    show(out, r.get_ref())?;
                    if r.get_ref().ok {
                        Ok(())
                    } else {
                        Err(CliError::Failed)
                    }
                }
                PolicyCommand::Deploy { dir } => {
                    let files = match bundle(dir) {
                        Ok(f) => f,
                        Err(_) => return Err(CliError::Failed),
                    };
                    let r = client.deploy(v1::DeployRequest { files }).await?;
                    show(out, r.get_ref())
                }
                PolicyCommand::Rollback { hash } => {
                    let r = client
                        .rollback(v1::RollbackRequest { hash: hash.clone() })
                        .await?;
                    show(out, r.get_ref())
                }
                PolicyCommand::Eval { item, input: _ } => {
                    let r = client
                        .evaluate(v1::EvaluateRequest {
                            item: item.clone(),
                            input_json,
                        })
                        .await?;
                    show(out, r.get_ref())
                }
            }
        }
        .await;
        finish(result)
    })
}

impl Show for v1::ClockResponse {
    fn text(&self) {
        println!(
            "{} ({} clock); {} timer(s) fired",
            time(self.now),
            self.mode,
            self.fired
        );
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["now", "mode", "fired"]).right(&["fired"]);
        t.row([time(self.now), self.mode.clone(), self.fired.to_string()]);
        t
    }
}

pub fn clock(args: &ClockArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut client = v1::admin_service_client::AdminServiceClient::new(ch);
        let result: Result<(), CliError> = async {
            let r = match &args.command {
                ClockCommand::Get => client.get_clock(v1::GetClockRequest {}).await?,
                ClockCommand::Set { time } => {
                    let Some(now) = wangge_policy::parse_ts(time) else {
                        output::error(format!(
                            "`{time}` is not a time like 2026-09-14T13:00:00+08:00"
                        ));
                        return Err(CliError::Failed);
                    };
                    client.set_clock(v1::SetClockRequest { now }).await?
                }
                ClockCommand::Advance { by } => {
                    let seconds = match input::duration(by) {
                        Ok(s) => s,
                        Err(e) => {
                            output::error(e);
                            return Err(CliError::Failed);
                        }
                    };
                    client
                        .advance_clock(v1::AdvanceClockRequest { seconds })
                        .await?
                }
            };
            show(out, r.get_ref())
        }
        .await;
        finish(result)
    })
}

impl Show for v1::UpsertResponse {
    fn text(&self) {
        println!("imported {} record(s)", self.count);
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["imported"]).right(&["imported"]);
        t.row([self.count.to_string()]);
        t
    }
}

/// `wangge org import FILE --server ADDRESS`.
pub fn org_import(target: &Target, file: &std::path::Path, ladder: Option<&str>) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            output::error(format!("cannot read `{}`: {e}", file.display()));
            return ExitCode::FAILURE;
        }
    };
    let out = target.output;
    with_server(target, |ch| async move {
        let mut client = v1::org_service_client::OrgServiceClient::new(ch);
        let spinner = crate::progress::spinner(&format!("importing {}", file.display()));
        let r = client
            .import(v1::ImportRequest {
                name: file.display().to_string(),
                text,
                ladder: ladder.unwrap_or_default().to_string(),
            })
            .await;
        spinner.finish_and_clear();
        finish(match r {
            Ok(r) => show(out, r.get_ref()),
            Err(s) => Err(s.into()),
        })
    })
}

/// A command-line time (RFC 3339, e.g. `2026-09-14T10:00:00+08:00`).
fn timestamp(s: &str) -> Result<i64, String> {
    wangge_policy::parse_ts(s)
        .ok_or_else(|| format!("`{s}` is not a time like `2026-09-14T10:00:00+08:00`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_and_port_is_an_http_url() {
        assert_eq!(server_url("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(
            server_url("https://gov.example:443"),
            "https://gov.example:443"
        );
    }
}

/// `wangge health`: asks `grpc.health.v1.Health/Check`, as container and
/// service managers do; exit 0 only when the server says SERVING.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The service to ask about (empty: the server as a whole).
    #[arg(long, default_value = "")]
    service: String,
    #[command(flatten)]
    target: Target,
}

pub fn health(args: &HealthArgs) -> ExitCode {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let answer = HealthClient::new(ch)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await;
        let status = match answer {
            Ok(r) => r.into_inner().status(),
            Err(s) => return failed(s),
        };
        let name = status.as_str_name();
        let printed = match out {
            Output::Json => output::print_json(&serde_json::json!({ "status": name })),
            _ => {
                println!("{name}");
                Ok(())
            }
        };
        if let Err(e) = printed {
            return finish(Err(e.into()));
        }
        if status == ServingStatus::Serving {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}
