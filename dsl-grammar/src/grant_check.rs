//! Checks `grant` items: permission names, the workflows and actions `办理`
//! names, that a role's grant names a declared role, and one grant per
//! role or service account.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{Grant, Item};
use crate::diagnostic::Diagnostic;
use crate::resolve::{Symbols, BUILTIN_ACTIONS};
use crate::suggest::help_for;

/// The permissions a grant may name, each with what it allows.
pub const PERMISSIONS: &[(&str, &str)] = &[
    ("上报", "report an event (CaseService/Report)"),
    ("查看案件", "read cases, their events and the change stream"),
    (
        "办理",
        "take a workflow's actions: `办理 事件处置: 受理, 办结` or `*`",
    ),
    (
        "查看个人信息",
        "see the fields a schema marks `personal` unmasked",
    ),
    (
        "代办",
        "act on behalf of a person (a service account's `actor`)",
    ),
    ("发布策略", "deploy and roll back policy versions"),
    ("导入组织", "import or change units and people"),
    ("查看人员", "list the people of the registry"),
    ("调整时钟", "set or advance a manual clock"),
    ("导出", "back up or export the store"),
    ("登记活动", "record workers' activity"),
    ("查看补贴", "preview and read settlements and activity"),
    ("结算补贴", "settle and correct a month's subsidies"),
    (
        "发放积分",
        "earn and redeem points for residents, read their balances",
    ),
    ("记录调查", "record satisfaction surveys"),
    ("评分", "score and rank units and read their history"),
    ("查看审计", "read and verify the audit log"),
    (
        "下派任务",
        "send a task down to every unit of a level under one's unit",
    ),
    ("办理任务", "签收 and 完成 a unit's part of a task"),
    ("查看任务", "read tasks and their progress"),
];

/// The permission that names workflow actions.
pub const ACT: &str = "办理";

/// Diagnostics of every `grant` item in `items`.
pub fn check_grants(items: &[&Item], symbols: &Symbols) -> Vec<Diagnostic> {
    let mut actions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for item in items {
        if let Item::Workflow(w) = item {
            let acts = actions.entry(w.name.name.as_str()).or_default();
            acts.extend(w.transitions.iter().map(|t| t.action.name.as_str()));
            acts.extend(w.requests.iter().map(|r| r.name.name.as_str()));
            acts.extend(BUILTIN_ACTIONS.iter().copied());
        }
    }
    let mut out = Vec::new();
    let mut seen: BTreeMap<(bool, &str), &Grant> = BTreeMap::new();
    for item in items {
        let Item::Grant(g) = item else { continue };
        if let Some(first) = seen.insert((g.service, g.name.name.as_str()), g) {
            out.push(
                Diagnostic::error(
                    "wangge::duplicate",
                    g.name.span,
                    format!("`{}` is granted twice", g.name.name),
                )
                .with_label("second grant")
                .with_related(first.name.span, "first granted here")
                .with_help("keep one grant per role or service account"),
            );
        }
        check_grantee(g, symbols, &mut out);
        for line in &g.lines {
            check_line(line, &actions, &mut out);
        }
    }
    out
}

fn check_grantee(g: &Grant, symbols: &Symbols, out: &mut Vec<Diagnostic>) {
    if g.service {
        if g.summoned {
            out.push(
                Diagnostic::error(
                    "wangge::grant",
                    g.name.span,
                    format!("service account `{}` cannot be `summoned`", g.name.name),
                )
                .with_label("a service account has no unit")
                .with_help("`summoned` narrows a role's grant to cases its unit was summoned to"),
            );
        }
        return;
    }
    match symbols.items.get(&g.name.name) {
        Some(("role", _)) => {}
        _ => {
            let roles = symbols
                .items
                .iter()
                .filter(|(_, (kw, _))| *kw == "role")
                .map(|(n, _)| n.as_str());
            let mut d = Diagnostic::error(
                "wangge::unknown-name",
                g.name.span,
                format!("unknown role `{}`", g.name.name),
            )
            .with_label("not a declared role");
            d = match help_for(&g.name.name, roles) {
                Some(h) => d.with_help(h),
                None => d.with_help("a service account is granted with `grant service NAME { … }`"),
            };
            out.push(d);
        }
    }
}

fn check_line(
    line: &crate::ast::GrantLine,
    actions: &BTreeMap<&str, BTreeSet<&str>>,
    out: &mut Vec<Diagnostic>,
) {
    let name = line.permission.name.as_str();
    if !PERMISSIONS.iter().any(|(p, _)| *p == name) {
        let mut d = Diagnostic::error(
            "wangge::unknown-name",
            line.permission.span,
            format!("unknown permission `{name}`"),
        )
        .with_label("not a permission");
        if let Some(h) = help_for(name, PERMISSIONS.iter().map(|(p, _)| *p)) {
            d = d.with_help(h);
        }
        out.push(d);
        return;
    }
    match (&line.workflow, name == ACT) {
        (None, true) => out.push(
            Diagnostic::error(
                "wangge::grant",
                line.permission.span,
                "`办理` names a workflow and its actions",
            )
            .with_label("which workflow?")
            .with_help("`办理 事件处置: 受理, 办结`, or `办理 事件处置: *` for all of them"),
        ),
        (Some(w), false) => out.push(
            Diagnostic::error(
                "wangge::grant",
                w.span,
                format!("`{name}` takes no workflow"),
            )
            .with_label("only `办理` names a workflow"),
        ),
        (Some(w), true) => match actions.get(w.name.as_str()) {
            None => {
                let mut d = Diagnostic::error(
                    "wangge::unknown-name",
                    w.span,
                    format!("unknown workflow `{}`", w.name),
                )
                .with_label("not a workflow");
                if let Some(h) = help_for(&w.name, actions.keys().copied()) {
                    d = d.with_help(h);
                }
                out.push(d);
            }
            Some(known) => {
                for a in line.actions.iter().flatten() {
                    if !known.contains(a.name.as_str()) {
                        let mut d = Diagnostic::error(
                            "wangge::unknown-name",
                            a.span,
                            format!("workflow `{}` has no action `{}`", w.name, a.name),
                        )
                        .with_label("not an action of the workflow");
                        if let Some(h) = help_for(&a.name, known.iter().copied()) {
                            d = d.with_help(h);
                        }
                        out.push(d);
                    }
                }
            }
        },
        (None, false) => {}
    }
}
