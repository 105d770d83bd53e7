//! A workflow's state diagram as inline SVG, laid out here (no network,
//! no layout engine): states in columns by their distance from the initial
//! state along transitions, forward edges as curves to the right, edges
//! back or within a column as arcs below, each labelled with its action.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;
use wangge_dsl::ast::Workflow;

const COL: f64 = 190.0;
const ROW: f64 = 74.0;
const NODE_H: f64 = 34.0;
const MARGIN: f64 = 30.0;

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn node_width(name: &str) -> f64 {
    (name.width() as f64) * 8.0 + 28.0
}

/// The states in the order they are first named, with their column.
fn layout(w: &Workflow) -> Vec<(String, usize)> {
    let mut order: Vec<String> = Vec::new();
    let mut add = |s: &str| {
        if !order.iter().any(|o| o == s) {
            order.push(s.to_string());
        }
    };
    for s in w.initial.iter().chain(&w.start) {
        add(&s.name);
    }
    for t in &w.transitions {
        for f in &t.from {
            add(&f.name);
        }
        add(&t.to.name);
    }
    for s in &w.finals {
        add(&s.name);
    }
    let mut column: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue = VecDeque::new();
    if let Some(first) = order.first() {
        column.insert(first.clone(), 0);
        queue.push_back(first.clone());
    }
    while let Some(s) = queue.pop_front() {
        let c = column.get(&s).copied().unwrap_or(0);
        for t in w
            .transitions
            .iter()
            .filter(|t| t.from.iter().any(|f| f.name == s))
        {
            if !column.contains_key(&t.to.name) {
                column.insert(t.to.name.clone(), c + 1);
                queue.push_back(t.to.name.clone());
            }
        }
    }
    // States no transition reaches go in a last column.
    let last = column.values().max().map_or(0, |m| m + 1);
    order
        .into_iter()
        .map(|s| {
            let c = column.get(&s).copied().unwrap_or(last);
            (s, c)
        })
        .collect()
}

/// The SVG of a workflow's states and transitions.
pub fn workflow_svg(w: &Workflow) -> String {
    let states = layout(w);
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut at: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
    for (s, c) in &states {
        let r = rows.entry(*c).or_insert(0);
        let x = MARGIN + (*c as f64) * COL;
        let y = MARGIN + (*r as f64) * ROW;
        *r += 1;
        at.insert(s.clone(), (x, y, node_width(s)));
    }
    let columns = states.iter().map(|(_, c)| c + 1).max().unwrap_or(1);
    let depth = rows.values().copied().max().unwrap_or(1);
    let width = MARGIN * 2.0 + (columns as f64) * COL;
    let height = MARGIN * 2.0 + (depth as f64) * ROW + 60.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{} 的状态图">"#,
        esc(&w.name.name)
    );
    svg.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##,
    );
    for t in &w.transitions {
        let label = match &t.outcome {
            Some(o) => format!("{} {}", t.action.name, o.name),
            None => t.action.name.clone(),
        };
        let restart = if t.restart { "（重新计时）" } else { "" };
        for f in &t.from {
            let (Some(&source), Some(&target)) = (at.get(&f.name), at.get(&t.to.name)) else {
                continue;
            };
            edge(&mut svg, source, target, &format!("{label}{restart}"));
        }
    }
    for (s, (x, y, w_)) in &at {
        let is_final = w.finals.iter().any(|f| &f.name == s);
        let is_initial = w.initial.iter().chain(&w.start).any(|i| &i.name == s);
        let class = if is_final { "state final" } else { "state" };
        let _ = write!(
            svg,
            r#"<g class="{class}"><rect x="{x}" y="{y}" width="{w_}" height="{NODE_H}" rx="8"/>"#
        );
        if is_final {
            let _ = write!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{}" rx="6" class="inner"/>"#,
                x + 3.0,
                y + 3.0,
                w_ - 6.0,
                NODE_H - 6.0
            );
        }
        if is_initial {
            let _ = write!(
                svg,
                r#"<circle cx="{}" cy="{}" r="5" class="start"/>"#,
                x - 12.0,
                y + NODE_H / 2.0
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text></g>"#,
            x + w_ / 2.0,
            y + NODE_H / 2.0 + 5.0,
            esc(s)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One labelled edge between two boxes `(x, y, width)`: a curve right to
/// a later column; straight up or down within a column; an arc below,
/// back to an earlier column.
fn edge(svg: &mut String, s: (f64, f64, f64), t: (f64, f64, f64), label: &str) {
    let (path, lx, ly) = if t.0 > s.0 {
        let (from, to) = ((s.0 + s.2, s.1 + NODE_H / 2.0), (t.0, t.1 + NODE_H / 2.0));
        let mid = (from.0 + to.0) / 2.0;
        (
            format!(
                "M{},{} C{mid},{} {mid},{} {},{}",
                from.0, from.1, from.1, to.1, to.0, to.1
            ),
            mid,
            (from.1 + to.1) / 2.0 - 6.0,
        )
    } else if (t.0 - s.0).abs() < 1.0 && (t.1 - s.1).abs() > 1.0 {
        let x = s.0 + s.2.min(t.2) / 2.0;
        let (y1, y2) = if t.1 > s.1 {
            (s.1 + NODE_H, t.1)
        } else {
            (s.1, t.1 + NODE_H)
        };
        (
            format!("M{x},{y1} L{x},{y2}"),
            x + 6.0,
            (y1 + y2) / 2.0 + 4.0,
        )
    } else {
        let start = (s.0 + s.2 / 2.0, s.1 + NODE_H);
        let end = (t.0 + 12.0, t.1 + NODE_H);
        let dip = start.1.max(end.1) + 40.0;
        (
            format!(
                "M{},{} C{},{dip} {},{dip} {},{}",
                start.0, start.1, start.0, end.0, end.0, end.1
            ),
            (start.0 + end.0) / 2.0,
            dip - 4.0,
        )
    };
    let _ = write!(
        svg,
        r#"<path d="{path}" class="edge" marker-end="url(#arrow)"/><text x="{lx}" y="{ly}" class="label" text-anchor="middle">{}</text>"#,
        esc(label)
    );
}
