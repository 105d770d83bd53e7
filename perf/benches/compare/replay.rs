//! Replay through the CLI, as a user runs it: `wangge gen-history` writes a
//! log of EVENTS reports, then `wangge replay` is timed (best of two).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::out::Table;

pub fn run(wangge: &Path, repo: &Path, events: u64, out: &mut Table) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("history.jsonl");
    let status = Command::new(wangge)
        .args(["gen-history", "--events", &events.to_string(), "--out"])
        .arg(&log)
        .current_dir(repo)
        .status()
        .expect("gen-history runs");
    assert!(status.success(), "gen-history failed");
    let mut best = f64::INFINITY;
    for _ in 0..2 {
        let start = Instant::now();
        let o = Command::new(wangge)
            .arg("replay")
            .arg(&log)
            .current_dir(repo)
            .output()
            .expect("replay runs");
        assert!(
            o.status.success(),
            "replay failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        best = best.min(start.elapsed().as_secs_f64());
    }
    out.note(format!(
        "replay of {events} events through the CLI (one version): best of two {best:.1} s"
    ));
}
