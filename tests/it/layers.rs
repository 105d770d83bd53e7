//! The layering of the workspace, read from `cargo metadata`: every crate
//! depends only on the layers below it (DESIGN.md §3), the policy layer is
//! pure, the syntax layer knows no rhai, and only the edge knows tonic.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on (normal
/// dependencies; dev-dependencies may reach further).
const ALLOWED: &[(&str, &[&str])] = &[
    ("wangge-dsl", &[]),
    ("wangge-policy", &["wangge-dsl"]),
    ("wangge-store", &["wangge-dsl", "wangge-policy"]),
    (
        "wangge-store-sled",
        &["wangge-dsl", "wangge-policy", "wangge-store"],
    ),
    (
        "wangge-store-postgres",
        &["wangge-dsl", "wangge-policy", "wangge-store"],
    ),
    // The services see the ports, never a backend.
    (
        "wangge-app",
        &["wangge-dsl", "wangge-policy", "wangge-store"],
    ),
    (
        "wangge-testkit",
        &[
            "wangge-dsl",
            "wangge-policy",
            "wangge-store",
            "wangge-store-sled",
            "wangge-app",
        ],
    ),
    ("wangge-proto", &[]),
    ("wangge-alloc", &[]),
];

struct Graph {
    /// package id → name
    names: BTreeMap<String, String>,
    /// package name → names of its normal (non-dev, non-build) dependencies
    normal: BTreeMap<String, BTreeSet<String>>,
}

fn metadata() -> Graph {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let names: BTreeMap<String, String> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut normal: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in v["resolve"]["nodes"].as_array().unwrap() {
        let from = names[node["id"].as_str().unwrap()].clone();
        let entry = normal.entry(from).or_default();
        for dep in node["deps"].as_array().unwrap() {
            let is_normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            if is_normal {
                entry.insert(names[dep["pkg"].as_str().unwrap()].clone());
            }
        }
    }
    Graph { names, normal }
}

impl Graph {
    /// Every package `name` pulls in through normal dependencies.
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            for d in self.normal.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    }

    fn direct(&self, name: &str) -> &BTreeSet<String> {
        &self.normal[name]
    }
}

#[test]
fn layers_depend_only_downward() {
    let g = metadata();
    assert!(g.names.values().any(|n| n == "wangge"));
    for (krate, allowed) in ALLOWED {
        let internal: BTreeSet<&str> = g
            .direct(krate)
            .iter()
            .map(String::as_str)
            .filter(|d| d.starts_with("wangge"))
            .collect();
        let extra: Vec<&&str> = internal.iter().filter(|d| !allowed.contains(d)).collect();
        assert!(
            extra.is_empty(),
            "`{krate}` depends on {extra:?}, which are not below it"
        );
    }
}

#[test]
fn policy_layer_is_pure() {
    let g = metadata();
    let all = g.closure("wangge-policy");
    for banned in ["sled", "tokio", "tonic", "csv", "prost", "wangge-store"] {
        assert!(
            !all.contains(banned),
            "the policy layer pulls in `{banned}`"
        );
    }
}

#[test]
fn syntax_layer_knows_no_rhai() {
    let g = metadata();
    let all = g.closure("wangge-dsl");
    assert!(!all.contains("rhai"), "wangge-dsl pulls in rhai");
    assert!(!all.iter().any(|d| d.starts_with("wangge-")));
}

#[test]
fn only_the_edge_knows_tonic() {
    let g = metadata();
    for krate in g.normal.keys().filter(|k| k.starts_with("wangge")) {
        if krate == "wangge" || krate == "wangge-proto" {
            continue;
        }
        let all = g.closure(krate);
        // The PostgreSQL driver is async: that backend runs a tokio
        // runtime of its own behind the synchronous ports (and nothing
        // above it may link it, see `storage_backends_stay_out_of_the_services`).
        let banned: &[&str] = if krate == "wangge-store-postgres" {
            &["tonic", "prost"]
        } else {
            &["tonic", "prost", "tokio"]
        };
        for banned in banned {
            assert!(!all.contains(*banned), "`{krate}` pulls in `{banned}`");
        }
    }
}

#[test]
fn storage_backends_stay_out_of_the_services() {
    let g = metadata();
    let app = g.closure("wangge-app");
    assert!(!app.contains("sled"), "wangge-app pulls in sled");
    for backend in [
        "wangge-store-sled",
        "wangge-store-postgres",
        "tokio-postgres",
    ] {
        assert!(!app.contains(backend), "wangge-app pulls in `{backend}`");
    }
    assert!(!app.contains("wangge-testkit"));
}
