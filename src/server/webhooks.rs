//! Webhooks: case events and task events delivered by HTTP POST to
//! subscribed receivers, at least once, in order. The durable change feed
//! and the task event log are the outboxes: each webhook keeps a cursor
//! for each (its next sequence) in the ledger, so a receiver that was down
//! gets every event once it is back, and a restart resumes where delivery
//! stopped. Each POST carries a JSON body, the delivery id
//! (`X-Wangge-Delivery`: the feed sequence, or `task-N` for a task event,
//! for receivers to drop a repeat) and `X-Wangge-Signature: sha256=<hex
//! HMAC of the body>`.
//! A delivery that keeps failing past `max_attempts` (with doubling
//! backoff) becomes a dead letter, listed and re-sent through AdminService.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use wangge_store::{Book, LedgerSpace};

use super::app::App;
use super::lease::Lease;

/// `[[webhooks]]` of `wangge.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// `http://` or `https://` (system root certificates).
    pub url: String,
    /// The HMAC-SHA256 key of the signature header (at least 16 bytes).
    pub secret: String,
    /// Event actions to deliver (`派遣`, `escalate`, `签收`, `accept_missed` …); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Attempts before a delivery is a dead letter [default: 12].
    pub max_attempts: Option<u32>,
    /// First retry delay in milliseconds, doubling up to a minute [default: 500].
    pub backoff_ms: Option<u64>,
}

impl WebhookConfig {
    /// A bad webhook, named.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a webhook needs a `name`".into());
        }
        let uri: hyper::Uri = self
            .url
            .parse()
            .map_err(|e| format!("webhook `{}`: `{}` is not a URL: {e}", self.name, self.url))?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some() => {}
            _ => {
                return Err(format!(
                    "webhook `{}`: `{}` is not an http(s) URL",
                    self.name, self.url
                ))
            }
        }
        if self.secret.len() < 16 {
            return Err(format!(
                "webhook `{}`: the `secret` must be at least 16 bytes",
                self.name
            ));
        }
        Ok(())
    }
}

/// `hook␀NAME`: the next feed sequence to deliver.
const CURSORS: Book<u64> = Book::json("hook");
/// `hookdead␀NAME␀SEQ`: deliveries that kept failing.
const DEAD: Book<Option<DeadLetter>> = Book::json("hookdead");

/// A delivery that failed `max_attempts` times.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    pub sequence: u64,
    pub body: String,
    pub error: String,
    pub attempts: u32,
    /// A task event (its sequence is the task event log's).
    #[serde(default)]
    pub task: bool,
}

/// The delivery id of a case event (`17`) or a task event (`task-17`).
fn delivery_id(sequence: u64, task: bool) -> String {
    if task {
        format!("task-{sequence}")
    } else {
        sequence.to_string()
    }
}

/// The dead letters' key part of a delivery.
fn dead_key(sequence: u64, task: bool) -> String {
    if task {
        format!("task-{sequence:020}")
    } else {
        format!("{sequence:020}")
    }
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client() -> Result<HttpClient, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes a key of any length; this does not happen.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut out = String::from("sha256=");
    for b in bytes {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// One delivery: POST, 2xx is success.
async fn post(
    client: &HttpClient,
    hook: &WebhookConfig,
    id: &str,
    body: &str,
) -> Result<(), String> {
    let req = hyper::Request::post(&hook.url)
        .header("content-type", "application/json")
        .header("x-wangge-delivery", id)
        .header(
            "x-wangge-signature",
            signature(&hook.secret, body.as_bytes()),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let res = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "no answer in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", res.status()))
    }
}

/// Delivers with retries; `Err` after the last attempt (a dead letter).
async fn deliver(
    client: &HttpClient,
    hook: &WebhookConfig,
    id: &str,
    body: &str,
) -> Result<(), (String, u32)> {
    let max = hook.max_attempts.unwrap_or(12).max(1);
    let mut delay = Duration::from_millis(hook.backoff_ms.unwrap_or(500).max(1));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match post(client, hook, id, body).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= max => return Err((e, attempt)),
            Err(e) => {
                tracing::debug!(webhook = %hook.name, delivery = id, attempt, error = %e, "webhook delivery failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// The JSON body of one event.
fn body(hook: &str, sequence: u64, e: &wangge_policy::CaseEvent) -> String {
    serde_json::json!({
        "id": sequence.to_string(),
        "webhook": hook,
        "case_id": e.case_id,
        "event_seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "on_behalf": e.on_behalf,
        "action": e.action,
        "outcome": e.outcome,
        "state": e.state_after,
        "level": e.level_after,
        "policy_version": e.policy_version,
        // Why: for `remind`, the deadline and its share; for 派遣, the
        // assignee. A report's (its classification, ~1 KB) is left to
        // `CaseService/Events`.
        "why": if e.action == "report" { None } else { Some(&e.explanation) },
    })
    .to_string()
}

/// The JSON body of one task event.
fn task_body(hook: &str, e: &wangge_app::TaskEvent) -> String {
    serde_json::json!({
        "id": delivery_id(e.seq, true),
        "webhook": hook,
        "task_id": e.task_id,
        "task": e.task,
        "unit": e.unit,
        "action": e.action,
        "at": e.at,
        "actor": e.actor,
        "detail": e.detail,
    })
    .to_string()
}

/// Delivers one body with retries; a dead letter when every attempt fails.
async fn deliver_or_bury(
    app: &App,
    client: &HttpClient,
    hook: &WebhookConfig,
    (sequence, task): (u64, bool),
    text: String,
) {
    let id = delivery_id(sequence, task);
    match deliver(client, hook, &id, &text).await {
        Ok(()) => app.metrics.webhook_delivered(),
        Err((error, attempts)) => {
            tracing::warn!(webhook = %hook.name, delivery = %id, %error, "webhook delivery gave up: a dead letter");
            app.metrics.webhook_dead();
            let mut b = wangge_store::LedgerBatch::new();
            let dead = DeadLetter {
                sequence,
                body: text,
                error,
                attempts,
                task,
            };
            let written = b
                .put(&DEAD, &[&hook.name, &dead_key(sequence, task)], &Some(dead))
                .and_then(|()| b.write(app.store.as_ref()));
            if let Err(e) = written {
                tracing::error!(webhook = %hook.name, error = %e, "a dead letter could not be stored");
            }
        }
    }
}

fn save_cursor(space: &dyn LedgerSpace, parts: &[&str], next: u64) {
    let name = parts.first().copied().unwrap_or_default();
    let mut batch = wangge_store::LedgerBatch::new();
    let saved = batch
        .put(&CURSORS, parts, &next)
        .and_then(|()| batch.write(space));
    if let Err(e) = saved {
        tracing::error!(webhook = %name, error = %e, "the webhook cursor could not be saved");
    }
}

/// Runs one webhook until the server stops: case events from the change
/// feed and task events from the task event log, each with its cursor.
pub async fn run(app: Arc<App>, hook: WebhookConfig) {
    tokio::join!(run_cases(app.clone(), hook.clone()), run_tasks(app, hook));
}

/// How long a server delivers a webhook's stream after its last renewal
/// before another server sharing the database may take it over.
const DELIVERY_LEASE: Duration = Duration::from_secs(30);

/// Holds the delivery lease of `hook`'s `stream`, waiting while another
/// server holds it; true when this server has just taken it over (its
/// cursor is then read again: the other server moved it).
async fn deliver_here(lease: &Lease, space: &dyn LedgerSpace, hook: &str) -> bool {
    let mut waited = false;
    loop {
        match lease.hold(space) {
            Ok(true) => return waited,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(webhook = %hook, error = %e, "the webhook's delivery lease cannot be read");
            }
        }
        waited = true;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Task events (created, 签收, 完成, remind, overdue), from their log.
async fn run_tasks(app: Arc<App>, hook: WebhookConfig) {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(webhook = %hook.name, error = %e, "webhook not started");
            return;
        }
    };
    let space: Arc<dyn LedgerSpace> = app.store.clone();
    let cursor = [hook.name.as_str(), "task"];
    let lease = Lease::new(&[&hook.name, "task"], &app.owner, DELIVERY_LEASE);
    deliver_here(&lease, &*space, &hook.name).await;
    let mut next = match CURSORS.get(&*space, &cursor) {
        Ok(Some(n)) => n,
        Ok(None) => 1,
        Err(e) => {
            tracing::error!(webhook = %hook.name, error = %e, "the webhook's task cursor cannot be read");
            return;
        }
    };
    loop {
        if deliver_here(&lease, &*space, &hook.name).await {
            if let Ok(Some(n)) = CURSORS.get(&*space, &cursor) {
                next = n;
            }
        }
        let batch = match app.tasks.events(next, 256) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(webhook = %hook.name, error = %e, "webhook: the task events cannot be read");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        for e in batch {
            if hook.events.is_empty() || hook.events.contains(&e.action) {
                let text = task_body(&hook.name, &e);
                deliver_or_bury(&app, &client, &hook, (e.seq, true), text).await;
            }
            next = e.seq + 1;
        }
        save_cursor(&*space, &cursor, next);
    }
}

/// Case events, from the change feed.
async fn run_cases(app: Arc<App>, hook: WebhookConfig) {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(webhook = %hook.name, error = %e, "webhook not started");
            return;
        }
    };
    let space: Arc<dyn LedgerSpace> = app.store.clone();
    let lease = Lease::new(&[&hook.name, "case"], &app.owner, DELIVERY_LEASE);
    deliver_here(&lease, &*space, &hook.name).await;
    let mut next = match CURSORS.get(&*space, &[&hook.name]) {
        Ok(Some(n)) => n,
        Ok(None) => app.cases.feed().next_sequence(),
        Err(e) => {
            tracing::error!(webhook = %hook.name, error = %e, "the webhook cursor cannot be read");
            return;
        }
    };
    save_cursor(&*space, &[&hook.name], next);
    loop {
        if deliver_here(&lease, &*space, &hook.name).await {
            if let Ok(Some(n)) = CURSORS.get(&*space, &[&hook.name]) {
                next = n;
            }
        }
        let batch = match app.cases.changes(next, 256) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(webhook = %hook.name, error = %e, "webhook: the feed cannot be read");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            // Woken by the next event, or to renew the lease meanwhile.
            let _ = tokio::time::timeout(DELIVERY_LEASE / 3, app.cases.feed().wait_for(next)).await;
            continue;
        }
        for (seq, e) in batch {
            if hook.events.is_empty() || hook.events.contains(&e.action) {
                let text = body(&hook.name, seq, &e);
                deliver_or_bury(&app, &client, &hook, (seq, false), text).await;
            }
            next = seq + 1;
        }
        save_cursor(&*space, &[&hook.name], next);
    }
}

/// The dead letters of `name`, oldest first.
pub fn dead_letters(space: &dyn LedgerSpace, name: &str) -> Result<Vec<DeadLetter>, String> {
    DEAD.scan(space, &[name])
        .map(|v| v.into_iter().filter_map(|(_, d)| d).collect())
        .map_err(|e| e.to_string())
}

/// Sends one dead letter again (once); removed from the dead letters when
/// it is delivered.
pub async fn resend(
    space: &dyn LedgerSpace,
    hook: &WebhookConfig,
    sequence: u64,
    task: bool,
) -> Result<(), String> {
    let key = dead_key(sequence, task);
    let Some(Some(dead)) = DEAD
        .get(space, &[&hook.name, &key])
        .map_err(|e| e.to_string())?
    else {
        return Err(format!(
            "webhook `{}` has no dead letter {}",
            hook.name,
            delivery_id(sequence, task)
        ));
    };
    let client = client()?;
    post(&client, hook, &delivery_id(sequence, task), &dead.body).await?;
    // Delivered: no longer a dead letter (the ledger keeps no deletes).
    let mut b = wangge_store::LedgerBatch::new();
    b.put(&DEAD, &[&hook.name, &key], &None)
        .and_then(|()| b.write(space))
        .map_err(|e| e.to_string())
}
