//! `wangge eval POLICY_DIR ITEM --input JSON`: evaluates one table, rule set
//! or calc and explains the result (matched rows or rules, inputs seen).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::Format;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy set: a directory of `.wg` files or one file.
    policy: PathBuf,
    /// Name of the table, rule set or calc.
    item: String,
    /// Input as JSON keyed by parameter name; `@FILE` reads a file, `-` stdin.
    #[arg(long, short)]
    input: String,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub fn run(args: &Args) -> ExitCode {
    let input = match crate::input::json(&args.input, "input") {
        Ok(v) => v,
        Err(e) => {
            crate::report(e);
            return ExitCode::FAILURE;
        }
    };
    let Some(set) = crate::policy_dir::load(&args.policy) else {
        return ExitCode::FAILURE;
    };
    match set.evaluate(&args.item, &input) {
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
