//! The README's command blocks run, in order, as written: a `serve` line
//! starts a server (on a free port, in a scratch copy of the repository's
//! policies and examples), every other command runs against it, so the
//! README cannot drift from what works.
//!
//! What the test changes, and why: the server listens on a free port (the
//! README's `127.0.0.1:50051` is rewritten to it), `gen-history` writes
//! 5,000 events over 200 micro grids instead of 2,000,000 (a debug build in CI), and `cargo
//! test` is not run from inside a test. A command is expected to exit 0,
//! except `check` of the broken fixture, which the README says exits 1.

use std::path::Path;
use std::process::Command;

use crate::server::Server;
use crate::util::root;

/// The `sh` blocks of the README, each as its commands (continuation lines
/// joined, comments and blank lines dropped).
fn blocks() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (mut blocks, mut current): (Vec<Vec<String>>, Option<Vec<String>>) = (Vec::new(), None);
    let mut pending = String::new();
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(b), "```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), l) => {
                let l = l.strip_prefix('#').map_or(l, |_| "");
                let code = match l.find("  #") {
                    Some(i) => &l[..i],
                    None => l,
                };
                pending.push_str(code.trim_end().trim_end_matches('\\'));
                if !code.trim_end().ends_with('\\') {
                    let cmd = pending.trim().to_string();
                    if !cmd.is_empty() {
                        b.push(cmd);
                    }
                    pending.clear();
                } else {
                    pending.push(' ');
                }
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Splits a command line into words, honouring single and double quotes.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            (_, c) => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The `wangge` arguments of a README command, or `None` for a line that
/// is not a `wangge` invocation.
fn wangge_args(line: &str) -> Option<Vec<String>> {
    let w = words(line);
    let rest = match w.as_slice() {
        [c, r, rel, dd, rest @ ..]
            if c == "cargo" && r == "run" && rel == "--release" && dd == "--" =>
        {
            rest
        }
        [c, r, rel, q, dd, rest @ ..]
            if c == "cargo" && r == "run" && rel == "--release" && q == "-q" && dd == "--" =>
        {
            rest
        }
        [w, rest @ ..] if w == "$W" => rest,
        _ => return None,
    };
    Some(rest.to_vec())
}

#[test]
fn every_command_block_of_the_readme_works_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    for dir in ["policies", "examples", "tests/fixtures"] {
        copy_tree(&root().join(dir), &work.join(dir));
    }
    let mut server: Option<Server> = None;
    let mut ran = 0;
    for line in blocks().into_iter().flatten() {
        if line.starts_with("W=") || line.starts_with("cargo test") {
            continue;
        }
        let Some(mut args) = wangge_args(&line) else {
            // Shell lines (cp, sed): run as written.
            let out = Command::new("sh")
                .arg("-c")
                .arg(&line)
                .current_dir(work)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "`{line}`: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        if args.first().map(String::as_str) == Some("serve")
            && args.iter().any(|a| a == "--postgres")
        {
            // The PostgreSQL block runs against the test database, in a
            // schema of its own, when there is one.
            let Ok(pg) = std::env::var("WANGGE_TEST_POSTGRES_URL") else {
                continue;
            };
            let schema = format!("readme_{}", std::process::id());
            for i in 0..args.len() {
                match args[i].as_str() {
                    "--postgres" => args[i + 1] = pg.clone(),
                    "--postgres-schema" => args[i + 1] = schema.clone(),
                    _ => {}
                }
            }
            drop(server.take());
            // The addresses the README gives are the test's own.
            while let Some(i) = args
                .iter()
                .position(|a| a == "--listen" || a == "--metrics-listen" || a == "--console-listen")
            {
                args.drain(i..(i + 2).min(args.len()));
            }
            args.extend(
                [
                    "--listen",
                    "127.0.0.1:0",
                    "--metrics-listen",
                    "off",
                    "--console-listen",
                    "off",
                ]
                .map(String::from),
            );
            let started = Server::spawn(&args, work);
            drop(started);
            let _ = Command::new("psql")
                .args([
                    &pg,
                    "-qc",
                    &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                ])
                .output();
            continue;
        }
        if args.first().map(String::as_str) == Some("serve") {
            drop(server.take());
            args.extend(
                [
                    "--listen",
                    "127.0.0.1:0",
                    "--metrics-listen",
                    "off",
                    "--console-listen",
                    "127.0.0.1:0",
                ]
                .map(String::from),
            );
            server = Some(Server::spawn(&args, work));
            continue;
        }
        if args.first().map(String::as_str) == Some("gen-history") {
            args.extend(["--events", "5000", "--micro-grids", "200"].map(String::from));
        }
        let url = server
            .as_ref()
            .map(|s| format!("http://{}", s.grpc))
            .unwrap_or_default();
        for a in &mut args {
            if a == "http://127.0.0.1:50051" {
                *a = url.clone();
            }
        }
        // `> FILE`: the output goes to the file.
        let redirect = args.iter().position(|a| a == ">").map(|i| {
            let file = args.get(i + 1).cloned().unwrap_or_default();
            args.truncate(i);
            file
        });
        let out = Command::new(env!("CARGO_BIN_EXE_wangge"))
            .args(&args)
            .current_dir(work)
            .env("WANGGE_SERVER", &url)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let expected = if line.contains("tests/fixtures/broken") {
            1
        } else {
            0
        };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "`{line}`:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(file) = redirect {
            std::fs::write(work.join(file), &out.stdout).unwrap();
        }
        ran += 1;
    }
    assert!(ran >= 40, "only {ran} commands found in the README");
}
