//! 政策版本: the versions this server knows (the active one marked), the
//! line diff between two of them, and a replay report: the stored cases
//! of a period (exported through `AdminService/Export` with the user's
//! token, so it needs `导出`) replayed through both versions, with how
//! many change class, level, deadline … and the list of changed cases.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use tokio_stream::StreamExt;
use wangge_proto::v1;
use wangge_proto::v1::admin_service_server::AdminService;
use wangge_proto::v1::policy_service_server::PolicyService;

use super::pages::{page, when};
use super::{refused, Console, User};
use crate::server::services::{Admin, Policies};

/// Changed cases a replay report lists.
const SHOWN: usize = 200;

#[derive(Deserialize, Default)]
pub struct Pair {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// Replay: cases reported on or after this day (`2025-12-01`).
    #[serde(default)]
    since: String,
}

/// 政策版本: every version, and the forms to compare two.
pub async fn versions(State(c): State<Arc<Console>>, User(s): User) -> Response {
    let got = Policies(c.app().clone())
        .list_versions(s.request(v1::ListVersionsRequest {}))
        .await;
    let list = match got {
        Ok(r) => r.into_inner().versions,
        Err(st) => return refused(&format!("无法列出政策版本：{}", st.message())),
    };
    let active = list.iter().find(|v| v.active).map(|v| v.hash.clone());
    let older = list.iter().find(|v| !v.active).map(|v| v.hash.clone());
    let picker = |name: &str, label: &str, chosen: &Option<String>| {
        html! {
            label for=(name) { (label) }
            select id=(name) name=(name) { @for v in &list {
                option value=(v.hash) selected[chosen.as_deref() == Some(v.hash.as_str())] {
                    (short(&v.hash)) " " (v.label) @if v.active { "（当前）" }
                }
            } }
        }
    };
    page(
        "政策版本",
        Some(&s),
        html! {
            table {
                thead { tr { th scope="col" { "版本" } th scope="col" { "名称" } th scope="col" { "标签" } th scope="col" { "首次编译" } th scope="col" { "条目" } th scope="col" { "状态" } } }
                tbody { @for v in &list { tr {
                    td { code { (short(&v.hash)) } } td { (v.name) } td { (v.label) }
                    td { (when(v.deployed_at)) } td { (v.items.len()) }
                    td { @if v.active { strong { "当前生效" } } @else { "历史" } }
                } } }
            }
            h2 { "比较两个版本" }
            form method="get" action="/policy/diff" class="filters" {
                (picker("from", "原版本", &older)) (picker("to", "新版本", &active))
                button type="submit" { "逐行对比" }
            }
            form method="get" action="/policy/replay" class="filters" {
                (picker("from", "原版本", &older)) (picker("to", "新版本", &active))
                label for="since" { "重放自（日期，含）" }
                input id="since" name="since" placeholder="2025-12-01";
                button type="submit" { "用已存案件重放" }
            }
        },
    )
    .into_response()
}

/// The first 12 hex digits of a version.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The stored files of version `hash` (a prefix of 8 or more will do).
fn files_of(c: &Console, hash: &str) -> Result<Vec<(String, String)>, Response> {
    let hash = hash.trim();
    c.app()
        .registry
        .list()
        .into_iter()
        .find(|v| v.hash == hash || (hash.len() >= 8 && v.hash.starts_with(hash)))
        .map(|v| v.files)
        .ok_or_else(|| refused(&format!("没有政策版本 `{hash}`。")))
}

/// The line diff of two versions, file by file.
pub async fn diff(State(c): State<Arc<Console>>, User(s): User, Query(q): Query<Pair>) -> Response {
    let (a, b) = match (files_of(&c, &q.from), files_of(&c, &q.to)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let mut names: Vec<&String> = a.iter().chain(&b).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    let text = |files: &[(String, String)], name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map_or(String::new(), |(_, t)| t.clone())
    };
    let mut changed = Vec::new();
    for name in names {
        let (old, new) = (text(&a, name), text(&b, name));
        if old != new {
            let d = similar::TextDiff::from_lines(&old, &new);
            let lines: Vec<(char, String)> = d
                .unified_diff()
                .context_radius(3)
                .iter_hunks()
                .flat_map(|h| {
                    let mut out = vec![('@', h.header().to_string())];
                    out.extend(h.iter_changes().map(|ch| {
                        let sign = match ch.tag() {
                            similar::ChangeTag::Delete => '-',
                            similar::ChangeTag::Insert => '+',
                            similar::ChangeTag::Equal => ' ',
                        };
                        (sign, ch.value().trim_end_matches('\n').to_string())
                    }));
                    out
                })
                .collect();
            changed.push((name.clone(), lines));
        }
    }
    page(
        &format!("{} → {}", short(&q.from), short(&q.to)),
        Some(&s),
        html! {
            @if changed.is_empty() { p { "两个版本的文件完全相同。" } }
            @for (name, lines) in &changed {
                h2 { (name) }
                pre class="diff" { @for (sign, l) in lines {
                    span class={ "d" @match sign { '-' => "del", '+' => "ins", '@' => "hunk", _ => "eq" } } {
                        (sign) " " (l) "\n"
                    }
                } }
            }
        },
    )
    .into_response()
}

/// Replays the stored cases since a day through both versions.
pub async fn replay(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<Pair>,
) -> Response {
    let app = c.app().clone();
    let (a, b) = match (
        app.registry.load(q.from.trim()),
        app.registry.load(q.to.trim()),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return refused(&format!("无法重放：{e}")),
    };
    let since = match q.since.trim() {
        "" => 0,
        // Midnight of that day where the policy's clocks run.
        day => match wangge_policy::parse_ts(&format!("{day}T00:00:00Z")) {
            Some(local) => app.cases.policy().zone().to_utc(local),
            None => return refused(&format!("`{day}` 不是日期（例如 2025-12-01）。")),
        },
    };
    let req = s.request(v1::ExportRequest {
        from_time: since,
        to_time: 0,
        redact: true,
    });
    let mut stream = match Admin(app.clone()).export(req).await {
        Ok(r) => r.into_inner(),
        Err(st) => return refused(&format!("无法导出案件以重放：{}", st.message())),
    };
    let mut log = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(ch) => log.extend_from_slice(&ch.lines),
            Err(st) => return refused(&format!("导出中断：{}", st.message())),
        }
    }
    let report = tokio::task::spawn_blocking(move || {
        let opts = wangge_testkit::ReplayOptions {
            keep_cases: true,
            ..Default::default()
        };
        wangge_testkit::replay(&mut log.as_slice(), &[&*a, &*b], &opts)
    })
    .await;
    match report {
        Ok(Ok(r)) => replay_page(&s, &q, &r).into_response(),
        Ok(Err(e)) => refused(&format!("重放失败：第 {} 行：{}", e.line, e.message)),
        Err(e) => refused(&format!("重放失败：{e}")),
    }
}

fn replay_page(s: &super::session::Session, q: &Pair, r: &wangge_testkit::ReplayReport) -> Markup {
    let (Some(a), Some(b)) = (r.totals.first(), r.totals.get(1)) else {
        return super::pages::refused("重放没有得到两个版本的结果。");
    };
    let rows: [(&str, u64, u64); 6] = [
        ("案件", a.cases, b.cases),
        ("办结", a.closed, b.closed),
        ("上交过的案件", a.escalated_cases, b.escalated_cases),
        ("出格的案件", a.breached_cases, b.breached_cases),
        ("超时的案件", a.overdue_cases, b.overdue_cases),
        ("拒收的上报", a.refused_reports, b.refused_reports),
    ];
    page(
        &format!("重放 {} → {}", short(&q.from), short(&q.to)),
        Some(s),
        html! {
            p { "重放了 " (r.reports) " 件上报、" (r.actions) " 次办理（" (r.lines) " 行记录）。" }
            table {
                thead { tr { th scope="col" { "" } th scope="col" { "原版本" } th scope="col" { "新版本" } } }
                tbody { @for (k, x, y) in rows { tr class=[(x != y).then_some("changed")] { th scope="row" { (k) } td { (x) } td { (y) } } } }
            }
            @if let Some(d) = &r.diff {
                h2 { "变化" }
                p { strong { (d.changed_cases) } " 件案件的结果不同；期限提前 " (d.deadline_earlier) " 件、推后 " (d.deadline_later)
                    " 件；新增出格 " (d.new_breaches) " 件、不再出格 " (d.removed_breaches) " 件。" }
                table {
                    thead { tr { th scope="col" { "方面" } th scope="col" { "案件数" } th scope="col" { "变化（原 → 新：件数）" } } }
                    tbody { @for (aspect, n) in &d.by_aspect { tr {
                        td { (aspect.label()) } td { (n) }
                        td { @if let Some(m) = d.moves.get(aspect) {
                            @for (mv, k) in m { (mv) "：" (k) "；" }
                        } }
                    } } }
                }
                h2 { "变化的案件" @if r.cases.len() > SHOWN { "（前 " (SHOWN) " 件）" } }
                table {
                    thead { tr { th scope="col" { "案件" } th scope="col" { "单位" } th scope="col" { "变化" } } }
                    tbody { @for cd in r.cases.iter().take(SHOWN) { tr {
                        td { a href={ "/cases/" (cd.case_ref) } { (cd.case_ref) } }
                        td { (cd.unit.as_deref().unwrap_or("—")) }
                        td { @for ch in &cd.changes { (ch.aspect.label()) "：" (ch.before) " → " (ch.after) "；" } }
                    } } }
                }
            }
        },
    )
}
