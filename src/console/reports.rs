//! 报表: the statistics offices report upward for a scorecard's period —
//! per unit the cases by class and channel, 办结, 按期率, 满意率, 不出格率
//! (by class: 小事不出网格率 …), 出格, 响应率, the score and stars — then
//! each parent's subtotal and the total, rates recomputed from the summed
//! counts (never averaged). The figures are the stored scores' own
//! (`EvaluationService/ListScores` with the user's token): the same as the
//! API. Shown as a table, downloadable as CSV (exact decimals) and XLSX.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use wangge_proto::v1;
use wangge_proto::v1::evaluation_service_server::EvaluationService;

use super::pages::{encode, page};
use super::scores::current;
use super::{refused, Console, User};
use crate::server::evaluation::Evaluations;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    #[serde(default)]
    card: String,
    #[serde(default)]
    period: String,
}

/// One cell: text, a count, or an exact decimal.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Dec(Decimal),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Text(t) => f.write_str(t),
            Cell::Int(n) => write!(f, "{n}"),
            Cell::Dec(d) => write!(f, "{}", d.normalize()),
        }
    }
}

/// The report: a header and rows (units, subtotals, the total).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Rows that are subtotals or the total.
    pub summary: BTreeSet<usize>,
}

/// The counts a unit's figures hold, by name, summable.
#[derive(Debug, Clone, Default)]
struct Counts {
    n: BTreeMap<String, i64>,
    /// 满意率 × 评价: the feedback weights, to recompute the rate.
    weights: Decimal,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        for (k, v) in &o.n {
            *self.n.entry(k.clone()).or_default() += v;
        }
        self.weights += o.weights;
    }

    fn get(&self, k: &str) -> i64 {
        self.n.get(k).copied().unwrap_or(0)
    }
}

fn int(stats: &Map<String, Value>, k: &str) -> Result<i64, String> {
    stats
        .get(k)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("统计中没有整数 `{k}`"))
}

fn dec(stats: &Map<String, Value>, k: &str) -> Result<Decimal, String> {
    match stats.get(k) {
        Some(Value::String(s)) => Decimal::from_str(s).map_err(|e| format!("`{k}` = `{s}`：{e}")),
        Some(Value::Number(n)) => {
            Decimal::from_str(&n.to_string()).map_err(|e| format!("`{k}` = `{n}`：{e}"))
        }
        _ => Err(format!("统计中没有数 `{k}`")),
    }
}

fn map_of<'a>(stats: &'a Map<String, Value>, k: &str) -> Result<&'a Map<String, Value>, String> {
    stats
        .get(k)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("统计中没有 `{k}`"))
}

/// The summable counts of one stored score's figures.
fn counts_of(stats: &Map<String, Value>) -> Result<Counts, String> {
    let mut c = Counts::default();
    for k in ["案件", "办结", "按期", "评价", "不出格", "出格", "响应"] {
        c.n.insert(k.to_string(), int(stats, k)?);
    }
    for (group, prefix) in [
        ("按等级", "类:"),
        ("按来源", "源:"),
        ("办结按等级", "结:"),
        ("出格按等级", "格:"),
    ] {
        for (k, v) in map_of(stats, group)? {
            let n = v
                .as_i64()
                .ok_or_else(|| format!("`{group}.{k}` 不是整数"))?;
            c.n.insert(format!("{prefix}{k}"), n);
        }
    }
    // 不出格 by class = 办结 of the class × its rate (exact: the rate is
    // that quotient).
    for (k, v) in map_of(stats, "不出格率按等级")? {
        let rate = match v {
            Value::String(s) => Decimal::from_str(s).map_err(|e| format!("`{k}`：{e}"))?,
            other => return Err(format!("`不出格率按等级.{k}` = `{other}` 不是数")),
        };
        let closed = c.get(&format!("结:{k}"));
        let within = (rate * Decimal::from(closed)).round();
        let within = i64::try_from(within).map_err(|e| format!("`{k}`：{e}"))?;
        c.n.insert(format!("内:{k}"), within);
    }
    c.weights = dec(stats, "满意率")? * Decimal::from(c.get("评价"));
    Ok(c)
}

/// `n / d` exactly; empty (not zero) with nothing to divide.
fn rate(n: Decimal, d: i64) -> Cell {
    if d <= 0 {
        Cell::Text("—".into())
    } else {
        Cell::Dec((n / Decimal::from(d)).round_dp(4).normalize())
    }
}

/// The columns after the unit's name and parent.
fn figures(c: &Counts, classes: &[String], channels: &[String]) -> Vec<Cell> {
    let mut out = vec![Cell::Int(c.get("案件"))];
    out.extend(classes.iter().map(|k| Cell::Int(c.get(&format!("类:{k}")))));
    out.extend(
        channels
            .iter()
            .map(|k| Cell::Int(c.get(&format!("源:{k}")))),
    );
    let closed = c.get("办结");
    out.extend([
        Cell::Int(closed),
        rate(Decimal::from(closed), c.get("案件")),
        rate(Decimal::from(c.get("按期")), closed),
        rate(c.weights, c.get("评价")),
        rate(Decimal::from(c.get("不出格")), closed),
    ]);
    out.extend(classes.iter().map(|k| {
        rate(
            Decimal::from(c.get(&format!("内:{k}"))),
            c.get(&format!("结:{k}")),
        )
    }));
    out.extend([
        Cell::Int(c.get("出格")),
        rate(Decimal::from(c.get("响应")), c.get("案件")),
    ]);
    out
}

/// Builds the report from stored scores; `parent_of` names each unit's
/// parent (id, name) and `name_of` a unit's name.
pub fn build(
    scores: &[v1::Score],
    classes: &[String],
    parent_of: &dyn Fn(&str) -> (String, String),
) -> Result<Report, String> {
    let mut parsed = Vec::with_capacity(scores.len());
    let mut channels = BTreeSet::new();
    for s in scores {
        let stats: Map<String, Value> = serde_json::from_str(&s.stats_json)
            .map_err(|e| format!("{} 的统计无法读取：{e}", s.id))?;
        let c = counts_of(&stats).map_err(|e| format!("{}：{e}", s.id))?;
        channels.extend(
            c.n.keys()
                .filter_map(|k| k.strip_prefix("源:").map(String::from)),
        );
        parsed.push((s, c));
    }
    let channels: Vec<String> = channels.into_iter().collect();
    let mut head = vec!["单位".to_string(), "上级".into(), "案件".into()];
    head.extend(classes.iter().cloned());
    head.extend(channels.iter().map(|c| format!("来源:{c}")));
    head.extend(["办结", "办结率", "按期率", "满意率", "不出格率"].map(String::from));
    head.extend(classes.iter().map(|k| format!("{k}不出格率")));
    head.extend(["出格", "响应率", "总分", "星级"].map(String::from));
    // Units grouped by parent, in id order.
    let mut groups: BTreeMap<(String, String), Vec<(&v1::Score, Counts)>> = BTreeMap::new();
    for (s, c) in parsed {
        groups.entry(parent_of(&s.id)).or_default().push((s, c));
    }
    let mut report = Report {
        head,
        ..Report::default()
    };
    let mut total = Counts::default();
    for ((_, parent_name), members) in &groups {
        let mut sub = Counts::default();
        for (s, c) in members {
            let mut row = vec![Cell::Text(s.name.clone()), Cell::Text(parent_name.clone())];
            row.extend(figures(c, classes, &channels));
            let score = Decimal::from_str(&s.total).map_err(|e| format!("{} 的总分：{e}", s.id))?;
            row.extend([Cell::Dec(score), Cell::Int(i64::from(s.stars))]);
            report.rows.push(row);
            sub.add(c);
        }
        let mut row = vec![
            Cell::Text(format!("{parent_name} 小计")),
            Cell::Text(String::new()),
        ];
        row.extend(figures(&sub, classes, &channels));
        row.extend([Cell::Text(String::new()), Cell::Text(String::new())]);
        report.summary.insert(report.rows.len());
        report.rows.push(row);
        total.add(&sub);
    }
    let mut row = vec![Cell::Text("合计".into()), Cell::Text(String::new())];
    row.extend(figures(&total, classes, &channels));
    row.extend([Cell::Text(String::new()), Cell::Text(String::new())]);
    report.summary.insert(report.rows.len());
    report.rows.push(row);
    Ok(report)
}

/// The report as CSV (RFC 4180 quoting; decimals exact).
pub fn csv(r: &Report) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("\u{feff}");
    out.push_str(
        &r.head
            .iter()
            .map(|h| quote(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for row in &r.rows {
        let cells: Vec<String> = row.iter().map(|c| quote(&c.to_string())).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The report as an XLSX workbook (counts and rates as numbers).
pub fn xlsx(r: &Report, title: &str) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet();
    sheet.set_name(
        title
            .chars()
            .take(31)
            .collect::<String>()
            .replace(['/', ':'], "-"),
    )?;
    for (i, h) in r.head.iter().enumerate() {
        sheet.write_string_with_format(0, col(i)?, h, &bold)?;
    }
    for (n, row) in r.rows.iter().enumerate() {
        let at =
            u32::try_from(n + 1).map_err(|_| rust_xlsxwriter::XlsxError::RowColumnLimitError)?;
        for (i, c) in row.iter().enumerate() {
            match c {
                Cell::Text(t) => sheet.write_string(at, col(i)?, t)?,
                Cell::Int(v) => sheet.write_number(at, col(i)?, *v as f64)?,
                Cell::Dec(d) => sheet.write_number(
                    at,
                    col(i)?,
                    f64::try_from(*d)
                        .map_err(|_| rust_xlsxwriter::XlsxError::ParameterError(format!("{d}")))?,
                )?,
            };
        }
    }
    book.save_to_buffer()
}

fn col(i: usize) -> Result<u16, rust_xlsxwriter::XlsxError> {
    u16::try_from(i).map_err(|_| rust_xlsxwriter::XlsxError::RowColumnLimitError)
}

/// The report of `q`, as the user may see it; its card and period.
async fn report_of(
    c: &Console,
    s: &super::session::Session,
    q: &ReportQuery,
) -> Result<(Report, String, String), Response> {
    let app = c.app().clone();
    let set = app.cases.policy();
    let cards: Vec<_> = set
        .scorecards
        .values()
        .filter(|k| !k.people)
        .cloned()
        .collect();
    let card = match q.card.trim() {
        "" => cards.first().cloned(),
        name => cards.iter().find(|k| k.name == name).cloned(),
    }
    .ok_or_else(|| refused(&format!("没有考核表 `{}`。", q.card.trim())))?;
    let period = match q.period.trim() {
        "" => current(c, card.period),
        p => p.to_string(),
    };
    let req = s.request(v1::ListScoresRequest {
        scorecard: card.name.clone(),
        period: period.clone(),
        unit: String::new(),
    });
    let scores = match Evaluations(app.clone()).list_scores(req).await {
        Ok(r) => r.into_inner().scores,
        Err(st) => return Err(refused(&format!("无法生成报表：{}", st.message()))),
    };
    let dir = app.directory().map_err(|st| refused(st.message()))?;
    let units = app
        .org
        .units(None, None)
        .map_err(|e| refused(&e.to_string()))?;
    let names: HashMap<String, String> = units.into_iter().map(|u| (u.id, u.name)).collect();
    let parent_of = |id: &str| {
        let p = dir.parent(id).unwrap_or("").to_string();
        let name = names.get(&p).cloned().unwrap_or_else(|| p.clone());
        (p, name)
    };
    let classes = wangge_app::declared_classes(&set);
    let report =
        build(&scores, &classes, &parent_of).map_err(|e| refused(&format!("报表无法生成：{e}")))?;
    Ok((report, card.name.clone(), period))
}

/// 报表: the table, with links to the downloads.
pub async fn show(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<ReportQuery>,
) -> Response {
    let (report, card, period) = match report_of(&c, &s, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let cards: Vec<String> = c
        .app()
        .cases
        .policy()
        .scorecards
        .values()
        .filter(|k| !k.people)
        .map(|k| k.name.clone())
        .collect();
    let query = format!("card={}&period={}", encode(&card), encode(&period));
    page(
        &format!("报表 · {card} · {period}"),
        Some(&s),
        html! {
            form method="get" action="/reports" class="filters" {
                label for="card" { "考核表" }
                select id="card" name="card" { @for k in &cards { option value=(k) selected[*k == card] { (k) } } }
                label for="period" { "考核期" } input id="period" name="period" value=(period);
                button type="submit" { "生成" }
            }
            p { a href={ "/reports.csv?" (query) } download { "下载 CSV" } " · " a href={ "/reports.xlsx?" (query) } download { "下载 XLSX" } }
            (table(&report))
        },
    )
    .into_response()
}

fn table(r: &Report) -> Markup {
    html! {
        div class="wide" { table class="report" {
            thead { tr { @for h in &r.head { th scope="col" { (h) } } } }
            tbody { @for (i, row) in r.rows.iter().enumerate() {
                tr class=[r.summary.contains(&i).then_some("summary")] { @for c in row { td { (c.to_string()) } } }
            } }
        } }
    }
}

/// The report as a CSV download.
pub async fn download_csv(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<ReportQuery>,
) -> Response {
    match report_of(&c, &s, &q).await {
        Ok((r, card, period)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    attachment(&card, &period, "csv"),
                ),
            ],
            csv(&r),
        )
            .into_response(),
        Err(r) => r,
    }
}

/// The report as an XLSX download.
pub async fn download_xlsx(
    State(c): State<Arc<Console>>,
    User(s): User,
    Query(q): Query<ReportQuery>,
) -> Response {
    let (r, card, period) = match report_of(&c, &s, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match xlsx(&r, &format!("{card} {period}")) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    attachment(&card, &period, "xlsx"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => refused(&format!("XLSX 无法生成：{e}")),
    }
}

/// `attachment; filename*=UTF-8''…` for a report file.
fn attachment(card: &str, period: &str, ext: &str) -> String {
    format!(
        "attachment; filename=\"report.{ext}\"; filename*=UTF-8''{}",
        encode(&format!("{card}-{period}.{ext}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(id: &str, closed: i64, on_time: i64) -> v1::Score {
        let stats = serde_json::json!({
            "案件": closed, "办结": closed, "按期": on_time, "评价": 0, "不出格": closed,
            "出格": 0, "响应": closed, "满意率": "0",
            "按等级": {"小事": closed}, "按来源": {}, "办结按等级": {"小事": closed},
            "出格按等级": {"小事": 0}, "不出格率按等级": {"小事": "1"},
        });
        v1::Score {
            id: id.into(),
            name: id.into(),
            total: "80".into(),
            stars: 3,
            stats_json: stats.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn a_subtotals_rate_is_recomputed_from_the_summed_counts_not_averaged() {
        // A: 1 of 1 on time; B: 0 of 3. The mean of the rates is 0.5; the
        // rate of the sums is 1 of 4.
        let scores = [score("A", 1, 1), score("B", 3, 0)];
        let r = build(&scores, &["小事".into()], &|_| {
            ("G".into(), "网格".into())
        })
        .unwrap();
        let at = r.head.iter().position(|h| h == "按期率").unwrap();
        assert_eq!(r.rows[0][at], Cell::Dec(Decimal::ONE));
        assert_eq!(r.rows[2][at].to_string(), "0.25", "{:?}", r.rows[2]);
        assert_eq!(r.rows[3][at].to_string(), "0.25", "the total");
        assert_eq!(r.summary.iter().copied().collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn a_figure_missing_from_the_stored_stats_is_an_error_not_zero() {
        let mut s = score("A", 1, 1);
        s.stats_json = s.stats_json.replace("\"按期\":1,", "");
        let e = build(&[s], &[], &|_| (String::new(), String::new())).unwrap_err();
        assert!(e.contains("按期"), "{e}");
    }
}
