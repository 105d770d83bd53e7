//! `/metrics` after a session like a day's work over gRPC: every metric the
//! operations guide names is there with its labels, and every query of the
//! shipped Grafana dashboard and Prometheus alert rules names a metric the
//! server exports.

use std::collections::BTreeSet;

use crate::server::Server;
use crate::util::wangge;

fn ok(addr: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--server", addr]);
    let out = wangge(&all);
    assert_eq!(out.code, 0, "{all:?}: {}{}", out.stdout, out.stderr);
    out.stdout
}

/// A day's work: a 小事 handled in its grid and closed, a 小事 left to climb
/// past its ceiling and on to the top of the ladder, a 大事 whose
/// summoned department does not report in, a deploy, a settlement.
fn session(addr: &str, dir: &std::path::Path) {
    let departments = dir.join("departments.csv");
    std::fs::write(
        &departments,
        "编号,名称,层级,上级,户数,农村,专属类型,党员数,现有组织数\n\
         城管局,城管局,职能部门,,,,,,\n住建局,住建局,职能部门,,,,,,\n",
    )
    .unwrap();
    ok(addr, &["org", "import", &departments.display().to_string()]);
    ok(addr, &["org", "import", "examples/org/people.csv"]);
    let report = |data: &str| -> String {
        let out = ok(
            addr,
            &[
                "case", "report", "--unit", "M1", "--data", data, "-o", "json",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["case"]["id"].to_string()
    };
    let closed = report(r#"{"类别": "垃圾堆放", "人数": 1, "风险": 1}"#);
    for (action, outcome) in [
        ("立案", ""),
        ("派遣", ""),
        ("处置", ""),
        ("反馈", "满意"),
        ("核查", "合格"),
    ] {
        let mut args = vec!["case", "act", closed.as_str(), action];
        if !outcome.is_empty() {
            args.extend(["--outcome", outcome]);
        }
        ok(addr, &args);
    }
    report(r#"{"类别": "占道经营", "人数": 1, "风险": 1}"#);
    let big = report(r#"{"类别": "燃气安全", "人数": 2, "风险": 3}"#);
    ok(
        addr,
        &[
            "case",
            "act",
            &big,
            "summon",
            "--department",
            "住建局",
            "--department",
            "城管局",
        ],
    );
    ok(
        addr,
        &["case", "act", &big, "report_in", "--department", "住建局"],
    );
    // A 微心愿 nobody dispatches: it climbs to 街道, the top, and is overdue there.
    ok(
        addr,
        &[
            "case",
            "report",
            "--workflow",
            "微心愿",
            "--unit",
            "C1",
            "--data",
            r#"{"内容": "修水龙头"}"#,
        ],
    );
    ok(addr, &crate::client::PATROL);
    // Six weeks on: limits run out all the way up the ladders.
    ok(addr, &["clock", "set", "2026-10-30T10:00:00+08:00"]);
    ok(addr, &["incentive", "settle", "2026-09"]);
    ok(addr, &["policy", "deploy", "policies"]);
}

/// The gRPC label names (they share the metrics' `grpc_` prefix).
const GRPC_LABELS: [&str; 4] = ["grpc_type", "grpc_service", "grpc_method", "grpc_code"];

/// The metric names a PromQL expression reads (every metric of ours starts
/// with one of these prefixes).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if ["wangge_", "grpc_", "process_"]
                .iter()
                .any(|p| word.starts_with(p))
                && !GRPC_LABELS.contains(&word.as_str())
            {
                names.insert(word.clone());
            }
            word.clear();
        }
    }
    names
}

/// Every `expr` string anywhere in a JSON document.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The metric names (series names) a scrape holds.
fn exported(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn metrics_after_a_session_say_how_the_governance_is_doing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let addr = server.grpc.as_str();
    session(addr, data.path());
    let body = crate::util::http_get(&server.metrics, "/metrics");
    for expected in [
        "grpc_server_started_total{grpc_type=\"unary\",grpc_service=\"wangge.v1.CaseService\",grpc_method=\"Report\"} 4",
        "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"wangge.v1.CaseService\",grpc_method=\"Report\",grpc_code=\"OK\"} 4",
        "grpc_server_handling_seconds_bucket{le=\"+Inf\",grpc_type=\"unary\",grpc_service=\"wangge.v1.CaseService\",grpc_method=\"Report\"} 4",
        "wangge_cases_opened_total{workflow=\"事件处置\",class=\"小事\"} 2",
        "wangge_cases_opened_total{workflow=\"事件处置\",class=\"大事\"} 1",
        "wangge_cases_closed_total{workflow=\"事件处置\",class=\"小事\"} 1",
        "wangge_case_escalations_total{workflow=\"事件处置\",level=\"一般网格\"} 1",
        "wangge_case_breaches_total{workflow=\"事件处置\",level=\"社区\"} 1",
        "wangge_report_in_missed_total{workflow=\"事件处置\",department=\"城管局\"} 1",
        "wangge_policy_deploys_total{outcome=\"deployed\"} 1",
        "wangge_settlements_total ",
        "wangge_timer_errors_total 0",
        "wangge_cases{workflow=\"事件处置\",state=\"结案\"} 1",
        "wangge_cases_stored 4",
        "wangge_timers_pending ",
        "wangge_timer_lag_seconds 0",
        "wangge_policy_active_info{version=\"",
        "wangge_build_info{version=\"",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(body.contains(expected), "no `{expected}` in:\n{body}");
    }
    assert!(
        body.contains("wangge_case_overdue_total{workflow=\"微心愿\",level=\"街道\"} 1"),
        "no overdue count in:\n{body}"
    );
    assert!(!body.contains("wangge_settlements_total 0"), "{body}");

    // The dashboard and the alert rules read only what the server exports.
    let series = exported(&body);
    let known = |name: &str| {
        series.contains(name)
            || ["_bucket", "_sum", "_count", "_total", "_info"]
                .iter()
                .any(|s| series.contains(&format!("{name}{s}")))
    };
    let root = crate::util::root();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/wangge.json")).unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let alert_exprs: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:"))
        .map(str::to_string)
        .collect();
    assert!(alert_exprs.len() >= 3, "{rules}");
    queries.extend(alert_exprs);
    for q in &queries {
        let names = metric_names(q);
        assert!(!names.is_empty(), "a query reads no wangge metric: `{q}`");
        for n in names {
            assert!(
                known(&n),
                "`{q}` reads `{n}`, which the server does not export"
            );
        }
    }
}
