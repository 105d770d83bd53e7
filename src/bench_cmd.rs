//! `wangge bench POLICY_DIR ITEM --input JSON` (like `opa bench`): evaluates
//! one table, rule set or calc over and over on this thread and reports
//! the time distribution of one evaluation and what it allocates (counted
//! by the binary's allocator, per thread).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Format;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: crate::eval::ItemInput,
    /// How long to measure (after a tenth as long warming up): `2s`, `500ms`.
    #[arg(long, default_value = "1s", value_parser = parse_time)]
    time: Duration,
    /// Measure exactly this many evaluations instead of for `--time`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// `2s`, `500ms`, `1m`.
fn parse_time(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration such as `2s` or `500ms`");
    let (n, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .ok_or_else(bad)?;
    let n: u64 = n.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(bad()),
    }
    .and_then(|d| if d.is_zero() { Err(bad()) } else { Ok(d) })
}

/// The report.
#[derive(Debug, Serialize)]
struct Report {
    item: String,
    policy_version: String,
    evaluations: u64,
    per_second: f64,
    /// Nanoseconds per evaluation.
    ns: Distribution,
    /// Allocations per evaluation (mean); `None` when not counted.
    allocations: Option<f64>,
    /// Bytes allocated per evaluation (mean).
    allocated_bytes: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Distribution {
    mean: f64,
    min: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

pub fn run(args: &Args) -> ExitCode {
    let Some((set, input)) = args.target.load() else {
        return ExitCode::FAILURE;
    };
    let item = &args.target.item;
    // Once first: a bad item or input is an error, not a benchmark.
    if let Err(e) = set.evaluate(item, &input) {
        crate::report(e);
        return ExitCode::FAILURE;
    }
    let once = || {
        let before = wangge_alloc::this_thread();
        let started = Instant::now();
        let result = std::hint::black_box(set.evaluate(item, &input));
        let took = started.elapsed();
        drop(result);
        (took, wangge_alloc::this_thread().since(before))
    };
    let warm_until = Instant::now() + args.time / 10;
    while Instant::now() < warm_until {
        once();
    }
    let mut times: Vec<u64> = Vec::new();
    let (mut allocs, mut bytes) = (0u64, 0u64);
    let started = Instant::now();
    loop {
        let done = match args.count {
            Some(n) => times.len() as u64 >= n,
            None => started.elapsed() >= args.time && times.len() >= 10,
        };
        if done {
            break;
        }
        let (took, a) = once();
        times.push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        allocs += a.count;
        bytes += a.bytes;
    }
    let wall = started.elapsed();
    let report = summarise(args, &set, &mut times, wall, allocs, bytes);
    match args.format {
        Format::Human => print!("{}", human(&report)),
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot write the report: {e}");
                return ExitCode::FAILURE;
            }
        },
    }
    ExitCode::SUCCESS
}

fn summarise(
    args: &Args,
    set: &wangge_policy::PolicySet,
    times: &mut [u64],
    wall: Duration,
    allocs: u64,
    bytes: u64,
) -> Report {
    times.sort_unstable();
    let n = times.len().max(1);
    let at = |q: f64| {
        times
            .get(((n - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let counted = wangge_alloc::installed();
    Report {
        item: args.target.item.clone(),
        policy_version: set.hash.to_string(),
        evaluations: times.len() as u64,
        per_second: times.len() as f64 / wall.as_secs_f64().max(1e-9),
        ns: Distribution {
            mean: times.iter().sum::<u64>() as f64 / n as f64,
            min: at(0.0),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        },
        allocations: counted.then(|| allocs as f64 / n as f64),
        allocated_bytes: counted.then(|| bytes as f64 / n as f64),
    }
}

fn micros(ns: f64) -> String {
    format!("{:.2} µs", ns / 1000.0)
}

fn human(r: &Report) -> String {
    let d = &r.ns;
    let mut out = format!(
        "{} ({} evaluations, {:.0}/s, policy version {})\n",
        r.item,
        r.evaluations,
        r.per_second,
        r.policy_version.get(..12).unwrap_or(&r.policy_version)
    );
    for (name, v) in [
        ("mean", d.mean),
        ("min", d.min as f64),
        ("p50", d.p50 as f64),
        ("p90", d.p90 as f64),
        ("p99", d.p99 as f64),
        ("max", d.max as f64),
    ] {
        out.push_str(&format!("  {name:<5} {:>12}\n", micros(v)));
    }
    match (r.allocations, r.allocated_bytes) {
        (Some(a), Some(b)) => out.push_str(&format!(
            "  allocations {a:.1} per evaluation, {b:.0} bytes\n"
        )),
        _ => out.push_str("  allocations not counted (the counting allocator is not installed)\n"),
    }
    out
}
