//! 组织与星级: the org tree (街道 → 社区 → 一般网格 → 微网格) of the user's
//! reach, each unit coloured by the stars its scorecard gave it for a
//! period; a score's drill-down (indicators, weights, contributions,
//! penalties, the figures it saw); and the awards' rankings. Scores come
//! from `EvaluationService` (ListScores, History, ScoreUnit, Rank) called
//! with the user's token: the same figures as the API.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use wangge_dsl::ast::PeriodKind;
use wangge_policy::Unit;
use wangge_proto::v1;
use wangge_proto::v1::evaluation_service_server::EvaluationService;

use super::pages::{encode, page};
use super::session::Session;
use super::{refused, Console, User};
use crate::server::evaluation::Evaluations;

#[derive(Deserialize, Default)]
pub struct PeriodQuery {
    #[serde(default)]
    period: String,
}

#[derive(Deserialize, Default)]
pub struct ScoreQuery {
    #[serde(default)]
    card: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    period: String,
}

/// The kind of period `text` names (`2026-09`, `2026-Q3`, `2026`), if any.
fn kind_of(text: &str) -> Option<PeriodKind> {
    let b = text.as_bytes();
    let year = b.len() >= 4 && b[..4].iter().all(u8::is_ascii_digit);
    match (year, b.len()) {
        (true, 4) => Some(PeriodKind::Yearly),
        (true, 7) if b[4] == b'-' && b[5] == b'Q' && (b'1'..=b'4').contains(&b[6]) => {
            Some(PeriodKind::Quarterly)
        }
        (true, 7) if b[4] == b'-' && b[5..].iter().all(u8::is_ascii_digit) => {
            Some(PeriodKind::Monthly)
        }
        _ => None,
    }
}

/// The period of `kind` that `now` falls in (the policy's zone).
pub(super) fn current(c: &Console, kind: PeriodKind) -> String {
    let app = c.app();
    let zone = app.cases.policy().zone();
    let day = zone.format(app.cases.clock().now());
    let (year, month) = (
        day.get(..4).unwrap_or("1970"),
        day.get(5..7).unwrap_or("01"),
    );
    match kind {
        PeriodKind::Yearly => year.to_string(),
        PeriodKind::Monthly => format!("{year}-{month}"),
        PeriodKind::Quarterly => {
            let q = match month {
                "01" | "02" | "03" => 1,
                "04" | "05" | "06" => 2,
                "07" | "08" | "09" => 3,
                _ => 4,
            };
            format!("{year}-Q{q}")
        }
    }
}

/// The period asked for, or the current one of `kind`; a refusal for text
/// that is no period.
fn period_of(c: &Console, asked: &str, kind: PeriodKind) -> Result<String, Response> {
    match asked.trim() {
        "" => Ok(current(c, kind)),
        p if kind_of(p).is_some() => Ok(p.to_string()),
        p => Err(refused(&format!(
            "`{p}` 不是考核期（月 2026-09、季度 2026-Q3 或年度 2026）。"
        ))),
    }
}

/// A unit's score as the tree shows it.
struct Starred {
    card: String,
    stars: u32,
    total: String,
}

/// 组织与星级: the tree of the user's reach with each unit's stars.
pub async fn org(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let period = match period_of(&c, &q.period, PeriodKind::Quarterly) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let app = c.app().clone();
    let scope = match app.read_scope(&s.caller) {
        Ok(scope) => scope,
        Err(st) => return refused(&format!("无法查看组织：{}", st.message())),
    };
    let reader = app.clone();
    let units = match tokio::task::spawn_blocking(move || reader.org.units(None, None)).await {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => return refused(&format!("无法读取组织：{e}")),
        Err(e) => return refused(&format!("无法读取组织：{e}")),
    };
    let units: Vec<Unit> = units
        .into_iter()
        .filter(|u| scope.all || scope.units.contains(&u.id))
        .collect();
    let kind = kind_of(&period);
    let set = app.cases.policy();
    let mut stars: HashMap<String, Starred> = HashMap::new();
    let mut notes = Vec::new();
    for card in set.scorecards.values() {
        if card.people || Some(card.period) != kind {
            continue;
        }
        let req = s.request(v1::ListScoresRequest {
            scorecard: card.name.clone(),
            period: period.clone(),
            unit: String::new(),
        });
        match Evaluations(app.clone()).list_scores(req).await {
            Ok(r) => {
                for sc in r.into_inner().scores {
                    stars.insert(
                        sc.id.clone(),
                        Starred {
                            card: card.name.clone(),
                            stars: sc.stars,
                            total: sc.total,
                        },
                    );
                }
            }
            Err(st) => notes.push(format!("{}：{}", card.name, st.message())),
        }
    }
    tree_page(&s, &period, &units, &stars, &notes).into_response()
}

/// ★ repeated `n` times (☆ for none).
fn star_text(n: u32) -> String {
    if n == 0 {
        "☆".into()
    } else {
        "★".repeat(n as usize)
    }
}

fn tree_page(
    s: &Session,
    period: &str,
    units: &[Unit],
    stars: &HashMap<String, Starred>,
    notes: &[String],
) -> Markup {
    let ids: std::collections::HashSet<&str> = units.iter().map(|u| u.id.as_str()).collect();
    let mut children: BTreeMap<&str, Vec<&Unit>> = BTreeMap::new();
    let mut roots = Vec::new();
    for u in units {
        match u.parent.as_deref().filter(|p| ids.contains(p)) {
            Some(p) => children.entry(p).or_default().push(u),
            None => roots.push(u),
        }
    }
    page(
        "组织与星级",
        Some(s),
        html! {
            form method="get" action="/org" class="filters" {
                label for="period" { "考核期" }
                input id="period" name="period" value=(period);
                button type="submit" { "查看" }
                a href={ "/awards?period=" (period.get(..4).unwrap_or("")) } { "评优排名" }
            }
            @for n in notes { p class="note" { "未取得 " (n) } }
            p class="legend" {
                @for n in (0..=5u32).rev() { span class={ "stars-" (n) } { (star_text(n)) } " " }
                span class="stars-none" { "未评分" }
            }
            ul class="tree" { @for r in &roots { (branch(r, &children, stars, period)) } }
        },
    )
}

/// A unit and everything below it.
fn branch(
    u: &Unit,
    children: &BTreeMap<&str, Vec<&Unit>>,
    stars: &HashMap<String, Starred>,
    period: &str,
) -> Markup {
    html! {
        li {
            @match stars.get(&u.id) {
                Some(st) => {
                    a class={ "unit stars-" (st.stars) }
                        href={ "/org/score?card=" (encode(&st.card)) "&id=" (encode(&u.id)) "&period=" (encode(period)) } {
                        (u.name) " · " (u.level) " · " (star_text(st.stars)) " " (st.total) " 分"
                    }
                }
                None => { span class="unit stars-none" { (u.name) " · " (u.level) } }
            }
            @if let Some(kids) = children.get(u.id.as_str()) {
                ul { @for k in kids { (branch(k, children, stars, period)) } }
            }
        }
    }
}

/// A score's drill-down: the stored score of the period, else the score
/// as it stands now (not stored).
pub async fn score(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<ScoreQuery>,
) -> Response {
    let svc = Evaluations(c.app().clone());
    let req = s.request(v1::HistoryRequest {
        scorecard: q.card.clone(),
        id: q.id.clone(),
    });
    let stored = match svc.history(req).await {
        Ok(r) => r
            .into_inner()
            .scores
            .into_iter()
            .find(|x| x.period == q.period),
        Err(st) => return refused(&format!("无法查看评分：{}", st.message())),
    };
    let (score, live) = match stored {
        Some(x) => (x, false),
        None => {
            let req = s.request(v1::ScoreUnitRequest {
                scorecard: q.card.clone(),
                id: q.id.clone(),
                period: q.period.clone(),
            });
            match svc.score_unit(req).await {
                Ok(r) => (r.into_inner(), true),
                Err(st) => return refused(&format!("无法计算评分：{}", st.message())),
            }
        }
    };
    score_page(&s, &score, live).into_response()
}

fn score_page(s: &Session, sc: &v1::Score, live: bool) -> Markup {
    let stats = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&sc.stats_json);
    page(
        &format!("{} · {} · {}", sc.name, sc.scorecard, sc.period),
        Some(s),
        html! {
            @if live { p class="note" { "本期尚未评分存档：以下为按当前记录的试算，不存档。" } }
            p class="total" { "总分 " strong { (sc.total) } " · " span class={ "stars-" (sc.stars) } { (star_text(sc.stars)) } " · 政策版本 " code { (sc.policy_version) } }
            table {
                caption { "指标" }
                thead { tr { th scope="col" { "指标" } th scope="col" { "原始值" } th scope="col" { "折算分" } th scope="col" { "权重" } th scope="col" { "贡献" } } }
                tbody { @for i in &sc.indicators { tr {
                    td { (i.name) } td { (i.raw) } td { (i.normalised) } td { (i.weight) } td { (i.contribution) }
                } } }
            }
            @if !sc.penalties.is_empty() {
                table {
                    caption { "扣分" }
                    thead { tr { th scope="col" { "项目" } th scope="col" { "次数" } th scope="col" { "扣分（封顶后）" } } }
                    tbody { @for p in &sc.penalties { tr { td { (p.name) } td { (p.count) } td { (p.points) } } } }
                }
            }
            h2 { "统计（指标所见）" }
            @match &stats {
                Ok(stats) => { dl class="facts" { @for (k, v) in stats {
                    dt { (k) } dd { (match v { serde_json::Value::String(t) => t.clone(), other => other.to_string() }) }
                } } }
                Err(e) => { p class="error" { "统计无法读取：" (e.to_string()) } }
            }
        },
    )
}

/// 评优排名: every award's ranking for a year.
pub async fn awards(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let period = match period_of(&c, &q.period, PeriodKind::Yearly) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let app = c.app().clone();
    let names: Vec<String> = app.cases.policy().awards.keys().cloned().collect();
    let mut out = Vec::new();
    for award in names {
        let req = s.request(v1::RankRequest {
            award: award.clone(),
            period: period.clone(),
        });
        let got = Evaluations(app.clone()).rank(req).await;
        out.push((
            award,
            got.map(|r| r.into_inner().ranked)
                .map_err(|st| st.message().to_string()),
        ));
    }
    page(
        &format!("评优排名 · {period}"),
        Some(&s),
        html! {
            form method="get" action="/awards" class="filters" {
                label for="period" { "年度" }
                input id="period" name="period" value=(period);
                button type="submit" { "查看" }
            }
            @for (award, got) in &out {
                h2 { (award) }
                @match got {
                    Err(m) => { p class="note" { (m) } }
                    Ok(list) => { table {
                        thead { tr { th scope="col" { "名次" } th scope="col" { "名称" } th scope="col" { "组" } th scope="col" { "总分" } th scope="col" { "星级" } th scope="col" { "结果" } } }
                        tbody { @for r in list { tr class=[r.awarded.then_some("awarded")] {
                            td { (r.rank) } td { (r.name) } td { (r.group) } td { (r.total) } td { (star_text(r.stars)) }
                            td { @if r.awarded { "当选" } @else if !r.eligible { "不符合条件" } @else { "—" } }
                        } } }
                    } }
                }
            }
        },
    )
    .into_response()
}
