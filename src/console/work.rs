//! 任务 and 补贴: top-down task progress ([7/10]) by level, and a month's
//! settlements per person (line items, factors, floor/cap, corrections).
//! Both call the services with the user's token: `TaskService/List` and
//! `Progress`, `IncentiveService/ListSettlements`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use wangge_proto::v1;
use wangge_proto::v1::incentive_service_server::IncentiveService;
use wangge_proto::v1::task_service_server::TaskService;

use super::pages::{encode, page, when};
use super::{refused, Console, User};
use crate::server::incentive::Incentive;
use crate::server::tasks::Tasks;

#[derive(Deserialize, Default)]
pub struct TaskQuery {
    /// The task whose progress to show (else the newest).
    #[serde(default)]
    id: String,
    #[serde(default)]
    level: String,
}

/// 任务: the tasks the user may see, and one's progress by level.
pub async fn tasks(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<TaskQuery>,
) -> Response {
    let svc = Tasks(c.app().clone());
    let list = match svc.list(s.request(v1::ListTasksRequest {})).await {
        Ok(r) => r.into_inner().tasks,
        Err(st) => return refused(&format!("无法列出任务：{}", st.message())),
    };
    let id = match q.id.trim() {
        "" => list.iter().map(|t| t.id).max(),
        t => match t.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return refused(&format!("`{t}` 不是任务编号。")),
        },
    };
    let progress = match id {
        None => None,
        Some(id) => {
            let req = s.request(v1::TaskProgressRequest {
                id,
                level: q.level.trim().to_string(),
                under: String::new(),
            });
            match svc.progress(req).await {
                Ok(r) => Some((id, r.into_inner())),
                Err(st) => return refused(&format!("无法查看任务 {id} 的进度：{}", st.message())),
            }
        }
    };
    let reader = c.app().clone();
    let names = match tokio::task::spawn_blocking(move || reader.org.units(None, None)).await {
        Ok(Ok(units)) => units.into_iter().map(|u| (u.id, u.name)).collect(),
        Ok(Err(e)) => return refused(&format!("无法读取组织：{e}")),
        Err(e) => return refused(&format!("无法读取组织：{e}")),
    };
    tasks_page(&s, &list, progress.as_ref(), &q.level, &names).into_response()
}

/// A tally's cells: total, not started, accepted, done, done late, late.
fn tally(t: Option<&v1::TaskTally>) -> Markup {
    let Some(t) = t else {
        return html! { td colspan="7" { "—" } };
    };
    let pct = ((t.done + t.done_late) * 100)
        .checked_div(t.total)
        .map_or_else(|| "—".to_string(), |p| format!("{p}%"));
    html! {
        td { (t.total) } td { (t.not_started) } td { (t.accepted) } td { (t.done) }
        td { (t.done_late) } td class=[(t.late > 0).then_some("error")] { (t.late) } td { (pct) }
    }
}

fn tasks_page(
    s: &super::session::Session,
    list: &[v1::Task],
    progress: Option<&(u64, v1::TaskProgress)>,
    level: &str,
    names: &std::collections::HashMap<String, String>,
) -> Markup {
    let name = |id: &str| names.get(id).map_or(id, String::as_str).to_string();
    let head = html! {
        th scope="col" { "单位数" } th scope="col" { "未签收" } th scope="col" { "已签收" } th scope="col" { "按期完成" }
        th scope="col" { "逾期完成" } th scope="col" { "逾期未完成" } th scope="col" { "完成率" }
    };
    page(
        "任务进度",
        Some(s),
        html! {
            @if list.is_empty() { p { "没有可查看的任务。" } }
            @if let Some((id, p)) = progress {
                h2 { "任务 " (id) " 的进度" }
                form method="get" action="/tasks" class="filters" {
                    input type="hidden" name="id" value=(id);
                    label for="level" { "按层级" }
                    input id="level" name="level" value=(level) placeholder="社区、一般网格";
                    button type="submit" { "查看" }
                }
                p { "期限 " (when(p.due)) }
                table {
                    thead { tr { th scope="col" { "单位" } th scope="col" { "层级" } (head) } }
                    tbody { @for r in &p.rows { tr { td { (name(&r.unit)) } td { (r.level) } (tally(r.tally.as_ref())) } } }
                    tfoot { tr { th scope="row" colspan="2" { "合计" } (tally(p.totals.as_ref())) } }
                }
            }
            @if !list.is_empty() {
                h2 { "全部任务" }
                table {
                    thead { tr { th scope="col" { "编号" } th scope="col" { "任务" } th scope="col" { "下派" } th scope="col" { "范围" } th scope="col" { "期限" } th scope="col" { "单位数" } } }
                    tbody { @for t in list { tr class=[t.overdue.then_some("overdue")] {
                        td { a href={ "/tasks?id=" (t.id) } { (t.id) } } td { (t.task) @if !t.note.is_empty() { "：" (t.note) } }
                        td { (t.sent_by) } td { (name(&t.under)) " · " (t.level) } td { (when(t.due)) } td { (t.units) }
                    } } }
                }
            }
        },
    )
}

#[derive(Deserialize, Default)]
pub struct SettlementQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    page_token: String,
}

/// 补贴: a month's settlements, each with its line items.
pub async fn settlements(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<SettlementQuery>,
) -> Response {
    let period = match q.period.trim() {
        "" => {
            let app = c.app();
            let day = app.cases.policy().zone().format(app.cases.clock().now());
            day.chars().take(7).collect()
        }
        p => p.to_string(),
    };
    let req = s.request(v1::ListSettlementsRequest {
        period: period.clone(),
        person: q.person.trim().to_string(),
        page_size: 100,
        page_token: q.page_token.clone(),
    });
    let got = Incentive(c.app().clone()).list_settlements(req).await;
    let r = match got {
        Ok(r) => r.into_inner(),
        Err(st) => return refused(&format!("无法查看补贴：{}", st.message())),
    };
    page(
        &format!("补贴结算 · {period}"),
        Some(&s),
        html! {
            form method="get" action="/settlements" class="filters" {
                label for="period" { "月份" } input id="period" name="period" value=(period);
                label for="person" { "人员编号" } input id="person" name="person" value=(q.person);
                button type="submit" { "查看" }
            }
            @if r.settlements.is_empty() { p { "本月没有可查看的结算。" } }
            @for st in &r.settlements { (settlement(st)) }
            @if !r.next_page_token.is_empty() {
                p { a href={ "/settlements?period=" (encode(&period)) "&person=" (encode(&q.person)) "&page_token=" (encode(&r.next_page_token)) } { "下一页" } }
            }
        },
    )
    .into_response()
}

/// One settlement: who, the total, the line items and factors.
fn settlement(st: &v1::Settlement) -> Markup {
    html! {
        section class="settlement" {
            h2 { (st.name) " (" (st.person) ") · " (st.scheme) " · 实发 " strong { (st.total) } " 元" }
            p {
                "编号 " code { (st.id) } " · 小计 " (st.subtotal) " · 精确 " (st.exact) " · " (st.rounding) " 后 " (st.rounded)
                @match st.limited_by.as_str() { "floor" => { " · 按保底" } "cap" => { " · 按封顶" } _ => {} }
                " · " (when(st.settled_at)) " " (st.settled_by)
            }
            @if !st.corrects.is_empty() { p class="note" { "更正 " (st.corrects) "：" (st.reason) } }
            table {
                thead { tr { th scope="col" { "项目" } th scope="col" { "计算" } th scope="col" { "金额 / 系数" } th scope="col" { "参数" } } }
                tbody {
                    @for li in &st.components { tr { td { (li.name) } td { (li.calc) } td { (li.value) } td { code { (li.params_json) } } } }
                    @for li in &st.factors { tr class="factor" { td { (li.name) } td { (li.calc) } td { "× " (li.value) } td { code { (li.params_json) } } } }
                }
            }
        }
    }
}
