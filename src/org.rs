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

use crate::output::{Output, Table};

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
    /// Output format: text for people, an aligned table, or JSON.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import units or people from CSV or JSON (all rows or none).
    Import {
        /// A CSV or JSON file of units or of people.
        file: PathBuf,
        /// The ladder unit levels must fit; by default the first ladder that has every level in the file.
        #[arg(long)]
        ladder: Option<String>,
        /// Import through a running server (gRPC) instead of the local data folder.
        #[arg(long, env = "WANGGE_SERVER")]
        server: Option<String>,
    },
    /// List the registered units.
    List,
    /// Run policy items (tables or rule sets of one parameter) over every unit.
    Report {
        /// Items to run, e.g. `--item 网格规模核查 --item 三建一管`.
        #[arg(long = "item", required = true)]
        items: Vec<String>,
        /// Only units at this level.
        #[arg(long)]
        level: Option<String>,
    },
    /// The coverage of a party tree (e.g. 网格党组织, 3+1): every unit's
    /// organisation, the one above it, and who leads it; exit 1 on a gap.
    Coverage {
        /// The `party` item of the policy.
        tree: String,
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
                let target = crate::client::Target {
                    server: server.clone(),
                    token: std::env::var("WANGGE_TOKEN").ok(),
                    tls_ca: std::env::var_os("WANGGE_CA").map(Into::into),
                    tls_cert: std::env::var_os("WANGGE_CLIENT_CERT").map(Into::into),
                    tls_key: std::env::var_os("WANGGE_CLIENT_KEY").map(Into::into),
                    output: args.output,
                };
                return Ok(crate::client::org_import(&target, file, ladder.as_deref()));
            }
            let set = policies(&args.policies)?;
            let text = std::fs::read_to_string(file).map_err(|e| {
                eprintln!("error: cannot read `{}`: {e}", file.display());
                ExitCode::FAILURE
            })?;
            let name = file.display().to_string();
            let org = Organisation::new(Arc::new(store(&args.data)?));
            let spinner = crate::progress::spinner(&format!("importing {name}"));
            let imported = org
                .import(&set, &text, &name, ladder.as_deref().unwrap_or(""))
                .and_then(|i| org.flush().map(|()| i));
            spinner.finish_and_clear();
            let imported = imported.map_err(|e| {
                crate::output::error(e);
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
        Command::List => {
            let store = store(&args.data)?;
            let units = store.units().map_err(fail)?;
            match args.output {
                Output::Json => print_json(&units)?,
                Output::Table => {
                    let mut t =
                        Table::new(&["id", "name", "level", "parent", "户", "kind"]).right(&["户"]);
                    for u in &units {
                        t.row([
                            u.id.clone(),
                            u.name.clone(),
                            u.level.clone(),
                            u.parent.clone().unwrap_or_else(|| "-".into()),
                            u.households.to_string(),
                            u.kind.clone().unwrap_or_default(),
                        ]);
                    }
                    print!("{}", t.render());
                }
                Output::Text => {
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
        Command::Report { items, level } => {
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
            match args.output {
                Output::Json => print_json(&rows)?,
                Output::Table => {
                    let mut t = Table::new(&["unit", "name", "level", "item", "result"]);
                    for r in &rows {
                        t.row([
                            r.unit.clone(),
                            r.name.clone(),
                            r.level.clone(),
                            r.item.clone(),
                            r.result.to_string(),
                        ]);
                    }
                    print!("{}", t.render());
                }
                Output::Text => {
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
        Command::Coverage { tree } => coverage(args, tree),
    }
}

/// `wangge org coverage TREE`: the party tree over the registry.
fn coverage(args: &Args, name: &str) -> Result<ExitCode, ExitCode> {
    let set = policies(&args.policies)?;
    let Some(tree) = set.parties.get(name) else {
        let known: Vec<&str> = set.parties.keys().map(String::as_str).collect();
        let help = wangge_dsl::suggest::help_suffix(name, known.iter().copied());
        crate::output::error(format!("no party tree `{name}`{help}"));
        return Err(ExitCode::FAILURE);
    };
    let store = store(&args.data)?;
    let fail = |e: wangge_store::StoreError| {
        crate::report(e);
        ExitCode::FAILURE
    };
    let units = store.units().map_err(fail)?;
    let people = store.people().map_err(fail)?;
    let rows = org::party_coverage(tree, &units, &people);
    let led = rows.iter().filter(|r| !r.leaders.is_empty()).count();
    match args.output {
        Output::Json => print_json(&rows)?,
        Output::Table => {
            let mut t = Table::new(&["unit", "name", "organisation", "above", "led by"]);
            for r in &rows {
                t.row([
                    r.unit.clone(),
                    r.name.clone(),
                    r.org.clone(),
                    r.parent_org.clone().unwrap_or_else(|| "-".into()),
                    leaders(r),
                ]);
            }
            print!("{}", t.render());
        }
        Output::Text => {
            for r in &rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.unit,
                    r.name,
                    r.org,
                    r.parent_org.as_deref().unwrap_or("-"),
                    leaders(r)
                );
            }
            let pct = if rows.is_empty() {
                100.0
            } else {
                led as f64 * 100.0 / rows.len() as f64
            };
            println!("{name}: {led} of {} unit(s) led ({pct:.1}%)", rows.len());
        }
    }
    Ok(if led == rows.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn leaders(r: &org::PartyRow) -> String {
    if r.leaders.is_empty() {
        "MISSING".to_string()
    } else {
        r.leaders.join(", ")
    }
}

/// Prints local data as pretty JSON.
fn print_json<T: serde::Serialize>(v: &T) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(e) => {
            crate::output::error(format!("cannot write JSON: {e}"));
            Err(ExitCode::FAILURE)
        }
    }
}
