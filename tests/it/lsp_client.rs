//! A JSON-RPC client for `wangge lsp` (Content-Length framing over the
//! child's stdio), shared by the language-server tests and its benchmark.
//! A reader thread hands messages over a channel, so a hung server is a
//! timeout, not a hung test.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Lsp {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    /// Diagnostics published since the last take, in order: (uri, list).
    pub published: Vec<(String, Vec<Value>)>,
}

/// How long any answer may take before the server counts as hung.
pub const HANG: Duration = Duration::from_secs(60);

impl Lsp {
    /// Starts `wangge lsp` with `root` as the workspace folder.
    pub fn start(bin: &str, root: &std::path::Path) -> Lsp {
        let mut lsp = Lsp::spawn(bin);
        let uri = uri(root);
        lsp.request(
            "initialize",
            json!({"processId": null, "rootUri": uri, "capabilities": {},
                   "workspaceFolders": [{"uri": uri, "name": "policies"}]}),
        )
        .expect("initialize");
        lsp.notify("initialized", json!({}));
        lsp
    }

    /// Starts `wangge lsp` without initializing it.
    pub fn spawn(bin: &str) -> Lsp {
        let mut child = Command::new(bin)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wangge lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        length = v.parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return;
                };
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Lsp {
            child,
            stdin,
            messages,
            next_id: 0,
            published: Vec::new(),
        }
    }

    fn write(&mut self, v: &Value) {
        let body = v.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.write(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message, or `None` when the server is silent for `HANG`.
    fn next(&mut self, wait: Duration) -> Option<Value> {
        match self.messages.recv_timeout(wait) {
            Ok(v) => {
                if v["method"] == "textDocument/publishDiagnostics" {
                    let uri = v["params"]["uri"].as_str().unwrap_or("").to_string();
                    let list = v["params"]["diagnostics"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    self.published.push((uri, list));
                }
                Some(v)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the language server exited"),
        }
    }

    /// Sends a request and waits for its answer: `Ok(result)` or
    /// `Err(error)`; panics when the server hangs or dies.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let started = Instant::now();
        loop {
            let left = HANG.saturating_sub(started.elapsed());
            let Some(v) = self.next(left) else {
                panic!("`{method}` got no answer within {HANG:?}");
            };
            if v["id"] == json!(id) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    /// The next diagnostics published for `uri` (waiting up to `HANG`).
    pub fn diagnostics_for(&mut self, uri: &str) -> Vec<Value> {
        let started = Instant::now();
        loop {
            if let Some(i) = self.published.iter().position(|(u, _)| u == uri) {
                let (_, list) = self.published.remove(i);
                return list;
            }
            let left = HANG.saturating_sub(started.elapsed());
            if self.next(left).is_none() {
                panic!("no diagnostics for {uri} within {HANG:?}");
            }
        }
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "wangge", "version": 1, "text": text}}),
        );
    }

    pub fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version},
                   "contentChanges": [{"text": text}]}),
        );
    }

    /// Shuts the server down as an editor does; its exit code.
    pub fn shutdown(mut self) -> Option<i32> {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        self.exit_code()
    }

    /// Waits for the server to exit (up to `HANG`); its exit code.
    pub fn exit_code(mut self) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if started.elapsed() > HANG {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `file://` URI of a path, as editors send it (percent-encoded).
pub fn uri(path: &std::path::Path) -> String {
    let mut s = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The LSP position (UTF-16 columns) of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let character: usize = before[start..].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}
