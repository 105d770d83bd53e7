//! `wangge replay LOG --policies DIR [--against DIR2]`: re-runs a recorded
//! history through one policy version, or through two and shows what the
//! change would do to those cases (a summary table, the moves between
//! classes and levels, and each changed case on request).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use wangge_policy::short_hash;
use wangge_testkit::{replay, Aspect, ReplayOptions, ReplayReport, Totals};

use crate::Format;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The history log (JSON Lines, see docs/history.md).
    log: PathBuf,
    /// The policy version to replay through (a directory of `.wg` files).
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// A second version: replay through both and report the differences.
    #[arg(long)]
    against: Option<PathBuf>,
    /// Changed cases to list (all of them go to `--cases`).
    #[arg(long, default_value_t = 20)]
    show: usize,
    /// Write every changed case to this file as JSON Lines.
    #[arg(long)]
    cases: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Exit with status 1 when the two versions differ (for CI).
    #[arg(long)]
    fail_on_diff: bool,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: &Args) -> ExitCode {
    let Some(a) = crate::policy_dir::load(&args.policies) else {
        return ExitCode::FAILURE;
    };
    let b = match &args.against {
        Some(dir) => match crate::policy_dir::load(dir) {
            Some(b) => Some(b),
            None => return ExitCode::FAILURE,
        },
        None => None,
    };
    let file = match File::open(&args.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", args.log.display());
            return ExitCode::FAILURE;
        }
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = crate::progress::bar(
        size,
        "replaying {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    );
    let mut input = BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    let mut sets = vec![&a];
    if let Some(b) = &b {
        sets.push(b);
    }
    let mut opts = ReplayOptions {
        keep_cases: true,
        ..ReplayOptions::default()
    };
    if let Some(w) = args.workers {
        opts.workers = w.max(1);
    }
    let started = Instant::now();
    let result = replay(&mut input, &sets, &opts);
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: `{}` {e}", args.log.display());
            return ExitCode::FAILURE;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    if let Some(path) = &args.cases {
        if let Err(e) = write_cases(path, &report) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let hashes: Vec<&str> = sets.iter().map(|s| short_hash(&s.hash)).collect();
    match args.format {
        Format::Human => print!("{}", render(&report, &hashes, secs, args.show)),
        Format::Json => {
            let doc = serde_json::json!({
                "versions": sets.iter().map(|s| s.hash.to_string()).collect::<Vec<_>>(),
                "seconds": secs,
                "report": report,
            });
            match serde_json::to_string_pretty(&doc) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("error: cannot write the report: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let differs = report.diff.as_ref().is_some_and(|d| d.changed_cases > 0);
    if args.fail_on_diff && differs {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn write_cases(path: &PathBuf, report: &ReplayReport) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    for c in &report.cases {
        serde_json::to_writer(&mut out, c)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The rows of the summary table: a label and the count it shows.
fn rows(t: &Totals) -> Vec<(String, u64)> {
    let mut rows = vec![
        ("cases".to_string(), t.cases),
        ("refused reports".into(), t.refused_reports),
        ("refused actions".into(), t.refused_actions),
        ("timers fired".into(), t.timers_fired),
        ("closed".into(), t.closed),
        ("escalated cases".into(), t.escalated_cases),
        ("escalations".into(), t.escalations),
        ("breached cases (出格)".into(), t.breached_cases),
        ("breaches".into(), t.breaches),
        ("overdue cases".into(), t.overdue_cases),
        ("reopened cases".into(), t.reopened_cases),
    ];
    rows.extend(t.by_class.iter().map(|(k, v)| (format!("class {k}"), *v)));
    rows.extend(
        t.by_final_level
            .iter()
            .map(|(k, v)| (format!("final level {k}"), *v)),
    );
    rows
}

use crate::output::width;

fn pad(s: &str, w: usize) -> String {
    crate::output::pad(s, w, false)
}

fn render(report: &ReplayReport, hashes: &[&str], secs: f64, show: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replayed {} lines ({} reports, {} actions) in {secs:.2} s: {:.0} events/s",
        report.lines,
        report.reports,
        report.actions,
        report.reports as f64 / secs.max(1e-9)
    );
    let tables: Vec<Vec<(String, u64)>> = report.totals.iter().map(rows).collect();
    let mut labels: Vec<String> = Vec::new();
    for t in &tables {
        for (l, _) in t {
            if !labels.contains(l) {
                labels.push(l.clone());
            }
        }
    }
    let value =
        |t: &Vec<(String, u64)>, l: &str| t.iter().find(|(k, _)| k == l).map_or(0, |(_, v)| *v);
    let lw = labels.iter().map(|l| width(l)).max().unwrap_or(10) + 2;
    let _ = write!(out, "\n{}", pad("", lw));
    for h in hashes {
        let _ = write!(out, "{h:>14}");
    }
    if tables.len() == 2 {
        let _ = write!(out, "{:>12}", "change");
    }
    out.push('\n');
    for l in &labels {
        let _ = write!(out, "{}", pad(l, lw));
        for t in &tables {
            let _ = write!(out, "{:>14}", value(t, l));
        }
        if let [a, b] = tables.as_slice() {
            let d = value(b, l) as i64 - value(a, l) as i64;
            let _ = write!(
                out,
                "{:>12}",
                if d == 0 {
                    "·".to_string()
                } else {
                    format!("{d:+}")
                }
            );
        }
        out.push('\n');
    }
    let Some(diff) = &report.diff else {
        return out;
    };
    let _ = writeln!(out, "\n{} case(s) changed", diff.changed_cases);
    for aspect in Aspect::ALL {
        let n = diff.by_aspect.get(&aspect).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let _ = write!(out, "  {}{n:>10}", pad(aspect.label(), 16));
        let detail = match aspect {
            Aspect::Escalations => format!(
                "   more {}, fewer {}",
                diff.more_escalations, diff.fewer_escalations
            ),
            Aspect::Breaches => format!(
                "   new {}, gone {}",
                diff.new_breaches, diff.removed_breaches
            ),
            Aspect::Deadline => format!(
                "   earlier {}, later {}",
                diff.deadline_earlier, diff.deadline_later
            ),
            _ => diff
                .moves
                .get(&aspect)
                .map(|m| {
                    let mut v: Vec<_> = m.iter().collect();
                    v.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
                    let parts: Vec<String> = v.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                    format!("   {}", parts.join("; "))
                })
                .unwrap_or_default(),
        };
        let _ = writeln!(out, "{detail}");
    }
    if show > 0 && !report.cases.is_empty() {
        let _ = writeln!(
            out,
            "\nchanged cases (first {} of {}):",
            show.min(report.cases.len()),
            report.cases.len()
        );
        for c in report.cases.iter().take(show) {
            let changes: Vec<String> = c
                .changes
                .iter()
                .map(|ch| format!("{} {} → {}", ch.aspect.label(), ch.before, ch.after))
                .collect();
            let _ = writeln!(
                out,
                "  ref {:<8} {:<10} {}",
                c.case_ref,
                c.unit.as_deref().unwrap_or("-"),
                changes.join("; ")
            );
        }
    }
    out
}
