//! `wangge test [PATHS]`: runs the scenarios of policy sets (`*.test.wg`)
//! and reports in the style of `cargo test`, as JUnit XML or as JSON, with
//! optional coverage of table rows, rules, ladder rungs and transitions.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wangge_dsl::render;
use wangge_policy::{compile, RhaiHost};
use wangge_policy::{Hit, Target, TargetKind as Kind};
use wangge_testkit::{run_all, Outcome};

use crate::use_color;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// One line per scenario and the failures, like `cargo test`.
    Human,
    /// JUnit XML, for CI systems.
    Junit,
    /// One JSON document.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy sets with their scenario files (directories or files).
    #[arg(default_value = "policies")]
    paths: Vec<PathBuf>,
    /// Run only scenarios whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    format: TestFormat,
    /// Report which table rows, rules, ladder rungs and transitions the
    /// scenarios exercised.
    #[arg(long)]
    coverage: bool,
    /// Fail when coverage is below this percentage (implies `--coverage`).
    #[arg(long, value_name = "PERCENT")]
    min_coverage: Option<f64>,
    /// Threads to run scenarios on (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// The scenarios of one policy set and how they went.
struct SetRun {
    path: String,
    outcomes: Vec<Outcome>,
    targets: Vec<Target>,
}

pub fn run(args: &Args) -> ExitCode {
    let started = Instant::now();
    let host = RhaiHost::default();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut runs = Vec::new();
    for path in &args.paths {
        let sources = match wangge_dsl::source::load_with_tests(path) {
            Ok(s) => s,
            Err(e) => {
                crate::report(e);
                return ExitCode::FAILURE;
            }
        };
        let compiled = compile(sources, &host);
        let Some(set) = compiled.set else {
            let errors: Vec<_> = compiled
                .diagnostics
                .into_iter()
                .filter(|d| d.is_error())
                .collect();
            eprint!("{}", render(&errors, &compiled.sources, use_color()));
            eprintln!(
                "error: `{}` has {} error(s); no scenario ran",
                path.display(),
                errors.len()
            );
            return ExitCode::FAILURE;
        };
        let set = Arc::new(set);
        let outcomes = run_all(
            &set,
            &compiled.sources,
            &compiled.scenarios,
            args.filter.as_deref(),
            threads,
        );
        runs.push(SetRun {
            path: path.display().to_string(),
            outcomes,
            targets: compiled.targets,
        });
    }
    let secs = started.elapsed().as_secs_f64();
    let failed: usize = runs
        .iter()
        .map(|r| r.outcomes.iter().filter(|o| !o.passed()).count())
        .sum();
    let passed: usize = runs
        .iter()
        .map(|r| r.outcomes.iter().filter(|o| o.passed()).count())
        .sum();
    let want_coverage = args.coverage || args.min_coverage.is_some();
    let coverage = want_coverage.then(|| Coverage::of(&runs));
    let out = match args.format {
        TestFormat::Human => human(&runs, passed, failed, secs, coverage.as_ref()),
        TestFormat::Junit => match junit(&runs, secs) {
            Ok(xml) => xml,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        TestFormat::Json => json(&runs, passed, failed, secs, coverage.as_ref()),
    };
    print!("{out}");
    let below = match (args.min_coverage, &coverage) {
        (Some(min), Some(c)) if c.percent() < min => {
            eprintln!(
                "error: coverage {:.1}% is below the required {min}%",
                c.percent()
            );
            true
        }
        _ => false,
    };
    let none_ran = passed + failed == 0;
    if none_ran {
        eprintln!("warning: no scenario matched");
    }
    if failed > 0 || below {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn human(
    runs: &[SetRun],
    passed: usize,
    failed: usize,
    secs: f64,
    coverage: Option<&Coverage>,
) -> String {
    let mut out = String::new();
    let total = passed + failed;
    let _ = writeln!(
        out,
        "\nrunning {total} scenario{}",
        if total == 1 { "" } else { "s" }
    );
    for r in runs {
        for o in &r.outcomes {
            let _ = writeln!(
                out,
                "scenario {} ... {}",
                o.name,
                if o.passed() { "ok" } else { "FAILED" }
            );
        }
    }
    if failed > 0 {
        let _ = writeln!(out, "\nfailures:");
        for o in runs
            .iter()
            .flat_map(|r| &r.outcomes)
            .filter(|o| !o.passed())
        {
            let _ = writeln!(out, "\n---- {} ({}) ----", o.name, o.at);
            for f in &o.failures {
                out.push_str(&f.frame);
                if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
                    let _ = writeln!(out, "  expected: {e}\n  actual:   {a}");
                }
                for (k, v) in &f.context {
                    let mut lines = v.lines();
                    let _ = writeln!(out, "  {k}: {}", lines.next().unwrap_or(""));
                    for l in lines {
                        let _ = writeln!(out, "      {l}");
                    }
                }
                out.push('\n');
            }
        }
        let _ = writeln!(out, "failures:");
        for o in runs
            .iter()
            .flat_map(|r| &r.outcomes)
            .filter(|o| !o.passed())
        {
            let _ = writeln!(out, "    {}", o.name);
        }
    }
    if let Some(c) = coverage {
        out.push_str(&c.render());
    }
    let _ = writeln!(
        out,
        "\ntest result: {}. {passed} passed; {failed} failed; finished in {secs:.2}s\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    out
}

/// The run as JUnit XML (quick-junit): a suite per policy set, a test case
/// per scenario, one `<failure>` per failed scenario holding every failed
/// expectation.
fn junit(runs: &[SetRun], secs: f64) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("wangge");
    report.set_time(Duration::from_secs_f64(secs));
    for r in runs {
        let mut suite = TestSuite::new(r.path.as_str());
        let time: f64 = r.outcomes.iter().map(|o| o.seconds).sum();
        suite.set_time(Duration::from_secs_f64(time));
        for o in &r.outcomes {
            let status = if o.passed() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                if let Some(first) = o.failures.first() {
                    status.set_message(first.message.as_str());
                }
                status.set_type("expectation");
                status.set_description(failure_text(o));
                status
            };
            let mut case = TestCase::new(o.name.as_str(), status);
            case.set_classname(o.file.as_str());
            case.set_time(Duration::from_secs_f64(o.seconds));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit report: {e}"))
}

/// Every failed expectation of a scenario, for people.
fn failure_text(o: &Outcome) -> String {
    let mut body = String::new();
    for f in &o.failures {
        let _ = writeln!(body, "{}: {}", f.at, f.message);
        if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
            let _ = writeln!(body, "expected: {e}\nactual:   {a}");
        }
        for (k, v) in &f.context {
            let _ = writeln!(body, "{k}: {v}");
        }
    }
    body
}

fn json(
    runs: &[SetRun],
    passed: usize,
    failed: usize,
    secs: f64,
    coverage: Option<&Coverage>,
) -> String {
    let doc = serde_json::json!({
        "passed": passed,
        "failed": failed,
        "seconds": secs,
        "sets": runs.iter().map(|r| serde_json::json!({
            "path": r.path,
            "scenarios": r.outcomes.iter().map(|o| serde_json::json!({
                "name": o.name,
                "at": o.at,
                "passed": o.passed(),
                "seconds": o.seconds,
                "failures": o.failures,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "coverage": coverage.map(Coverage::json),
    });
    match serde_json::to_string_pretty(&doc) {
        Ok(s) => s + "\n",
        Err(e) => format!("{{\"error\": \"{e}\"}}\n"),
    }
}

/// Which targets the scenarios exercised, over every policy set run.
struct Coverage {
    /// `(target, covered)` in source order.
    items: Vec<(Target, bool)>,
}

impl Coverage {
    fn of(runs: &[SetRun]) -> Coverage {
        let mut items = Vec::new();
        for r in runs {
            let hits: BTreeSet<&Hit> = r.outcomes.iter().flat_map(|o| o.hits.iter()).collect();
            for t in &r.targets {
                let key: Hit = (t.kind, t.item.clone(), t.key.clone());
                items.push((t.clone(), hits.contains(&key)));
            }
        }
        Coverage { items }
    }

    fn count(&self, kind: Option<Kind>) -> (usize, usize) {
        let of_kind = self
            .items
            .iter()
            .filter(|(t, _)| kind.is_none_or(|k| t.kind == k));
        let total = of_kind.clone().count();
        let covered = of_kind.filter(|(_, c)| *c).count();
        (covered, total)
    }

    fn percent(&self) -> f64 {
        let (c, t) = self.count(None);
        if t == 0 {
            100.0
        } else {
            c as f64 * 100.0 / t as f64
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let (c, t) = self.count(None);
        let _ = writeln!(out, "\ncoverage: {:.1}% ({c} of {t})", self.percent());
        for kind in [
            Kind::Row,
            Kind::Rule,
            Kind::Rung,
            Kind::Transition,
            Kind::Component,
            Kind::Indicator,
        ] {
            let (c, t) = self.count(Some(kind));
            if t > 0 {
                let _ = writeln!(
                    out,
                    "  {:<14}{c:>5} / {t:<5}{:>6.1}%",
                    kind.label(),
                    c as f64 * 100.0 / t as f64
                );
            }
        }
        let missed: Vec<&Target> = self
            .items
            .iter()
            .filter(|(_, c)| !c)
            .map(|(t, _)| t)
            .collect();
        if !missed.is_empty() {
            let _ = writeln!(out, "not exercised:");
            for t in missed {
                let _ = writeln!(out, "  {}  {} {}", t.at, t.item, t.label);
            }
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        let (c, t) = self.count(None);
        serde_json::json!({
            "percent": self.percent(),
            "covered": c,
            "total": t,
            "targets": self.items.iter().map(|(t, c)| serde_json::json!({
                "kind": t.kind,
                "item": t.item,
                "key": t.key,
                "label": t.label,
                "at": t.at,
                "covered": c,
            })).collect::<Vec<_>>(),
        })
    }
}
