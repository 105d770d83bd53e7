//! `wangge fmt [PATHS]`: lays policy files out canonically (see
//! [`wangge_dsl::format`]), in place; `--check` changes nothing and fails
//! listing the files that are not formatted, with a diff; `-` formats
//! stdin to stdout. A file that does not parse is reported with its code
//! frame and left as it is.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wangge_dsl::{render, SourceFile, SourceSet};

use crate::use_color;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files and directories (their `.wg` files, scenarios included), or
    /// `-` to format stdin to stdout.
    #[arg(default_value = "policies")]
    paths: Vec<PathBuf>,
    /// Change nothing; exit 1 and show a diff when a file is not formatted.
    #[arg(long)]
    check: bool,
}

/// What became of one file.
enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

pub fn run(args: &Args) -> ExitCode {
    let mut failed = false;
    let mut unformatted = 0;
    for path in &args.paths {
        if path.as_os_str() == "-" {
            failed |= !stdin(args.check);
            continue;
        }
        let files = match policy_files(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                failed = true;
                continue;
            }
        };
        for file in files {
            match one(&file, args.check) {
                Outcome::Unchanged => {}
                Outcome::Changed => unformatted += 1,
                Outcome::Failed => failed = true,
            }
        }
    }
    if args.check && unformatted > 0 {
        eprintln!("{unformatted} file(s) are not formatted; run `wangge fmt` to fix them");
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The `.wg` files at `path` (itself when it is a file), in path order.
fn policy_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !std::fs::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "wg") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The formatted text, or the reason printed to stderr.
fn formatted(name: &str, bytes: &[u8]) -> Option<String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        let file = SourceFile::from_bytes(name, bytes);
        let line = file.invalid_utf8.map_or(1, |at| file.line_col(at).line);
        eprintln!("error: `{name}` is not valid UTF-8 (line {line}); save it as UTF-8");
        return None;
    };
    match wangge_dsl::format::format(text) {
        Ok(out) => Some(out),
        Err(diags) => {
            let mut sources = SourceSet::default();
            sources.add(SourceFile::new(name, text));
            eprint!("{}", render(&diags, &sources, use_color()));
            eprintln!("error: `{name}` was not formatted: it does not parse");
            None
        }
    }
}

fn one(path: &Path, check: bool) -> Outcome {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read `{name}`: {e}");
            return Outcome::Failed;
        }
    };
    let Some(out) = formatted(&name, &bytes) else {
        return Outcome::Failed;
    };
    if out.as_bytes() == bytes.as_slice() {
        return Outcome::Unchanged;
    }
    if check {
        let before = String::from_utf8_lossy(&bytes);
        let diff = similar::TextDiff::from_lines(before.as_ref(), out.as_str());
        print!(
            "{}",
            diff.unified_diff()
                .header(&name, &format!("{name} (formatted)"))
        );
        return Outcome::Changed;
    }
    // Written beside the file and renamed over it: an interrupted write
    // never leaves half a policy.
    let tmp = path.with_extension("wg.fmt-tmp");
    let written = std::fs::write(&tmp, &out).and_then(|()| std::fs::rename(&tmp, path));
    match written {
        Ok(()) => {
            println!("formatted {name}");
            Outcome::Changed
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("error: cannot write `{name}`: {e}");
            Outcome::Failed
        }
    }
}

/// Formats stdin to stdout (with `--check`: prints nothing, fails when
/// the input is not formatted). Whether it went well.
fn stdin(check: bool) -> bool {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("error: cannot read stdin: {e}");
        return false;
    }
    let Some(out) = formatted("<stdin>", &bytes) else {
        return false;
    };
    if check {
        if out.as_bytes() != bytes.as_slice() {
            eprintln!("<stdin> is not formatted");
            return false;
        }
        return true;
    }
    print!("{out}");
    true
}
