//! `wangge store verify|backup|restore|migrate|copy`: check a data folder
//! record by record, copy a consistent snapshot (of a stopped folder, or
//! of a running server through AdminService/Backup), put a backup in
//! place, bring a PostgreSQL schema to this build's version, and move an
//! installation from sled to PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wangge_proto::v1;
use wangge_proto::v1::admin_service_client::AdminServiceClient;
use wangge_store_sled::SledStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Read every record of a (stopped) data folder: each must decode and
    /// the timers, counters and change feed must agree with the cases.
    Verify {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Copy a consistent snapshot into DIR (new or empty): from a stopped
    /// data folder (`--data`), or from a running server (`--server`; DIR is
    /// then on the server's machine).
    Backup {
        /// The folder to write the backup to (new or empty).
        dir: PathBuf,
        /// A stopped server's data folder (default `data`).
        #[arg(long, conflicts_with = "server")]
        data: Option<PathBuf>,
        /// A running server (`host:port` or URL): it copies between two group commits.
        #[arg(long)]
        server: Option<String>,
    },
    /// Verify BACKUP, then copy it to the data folder (which must not
    /// exist or be empty; stop the server first).
    Restore {
        /// A backup folder written by `store backup`.
        backup: PathBuf,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Bring a PostgreSQL schema to this build's version (what `serve`
    /// does at start), then say which version it is at.
    Migrate {
        #[command(flatten)]
        db: Database,
    },
    /// Copy a stopped sled data folder into an empty PostgreSQL schema:
    /// cases with their events, timers, idempotency keys and change feed,
    /// the registry, policy versions, settings and every ledger.
    Copy {
        /// `sled:DIR`.
        #[arg(long)]
        from: String,
        /// `postgres:URL`.
        #[arg(long)]
        to: String,
        /// The schema to copy into (new or empty).
        #[arg(long, default_value = "wangge")]
        schema: String,
    },
}

/// A PostgreSQL database to work on (`--postgres URL`, `--postgres-schema`).
#[derive(Debug, Clone, clap::Args)]
pub struct Database {
    /// The PostgreSQL URL (`postgres://user@host:5432/db`).
    #[arg(long, env = "WANGGE_POSTGRES")]
    pub postgres: Option<String>,
    /// The schema in it.
    #[arg(long, env = "WANGGE_POSTGRES_SCHEMA", default_value = "wangge")]
    pub postgres_schema: String,
}

impl Database {
    /// The store, when `--postgres` was given (its schema migrated).
    pub fn open(&self) -> Option<Result<wangge_store_postgres::PgStore, wangge_store::StoreError>> {
        self.postgres.as_ref().map(|url| {
            wangge_store_postgres::PgStore::connect(
                url,
                &self.postgres_schema,
                std::time::Duration::from_secs(10),
            )
        })
    }
}

pub fn run(args: &Args) -> ExitCode {
    let done = match &args.command {
        Command::Verify { data } => verify(data),
        Command::Backup { dir, data, server } => match (data, server) {
            (_, Some(url)) => backup_server(dir, url),
            (data, None) => backup_folder(dir, data.as_deref().unwrap_or(Path::new("data"))),
        },
        Command::Restore { backup, data } => restore(backup, data),
        Command::Migrate { db } => migrate(db),
        Command::Copy { from, to, schema } => crate::store_copy::copy(from, to, schema),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(db: &Database) -> Result<(), String> {
    let store = db
        .open()
        .ok_or("`store migrate` needs `--postgres URL`")?
        .map_err(|e| e.to_string())?;
    println!(
        "schema `{}` is at version {}",
        store.schema(),
        wangge_store_postgres::SCHEMA_VERSION
    );
    Ok(())
}

fn open(data: &Path) -> Result<SledStore, String> {
    if !data.is_dir() {
        return Err(format!("no data folder `{}`", data.display()));
    }
    SledStore::open(data, 64 << 20).map_err(|e| e.to_string())
}

fn verify(data: &Path) -> Result<(), String> {
    let store = open(data)?;
    let v = store.verify().map_err(|e| e.to_string())?;
    println!(
        "{}: {} cases, {} earlier events, {} timers, {} feed entries, {} other records",
        data.display(),
        v.cases,
        v.events,
        v.timers,
        v.feed,
        v.other_records
    );
    if v.problems.is_empty() {
        println!("ok");
        return Ok(());
    }
    for p in &v.problems {
        println!("problem: {p}");
    }
    Err(format!(
        "`{}` has {} problem(s); restore it from a backup (`wangge store restore`)",
        data.display(),
        v.problems.len()
    ))
}

fn backup_folder(dir: &Path, data: &Path) -> Result<(), String> {
    let store = open(data)?;
    let done = store.backup(dir).map_err(|e| e.to_string())?;
    println!(
        "backed up {} records ({} bytes) from `{}` into `{}`",
        done.records,
        done.bytes,
        data.display(),
        dir.display()
    );
    Ok(())
}

fn backup_server(dir: &Path, url: &str) -> Result<(), String> {
    // The server resolves the folder; send it as this shell means it.
    let dir = &std::path::absolute(dir)
        .map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    let target = crate::client::Target {
        server: url.to_string(),
        token: std::env::var("WANGGE_TOKEN").ok(),
        tls_ca: std::env::var_os("WANGGE_CA").map(Into::into),
        tls_cert: std::env::var_os("WANGGE_CLIENT_CERT").map(Into::into),
        tls_key: std::env::var_os("WANGGE_CLIENT_KEY").map(Into::into),
        output: crate::output::Output::Text,
    };
    let request = v1::BackupRequest {
        dir: dir.display().to_string(),
    };
    let code = crate::client::with_server(&target, |ch| async move {
        match AdminServiceClient::new(ch).backup(request).await {
            Ok(r) => {
                let r = r.into_inner();
                println!(
                    "the server backed up {} records ({} bytes) into `{}`",
                    r.records,
                    r.bytes,
                    dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(s) => {
                eprintln!("error: {:?}: {}", s.code(), s.message());
                ExitCode::FAILURE
            }
        }
    });
    if code == ExitCode::SUCCESS {
        Ok(())
    } else {
        Err("the backup failed".into())
    }
}

fn restore(backup: &Path, data: &Path) -> Result<(), String> {
    if std::fs::read_dir(data).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "`{}` is not empty; move it away first (it may be the damaged copy you want to keep)",
            data.display()
        ));
    }
    {
        let store = open(backup)?;
        let v = store.verify().map_err(|e| e.to_string())?;
        if !v.problems.is_empty() {
            return Err(format!(
                "the backup `{}` has problems: {}",
                backup.display(),
                v.problems.join("; ")
            ));
        }
    }
    copy_dir(backup, data).map_err(|e| format!("cannot copy into `{}`: {e}", data.display()))?;
    let store = open(data)?;
    println!(
        "restored `{}` into `{}`: {} cases",
        backup.display(),
        data.display(),
        wangge_store::CaseStore::case_count(&store)
    );
    Ok(())
}

/// Copies a folder tree, keeping it private to the owner.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}
