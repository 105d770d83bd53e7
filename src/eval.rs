//! `wangge eval POLICY_DIR ITEM --input JSON`: evaluates one table, rule set
//! or calc and explains the result (matched rows or rules, inputs seen).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Format;

/// One item of a policy set and its input (`eval`, `bench`).
#[derive(Debug, clap::Args)]
pub struct ItemInput {
    /// The policy set: a directory of `.wg` files or one file.
    pub policy: PathBuf,
    /// Name of the table, rule set or calc.
    pub item: String,
    /// Input as JSON keyed by parameter name; `@FILE` reads a file, `-` stdin.
    #[arg(long, short)]
    pub input: String,
}

impl ItemInput {
    /// The compiled set and the parsed input; `None` after reporting why
    /// either could not be had.
    pub fn load(&self) -> Option<(wangge_policy::PolicySet, serde_json::Value)> {
        let input = match crate::input::json(&self.input, "input") {
            Ok(v) => v,
            Err(e) => {
                crate::report(e);
                return None;
            }
        };
        let set = crate::policy_dir::load(&self.policy)?;
        Some((set, input))
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: ItemInput,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: &Args) -> ExitCode {
    let Some((set, input)) = args.target.load() else {
        return ExitCode::FAILURE;
    };
    match set.evaluate(&args.target.item, &input) {
        Ok(decision) => {
            match args.format {
                Format::Human => print!("{}", decision.render()),
                Format::Json => match serde_json::to_string_pretty(&decision) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: cannot write the decision: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::report(e);
            ExitCode::FAILURE
        }
    }
}
