//! `wangge lsp`: a language server for policy files over stdio.
//!
//! Built on `lsp-server` (rust-analyzer's transport): a synchronous loop
//! over a channel of messages. An analysis takes milliseconds and the
//! server has one client, so an async runtime (`tower-lsp-server`) would
//! add a second concurrency model for nothing; the loop also lets us
//! coalesce a burst of edits into one analysis and answer in order.
//!
//! Diagnostics come from the same compile as `wangge check`. Every
//! handler runs under `catch_unwind`: a bug answers one request with an
//! error instead of taking the editor's server down.

mod features;
mod position;
mod workspace;

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{self as lsp, Uri};
use serde_json::Value;

use position::{path_to_uri, uri_to_path, LineIndex};
use workspace::Workspace;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    stdio: bool,
}

pub fn run(_args: &Args) -> ExitCode {
    let (connection, io) = Connection::stdio();
    let result = serve(&connection);
    drop(connection);
    // After a failure the reader thread may still wait on stdin: exit
    // without joining it (the process ends it).
    match result.and_then(|()| io.join().map_err(|e| e.to_string())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the language server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(
            lsp::TextDocumentSyncKind::FULL,
        )),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec![".".into(), " ".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn serve(connection: &Connection) -> Result<(), String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    let (id, init) = connection.initialize_start().map_err(|e| e.to_string())?;
    // Params that do not parse are refused, not read as "no workspace".
    let params: lsp::InitializeParams = match serde_json::from_value(init) {
        Ok(p) => p,
        Err(e) => {
            let message = format!("the `initialize` params do not parse: {e}");
            let refusal = Response::new_err(id, ErrorCode::InvalidParams as i32, message.clone());
            send(connection, Message::Response(refusal));
            // Until the client has read it and says `exit` (or leaves).
            for msg in &connection.receiver {
                if matches!(&msg, Message::Notification(n) if n.method == note::Exit::METHOD) {
                    break;
                }
            }
            return Err(message);
        }
    };
    connection
        .initialize_finish(id, serde_json::json!({ "capabilities": caps }))
        .map_err(|e| e.to_string())?;
    let mut server = Server {
        ws: Workspace::default(),
        published: HashMap::new(),
        dirty: HashSet::new(),
    };
    #[allow(deprecated)] // rootUri: older clients send only it
    let root = params
        .workspace_folders
        .as_ref()
        .and_then(|f| f.first())
        .map(|f| f.uri.clone())
        .or(params.root_uri);
    server.ws.root = root.as_ref().and_then(uri_to_path);
    loop {
        let msg = match connection.receiver.recv() {
            Ok(m) => m,
            Err(_) => return Ok(()),
        };
        match msg {
            Message::Request(r) => {
                if connection.handle_shutdown(&r).map_err(|e| e.to_string())? {
                    return Ok(());
                }
                server.publish_dirty(connection);
                let resp = server.request(r);
                send(connection, Message::Response(resp));
            }
            Message::Notification(n) => {
                if n.method == note::Exit::METHOD {
                    return Ok(());
                }
                server.notification(n);
                // A burst of edits is analysed once, when it has passed.
                if connection.receiver.is_empty() {
                    server.publish_dirty(connection);
                }
            }
            Message::Response(_) => {}
        }
    }
}

fn send(connection: &Connection, msg: Message) {
    // The client went away: the loop ends on the next receive.
    let _ = connection.sender.send(msg);
}

struct Server {
    ws: Workspace,
    /// Files that have diagnostics published, per set root.
    published: HashMap<PathBuf, HashSet<PathBuf>>,
    /// Documents whose set must be analysed and published again.
    dirty: HashSet<PathBuf>,
}

impl Server {
    fn notification(&mut self, n: Notification) {
        let params = n.params;
        match n.method.as_str() {
            note::DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(params) {
                    if let Some(path) = uri_to_path(&p.text_document.uri) {
                        self.ws.open(path.clone(), p.text_document.text);
                        self.dirty.insert(path);
                    }
                }
            }
            note::DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(params) {
                    let path = uri_to_path(&p.text_document.uri);
                    // Full sync: the last change holds the whole text.
                    if let (Some(path), Some(change)) = (path, p.content_changes.into_iter().last())
                    {
                        self.ws.open(path.clone(), change.text);
                        self.dirty.insert(path);
                    }
                }
            }
            note::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(params) {
                    if let Some(path) = uri_to_path(&p.text_document.uri) {
                        self.ws.close(&path);
                        self.dirty.insert(path);
                    }
                }
            }
            note::DidSaveTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<lsp::DidSaveTextDocumentParams>(params) {
                    if let Some(path) = uri_to_path(&p.text_document.uri) {
                        self.ws.invalidate(&path);
                        self.dirty.insert(path);
                    }
                }
            }
            _ => {}
        }
    }

    /// Analyses the sets of changed documents and publishes every file's
    /// diagnostics (an empty list clears a file that has none left).
    fn publish_dirty(&mut self, connection: &Connection) {
        let dirty: Vec<PathBuf> = self.dirty.drain().collect();
        let mut done = HashSet::new();
        for path in dirty {
            let root = self.ws.set_root(&path);
            if !done.insert(root.clone()) {
                continue;
            }
            let published = match std::panic::catch_unwind(AssertUnwindSafe(|| {
                publish(&mut self.ws, &path, connection)
            })) {
                Ok(p) => p,
                Err(_) => continue,
            };
            let before = self
                .published
                .insert(root, published.clone())
                .unwrap_or_default();
            for gone in before.difference(&published) {
                if let Some(uri) = path_to_uri(gone) {
                    notify(connection, uri, Vec::new());
                }
            }
        }
    }

    fn request(&mut self, r: Request) -> Response {
        let id = r.id.clone();
        let answered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            answer(&mut self.ws, &r.method, r.params)
        }));
        match answered {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
            Err(_) => internal_error(id),
        }
    }
}

fn internal_error(id: RequestId) -> Response {
    Response::new_err(
        id,
        ErrorCode::InternalError as i32,
        "the language server failed on this request".into(),
    )
}

/// Publishes the diagnostics of the set `path` belongs to; the files that
/// got some.
fn publish(
    ws: &mut Workspace,
    path: &std::path::Path,
    connection: &Connection,
) -> HashSet<PathBuf> {
    let a = ws.analysis(path);
    let mut by_file: HashMap<u32, Vec<lsp::Diagnostic>> = HashMap::new();
    let mut indexes: HashMap<u32, LineIndex<'_>> = HashMap::new();
    for d in &a.diagnostics {
        let idx = indexes
            .entry(d.span.file)
            .or_insert_with(|| LineIndex::new(a.text(d.span.file)));
        by_file
            .entry(d.span.file)
            .or_default()
            .push(to_lsp(a, idx, d));
    }
    let mut out = HashSet::new();
    for (id, p) in a.paths.iter().enumerate() {
        let Ok(id) = u32::try_from(id) else { break };
        let list = by_file.remove(&id).unwrap_or_default();
        // The edited file always gets a list (an empty one clears it).
        if list.is_empty() && p != path {
            continue;
        }
        if let Some(uri) = path_to_uri(p) {
            if !list.is_empty() {
                out.insert(p.clone());
            }
            notify(connection, uri, list);
        }
    }
    out
}

fn notify(connection: &Connection, uri: Uri, diagnostics: Vec<lsp::Diagnostic>) {
    let params = lsp::PublishDiagnosticsParams {
        uri,
        diagnostics,
        version: None,
    };
    if let Ok(params) = serde_json::to_value(params) {
        send(
            connection,
            Message::Notification(Notification {
                method: note::PublishDiagnostics::METHOD.into(),
                params,
            }),
        );
    }
}

/// A diagnostic as the editor shows it: code, message with its help, the
/// related places.
fn to_lsp(
    a: &workspace::Analysis,
    idx: &LineIndex<'_>,
    d: &wangge_dsl::Diagnostic,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|(span, what)| {
            let path = a.paths.get(span.file as usize)?;
            let t = a.text(span.file);
            Some(lsp::DiagnosticRelatedInformation {
                location: lsp::Location::new(
                    path_to_uri(path)?,
                    LineIndex::new(t).range(span.start, span.end),
                ),
                message: what.clone(),
            })
        })
        .collect();
    lsp::Diagnostic {
        range: idx.range(d.span.start, d.span.end),
        severity: Some(match d.severity {
            wangge_dsl::Severity::Error => lsp::DiagnosticSeverity::ERROR,
            wangge_dsl::Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.to_string())),
        source: Some("wangge".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

type Answer = Result<Value, (ErrorCode, String)>;

fn invalid(e: impl std::fmt::Display) -> (ErrorCode, String) {
    (ErrorCode::InvalidParams, e.to_string())
}

fn to_value(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

/// The document a request is about, its analysis, its file id and the
/// byte offset of its position.
fn locate<'w>(
    ws: &'w mut Workspace,
    doc: &lsp::TextDocumentPositionParams,
) -> Result<(&'w workspace::Analysis, u32, usize), (ErrorCode, String)> {
    let path = uri_to_path(&doc.text_document.uri).ok_or_else(|| {
        invalid(format!(
            "`{}` is not a file URI",
            doc.text_document.uri.as_str()
        ))
    })?;
    let a = ws.analysis(&path);
    let id = a
        .file_id(&path)
        .ok_or_else(|| invalid(format!("`{}` is not a policy file", path.display())))?;
    let offset = LineIndex::new(a.text(id)).offset(doc.position);
    Ok((a, id, offset))
}

fn answer(ws: &mut Workspace, method: &str, params: Value) -> Answer {
    match method {
        req::HoverRequest::METHOD => {
            let p: lsp::HoverParams = serde_json::from_value(params).map_err(invalid)?;
            let (a, id, offset) = locate(ws, &p.text_document_position_params)?;
            to_value(features::hover(a, id, offset).map(|md| lsp::Hover {
                contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                    kind: lsp::MarkupKind::Markdown,
                    value: md,
                }),
                range: None,
            }))
        }
        req::GotoDefinition::METHOD => {
            let p: lsp::GotoDefinitionParams = serde_json::from_value(params).map_err(invalid)?;
            let (a, id, offset) = locate(ws, &p.text_document_position_params)?;
            let text = a.text(id);
            let Some((s, e)) = features::name_at(text, offset) else {
                return Ok(Value::Null);
            };
            let spans: Vec<wangge_dsl::Span> = features::definitions(a, &text[s..e])
                .iter()
                .map(|d| d.span)
                .collect();
            to_value(locations(a, &spans))
        }
        req::References::METHOD => {
            let p: lsp::ReferenceParams = serde_json::from_value(params).map_err(invalid)?;
            let (a, id, offset) = locate(ws, &p.text_document_position)?;
            let text = a.text(id);
            let Some((s, e)) = features::name_at(text, offset) else {
                return Ok(Value::Null);
            };
            let spans = features::references(a, &text[s..e]);
            to_value(locations(a, &spans))
        }
        req::Completion::METHOD => {
            let p: lsp::CompletionParams = serde_json::from_value(params).map_err(invalid)?;
            let (a, id, offset) = locate(ws, &p.text_document_position)?;
            let items: Vec<lsp::CompletionItem> = features::completions(a, id, offset)
                .into_iter()
                .map(|(label, detail)| lsp::CompletionItem {
                    label,
                    detail: Some(detail),
                    ..Default::default()
                })
                .collect();
            to_value(items)
        }
        req::Formatting::METHOD => {
            let p: lsp::DocumentFormattingParams =
                serde_json::from_value(params).map_err(invalid)?;
            formatting(ws, &p.text_document.uri)
        }
        req::CodeActionRequest::METHOD => {
            let p: lsp::CodeActionParams = serde_json::from_value(params).map_err(invalid)?;
            code_actions(ws, &p)
        }
        _ => Err((
            ErrorCode::MethodNotFound,
            format!("`{method}` is not supported"),
        )),
    }
}

fn locations(a: &workspace::Analysis, spans: &[wangge_dsl::Span]) -> Vec<lsp::Location> {
    spans
        .iter()
        .filter_map(|s| {
            let path = a.paths.get(s.file as usize)?;
            let range = LineIndex::new(a.text(s.file)).range(s.start, s.end);
            Some(lsp::Location::new(path_to_uri(path)?, range))
        })
        .collect()
}

/// The whole document replaced by its formatted text (none when it is
/// formatted already, or does not parse: its diagnostics say why).
fn formatting(ws: &mut Workspace, uri: &Uri) -> Answer {
    let path = uri_to_path(uri).ok_or_else(|| invalid("not a file URI"))?;
    let text = match ws.document(&path) {
        Some(t) => t.to_string(),
        None => std::fs::read_to_string(&path).map_err(invalid)?,
    };
    match wangge_dsl::format::format(&text) {
        Ok(out) if out != text => {
            let idx = LineIndex::new(&text);
            to_value(vec![lsp::TextEdit {
                range: idx.range(0, text.len()),
                new_text: out,
            }])
        }
        Ok(_) => to_value(Vec::<lsp::TextEdit>::new()),
        Err(_) => Ok(Value::Null),
    }
}

/// Quick fixes: every diagnostic in range whose help names a replacement
/// (full-width punctuation → its ASCII twin; an unknown name → the
/// nearest known one).
fn code_actions(ws: &mut Workspace, p: &lsp::CodeActionParams) -> Answer {
    let path = uri_to_path(&p.text_document.uri).ok_or_else(|| invalid("not a file URI"))?;
    let a = ws.analysis(&path);
    let Some(id) = a.file_id(&path) else {
        return to_value(Vec::<lsp::CodeAction>::new());
    };
    let idx = LineIndex::new(a.text(id));
    let (from, to) = (idx.offset(p.range.start), idx.offset(p.range.end));
    let mut actions = Vec::new();
    for d in a.diagnostics.iter().filter(|d| d.span.file == id) {
        if d.span.end < from || d.span.start > to {
            continue;
        }
        let Some(fix) = features::suggested_fix(d) else {
            continue;
        };
        let edit = lsp::TextEdit {
            range: idx.range(d.span.start, d.span.end),
            new_text: fix.clone(),
        };
        // lsp-types' own map type; its `Uri` key is never mutated.
        #[allow(clippy::mutable_key_type)]
        let mut changes = HashMap::new();
        changes.insert(p.text_document.uri.clone(), vec![edit]);
        actions.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
            title: format!("replace with `{fix}`"),
            kind: Some(lsp::CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![to_lsp(a, &idx, d)]),
            edit: Some(lsp::WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    to_value(actions)
}
