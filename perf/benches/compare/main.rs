//! wangge side by side with the anchors that bound it, in interleaved rounds
//! on the same machine, printing ratios (see `perf/README.md`):
//!
//! - decision tables: GoRules ZEN (zen-engine) on the same rows and inputs,
//!   and native `if`/`else` as the floor; load + compile of a 1,000-row table;
//! - rule sets and calcs: a stock rhai engine on the same expression;
//! - the durable report path: `wangge serve` against a tonic + sled
//!   group-commit echo that fsyncs each group, as wangge does;
//! - replay of a generated history through the CLI (`--replay EVENTS`).
//!
//! `perf/compare.sh [--rounds N] [--only tables|compile|rules|report|replay]
//! [--reports N] [--replay EVENTS]` from the repository root.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod durable;
mod out;
mod replay;
mod rules;
mod tables;
mod timing;

use std::path::PathBuf;
use std::time::Duration;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: cannot read `{v}`"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--echo-server") {
        durable::serve_echo(&PathBuf::from(&args[i + 1]));
        return;
    }
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let wangge: PathBuf = arg("--wangge", repo.join("target/release/wangge"));
    let rounds: usize = arg("--rounds", 5);
    let budget = Duration::from_millis(arg("--budget-ms", 400));
    let only: String = arg("--only", String::new());
    let wants = |s: &str| only.is_empty() || only.split(',').any(|o| o == s);
    let mut out = out::Table::default();
    println!(
        "{rounds} interleaved rounds, {} ms per contender per round",
        budget.as_millis()
    );
    if wants("tables") {
        tables::run(rounds, budget, &mut out);
    }
    if wants("compile") {
        tables::compile_speed(rounds, &mut out);
    }
    if wants("rules") {
        rules::run(rounds, budget, &mut out);
    }
    if wants("report") {
        assert!(
            wangge.exists(),
            "no wangge binary at {} (cargo build --release first)",
            wangge.display()
        );
        durable::run(&wangge, &repo, rounds, arg("--reports", 20_000), &mut out);
    }
    let events: u64 = arg("--replay", 0);
    if wants("replay") && events > 0 {
        replay::run(&wangge, &repo, events, &mut out);
    }
    out.print();
}
