//! What an operator installs: the licence, the container image recipe, the
//! systemd unit, `wangge --version` and `wangge health`. `docker build`
//! cannot run on the test machines, so the Dockerfile is read and checked
//! instruction by instruction (and by `hadolint` when it is installed);
//! the unit by `systemd-analyze verify` when it is installed.

use std::process::Command;

use crate::server::Server;
use crate::util::{root, wangge};

#[test]
fn the_licence_is_the_one_cargo_declares() {
    let licence = std::fs::read_to_string(root().join("LICENSE")).unwrap();
    assert!(licence.contains("Apache License") && licence.contains("Version 2.0, January 2004"));
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"Apache-2.0\""));
}

/// Dockerfile instructions: continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                let (op, args) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((op.to_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// The environment variables `wangge serve` reads (from its help).
fn serve_env() -> String {
    wangge(&["serve", "--help"]).stdout
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_unprivileged_with_a_volume_and_a_health_check() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let ins = instructions(&text);
    let froms: Vec<usize> = (0..ins.len()).filter(|&i| ins[i].0 == "FROM").collect();
    assert!(froms.len() >= 2, "not multi-stage: {ins:?}");
    let last = &ins[*froms.last().unwrap()..];
    let find = |op: &'static str| {
        last.iter()
            .filter(move |(o, _)| o == op)
            .map(|(_, a)| a.as_str())
    };
    let user: Vec<&str> = find("USER").collect();
    assert!(
        !user.is_empty()
            && user
                .iter()
                .all(|u| !u.starts_with("root") && !u.starts_with('0')),
        "{user:?}"
    );
    assert!(find("COPY").any(|a| a.starts_with("--from=build") && a.contains("release/wangge")));
    assert!(find("VOLUME").any(|a| a.contains("/var/lib/wangge")));
    assert!(find("EXPOSE").any(|a| a.contains("50051") && a.contains("9464")));
    let health: Vec<&str> = find("HEALTHCHECK").collect();
    assert!(
        health.len() == 1 && health[0].contains("\"wangge\", \"health\""),
        "{health:?}"
    );
    // Every setting it passes is one the server reads, and the data is on the volume.
    let help = serve_env();
    for env in find("ENV") {
        for name in env
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, _)| k)
        {
            assert!(
                help.contains(&format!("env: {name}=")),
                "`wangge serve` does not read `{name}`"
            );
        }
    }
    assert!(text.contains("WANGGE_DATA=/var/lib/wangge/data"));
    if let Ok(out) = Command::new("hadolint")
        .arg(root().join("Dockerfile"))
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn the_systemd_unit_verifies_and_sets_only_settings_the_server_reads() {
    let unit = std::fs::read_to_string(root().join("deploy/systemd/wangge.service")).unwrap();
    let help = serve_env();
    for line in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let name = line.split('=').next().unwrap();
        assert!(
            help.contains(&format!("env: {name}=")),
            "`wangge serve` does not read `{name}`"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wangge.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/wangge", env!("CARGO_BIN_EXE_wangge")),
    )
    .unwrap();
    if let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
    {
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_version_names_the_git_revision() {
    let out = wangge(&["--version"]);
    assert_eq!(out.code, 0);
    let line = out.stdout.trim();
    let revision = line
        .strip_prefix(concat!("wangge ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        revision == "unknown"
            || (revision.len() == 12 && revision.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}

#[test]
fn health_says_serving_and_fails_without_a_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = wangge(&["health", "--server", &server.grpc]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, "SERVING"),
        "{}",
        out.stderr
    );
    let out = wangge(&[
        "health",
        "--server",
        &server.grpc,
        "--service",
        "wangge.v1.CaseService",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    drop(server);
    let out = wangge(&["health", "--server", "127.0.0.1:9"]);
    assert_eq!(out.code, 1);
}
