//! The pages of the documentation site (maud: escaped at compile time).

use std::path::Path;

use maud::{html, Markup, PreEscaped, DOCTYPE};
use wangge_dsl::ast::File;
use wangge_dsl::ast::{
    ClockKind, HitPolicy, Item, Limit, Norm, Scenario, Scorecard, Subsidy, Table, Workflow,
};
use wangge_dsl::outline::{doc_comment, item_span};
use wangge_dsl::Span;

use super::{diagram, item_page, Site};

const CSS: &str = include_str!("doc.css");

/// Writes every page; how many.
pub fn write_site(site: &Site<'_>, files: &[File], out: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(out.join("src"))?;
    std::fs::write(out.join("style.css"), CSS)?;
    let scenarios: Vec<&Scenario> = files
        .iter()
        .flat_map(|f| &f.items)
        .filter_map(|i| match i {
            Item::Scenario(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut pages = 0;
    let mut write = |rel: &str, markup: Markup| -> std::io::Result<()> {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, markup.into_string())?;
        pages += 1;
        Ok(())
    };
    write("index.html", index(site, files, &scenarios))?;
    write("scenarios.html", scenario_page(site, &scenarios))?;
    for (id, name) in site.names.iter().enumerate() {
        let Ok(id) = u32::try_from(id) else { break };
        write(&site.source_page(id), source_page(site, id, name))?;
    }
    // Items of one kind and name share a page (a calendar and its year
    // blocks, kept in files of their own).
    let mut pages_of: Vec<(String, Vec<&Item>)> = Vec::new();
    for item in files.iter().flat_map(|f| &f.items) {
        if matches!(item, Item::Scenario(_)) {
            continue;
        }
        let page = item_page(item.keyword(), &item.name().name);
        match pages_of.iter_mut().find(|(p, _)| *p == page) {
            Some((_, items)) => items.push(item),
            None => pages_of.push((page, vec![item])),
        }
    }
    for (page, items) in &pages_of {
        write(page, item_view(site, items, &scenarios))?;
    }
    Ok(pages)
}

/// A page with the site's head and navigation; `up` is the way back to
/// the root (`""` or `"../"`).
fn page(title: &str, up: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 策略文档" }
                link rel="stylesheet" href={ (up) "style.css" };
            }
            body {
                nav { a href={ (up) "index.html" } { "策略总览" } " · " a href={ (up) "scenarios.html" } { "全部场景" } }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// What each kind of item is called on the index.
fn kind_title(keyword: &str) -> &'static str {
    match keyword {
        "policy" => "策略",
        "ladder" => "层级",
        "role" => "岗位",
        "grant" => "权限",
        "schema" => "数据结构",
        "party" => "党组织",
        "param" => "参数",
        "table" => "决策表",
        "rules" => "规则集",
        "calc" => "计算",
        "calendar" => "工作日历",
        "workflow" => "流程",
        "subsidy" => "补贴",
        "points" => "积分",
        "scorecard" => "考核",
        "award" => "评优",
        "task" => "下派任务",
        "intake" => "外部工单",
        _ => "其他",
    }
}

const KIND_ORDER: &[&str] = &[
    "workflow",
    "table",
    "rules",
    "calc",
    "subsidy",
    "points",
    "scorecard",
    "award",
    "task",
    "intake",
    "ladder",
    "calendar",
    "role",
    "grant",
    "party",
    "schema",
    "param",
];

fn index(site: &Site<'_>, files: &[File], scenarios: &[&Scenario]) -> Markup {
    let items: Vec<&Item> = files.iter().flat_map(|f| &f.items).collect();
    let header = items.iter().find_map(|i| match i {
        Item::Policy(h) => Some(h),
        _ => None,
    });
    let title = header.map_or("策略", |h| h.name.name.as_str());
    page(
        title,
        "",
        html! {
            @if let Some(h) = header {
                dl class="facts" {
                    @for (k, v) in &h.fields { dt { (k.name) } dd { (v) } }
                }
            }
            @for kind in KIND_ORDER {
                @let of: Vec<&&Item> = items.iter().filter(|i| i.keyword() == *kind).collect();
                @if !of.is_empty() {
                    section {
                        h2 { (kind_title(kind)) " " small { "(" (kind) ")" } }
                        ul class="items" {
                            @for i in of {
                                @let text = site.sources.get(item_span(i).file).map_or("", |f| &f.text);
                                li {
                                    a href=(item_page(i.keyword(), &i.name().name)) { (i.name().name) }
                                    @let doc = doc_comment(text, line_start(text, item_span(i).start));
                                    @if let Some(first) = doc.lines().next() { " — " span class="doc" { (first) } }
                                }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "场景（示例）" }
                p { (scenarios.len()) " 个场景，见 " a href="scenarios.html" { "全部场景" } "。" }
            }
            section {
                h2 { "源文件" }
                ul { @for (id, name) in site.names.iter().enumerate() {
                    li { a href=(site.source_page(u32::try_from(id).unwrap_or(u32::MAX))) { (name) } }
                } }
            }
        },
    )
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1)
}

/// A file as numbered lines, each with an anchor (`#L12`).
fn source_page(site: &Site<'_>, id: u32, name: &str) -> Markup {
    let text = site.sources.get(id).map_or("", |f| &f.text);
    let up = "../".repeat(name.matches('/').count() + 1);
    page(
        name,
        &up,
        html! {
            pre class="source" {
                @for (n, line) in text.lines().enumerate() {
                    span id={ "L" (n + 1) } class="line" { a href={ "#L" (n + 1) } class="no" { (n + 1) } (line) "\n" }
                }
            }
        },
    )
}

/// The doc comment and the source link of an item.
fn head(site: &Site<'_>, span: Span) -> Markup {
    let text = site.sources.get(span.file).map_or("", |f| &f.text);
    let doc = doc_comment(text, line_start(text, span.start));
    let (href, at) = site.line_link(span);
    html! {
        @if !doc.is_empty() { div class="doc" { @for l in doc.lines() { p { (l) } } } }
        p class="where" { "定义于 " a href=(href) { (at) } }
    }
}

/// The page of one or more items of a kind and name.
fn item_view(site: &Site<'_>, items: &[&Item], scenarios: &[&Scenario]) -> Markup {
    let Some(first) = items.first() else {
        return html! {};
    };
    let name = &first.name().name;
    let examples: Vec<&&Scenario> = scenarios
        .iter()
        .filter(|s| site.text(s.span).contains(name.as_str()))
        .collect();
    page(
        &format!("{} {name}", kind_title(first.keyword())),
        "",
        html! {
            @for item in items { (item_body(site, item)) }
            @if !examples.is_empty() {
                h2 { "示例（场景）" }
                @for s in examples { (scenario(site, s)) }
            }
        },
    )
}

/// One item: its doc, where it is, and what it says.
fn item_body(site: &Site<'_>, item: &Item) -> Markup {
    let span = item_span(item);
    let body = match item {
        Item::Table(t) => table(site, t),
        Item::Workflow(w) => workflow(site, w),
        Item::Subsidy(s) => subsidy(site, s),
        Item::Scorecard(c) => scorecard(site, c),
        Item::Ladder(l) => html! {
            p { "由低到高（超时逐级上交）：" }
            p class="ladder" {
                @for (n, level) in l.levels.iter().enumerate() {
                    @if n > 0 { " → " }
                    strong { (level.name) }
                }
            }
        },
        Item::Calendar(c) => calendar(site, c),
        Item::Calc(c) => html! {
            p { "参数：" (c.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("、"))
                @if let Some(r) = &c.returns { "；结果：" (r.name) } }
            h2 { "公式" }
            pre class="code" { (c.body.text.trim()) }
        },
        _ => html! { pre class="code" { (site.text(span)) } },
    };
    html! { section { (head(site, span)) (body) } }
}

/// What a hit policy means, in words.
fn hit_words(h: HitPolicy) -> &'static str {
    match h {
        HitPolicy::Unique => "唯一命中：只能有一行匹配",
        HitPolicy::First => "取第一条命中的行（自上而下）",
        HitPolicy::Priority => "按输出值的优先顺序取一行",
        HitPolicy::Any => "任一命中：匹配的行输出须相同",
        HitPolicy::Collect(None) => "收集所有命中的行",
        HitPolicy::Collect(Some(_)) => "收集所有命中的行并汇总",
        HitPolicy::RuleOrder => "按行的顺序收集所有命中的行",
        HitPolicy::OutputOrder => "按输出值的优先顺序收集所有命中的行",
    }
}

fn table(site: &Site<'_>, t: &Table) -> Markup {
    html! {
        p { "输入：" (t.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("、"))
            "。命中规则：" code { (t.hit.as_str()) } "（" (hit_words(t.hit)) "）。" }
        p class="legend" { "“-” 表示任意值；左边是条件，右边是结果。" }
        div class="scroll" {
            table class="decision" {
                thead { tr {
                    th { "#" }
                    @for i in &t.inputs { th class="in" { (site.text(i.span()).trim()) } }
                    @for o in &t.outputs { th class="out" { (o.name.name) } }
                } }
                tbody { @for (n, r) in t.rows.iter().enumerate() {
                    @let (href, _) = site.line_link(r.span);
                    tr {
                        td { a href=(href) { (n + 1) } }
                        @for c in &r.cells { td class="in" { (site.text(c.span).trim()) } }
                        @for o in &r.outputs { td class="out" { (site.text(o.span()).trim()) } }
                    }
                } }
            }
        }
    }
}

/// A time limit in words: `3 小时（工作时）`.
fn limit_words(l: &Limit) -> String {
    let amount = match l.clock {
        ClockKind::WorkingDays => format!("{} 个工作日", l.amount),
        _ if l.amount % 3600 == 0 => format!("{} 小时", l.amount / 3600),
        _ => format!("{} 分钟", l.amount / 60),
    };
    let clock = match l.clock {
        ClockKind::Continuous => "紧急工作时：昼夜连续计",
        ClockKind::WorkingHours => "工作时：只计日历的上班时间",
        ClockKind::WorkingDays => "工作日：按日历的整工作日",
    };
    format!("{amount}（{clock}）")
}

fn limits_table(site: &Site<'_>, title: &str, limits: &[Limit]) -> Markup {
    html! {
        @if !limits.is_empty() {
            h2 { (title) }
            table { thead { tr { th { "层级或状态" } th { "适用类别" } th { "时限" } th { "源" } } }
                tbody { @for l in limits {
                    @let (href, at) = site.line_link(l.span);
                    tr { td { (l.key.name) } td { (l.class.as_ref().map_or("全部", |c| c.name.as_str())) }
                         td { (limit_words(l)) } td { a href=(href) { (at) } } }
                } } }
        }
    }
}

fn workflow(site: &Site<'_>, w: &Workflow) -> Markup {
    let names = |v: &[wangge_dsl::ast::Ident]| {
        v.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("、")
    };
    html! {
        dl class="facts" {
            dt { "层级" } dd { (w.ladder.name) @for l in &w.more_ladders { "、" (l.name) } }
            @if let Some(c) = &w.calendar { dt { "日历" } dd { a href=(item_page("calendar", &c.name)) { (c.name) } } }
            @if let Some(c) = &w.classify { dt { "分级" } dd { a href=(item_page("table", &c.item.name)) { (c.item.name) } } }
            @if let Some(i) = &w.initial { dt { "初始状态" } dd { (i.name) } }
            dt { "终止状态" } dd { (names(&w.finals)) }
            @if !w.closed.is_empty() { dt { "算作办结" } dd { (names(&w.closed)) } }
        }
        h2 { "状态图" }
        div class="scroll" { (PreEscaped(diagram::workflow_svg(w))) }
        h2 { "动作" }
        table { thead { tr { th { "动作" } th { "结果" } th { "从" } th { "到" } th { "说明" } } }
            tbody { @for t in &w.transitions {
                @let (href, _) = site.line_link(t.span);
                tr { td { a href=(href) { (t.action.name) } } td { (t.outcome.as_ref().map_or("", |o| o.name.as_str())) }
                     td { (names(&t.from)) } td { (t.to.name) }
                     td { @if t.restart { "重新计时 " } @if let Some(r) = &t.requires { "须由" (r.name) "办理" } } }
            } } }
        @if !w.ceiling.is_empty() {
            h2 { "天花板（不出格的最高层级）" }
            table { thead { tr { th { "类别" } th { "最高处置层级" } } }
                tbody { @for (c, l) in &w.ceiling { tr { td { (c.name) } td { (l.name) } } } } }
        }
        (limits_table(site, "处置时限（超时上交上一级）", &w.limits))
        (limits_table(site, "召集报到时限", &w.summons))
        @if !w.assign.is_empty() {
            h2 { "派遣到人" }
            table { thead { tr { th { "动作" } th { "层级" } th { "可派给" } th { "签收时限" } } }
                tbody { @for a in &w.assign { tr { td { (a.action.name) } td { (a.level.as_ref().map_or("全部", |l| l.name.as_str())) }
                    td { (names(&a.roles)) } td { (a.accept.as_ref().map(limit_words).unwrap_or_default()) } } } } }
        }
        @if !w.requests.is_empty() {
            h2 { "须上级审批的申请" }
            table { thead { tr { th { "申请" } th { "批准后" } th { "审批时限" } } }
                tbody { @for r in &w.requests { tr { td { (r.name.name) }
                    td { (r.extend.as_ref().map_or("暂停计时".to_string(), |l| format!("各项时限顺延 {}", limit_words(l)))) }
                    td { (r.approve.as_ref().map(limit_words).unwrap_or_default()) } } } } }
        }
        @if !w.reminders.is_empty() {
            h2 { "提醒" }
            ul { @for r in &w.reminders { li { (r.of.as_str()) "：时限过了 "
                (r.at.iter().map(|p| format!("{p}%")).collect::<Vec<_>>().join("、")) " 时" } } }
        }
    }
}

fn subsidy(site: &Site<'_>, s: &Subsidy) -> Markup {
    let lit = |l: &wangge_dsl::ast::Lit| site.text(l.span).trim().to_string();
    html! {
        p { "发给：" (s.role.name) "。各项相加，乘以系数，按分取整，再按保底和封顶。" }
        table { thead { tr { th { "项目" } th { "计算" } } }
            tbody { @for (n, c) in &s.components { tr { td { (n.name) } td { a href=(item_page("calc", &c.name)) { (c.name) } } } } } }
        @if !s.factors.is_empty() {
            h2 { "系数" }
            table { thead { tr { th { "系数" } th { "计算" } th { "作用于" } } }
                tbody { @for (n, c, on) in &s.factors { tr { td { (n.name) } td { a href=(item_page("calc", &c.name)) { (c.name) } }
                    td { @if on.is_empty() { "全部项目" } @else { (on.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join("、")) } } } } } }
        }
        dl class="facts" {
            @if let Some(f) = &s.floor { dt { "保底" } dd { (lit(f)) } }
            @if let Some(c) = &s.cap { dt { "封顶" } dd { (lit(c)) } }
            @if let Some((_, span)) = &s.round { dt { "取整" } dd { (site.text(*span).trim().trim_matches('"')) } }
            @if !s.activities.is_empty() { dt { "登记的活动" } dd { (s.activities.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join("、")) } }
        }
    }
}

fn scorecard(site: &Site<'_>, c: &Scorecard) -> Markup {
    let lit = |l: &wangge_dsl::ast::Lit| site.text(l.span).trim().to_string();
    let norm = |n: &Norm| match n {
        Norm::Linear(a, b) => format!("线性：{} 为 0 分，{} 为 100 分", lit(a), lit(b)),
        Norm::Bands(bands) => bands
            .iter()
            .map(|(cond, score)| match cond {
                Some((op, v)) => format!("{op} {} 得 {}", lit(v), lit(score)),
                None => format!("其余得 {}", lit(score)),
            })
            .collect::<Vec<_>>()
            .join("；"),
        Norm::Raw => "原值".to_string(),
    };
    html! {
        p { "对象：" (c.of.name) "；周期：" (format!("{:?}", c.period).to_lowercase()) }
        h2 { "指标" }
        table { thead { tr { th { "指标" } th { "取值（公式）" } th { "权重" } th { "折算" } } }
            tbody { @for i in &c.indicators { tr { td { (i.name.name) } td { code { (i.expr.text.trim()) } }
                td { (lit(&i.weight)) } td { (norm(&i.norm)) } } } } }
        @if !c.penalties.is_empty() {
            h2 { "扣分" }
            table { thead { tr { th { "扣分项" } th { "次数（公式）" } th { "每次扣" } th { "最多扣" } } }
                tbody { @for p in &c.penalties { tr { td { (p.name.name) } td { code { (p.expr.text.trim()) } }
                    td { (lit(&p.per)) } td { (p.cap.as_ref().map(lit).unwrap_or_default()) } } } } }
        }
        @if !c.stars.is_empty() {
            h2 { "星级" }
            table { thead { tr { th { "星级" } th { "总分不低于" } } }
                tbody { @for (s, min) in &c.stars { tr { td { (lit(s)) " 星" } td { (lit(min)) } } } } }
        }
    }
}

/// A calendar: its zone, working hours, days off and make-up workdays.
fn calendar(site: &Site<'_>, c: &wangge_dsl::ast::Calendar) -> Markup {
    const DAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
    let day = |d: u8| DAYS.get(usize::from(d)).copied().unwrap_or("?");
    let clock = |secs: u32| format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60);
    let dates = |ranges: &[wangge_dsl::ast::DateRange]| {
        ranges
            .iter()
            .map(|r| site.text(r.span).trim().replace("..", " 至 "))
            .collect::<Vec<_>>()
    };
    html! {
        dl class="facts" {
            @if let Some((y, _)) = c.year { dt { "年份" } dd { (y) " 年的放假与调休" } }
            @if let Some((_, span)) = &c.timezone { dt { "时区" } dd { (site.text(*span).trim().trim_matches('"')) } }
        }
        @if !c.hours.is_empty() {
            h2 { "上班时间" }
            table { thead { tr { th { "日子" } th { "时段" } } }
                tbody { @for h in &c.hours { tr {
                    td { (day(h.first_day)) @if h.last_day != h.first_day { "至" (day(h.last_day)) } }
                    td { (h.ranges.iter().map(|(a, b)| format!("{}–{}", clock(*a), clock(*b))).collect::<Vec<_>>().join("，")) }
                } } } }
        }
        @if !c.holidays.is_empty() { h2 { "放假" } ul { @for d in dates(&c.holidays) { li { (d) } } } }
        @if !c.makeup.is_empty() { h2 { "调休上班" } ul { @for d in dates(&c.makeup) { li { (d) } } } }
    }
}

fn scenario(site: &Site<'_>, s: &Scenario) -> Markup {
    let (href, at) = site.line_link(s.span);
    html! {
        details class="scenario" {
            summary { (s.name.name) " " small { a href=(href) { (at) } } }
            pre class="code" { (site.text(s.span)) }
        }
    }
}

fn scenario_page(site: &Site<'_>, scenarios: &[&Scenario]) -> Markup {
    page(
        "全部场景",
        "",
        html! {
            p { "场景是按时间线走一遍的例子：上报、办理、时间推移，以及每一步应有的结果。每个都随 " code { "wangge test" } " 运行。" }
            @for s in scenarios { (scenario(site, s)) }
        },
    )
}
