//! `wangge eval POLICY_DIR ITEM --input JSON`: evaluates one table, rule set
//! or calc and explains the result (matched rows or rules, inputs seen).

use std::io::Read;
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

/// Why the input could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum InputError {
    #[error("cannot read the input `{0}`: {1}")]
    #[diagnostic(code(wangge::input))]
    Read(String, std::io::Error),
    #[error("the input is not valid JSON: {0}")]
    #[diagnostic(
        code(wangge::input),
        help("pass a JSON object such as `{{\"事件\": {{\"类别\": \"垃圾堆放\"}}}}`")
    )]
    Json(serde_json::Error),
}

fn read_input(arg: &str) -> Result<serde_json::Value, InputError> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| InputError::Read("-".into(), e))?;
        s
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| InputError::Read(path.into(), e))?
    } else {
        arg.to_string()
    };
    serde_json::from_str(&text).map_err(InputError::Json)
}

pub fn run(args: &Args) -> ExitCode {
    let input = match read_input(&args.input) {
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
