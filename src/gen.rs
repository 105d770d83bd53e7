//! `wangge gen-history`: a synthetic, deterministic event log (JSON Lines)
//! for a city of a given size, for tests, benchmarks and replay.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use wangge_testkit::{generate, GenConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Micro grids events are reported in.
    #[arg(long, default_value_t = 120_000)]
    micro_grids: u64,
    /// Events (reports) in all.
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    /// Days the events spread over.
    #[arg(long, default_value_t = 730)]
    days: u64,
    /// Same seed, same log.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// First day (local midnight).
    #[arg(long, default_value = "2025-01-01T00:00:00+08:00")]
    start: String,
    /// Output file (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> ExitCode {
    let Some(start) = wangge_policy::parse_ts(&args.start) else {
        eprintln!(
            "error: `--start {}` is not a time like 2025-01-01T00:00:00+08:00",
            args.start
        );
        return ExitCode::FAILURE;
    };
    let cfg = GenConfig {
        micro_grids: args.micro_grids,
        events: args.events,
        days: args.days,
        seed: args.seed,
        start,
    };
    let out: Box<dyn Write> = match &args.out {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(BufWriter::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", p.display());
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout().lock())),
    };
    let bar = crate::progress::writing("writing history");
    let mut out = bar.wrap_write(out);
    let started = std::time::Instant::now();
    let written = generate(&cfg, &mut out).and_then(|n| out.flush().map(|_| n));
    bar.finish_and_clear();
    match written {
        Ok(n) => {
            eprintln!(
                "{n} lines ({} events over {} days) in {:.1} s",
                args.events,
                args.days,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing the log failed: {e}");
            ExitCode::FAILURE
        }
    }
}
