//! How fast `wangge lsp` answers an editor typing into the shipped
//! policies: for each file, edits one at a time (a character typed at a
//! random place, then taken back), timing each edit until its diagnostics
//! arrive, and hover, definition and completion round trips.
//!
//! `cargo bench --bench lsp [-- --edits N]` (target: ≤ 50 ms).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/lsp_client.rs"]
#[allow(dead_code)] // the tests use all of it
mod lsp_client;

use std::time::{Duration, Instant};

use lsp_client::{position, uri, Lsp};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let edits: usize = args
        .iter()
        .position(|a| a == "--edits")
        .and_then(|i| args.get(i + 1))
        .map_or(20, |v| v.parse().expect("--edits N"));
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    copy(&root, dir.path());
    let mut lsp = Lsp::start(env!("CARGO_BIN_EXE_wangge"), dir.path());
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wg"))
        .collect();
    files.sort();
    let mut diag = Vec::new();
    let mut requests = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut version = 1;
    for path in &files {
        let u = uri(path);
        let text = std::fs::read_to_string(path).unwrap();
        lsp.open(&u, &text);
        lsp.diagnostics_for(&u);
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for n in 0..edits {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = bounds[(seed % bounds.len() as u64) as usize];
            // Typed, then taken back: every other edit is the clean file.
            let edited = if n % 2 == 0 {
                format!("{}x{}", &text[..at], &text[at..])
            } else {
                text.clone()
            };
            version += 1;
            lsp.published.clear();
            let started = Instant::now();
            lsp.change(&u, version, &edited);
            lsp.diagnostics_for(&u);
            diag.push(started.elapsed());
            let pos = json!({"textDocument": {"uri": u}, "position": position(&edited, at)});
            for method in [
                "textDocument/hover",
                "textDocument/definition",
                "textDocument/completion",
            ] {
                let started = Instant::now();
                lsp.request(method, pos.clone()).unwrap();
                requests.push(started.elapsed());
            }
        }
    }
    report("edit → diagnostics", &mut diag);
    report("hover/definition/completion", &mut requests);
    // A 4 MB file typed into (not a policy anyone writes: the server must
    // stay responsive).
    let u = uri(&files[0]);
    let mut huge = String::from("table 巨表(x) hit first {\n| x || y |\n");
    while huge.len() < 4 << 20 {
        huge.push_str("| \"一个很长的类别名称\" || \"大事\" |\n");
    }
    huge.push('}');
    let mut times = Vec::new();
    for n in 0..3 {
        lsp.published.clear();
        let started = Instant::now();
        version += 1;
        lsp.change(&u, version, &format!("{huge}\n// {n}"));
        lsp.diagnostics_for(&u);
        times.push(started.elapsed());
    }
    report("a 4 MB file: edit → diagnostics", &mut times);
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: {} samples, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        times.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
