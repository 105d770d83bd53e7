//! `wangge export`: the stored history of a data folder, or of a
//! PostgreSQL database while its servers run (each case's report, the
//! actions taken on it and the engine's decisions), as JSON Lines in time
//! order, replayable with `wangge replay` (docs/history.md).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use wangge_policy::parse_ts;
use wangge_store_sled::SledStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The data folder (stop the server first: sled allows one process).
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Export from PostgreSQL instead, online: the servers on it go on.
    #[command(flatten)]
    db: crate::store_cli::Database,
    /// Export from a running server instead (`host:port` or URL; needs
    /// `导出`, the token from `WANGGE_TOKEN`): it goes on serving.
    #[arg(long, conflicts_with = "postgres")]
    server: Option<String>,
    /// Only cases reported at or after this time (2026-01-01T00:00:00+08:00).
    #[arg(long)]
    from: Option<String>,
    /// Only cases reported before this time.
    #[arg(long)]
    to: Option<String>,
    /// Output file (default: standard output).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Mask the fields the policy's schemas mark `personal` (张*, 138****1234):
    /// for exports that leave the people allowed to see them.
    #[arg(long)]
    redact: bool,
    /// The policy folder whose schemas say which fields are personal (with `--redact`).
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
}

fn time(flag: &str, v: &Option<String>) -> Result<Option<i64>, ExitCode> {
    match v {
        None => Ok(None),
        Some(s) => parse_ts(s).map(Some).ok_or_else(|| {
            eprintln!("error: `{flag} {s}` is not a time like 2026-01-01T00:00:00+08:00");
            ExitCode::FAILURE
        }),
    }
}

pub fn run(args: &Args) -> ExitCode {
    match export(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn export(args: &Args) -> Result<(), ExitCode> {
    let from = time("--from", &args.from)?;
    let to = time("--to", &args.to)?;
    if let Some(server) = &args.server {
        return from_server(server, from, to, args);
    }
    if args.db.postgres.is_none() && !args.data.is_dir() {
        eprintln!("error: no data folder `{}`", args.data.display());
        return Err(ExitCode::FAILURE);
    }
    let set = if args.redact {
        let files = wangge_app::read_dir(&args.policies).map_err(|e| {
            crate::report(e);
            ExitCode::FAILURE
        })?;
        let compiled = wangge_app::compile_files(&files, &wangge_policy::RhaiHost::default());
        match compiled.set {
            Some(set) => Some(set),
            None => {
                eprintln!(
                    "error: `{}` does not compile (`wangge check {}`); cannot tell which fields are personal",
                    args.policies.display(),
                    args.policies.display()
                );
                return Err(ExitCode::FAILURE);
            }
        }
    } else {
        None
    };
    let store: Box<dyn wangge_store::Store> = match args.db.open() {
        Some(pg) => pg.map(|pg| Box::new(pg) as Box<dyn wangge_store::Store>),
        None => SledStore::open(&args.data, 64 << 20).map(|s| Box::new(s) as _),
    }
    .map_err(|e| {
        crate::report(e);
        ExitCode::FAILURE
    })?;
    let out: Box<dyn Write> = match &args.out {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(BufWriter::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", p.display());
                return Err(ExitCode::FAILURE);
            }
        },
        None => Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout().lock())),
    };
    let bar = crate::progress::writing("exporting");
    let mut out = bar.wrap_write(out);
    let redact = |case: &mut wangge_policy::Case| {
        if let Some(set) = &set {
            wangge_app::mask::mask_case(set, case);
        }
    };
    let stats = wangge_testkit::export_redacted(store.as_ref(), from, to, &mut out, &redact)
        .map_err(|e| {
            crate::report(e);
            ExitCode::FAILURE
        })?;
    out.flush().map_err(|e| {
        eprintln!("error: cannot write the export: {e}");
        ExitCode::FAILURE
    })?;
    bar.finish_and_clear();
    eprintln!("exported {} case(s), {} line(s)", stats.cases, stats.lines);
    Ok(())
}

/// Streams the export of a running server (AdminService/Export) to the
/// output.
fn from_server(
    server: &str,
    from: Option<i64>,
    to: Option<i64>,
    args: &Args,
) -> Result<(), ExitCode> {
    use wangge_proto::v1;
    let target = crate::client::Target {
        server: server.to_string(),
        token: std::env::var("WANGGE_TOKEN").ok(),
        tls_ca: std::env::var_os("WANGGE_CA").map(Into::into),
        tls_cert: std::env::var_os("WANGGE_CLIENT_CERT").map(Into::into),
        tls_key: std::env::var_os("WANGGE_CLIENT_KEY").map(Into::into),
        output: crate::output::Output::Text,
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(BufWriter::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", p.display());
                return Err(ExitCode::FAILURE);
            }
        },
        None => Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout().lock())),
    };
    let request = v1::ExportRequest {
        from_time: from.unwrap_or(0),
        to_time: to.unwrap_or(0),
        redact: args.redact,
    };
    let code = crate::client::with_server(&target, |ch| async move {
        let mut client = wangge_proto::v1::admin_service_client::AdminServiceClient::new(ch);
        let mut stream = match client.export(request).await {
            Ok(s) => s.into_inner(),
            Err(s) => return crate::client::failed(s),
        };
        let mut bytes = 0usize;
        loop {
            match stream.message().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.lines.len();
                    if let Err(e) = out.write_all(&chunk.lines) {
                        eprintln!("error: cannot write the export: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                Ok(None) => break,
                Err(s) => return crate::client::failed(s),
            }
        }
        if let Err(e) = out.flush() {
            eprintln!("error: cannot write the export: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("exported {bytes} bytes from the server");
        ExitCode::SUCCESS
    });
    if code == ExitCode::SUCCESS {
        Ok(())
    } else {
        Err(code)
    }
}
