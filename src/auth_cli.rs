//! `wangge token issue` (a development token signed with the configured
//! HMAC secret) and `wangge audit list|verify` (the audit log of a running
//! server).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use wangge_proto::v1;

use crate::client::{finish, show, time, with_server, CliError, Show, Target};
use crate::output::{self, Table};
use crate::server::auth;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a token for a person or a service account, signed with the
    /// development HMAC secret: `token issue --person P1 --ttl 8h`.
    Issue {
        /// A person's id in the registry.
        #[arg(long, conflicts_with = "service", required_unless_present = "service")]
        person: Option<String>,
        /// A service account the policy grants (`grant service NAME`).
        #[arg(long)]
        service: Option<String>,
        /// How long it is valid: `8h`, `30min`, `1d`.
        #[arg(long, default_value = "8h")]
        ttl: String,
        /// The config whose `[auth]` holds the secret, issuer and audience
        /// [default: wangge.toml when present].
        #[arg(long, env = "WANGGE_CONFIG")]
        config: Option<PathBuf>,
        /// The HMAC secret (overrides the config's `auth.hmac_secret`).
        #[arg(long, env = "WANGGE_AUTH_HMAC_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
}

#[derive(Debug, serde::Deserialize, Default)]
struct AuthPart {
    hmac_secret: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
}

fn file_auth(config: Option<&PathBuf>) -> Result<AuthPart, String> {
    let default = PathBuf::from("wangge.toml");
    let path = match config {
        Some(p) => p.clone(),
        None if default.exists() => default,
        None => return Ok(AuthPart::default()),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read config `{}`: {e}", path.display()))?;
    // Only `[auth]` matters here; the rest is the server's.
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("config `{}`: {e}", path.display()))?;
    let auth = table
        .get("auth")
        .cloned()
        .map(toml::Value::try_into::<AuthPart>);
    match auth {
        Some(Ok(a)) => Ok(a),
        Some(Err(e)) => Err(format!("config `{}`: [auth]: {e}", path.display())),
        None => Ok(AuthPart::default()),
    }
}

pub fn token(args: &TokenArgs) -> ExitCode {
    let TokenCommand::Issue {
        person,
        service,
        ttl,
        config,
        secret,
    } = &args.command;
    let issued = (|| -> Result<String, String> {
        let ttl = crate::input::duration(ttl)?;
        let ttl = u64::try_from(ttl)
            .ok()
            .filter(|t| *t > 0)
            .ok_or("`--ttl` must be above zero")?;
        let part = file_auth(config.as_ref())?;
        let secret = secret.clone().or(part.hmac_secret).ok_or(
            "no HMAC secret: set `auth.hmac_secret` in wangge.toml, `WANGGE_AUTH_HMAC_SECRET` or \
             `--secret` (production tokens come from your identity provider)",
        )?;
        let sub = match (person, service) {
            (Some(p), _) => p.clone(),
            (None, Some(s)) => format!("service:{s}"),
            (None, None) => return Err("name `--person` or `--service`".into()),
        };
        auth::issue(
            &secret,
            &sub,
            ttl,
            part.issuer.as_deref().unwrap_or(auth::DEFAULT_ISSUER),
            part.audience.as_deref().unwrap_or(auth::DEFAULT_AUDIENCE),
        )
    })();
    match issued {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            output::error(e);
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Entries of the audit log, oldest first: `audit list --outcome PERMISSION_DENIED`.
    List {
        /// A person's id or `service:NAME`.
        #[arg(long)]
        who: Option<String>,
        /// A method (`CaseService/Act`) or a service (`CaseService`).
        #[arg(long)]
        method: Option<String>,
        /// `OK` or a status code name.
        #[arg(long)]
        outcome: Option<String>,
        /// Entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Walk the whole hash chain; fails when an entry was altered, removed or moved.
    Verify,
}

impl Show for v1::ListEntriesResponse {
    fn text(&self) {
        for e in &self.entries {
            let keys: Vec<String> = e.keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let behalf = if e.on_behalf.is_empty() {
                String::new()
            } else {
                format!(" (for {})", e.on_behalf)
            };
            println!(
                "#{} {} {}{} {} {} {}",
                e.seq,
                time(e.at),
                e.who,
                behalf,
                e.method,
                e.outcome,
                keys.join(" ")
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["seq", "at", "who", "method", "outcome", "keys"]).right(&["seq"]);
        for e in &self.entries {
            let keys: Vec<String> = e.keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            t.row([
                e.seq.to_string(),
                time(e.at),
                e.who.clone(),
                e.method.clone(),
                e.outcome.clone(),
                keys.join(" "),
            ]);
        }
        t
    }
}

impl Show for v1::VerifyResponse {
    fn text(&self) {
        if self.ok {
            println!(
                "audit log intact: {} entries, head {}",
                self.entries, self.head
            );
        } else {
            println!(
                "audit log BROKEN at entry {}: {} ({} entries checked)",
                self.broken_seq, self.reason, self.entries
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["ok", "entries", "broken", "reason"]);
        t.row([
            self.ok.to_string(),
            self.entries.to_string(),
            self.broken_seq.to_string(),
            self.reason.clone(),
        ]);
        t
    }
}

pub fn audit(args: &AuditArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = v1::audit_service_client::AuditServiceClient::new(ch);
        let r: Result<(), CliError> = async {
            match &args.command {
                AuditCommand::List {
                    who,
                    method,
                    outcome,
                    after,
                    limit,
                } => {
                    let r = c
                        .list_entries(v1::ListEntriesRequest {
                            who: who.clone().unwrap_or_default(),
                            method: method.clone().unwrap_or_default(),
                            outcome: outcome.clone().unwrap_or_default(),
                            from: 0,
                            to: 0,
                            after_seq: *after,
                            page_size: *limit,
                        })
                        .await?
                        .into_inner();
                    show(out, &r)
                }
                AuditCommand::Verify => {
                    let r = c.verify(v1::VerifyRequest {}).await?.into_inner();
                    show(out, &r)?;
                    if r.ok {
                        Ok(())
                    } else {
                        Err(CliError::Failed)
                    }
                }
            }
        }
        .await;
        finish(r)
    })
}

#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    command: WebhookCommand,
}

#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Deliveries of a webhook that failed every attempt: `webhook dead-letters 指挥中心大屏`.
    DeadLetters {
        /// The webhook's `name` in `[[webhooks]]`.
        webhook: String,
    },
    /// Send one dead letter again: `webhook resend 指挥中心大屏 1234`.
    Resend {
        /// The webhook's `name` in `[[webhooks]]`.
        webhook: String,
        /// The dead letter's sequence (its delivery id).
        sequence: u64,
        /// The dead letter is of a task event (delivery id `task-N`).
        #[arg(long)]
        task: bool,
    },
}

impl Show for v1::ListDeadLettersResponse {
    fn text(&self) {
        if self.letters.is_empty() {
            println!("no dead letters");
        }
        for d in &self.letters {
            println!(
                "#{}{} after {} attempt(s): {}\n  {}",
                if d.task { "task-" } else { "" },
                d.sequence,
                d.attempts,
                d.error,
                d.body_json
            );
        }
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["sequence", "attempts", "error"]).right(&["sequence", "attempts"]);
        for d in &self.letters {
            t.row([
                d.sequence.to_string(),
                d.attempts.to_string(),
                d.error.clone(),
            ]);
        }
        t
    }
}

impl Show for v1::ResendDeadLetterResponse {
    fn text(&self) {
        println!("delivered");
    }
    fn table(&self) -> Table {
        let mut t = Table::new(&["delivered"]);
        t.row(["true".to_string()]);
        t
    }
}

pub fn webhook(args: &WebhookArgs) -> ExitCode {
    let out = args.target.output;
    with_server(&args.target, |ch| async move {
        let mut c = v1::admin_service_client::AdminServiceClient::new(ch);
        let r: Result<(), CliError> = async {
            match &args.command {
                WebhookCommand::DeadLetters { webhook } => {
                    let r = c
                        .list_dead_letters(v1::ListDeadLettersRequest {
                            webhook: webhook.clone(),
                        })
                        .await?
                        .into_inner();
                    show(out, &r)
                }
                WebhookCommand::Resend {
                    webhook,
                    sequence,
                    task,
                } => {
                    let r = c
                        .resend_dead_letter(v1::ResendDeadLetterRequest {
                            webhook: webhook.clone(),
                            sequence: *sequence,
                            task: *task,
                        })
                        .await?
                        .into_inner();
                    show(out, &r)
                }
            }
        }
        .await;
        finish(r)
    })
}
