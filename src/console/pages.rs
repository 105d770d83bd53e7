//! The console's pages, rendered on the server (maud escapes every value
//! it is given). Chinese UI; labels on every field; works without script.

use maud::{html, Markup, DOCTYPE};
use wangge_proto::v1;

use super::session::Session;

/// The frame every page shares.
pub(super) fn page(title: &str, user: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 网格治理" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                a href="#main" class="skip" { "跳到正文" }
                header {
                    strong { "网格治理 · 运行台" }
                    @if let Some(s) = user {
                        nav aria-label="主导航" {
                            a href="/todo" { "待办" } " " a href="/cases" { "案件" } " "
                            a href="/board" { "出格超时" } " " a href="/org" { "组织与星级" } " "
                            a href="/tasks" { "任务" } " " a href="/settlements" { "补贴" } " "
                            a href="/reports" { "报表" } " " a href="/policy" { "政策版本" }
                        }
                        form method="post" action="/logout" class="inline" {
                            span { (s.name) }
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "退出" }
                        }
                    }
                }
                main id="main" tabindex="-1" { h1 { (title) } (body) }
            }
        }
    }
}

/// The sign-in page: a token (from `wangge token issue` or the identity
/// provider), or — without authentication — the local operator.
pub fn login(auth: bool, error: Option<&str>) -> Markup {
    page(
        "登录",
        None,
        html! {
            @if let Some(e) = error { p role="alert" class="error" { (e) } }
            form method="post" action="/login" {
                @if auth {
                    label for="token" { "访问令牌（wangge token issue 或统一身份认证签发）" }
                    textarea id="token" name="token" rows="4" required autocomplete="off" {}
                } @else {
                    p { "本服务器未启用身份认证，仅在本机回环地址可用：以本机操作员身份进入。" }
                }
                button type="submit" { "登录" }
            }
        },
    )
}

/// Seconds left as the page shows them (超时 when negative).
pub(super) fn left(seconds: i64) -> String {
    let (sign, s) = if seconds < 0 {
        ("超时 ", -seconds)
    } else {
        ("", seconds)
    };
    let (h, m) = (s / 3600, (s % 3600) / 60);
    format!("{sign}{h} 小时 {m} 分")
}

/// 待办: the caller's open work, nearest deadline first.
pub fn todo(s: &Session, r: &v1::TodoResponse) -> Markup {
    page(
        "待办",
        Some(s),
        html! {
            @if r.items.is_empty() {
                p { "没有待办事项。" }
            } @else {
                table {
                    caption { "共 " (r.items.len()) " 件，按最近期限排序" }
                    thead { tr {
                        th scope="col" { "编号" } th scope="col" { "流程" } th scope="col" { "类别" }
                        th scope="col" { "层级" } th scope="col" { "状态" } th scope="col" { "单位" }
                        th scope="col" { "剩余时间" } th scope="col" { "可办理" }
                    } }
                    tbody {
                        @for item in &r.items {
                            @if let Some(c) = &item.case {
                                tr class=[(item.seconds_left < 0).then_some("overdue")] {
                                    td { a href={ "/cases/" (c.id) } { (c.id) } } td { (c.workflow) } td { (c.class) }
                                    td { (c.level) } td { (c.state) } td { (c.unit) }
                                    td { (left(item.seconds_left)) }
                                    td { (item.actions.join("、")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A refusal: what was wrong, and that nothing changed.
pub fn refused(message: &str) -> Markup {
    page(
        "未执行",
        None,
        html! {
            p role="alert" class="error" { (message) }
            p { "没有做任何更改。" a href="/" { "返回" } }
        },
    )
}

/// A deadline's kind in words.
fn kind_name(kind: &str) -> &str {
    match kind {
        "level" => "本级时限",
        "state" => "环节时限",
        "report_in" => "部门报到",
        "accept" => "签收时限",
        "approve" => "审批时限",
        "remind" => "提醒",
        other => other,
    }
}

/// A time as the page shows it (Beijing time).
pub(super) fn when(t: i64) -> String {
    if t == 0 {
        return "—".into();
    }
    wangge_policy::format_ts(t, 8 * 3600)
}

/// What an event's explanation says, in a few lines: the classifying
/// table's matched rows (with their file:line) and the inputs it saw, and
/// the deadlines set; the whole explanation below, folded.
fn explanation(json: &str) -> Markup {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return html! {};
    };
    let class = &v["classification"];
    let rows: Vec<String> = class["explanation"]["matched"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|r| r["at"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let inputs: Vec<String> = class["explanation"]["inputs"]
        .as_array()
        .map(|i| {
            i.iter()
                .map(|x| format!("{} = {}", x["name"].as_str().unwrap_or("?"), x["value"]))
                .collect()
        })
        .unwrap_or_default();
    let deadlines: Vec<String> = v["deadlines"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|x| {
                    format!(
                        "{} {}（{}）",
                        x["what"]["level"]
                            .as_str()
                            .or(x["what"]["kind"].as_str())
                            .unwrap_or(""),
                        x["due"].as_str().unwrap_or(""),
                        x["clock"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    html! {
        @if let Some(item) = class["item"].as_str() {
            p { "依据 " strong { (item) } @if !rows.is_empty() { "，命中 " code { (rows.join("、")) } } }
        }
        @if !inputs.is_empty() { p { "输入：" (inputs.join("；")) } }
        @if !deadlines.is_empty() { p { "期限：" (deadlines.join("；")) } }
        details { summary { "完整说明" } pre { (serde_json::to_string_pretty(&v).unwrap_or_default()) } }
    }
}

/// A case: facts, deadlines with the time left, the timeline, actions.
pub fn case(
    s: &Session,
    c: &v1::Case,
    events: &[v1::CaseEvent],
    actions: &[String],
    now: i64,
) -> Markup {
    page(
        &format!("案件 {}", c.id),
        Some(s),
        html! {
            dl class="facts" {
                dt { "流程" } dd { (c.workflow) }
                dt { "类别" } dd { (c.class) " （上限 " (c.ceiling) "）" }
                dt { "层级" } dd { (c.level) }
                dt { "状态" } dd { (c.state) }
                dt { "单位" } dd { (c.unit) }
                dt { "上报" } dd { (when(c.created_at)) }
                @if !c.breaches.is_empty() { dt { "出格" } dd class="error" { "已越过上限 " (c.breaches.len()) " 次" } }
            }
            h2 { "期限" }
            @if c.deadlines.is_empty() { p { "无" } } @else {
                ul { @for d in &c.deadlines {
                    li class=[(d.due < now).then_some("error")] {
                        (kind_name(&d.kind)) " " (d.subject) "：" (when(d.due)) "（" (d.clock) "，" (left(d.due - now)) "）"
                    }
                } }
            }
            h2 { "办理" }
            @if actions.is_empty() { p { "您现在不能对此案件办理任何操作。" } } @else {
                div class="actions" { @for a in actions {
                    form method="post" action={ "/cases/" (c.id) "/act" } {
                        input type="hidden" name="csrf" value=(s.csrf);
                        input type="hidden" name="version" value=(c.version);
                        input type="hidden" name="action" value=(a);
                        button type="submit" { (a) }
                    }
                } }
            }
            h2 { "经过" }
            ol class="timeline" { @for e in events {
                li {
                    p {
                        strong { (e.action) @if !e.outcome.is_empty() { " " (e.outcome) } }
                        " · " (when(e.at)) " · " (e.actor)
                        @if e.state_before != e.state_after { " · " (e.state_before) " → " (e.state_after) }
                        @if e.level_before != e.level_after { " · 层级 " (e.level_before) " → " (e.level_after) }
                    }
                    @if !e.note.is_empty() { p { (e.note) } }
                    (explanation(&e.explanation_json))
                }
            } }
        },
    )
}

/// The next page's link: the same filters, the next token.
fn next_link(q: &super::ListQuery, token: &str) -> String {
    let pairs = [
        ("unit", &q.unit),
        ("state", &q.state),
        ("class", &q.class),
        ("level", &q.level),
        ("workflow", &q.workflow),
        ("channel", &q.channel),
        ("breached", &q.breached),
        ("overdue", &q.overdue),
        ("due_within_hours", &q.due_within_hours),
    ];
    let mut url = String::from("/cases?");
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        url.push_str(&format!("{k}={}&", encode(v)));
    }
    url.push_str(&format!("page_token={}", encode(token)));
    url
}

/// Percent-encoding of a query value.
pub(super) fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// 案件: a filter form and a page of cases.
pub fn case_list(s: &Session, q: &super::ListQuery, r: &v1::ListCasesResponse, now: i64) -> Markup {
    let field = |name: &str, label: &str, value: &str| {
        html! {
            label for=(name) { (label) }
            input id=(name) name=(name) value=(value);
        }
    };
    page(
        "案件",
        Some(s),
        html! {
            form method="get" action="/cases" class="filters" {
                (field("unit", "单位（含下级）", &q.unit))
                (field("state", "状态", &q.state))
                (field("class", "类别", &q.class))
                (field("level", "层级", &q.level))
                (field("workflow", "流程", &q.workflow))
                (field("channel", "来源渠道", &q.channel))
                (field("due_within_hours", "期限在几小时内", &q.due_within_hours))
                label { input type="checkbox" name="breached" checked[q.breached == "on"]; " 出格" }
                label { input type="checkbox" name="overdue" checked[q.overdue == "on"]; " 超时" }
                button type="submit" { "筛选" }
            }
            @if r.cases.is_empty() { p { "没有符合条件的案件。" } } @else {
                table {
                    thead { tr {
                        th scope="col" { "编号" } th scope="col" { "流程" } th scope="col" { "类别" }
                        th scope="col" { "层级" } th scope="col" { "状态" } th scope="col" { "单位" }
                        th scope="col" { "最近期限" }
                    } }
                    tbody { @for c in &r.cases {
                        tr class=[(!c.breaches.is_empty()).then_some("overdue")] {
                            td { a href={ "/cases/" (c.id) } { (c.id) } } td { (c.workflow) } td { (c.class) }
                            td { (c.level) } td { (c.state) } td { (c.unit) }
                            td { @if c.next_deadline > 0 { (left(c.next_deadline - now)) } @else { "—" } }
                        }
                    } }
                }
                @if !r.next_page_token.is_empty() {
                    p { a href=(next_link(q, &r.next_page_token)) { "下一页" } }
                }
            }
        },
    )
}

/// The board's table (also what each server-sent update carries).
pub fn board_table(v: &super::board::View) -> Markup {
    let link = |r: &super::board::Row, what: &str| {
        let unit = if r.grid_id.is_empty() {
            &r.community_id
        } else {
            &r.grid_id
        };
        format!(
            "/cases?unit={}&class={}&{what}=on",
            encode(unit),
            encode(&r.class)
        )
    };
    html! {
        @if !v.ready { p role="status" { "正在统计已存的变更……" } }
        table id="board-table" {
            caption { (v.today) "（今日）与本月" }
            thead { tr {
                th scope="col" { "社区" } th scope="col" { "一般网格" } th scope="col" { "类别" }
                th scope="col" { "今日出格" } th scope="col" { "本月出格" }
                th scope="col" { "今日超时" } th scope="col" { "本月超时" }
            } }
            tbody {
                @for r in &v.rows { tr {
                    td { (r.community) } td { (r.grid) } td { (r.class) }
                    td { (r.breached_today) } td { a href=(link(r, "breached")) { (r.breached_month) } }
                    td { (r.overdue_today) } td { a href=(link(r, "overdue")) { (r.overdue_month) } }
                } }
            }
            tfoot { tr {
                th scope="row" colspan="3" { "合计" }
                td data-count="breached-today" { (v.total.breached_today) }
                td data-count="breached-month" { (v.total.breached_month) }
                td data-count="overdue-today" { (v.total.overdue_today) }
                td data-count="overdue-month" { (v.total.overdue_month) }
            } }
        }
    }
}

/// 出格超时: the board, kept current by server-sent events.
pub fn board(s: &Session, v: &super::board::View) -> Markup {
    page(
        "出格与超时",
        Some(s),
        html! {
            p { "按社区、一般网格和类别统计越过处置上限（出格）和在最高层级仍超时的案件；页面随变更自动更新。" }
            div id="board" aria-live="polite" data-events="/board/events" { (board_table(v)) }
            script src="/assets/board.js" defer {}
        },
    )
}
