//! `wangge completions SHELL` and `wangge man --out DIR`: shell completion
//! scripts (clap_complete) and man pages (clap_mangen) generated from the
//! command line's own definition, so they cannot drift from it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory to write `wangge.1` and a page per command into.
    #[arg(long)]
    out: PathBuf,
}

pub fn completions(args: &CompletionsArgs) -> ExitCode {
    use std::io::Write as _;
    let mut cmd = crate::Cli::command();
    // Into a buffer first: the generator panics when its writer fails (a
    // closed pipe), and a closed pipe is not an error of this command.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "wangge", &mut script);
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: cannot write the completion script: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn man(args: &ManArgs) -> ExitCode {
    let cmd = crate::Cli::command();
    if let Err(e) =
        std::fs::create_dir_all(&args.out).and_then(|()| clap_mangen::generate_to(cmd, &args.out))
    {
        eprintln!(
            "error: cannot write man pages to `{}`: {e}",
            args.out.display()
        );
        return ExitCode::FAILURE;
    }
    println!("wrote man pages to {}", args.out.display());
    ExitCode::SUCCESS
}
