//! The `wangge` command line: policy authoring tools (`check`, `eval`).

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc: the engine allocates many small JSON values; on 2 cores it
/// beat glibc malloc by about 40 % in the case benchmarks. Wrapped to count
/// each thread's allocations (thread-local counters; for `wangge bench`).
#[global_allocator]
static GLOBAL: wangge_alloc::Counting<mimalloc::MiMalloc> =
    wangge_alloc::Counting(mimalloc::MiMalloc);

mod auth_cli;
mod bench_cmd;
mod check;
mod client;
mod console;
mod doc;
mod eval;
mod evaluation_cli;
mod export;
mod fmt_cmd;
mod gen;
mod incentive_cli;
mod input;
mod intake_cli;
mod lsp;
mod org;
mod output;
mod policy_dir;
mod progress;
mod replay;
mod server;
mod shell;
mod store_cli;
mod store_copy;
mod task_cli;
mod test_cmd;

/// The git revision of this build (see build.rs).
pub const REVISION: &str = env!("WANGGE_REVISION");

/// `wangge --version`: the crate version and the git revision.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("WANGGE_REVISION"),
    ")"
);

/// wangge (网格): rules and workflows for grid-based community governance.
#[derive(Debug, Parser)]
#[command(name = "wangge", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour: `auto` colours a terminal unless `NO_COLOR` is set.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Code frames and plain text for people.
    Human,
    /// One JSON document, for editors and CI.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse, resolve, lint and compile policy sets; report every problem.
    Check(check::Args),
    /// Evaluate a table, rule set or calc and explain the result.
    Eval(eval::Args),
    /// Lay policy files out canonically (`--check` for CI, `-` for stdin).
    Fmt(fmt_cmd::Args),
    /// The language server for editors, over stdio.
    Lsp(lsp::Args),
    /// A static HTML site of a policy set, for reviewers.
    Doc(doc::Args),
    /// Time one item's evaluation: its time distribution and allocations.
    Bench(bench_cmd::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(shell::CompletionsArgs),
    /// Write the man pages (`wangge.1` and one per command).
    Man(shell::ManArgs),
    /// The organisation registry: import, list, and run organisation policies over it.
    Org(org::Args),
    /// Run the gRPC service (sled in ./data, policies from ./policies by default).
    Serve(server::ServeArgs),
    /// Cases on a running server: report, get, list, act, events, watch.
    Case(client::CaseArgs),
    /// Policy versions on a running server: list, validate, deploy, rollback, eval.
    Policy(client::PolicyArgs),
    /// A running server's clock (manual mode): get, set, advance.
    Clock(client::ClockArgs),
    /// Ask a running server's health (grpc.health.v1): exit 0 when serving.
    Health(client::HealthArgs),
    /// Write a synthetic, deterministic event log (JSON Lines).
    GenHistory(gen::Args),
    /// Grid workers' activity, subsidy previews and settlements on a running server.
    Incentive(incentive_cli::IncentiveArgs),
    /// Residents' points on a running server: earn, redeem, balance, history.
    Points(incentive_cli::PointsArgs),
    /// Evaluation on a running server: surveys, scores, rankings, history.
    Evaluation(evaluation_cli::EvaluationArgs),
    /// Run the scenarios of policy sets (`*.test.wg`).
    Test(test_cmd::Args),
    /// Write the stored history (inputs and decisions) as JSON Lines.
    Export(export::Args),
    /// Verify, back up and restore a data folder.
    Store(store_cli::Args),
    /// Replay a recorded history through one policy version, or two to compare.
    Replay(replay::Args),
    /// Development tokens: `token issue --person P1 --ttl 8h`.
    Token(auth_cli::TokenArgs),
    /// The audit log of a running server: `audit list`, `audit verify`.
    Audit(auth_cli::AuditArgs),
    /// Webhook dead letters of a running server: `webhook dead-letters NAME`, `webhook resend NAME SEQ`.
    Webhook(auth_cli::WebhookArgs),
    /// Tasks sent down (下派任务): create, list, progress, parts, accept, done, events.
    Task(task_cli::TaskArgs),
    /// External work orders (a 12345 工单) in, and the hotline's 回访 back.
    Intake(intake_cli::IntakeArgs),
}

/// When the reader of stdout or stderr goes away (`wangge … | head`), the
/// command stops quietly with the shell's code for a broken pipe (141)
/// instead of panicking: printing to a closed pipe is not an error of the
/// command.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    output::set_color(cli.color);
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Fmt(args) => fmt_cmd::run(&args),
        Command::Lsp(args) => lsp::run(&args),
        Command::Doc(args) => doc::run(&args),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
        Command::Org(args) => org::run(&args),
        Command::Serve(args) => server::run(&args),
        Command::Case(args) => client::case(&args),
        Command::Policy(args) => client::policy(&args),
        Command::Clock(args) => client::clock(&args),
        Command::Health(args) => client::health(&args),
        Command::GenHistory(args) => gen::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Store(args) => store_cli::run(&args),
        Command::Test(args) => test_cmd::run(&args),
        Command::Incentive(args) => incentive_cli::incentive(&args),
        Command::Evaluation(args) => evaluation_cli::evaluation(&args),
        Command::Points(args) => incentive_cli::points(&args),
        Command::Token(args) => auth_cli::token(&args),
        Command::Audit(args) => auth_cli::audit(&args),
        Command::Webhook(args) => auth_cli::webhook(&args),
        Command::Task(args) => task_cli::task(&args),
        Command::Intake(args) => intake_cli::intake(&args),
    }
}

/// Whether to colour output on stdout (`--color`, `NO_COLOR`).
pub fn use_color() -> bool {
    output::color_on(output::Stream::Stdout)
}

/// Prints an error as a miette report on stderr.
pub fn report(err: impl miette::Diagnostic + Send + Sync + 'static) {
    eprintln!("{:?}", miette::Report::new(err));
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every positional argument of every command says what it is in `--help`.
    #[test]
    fn every_positional_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_positionals() {
                if arg.get_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "wangge", &mut missing);
        assert!(
            missing.is_empty(),
            "positional arguments without help: {missing:?}"
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
