//! `wangge check [PATHS]`: every syntax, name, script and lint problem of
//! each policy set, as code frames or JSON. Exit 0 when clean, 1 on errors
//! (or on warnings with `--deny-warnings`).

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use wangge_dsl::{render, DiagnosticJson, Severity};
use wangge_policy::{compile, RhaiHost};

use crate::{use_color, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy sets to check: directories of `.wg` files, single files, or
    /// `-` for one file on stdin.
    #[arg(default_value = "policies")]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Serialize)]
struct SetReport {
    path: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_version: Option<String>,
    items: usize,
    diagnostics: Vec<DiagnosticJson>,
}

#[derive(Serialize)]
struct Report {
    errors: usize,
    warnings: usize,
    sets: Vec<SetReport>,
}

pub fn run(args: &Args) -> ExitCode {
    let host = RhaiHost::default();
    let color = use_color();
    let mut report = Report {
        errors: 0,
        warnings: 0,
        sets: Vec::new(),
    };
    for path in &args.paths {
        let shown = path.display().to_string();
        let loaded = if path.as_os_str() == "-" {
            crate::input::stdin_policy().map_err(|e| {
                let message = e.to_string();
                if args.format == Format::Human {
                    crate::report(e);
                }
                message
            })
        } else {
            wangge_dsl::source::load_with_tests(path).map_err(|e| {
                let message = e.to_string();
                if args.format == Format::Human {
                    crate::report(e);
                }
                message
            })
        };
        let sources = match loaded {
            Ok(s) => s,
            Err(message) => {
                report.errors += 1;
                if args.format == Format::Json {
                    report.sets.push(SetReport {
                        path: shown,
                        ok: false,
                        policy_version: None,
                        items: 0,
                        diagnostics: vec![DiagnosticJson {
                            file: path.display().to_string(),
                            line: 0,
                            column: 0,
                            end_line: 0,
                            end_column: 0,
                            severity: Severity::Error,
                            code: "wangge::io",
                            message,
                            label: None,
                            help: None,
                        }],
                    });
                }
                continue;
            }
        };
        let compiled = compile(sources, &host);
        let errors = compiled.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = compiled.diagnostics.len() - errors;
        report.errors += errors;
        report.warnings += warnings;
        match args.format {
            Format::Human => {
                print!(
                    "{}",
                    render(&compiled.diagnostics, &compiled.sources, color)
                );
                match &compiled.set {
                    Some(set) => println!(
                        "{shown}: ok, {} item(s) in {} file(s), policy version {}{}",
                        set.items().count() + set.workflows().count(),
                        compiled.sources.files.len(),
                        wangge_policy::short_hash(&set.hash),
                        if warnings > 0 {
                            format!(", {warnings} warning(s)")
                        } else {
                            String::new()
                        }
                    ),
                    None => println!("{shown}: {errors} error(s), {warnings} warning(s)"),
                }
            }
            Format::Json => report.sets.push(SetReport {
                path: shown,
                ok: compiled.set.is_some(),
                policy_version: compiled.set.as_ref().map(|s| s.hash.to_string()),
                items: compiled.set.as_ref().map_or(0, |s| s.items().count()),
                diagnostics: compiled
                    .diagnostics
                    .iter()
                    .map(|d| d.to_json(&compiled.sources))
                    .collect(),
            }),
        }
    }
    if args.format == Format::Json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("error: cannot write the report: {e}"),
        }
    }
    if report.errors > 0 || (args.deny_warnings && report.warnings > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
