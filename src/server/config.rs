//! Server configuration: defaults that work from the repository root, a
//! TOML file, environment variables, then flags (each overriding the last).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `wangge serve` options. Flags and `WANGGE_*` variables override the file.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (optional; `wangge.toml` is read if present).
    #[arg(long, env = "WANGGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, env = "WANGGE_LISTEN")]
    pub listen: Option<String>,
    /// Prometheus metrics listen address [default: 127.0.0.1:9464]; `off` disables it.
    #[arg(long, env = "WANGGE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// The operator console's listen address [default: 127.0.0.1:8080];
    /// `off` disables it. HTTPS with the server's `--tls-cert`/`--tls-key`.
    #[arg(long, env = "WANGGE_CONSOLE_LISTEN")]
    pub console_listen: Option<String>,
    /// Data folder (sled) [default: ./data].
    #[arg(long, env = "WANGGE_DATA")]
    pub data: Option<PathBuf>,
    /// Policy folder compiled and activated at start [default: ./policies].
    #[arg(long, env = "WANGGE_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Log filter, e.g. `info` or `wangge=debug` [default: info].
    #[arg(long, env = "WANGGE_LOG")]
    pub log: Option<String>,
    /// `system`, or `manual` (time moves only through AdminService) [default: system].
    #[arg(long, env = "WANGGE_CLOCK")]
    pub clock: Option<String>,
    /// With `--clock manual`: the starting time, e.g. 2026-09-14T10:00:00+08:00.
    #[arg(long, env = "WANGGE_CLOCK_START")]
    pub clock_start: Option<String>,
    /// sled cache in MiB [default: 128].
    #[arg(long, env = "WANGGE_CACHE_MIB")]
    pub cache_mib: Option<u64>,
    /// `fsync` (an answered write is on stable storage) or `flush` (it
    /// survives a killed process, not a power cut) [default: fsync].
    #[arg(long, env = "WANGGE_DURABILITY")]
    pub durability: Option<String>,
    /// Largest `data_json` of a report, in KiB [default: 64].
    #[arg(long, env = "WANGGE_MAX_DATA_KIB")]
    pub max_data_kib: Option<u64>,
    /// Open WatchCases streams allowed in total [default: 8192].
    #[arg(long, env = "WANGGE_WATCH_STREAMS")]
    pub watch_streams: Option<usize>,
    /// Open WatchCases streams allowed per client connection [default: 1024].
    #[arg(long, env = "WANGGE_WATCH_STREAMS_PER_CONNECTION")]
    pub watch_streams_per_connection: Option<usize>,
    /// Calls handled at once; more are refused at once with
    /// RESOURCE_EXHAUSTED and a retry hint instead of queueing [default: 1024].
    #[arg(long, env = "WANGGE_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Longest time a call may take, in seconds (a shorter client deadline
    /// wins) [default: 30].
    #[arg(long, env = "WANGGE_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Start on the `--policies` folder even when it differs from the
    /// policy version stored as active (by a deploy or rollback); without
    /// it the stored version wins and the difference is logged.
    #[arg(long)]
    pub adopt_policies: bool,
    /// Serve a data folder that last ran on a manual clock on the system
    /// clock (every deadline before now then fires at once); without it
    /// such a start is refused.
    #[arg(long)]
    pub adopt_system_clock: bool,
    /// Require a valid token (or client certificate) on every call; the
    /// keys come from `[auth]` of the config or `WANGGE_AUTH_HMAC_SECRET`.
    #[arg(long)]
    pub require_auth: bool,
    /// Serve a non-loopback address without TLS and authentication (logs
    /// a warning every minute). Never in production.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// HS256 secret for development tokens (overrides `auth.hmac_secret`).
    #[arg(long, env = "WANGGE_AUTH_HMAC_SECRET", hide_env_values = true)]
    pub auth_hmac_secret: Option<String>,
    /// PEM certificate chain of the gRPC port (turns TLS on, with `--tls-key`).
    #[arg(long, env = "WANGGE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the gRPC port.
    #[arg(long, env = "WANGGE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA whose client certificates are accepted (mutual TLS).
    #[arg(long, env = "WANGGE_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Store on PostgreSQL at this URL instead of sled in `--data`
    /// (`postgres://user@host:5432/db`).
    #[arg(long, env = "WANGGE_POSTGRES")]
    pub postgres: Option<String>,
    /// The PostgreSQL schema to work in [default: wangge].
    #[arg(long, env = "WANGGE_POSTGRES_SCHEMA")]
    pub postgres_schema: Option<String>,
    /// Seconds a server holds the timers it claims on PostgreSQL; another
    /// server takes over a dead one's after that [default: 30].
    #[arg(long, env = "WANGGE_POSTGRES_LEASE_SECS")]
    pub postgres_lease_secs: Option<u64>,
}

/// `[storage]` of `wangge.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sled` (the default: a local data folder) or `postgres`.
    pub kind: Option<String>,
    /// The PostgreSQL URL (`kind = "postgres"`).
    pub url: Option<String>,
    /// The schema to work in [default: wangge].
    pub schema: Option<String>,
    /// Seconds a server holds the timers it claims [default: 30].
    pub lease_secs: Option<u64>,
    /// Connections in the pool [default: 16].
    pub pool_size: Option<usize>,
}

/// Where the server stores its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageKind {
    /// sled in the data folder.
    Sled,
    /// PostgreSQL: the URL, the schema, the timer lease and pool size.
    Postgres {
        url: String,
        schema: String,
        lease_secs: u64,
        pool_size: usize,
    },
}

/// `[tls]` of `wangge.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// CA of accepted client certificates (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Client certificate subject (CN) → identity (`service:NAME` or a person).
    #[serde(default)]
    pub client_identities: std::collections::HashMap<String, String>,
}

/// TLS files, resolved.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub client_identities: std::collections::HashMap<String, String>,
}

/// The file's shape (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    metrics_listen: Option<String>,
    console_listen: Option<String>,
    data: Option<PathBuf>,
    policies: Option<PathBuf>,
    log: Option<String>,
    clock: Option<String>,
    clock_start: Option<String>,
    cache_mib: Option<u64>,
    durability: Option<String>,
    max_data_kib: Option<u64>,
    watch_streams: Option<usize>,
    watch_streams_per_connection: Option<usize>,
    max_in_flight: Option<usize>,
    request_timeout_secs: Option<u64>,
    auth: Option<super::auth::AuthConfig>,
    tls: Option<TlsConfig>,
    storage: Option<StorageConfig>,
    #[serde(default)]
    webhooks: Vec<super::webhooks::WebhookConfig>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    /// The console's address; `None`: no console.
    pub console_listen: Option<SocketAddr>,
    pub data: PathBuf,
    pub policies: PathBuf,
    pub log: String,
    pub manual_clock: bool,
    pub clock_start: Option<i64>,
    pub cache_bytes: u64,
    pub durability: wangge_store_sled::Durability,
    pub max_data_bytes: usize,
    pub watch_streams: usize,
    pub watch_streams_per_connection: usize,
    pub max_in_flight: usize,
    pub request_timeout: std::time::Duration,
    pub adopt_policies: bool,
    pub adopt_system_clock: bool,
    /// Set when calls must authenticate.
    pub auth: Option<super::auth::AuthConfig>,
    pub tls: Option<TlsFiles>,
    pub insecure_no_auth: bool,
    /// `[[webhooks]]`: receivers of case events.
    pub webhooks: Vec<super::webhooks::WebhookConfig>,
    pub storage: StorageKind,
}

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("cannot read config `{path}`: {source}")]
    #[diagnostic(code(wangge::config))]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config `{path}` is not valid: {message}")]
    #[diagnostic(code(wangge::config))]
    Parse { path: String, message: String },
    #[error("`{setting}` is not valid: `{value}` ({why})")]
    #[diagnostic(code(wangge::config))]
    Value {
        setting: &'static str,
        value: String,
        why: String,
    },
}

fn positive(setting: &'static str, v: u64) -> Result<u64, ConfigError> {
    if v == 0 || v > (1 << 30) {
        return Err(ConfigError::Value {
            setting,
            value: v.to_string(),
            why: "must be from 1 to 1073741824".into(),
        });
    }
    Ok(v)
}

fn addr(setting: &'static str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse()
        .map_err(|e: std::net::AddrParseError| ConfigError::Value {
            setting,
            value: v.to_string(),
            why: e.to_string(),
        })
}

impl ServeArgs {
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let default_file = Path::new("wangge.toml");
        let file_path = self
            .config
            .clone()
            .or_else(|| default_file.exists().then(|| default_file.to_path_buf()));
        let file = match &file_path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let listen = self
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:50051".into());
        let metrics = self
            .metrics_listen
            .clone()
            .or(file.metrics_listen)
            .unwrap_or_else(|| "127.0.0.1:9464".into());
        let console = self
            .console_listen
            .clone()
            .or(file.console_listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let clock = self
            .clock
            .clone()
            .or(file.clock)
            .unwrap_or_else(|| "system".into());
        let manual_clock = match clock.as_str() {
            "system" => false,
            "manual" => true,
            other => {
                return Err(ConfigError::Value {
                    setting: "clock",
                    value: other.into(),
                    why: "expected `system` or `manual`".into(),
                })
            }
        };
        let clock_start = match self.clock_start.clone().or(file.clock_start) {
            Some(s) => Some(
                wangge_policy::parse_ts(&s).ok_or_else(|| ConfigError::Value {
                    setting: "clock_start",
                    value: s.clone(),
                    why: "expected a time like 2026-09-14T10:00:00+08:00".into(),
                })?,
            ),
            None => None,
        };
        Config {
            listen: addr("listen", &listen)?,
            metrics_listen: if metrics == "off" {
                None
            } else {
                Some(addr("metrics_listen", &metrics)?)
            },
            console_listen: if console == "off" {
                None
            } else {
                Some(addr("console_listen", &console)?)
            },
            data: self
                .data
                .clone()
                .or(file.data)
                .unwrap_or_else(|| PathBuf::from("data")),
            policies: self
                .policies
                .clone()
                .or(file.policies)
                .unwrap_or_else(|| PathBuf::from("policies")),
            log: self
                .log
                .clone()
                .or(file.log)
                .unwrap_or_else(|| "info".into()),
            manual_clock,
            clock_start,
            cache_bytes: self.cache_mib.or(file.cache_mib).unwrap_or(128) << 20,
            durability: match self
                .durability
                .clone()
                .or(file.durability)
                .as_deref()
                .unwrap_or("fsync")
            {
                "fsync" => wangge_store_sled::Durability::Fsync,
                "flush" => wangge_store_sled::Durability::Flush,
                other => {
                    return Err(ConfigError::Value {
                        setting: "durability",
                        value: other.into(),
                        why: "expected `fsync` or `flush`".into(),
                    })
                }
            },
            max_data_bytes: positive(
                "max_data_kib",
                self.max_data_kib.or(file.max_data_kib).unwrap_or(64),
            )? as usize
                * 1024,
            watch_streams: positive(
                "watch_streams",
                self.watch_streams.or(file.watch_streams).unwrap_or(8192) as u64,
            )? as usize,
            watch_streams_per_connection: positive(
                "watch_streams_per_connection",
                self.watch_streams_per_connection
                    .or(file.watch_streams_per_connection)
                    .unwrap_or(1024) as u64,
            )? as usize,
            max_in_flight: positive(
                "max_in_flight",
                self.max_in_flight.or(file.max_in_flight).unwrap_or(1024) as u64,
            )? as usize,
            request_timeout: std::time::Duration::from_secs(positive(
                "request_timeout_secs",
                self.request_timeout_secs
                    .or(file.request_timeout_secs)
                    .unwrap_or(30),
            )?),
            adopt_policies: self.adopt_policies,
            adopt_system_clock: self.adopt_system_clock,
            auth: None,
            tls: None,
            insecure_no_auth: self.insecure_no_auth,
            webhooks: checked_webhooks(file.webhooks)?,
            storage: storage(
                self.postgres.clone(),
                self.postgres_schema.clone(),
                self.postgres_lease_secs,
                file.storage.unwrap_or_default(),
            )?,
        }
        .secured(self, file.auth, file.tls)
    }
}

/// The storage: `--postgres URL` wins; else `[storage]`; else sled.
fn storage(
    flag: Option<String>,
    schema_flag: Option<String>,
    lease_flag: Option<u64>,
    file: StorageConfig,
) -> Result<StorageKind, ConfigError> {
    let schema = schema_flag
        .or(file.schema.clone())
        .unwrap_or_else(|| "wangge".into());
    let lease_secs = lease_flag.or(file.lease_secs).unwrap_or(30);
    if lease_secs == 0 {
        return Err(ConfigError::Value {
            setting: "storage.lease_secs",
            value: "0".into(),
            why: "a timer lease must last at least a second".into(),
        });
    }
    let pool_size = file.pool_size.unwrap_or(16);
    if !(2..=1000).contains(&pool_size) {
        return Err(ConfigError::Value {
            setting: "storage.pool_size",
            value: pool_size.to_string(),
            why: "expected 2 to 1000 connections".into(),
        });
    }
    let postgres = |url| StorageKind::Postgres {
        url,
        schema: schema.clone(),
        lease_secs,
        pool_size,
    };
    if let Some(url) = flag {
        return Ok(postgres(url));
    }
    match file.kind.as_deref().unwrap_or("sled") {
        "sled" => Ok(StorageKind::Sled),
        "postgres" => match file.url {
            Some(url) => Ok(postgres(url)),
            None => Err(ConfigError::Value {
                setting: "storage.url",
                value: String::new(),
                why: "`kind = \"postgres\"` needs `url = \"postgres://…\"`".into(),
            }),
        },
        other => Err(ConfigError::Value {
            setting: "storage.kind",
            value: other.into(),
            why: "expected `sled` or `postgres`".into(),
        }),
    }
}

/// Webhooks with a valid URL and secret, each name once.
fn checked_webhooks(
    hooks: Vec<super::webhooks::WebhookConfig>,
) -> Result<Vec<super::webhooks::WebhookConfig>, ConfigError> {
    let mut names = std::collections::HashSet::new();
    for h in &hooks {
        h.check().map_err(|why| ConfigError::Value {
            setting: "webhooks",
            value: h.url.clone(),
            why,
        })?;
        if !names.insert(h.name.clone()) {
            return Err(ConfigError::Value {
                setting: "webhooks",
                value: h.name.clone(),
                why: "two webhooks have this name".into(),
            });
        }
    }
    Ok(hooks)
}

impl Config {
    /// Adds `[auth]` and `[tls]` (flags first) and refuses an exposed
    /// address without both, unless `--insecure-no-auth`.
    fn secured(
        mut self,
        args: &ServeArgs,
        auth: Option<super::auth::AuthConfig>,
        tls: Option<TlsConfig>,
    ) -> Result<Config, ConfigError> {
        let mut auth = auth.unwrap_or_default();
        if args.require_auth {
            auth.required = true;
        }
        if let Some(secret) = &args.auth_hmac_secret {
            auth.hmac_secret = Some(secret.clone());
        }
        self.auth = auth.required.then_some(auth);
        let tls = tls.unwrap_or_default();
        let cert = args.tls_cert.clone().or(tls.cert);
        let key = args.tls_key.clone().or(tls.key);
        let client_ca = args.tls_client_ca.clone().or(tls.client_ca);
        self.tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca,
                client_identities: tls.client_identities,
            }),
            (None, None) if client_ca.is_none() => None,
            _ => {
                return Err(ConfigError::Value {
                    setting: "tls",
                    value: "incomplete".into(),
                    why: "TLS needs both `cert` and `key` (`--tls-cert`, `--tls-key`)".into(),
                })
            }
        };
        let exposed = !self.listen.ip().is_loopback();
        if exposed && !(self.auth.is_some() && self.tls.is_some()) && !self.insecure_no_auth {
            return Err(ConfigError::Value {
                setting: "listen",
                value: self.listen.to_string(),
                why: "a non-loopback address needs TLS (`[tls]`, `--tls-cert`/`--tls-key`) and \
                      authentication (`--require-auth`); `--insecure-no-auth` serves it \
                      without them"
                    .into(),
            });
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            config: None,
            listen: None,
            metrics_listen: None,
            console_listen: None,
            data: None,
            policies: None,
            log: None,
            clock: None,
            clock_start: None,
            cache_mib: None,
            durability: None,
            max_data_kib: None,
            watch_streams: None,
            watch_streams_per_connection: None,
            max_in_flight: None,
            request_timeout_secs: None,
            adopt_policies: false,
            adopt_system_clock: false,
            require_auth: false,
            insecure_no_auth: false,
            auth_hmac_secret: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            postgres: None,
            postgres_schema: None,
            postgres_lease_secs: None,
        }
    }

    #[test]
    fn postgres_storage_comes_from_the_flag_or_the_file_and_needs_a_url() {
        let file = |kind: &str, url: Option<&str>| StorageConfig {
            kind: Some(kind.into()),
            url: url.map(str::to_string),
            schema: None,
            lease_secs: None,
            pool_size: None,
        };
        assert_eq!(
            storage(None, None, None, StorageConfig::default()).unwrap(),
            StorageKind::Sled
        );
        assert_eq!(
            storage(
                Some("postgres://a@b/c".into()),
                Some("s1".into()),
                Some(5),
                file("sled", None)
            )
            .unwrap(),
            StorageKind::Postgres {
                url: "postgres://a@b/c".into(),
                schema: "s1".into(),
                lease_secs: 5,
                pool_size: 16,
            }
        );
        let e = storage(None, None, None, file("postgres", None)).unwrap_err();
        assert!(e.to_string().contains("storage.url"), "{e}");
        let e = storage(
            None,
            None,
            Some(0),
            file("postgres", Some("postgres://a@b/c")),
        );
        assert!(e.unwrap_err().to_string().contains("lease_secs"));
        let e = storage(None, None, None, file("mysql", None)).unwrap_err();
        assert!(e.to_string().contains("storage.kind"), "{e}");
    }

    #[test]
    fn the_example_config_parses_and_flags_override_the_file() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("wangge.toml.example");
        let mut a = args();
        a.config = Some(example);
        a.listen = Some("0.0.0.0:6000".into());
        a.insecure_no_auth = true;
        let c = a.resolve().unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:6000");
        assert_eq!(
            c.metrics_listen.map(|m| m.to_string()).as_deref(),
            Some("127.0.0.1:9464")
        );
        assert_eq!(c.data, PathBuf::from("data"));
        assert!(!c.manual_clock);
        assert_eq!(c.cache_bytes, 128 << 20);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let mut a = args();
        a.clock = Some("sundial".into());
        let e = a.resolve().unwrap_err().to_string();
        assert_eq!(
            e,
            "`clock` is not valid: `sundial` (expected `system` or `manual`)"
        );
        let mut a = args();
        a.listen = Some("nowhere".into());
        assert!(a
            .resolve()
            .unwrap_err()
            .to_string()
            .starts_with("`listen` is not valid: `nowhere`"));
        let dir = std::env::temp_dir().join(format!("wangge-config-{}", std::process::id()));
        std::fs::write(&dir, "listen = 1\nunknown = true\n").unwrap();
        let mut a = args();
        a.config = Some(dir.clone());
        assert!(a
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("is not valid"));
        let _ = std::fs::remove_file(dir);
    }
}
