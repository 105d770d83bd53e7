//! `wangge org import|list|report`: the organisation registry in the local
//! data folder, validated against a ladder of the policy set, and the
//! organisation policies (e.g. 网格规模核查, 三建一管) run over it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use std::sync::Arc;

use wangge_app::{org, Imported, Organisation};
use wangge_dsl::render;
use wangge_policy::{compile, PolicySet, RhaiHost};
use wangge_store::prelude::*;
use wangge_store_sled::SledStore;

use crate::Format;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Data folder (sled).
    #[arg(long, global = true, default_value = "data")]
    data: PathBuf,
    /// Policy folder.
    #[arg(long, global = true, default_value = "policies")]
    policies: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import units or people from CSV or JSON (all rows or none).
    Import {
        file: PathBuf,
        /// The ladder unit levels must fit; by default the first ladder that has every level in the file.
        #[arg(long)]
        ladder: Option<String>,
        /// Import through a running server (gRPC) instead of the local data folder.
        #[arg(long, env = "WANGGE_SERVER")]
        server: Option<String>,
    },
    /// List the registered units.
    List {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run policy items (tables or rule sets of one parameter) over every unit.
    Report {
        /// Items to run, e.g. `--item 网格规模核查 --item 三建一管`.
        #[arg(long = "item", required = true)]
        items: Vec<String>,
        /// Only units at this level.
        #[arg(long)]
        level: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

fn policies(dir: &Path) -> Result<PolicySet, ExitCode> {
    let sources = wangge_dsl::source::load(dir).map_err(|e| {
        crate::report(e);
        ExitCode::FAILURE
    })?;
    let compiled = compile(sources, &RhaiHost::default());
    compiled.set.ok_or_else(|| {
        let errors: Vec<_> = compiled
            .diagnostics
            .into_iter()
            .filter(|d| d.is_error())
            .collect();
        eprint!("{}", render(&errors, &compiled.sources, false));
        eprintln!("error: the policy set has errors; run `wangge check`");
        ExitCode::FAILURE
    })
}

fn store(dir: &Path) -> Result<SledStore, ExitCode> {
    SledStore::open(dir, 64 << 20).map_err(|e| {
        crate::report(e);
        ExitCode::FAILURE
    })
}

/// Import problems print one per line, `file:line: message`, as compilers do.
pub fn run(args: &Args) -> ExitCode {
    match run_inner(args) {
        Ok(code) | Err(code) => code,
    }
}

fn run_inner(args: &Args) -> Result<ExitCode, ExitCode> {
    let fail = |e: wangge_store::StoreError| {
        crate::report(e);
        ExitCode::FAILURE
    };
    match &args.command {
        Command::Import {
            file,
            ladder,
            server,
        } => {
            if let Some(server) = server {
                return Ok(crate::client::org_import(server, file, ladder.as_deref()));
            }
            let set = policies(&args.policies)?;
            let text = std::fs::read_to_string(file).map_err(|e| {
                eprintln!("error: cannot read `{}`: {e}", file.display());
                ExitCode::FAILURE
            })?;
            let name = file.display().to_string();
            let org = Organisation::new(Arc::new(store(&args.data)?));
            let imported = org
                .import(&set, &text, &name, ladder.as_deref().unwrap_or(""))
                .and_then(|i| org.flush().map(|()| i))
                .map_err(|e| {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                })?;
            match imported {
                Imported::People(n) => println!("imported {n} people from {name}"),
                Imported::Units(n, ladder) => {
                    println!("imported {n} units from {name} (ladder {ladder})")
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { format } => {
            let store = store(&args.data)?;
            let units = store.units().map_err(fail)?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&units).unwrap_or_default()
                ),
                Format::Human => {
                    for u in &units {
                        println!(
                            "{}\t{}\t{}\t{}\t{} 户{}",
                            u.id,
                            u.name,
                            u.level,
                            u.parent.as_deref().unwrap_or("-"),
                            u.households,
                            u.kind
                                .as_ref()
                                .map(|k| format!("\t{k}"))
                                .unwrap_or_default()
                        );
                    }
                    println!("{} unit(s)", units.len());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            items,
            level,
            format,
        } => {
            let set = policies(&args.policies)?;
            let store = store(&args.data)?;
            let mut units = store.units().map_err(fail)?;
            if let Some(l) = level {
                units.retain(|u| &u.level == l);
            }
            let rows = org::report(&set, &units, items).map_err(|e| {
                crate::report(e);
                ExitCode::FAILURE
            })?;
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                ),
                Format::Human => {
                    for r in &rows {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            r.unit, r.name, r.level, r.item, r.result
                        );
                    }
                    println!("{} result(s) over {} unit(s)", rows.len(), units.len());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
