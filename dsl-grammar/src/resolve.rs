//! Names across the files of one policy set: duplicate definitions, unknown
//! names (with the nearest known one), the shape of tables, and the values
//! of `param`s and ladder levels.

use std::collections::{BTreeMap, HashSet};

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::suggest::help_for;
use crate::value::Const;

/// Known return types of `calc`.
pub const CALC_TYPES: &[&str] = &["元", "数", "整数", "文本", "布尔"];
/// Actions every workflow has; policies cannot redefine them.
pub const BUILTIN_ACTIONS: &[&str] = &[
    "escalate",
    "pause",
    "resume",
    "summon",
    "report_in",
    "签收",
    "改派",
    "退单",
    "批准",
    "驳回",
];
/// What a scenario's `expect CASE field value` can check.
pub const CASE_FIELDS: &[&str] = &[
    "state",
    "class",
    "level",
    "ceiling",
    "escalations",
    "breaches",
    "breached",
    "overdue",
    "reopened",
    "deadline",
    "paused",
    "closed",
    "missed",
    "history",
];
/// What a `role` may require: any party member, or a full (正式) one.
pub const PARTY_REQUIREMENTS: &[&str] = &["党员", "正式党员"];
/// Known fields of the `policy` header.
pub const POLICY_FIELDS: &[&str] = &["version", "summary", "description"];

/// Everything a policy set defines, by name.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// Item name → (keyword, span of the name).
    pub items: BTreeMap<String, (&'static str, Span)>,
    /// `param` values.
    pub params: BTreeMap<String, Const>,
    /// Ladder level → the ladders that have it.
    pub levels: BTreeMap<String, Vec<String>>,
    pub header: Option<PolicyHeader>,
    /// Calls from one item's scripts to another item (composition).
    pub calls: Vec<ItemCall>,
}

/// A call from a calc, rule set or table to another table, rule set or
/// calc (`事件分级(事件)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCall {
    pub caller: String,
    pub callee: String,
    /// The callee's name at the call.
    pub span: Span,
}

/// Items a script may call: they take arguments and give a result.
pub const CALLABLE: &[&str] = &["table", "rules", "calc"];

impl Symbols {
    /// The value of a literal, a `param` or a ladder level (its name).
    pub fn scalar(&self, s: &Scalar) -> Option<Const> {
        match s {
            Scalar::Lit(l) => Some(Const::from(&l.kind)),
            Scalar::Name(id) => self.name(&id.name),
        }
    }

    pub fn name(&self, name: &str) -> Option<Const> {
        if let Some(v) = self.params.get(name) {
            return Some(v.clone());
        }
        self.levels
            .contains_key(name)
            .then(|| Const::Str(name.to_string()))
    }

    fn value_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.params
            .keys()
            .chain(self.levels.keys())
            .map(String::as_str)
    }

    /// The header field, e.g. `version`.
    pub fn header_field(&self, key: &str) -> Option<&str> {
        self.header.as_ref().and_then(|h| {
            h.fields
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(_, v)| v.as_str())
        })
    }
}

/// Resolves the names of all files of one policy set.
pub fn resolve(files: &[File]) -> (Symbols, Vec<Diagnostic>) {
    let mut r = Resolver::default();
    let items: Vec<&Item> = files.iter().flat_map(|f| f.items.iter()).collect();
    for item in &items {
        // A calendar's year block adds to a calendar declared elsewhere.
        let year_block = matches!(item, Item::Calendar(c) if c.year.is_some());
        // A grant is named after a role (or a service account): not an item name.
        if !matches!(item, Item::Scenario(_) | Item::Grant(_)) && !year_block {
            r.declare(item);
        }
    }
    r.calendar_years(&items);
    r.eval_params(&items);
    for id in std::mem::take(&mut r.pending_schemas) {
        r.expect_item(&id, &["schema"], "schema");
    }
    for item in &items {
        match item {
            Item::Table(t) => r.table(t),
            Item::Rules(rs) => r.rules(rs),
            Item::Calc(c) => r.calc(c),
            Item::Workflow(w) => r.workflow(w),
            Item::Calendar(c) => r.calendar(c),
            Item::Subsidy(sub) => r.subsidy(sub),
            Item::Points(p) => r.points(p),
            Item::Scorecard(c) => {
                if let Some(i) = &c.index {
                    r.expect_item(i, &["calc"], "calc");
                }
                r.unique_names(
                    c.indicators
                        .iter()
                        .map(|i| &i.name)
                        .chain(c.penalties.iter().map(|p| &p.name)),
                    "indicator",
                );
            }
            Item::Award(a) => r.expect_item(&a.scorecard, &["scorecard"], "scorecard"),
            Item::Task(t) => r.task(t),
            Item::Intake(i) => r.intake(i, &items),
            Item::Role(role) => r.role(role),
            Item::Party(party) => r.party(party),
            Item::Schema(sc) => {
                let d = crate::schema_check::check_schema(sc, &r.schemas, &r.symbols);
                r.diags.extend(d);
            }
            Item::Ladder(_) | Item::Param(_) | Item::Policy(_) | Item::Scenario(_) => {}
            Item::Grant(_) => {}
        }
    }
    let grants = crate::grant_check::check_grants(&items, &r.symbols);
    r.diags.extend(grants);
    let mut scenarios: BTreeMap<&str, Span> = BTreeMap::new();
    for item in &items {
        if let Item::Scenario(sc) = item {
            if let Some(first) = scenarios.get(sc.name.name.as_str()) {
                r.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        sc.name.span,
                        format!("scenario `{}` is defined twice", sc.name.name),
                    )
                    .with_label("second scenario")
                    .with_related(*first, "first defined here"),
                );
            } else {
                scenarios.insert(&sc.name.name, sc.name.span);
            }
            r.scenario(sc);
        }
    }
    r.call_cycles();
    (r.symbols, r.diags)
}

#[derive(Default)]
struct Resolver {
    symbols: Symbols,
    diags: Vec<Diagnostic>,
    /// Parameters of the callable items.
    params: BTreeMap<String, Vec<String>>,
    /// Schemas by name.
    schemas: crate::schema_check::Schemas,
    /// Schema names parameters give, checked once all items are declared.
    pending_schemas: Vec<Ident>,
}

/// The rhai cells among `tests` (inside `not(…)` too).
fn collect_scripts<'a>(tests: &'a [Test], out: &mut Vec<&'a RhaiCode>) {
    for t in tests {
        match t {
            Test::Rhai(code) => out.push(code),
            Test::Not(inner, _) => collect_scripts(inner, out),
            _ => {}
        }
    }
}

/// How many arguments the call whose text follows the name has (`(a, b)`
/// → 2), commas inside brackets and strings not counted; `None` when the
/// list is not closed.
fn arg_count(rest: &str) -> Option<usize> {
    let rest = rest.trim_start().strip_prefix('(')?;
    let (mut depth, mut commas, mut any, mut quote) = (0usize, 0usize, false, None);
    let mut escaped = false;
    for c in rest.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '`' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' if depth == 0 => return Some(if any { commas + 1 } else { 0 }),
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => commas += 1,
            _ => {}
        }
        if !(c.is_whitespace() || depth == 0 && c == ',') {
            any = true;
        }
    }
    None
}

/// Calls `NAME(` in rhai code, outside strings and comments, that are not
/// method calls (`.NAME(`); with the byte offset of each name. Names the
/// code defines itself (`fn NAME`) are left out.
fn calls_in(code: &str) -> Vec<(usize, &str)> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let (mut calls, mut defined) = (Vec::new(), Vec::new());
    let mut chars = code.char_indices().peekable();
    let mut prev_sig = ' ';
    let mut prev_word = "";
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '`' | '\'' => {
                let mut escaped = false;
                for (_, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == c {
                        break;
                    }
                }
                prev_sig = c;
            }
            '/' if matches!(chars.peek(), Some((_, '/'))) => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if matches!(chars.peek(), Some((_, '*'))) => {
                let mut last = ' ';
                for (_, d) in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
            }
            c if ident(c) && !c.is_ascii_digit() => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !ident(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                let word = &code[i..end];
                let rest = code[end..].trim_start();
                if prev_word == "fn" {
                    defined.push(word);
                } else if rest.starts_with('(') && prev_sig != '.' {
                    calls.push((i, word));
                }
                prev_word = word;
                prev_sig = 'a';
            }
            c if c.is_whitespace() => {}
            c => {
                prev_sig = c;
                prev_word = "";
            }
        }
    }
    calls.retain(|(_, w)| !defined.contains(w));
    calls
}

impl Resolver {
    /// Calls in `code` (of item `owner`) to other items: a table, rule
    /// set or calc with as many arguments as it has parameters; anything
    /// else is not a function.
    fn item_calls(&mut self, owner: &str, code: &RhaiCode) {
        for (at, name) in calls_in(&code.text) {
            let Some((kind, _)) = self.symbols.items.get(name) else {
                continue;
            };
            let start = code.span.start + at;
            let span = Span::new(code.span.file, start, start + name.len());
            if !CALLABLE.contains(kind) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::item-call",
                        span,
                        format!("`{owner}` calls the {kind} `{name}`, which a script cannot call"),
                    )
                    .with_label("not a function")
                    .with_help("a script can call a table, rule set or calc"),
                );
                continue;
            }
            // Every table, rule set and calc has its parameters recorded.
            let Some(params) = self.params.get(name) else {
                continue;
            };
            let (arity, shown) = (params.len(), params.join(", "));
            let given = arg_count(&code.text[at + name.len()..]);
            if given != Some(arity) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::item-call",
                        span,
                        format!(
                            "`{name}` takes {arity} argument(s) ({shown}), this call gives {}",
                            given.map_or("an unreadable list".to_string(), |n| n.to_string())
                        ),
                    )
                    .with_label("wrong number of arguments"),
                );
            }
            self.symbols.calls.push(ItemCall {
                caller: owner.to_string(),
                callee: name.to_string(),
                span,
            });
        }
    }

    /// What evaluation counts of a workflow: `closed` states are final
    /// states, `feedback` outcomes are outcomes of its transitions with a
    /// weight from 0 to 1, and the `channel` is a field of its data schema.
    fn workflow_figures(&mut self, w: &Workflow) {
        let finals: Vec<String> = w.finals.iter().map(|f| f.name.clone()).collect();
        for c in &w.closed {
            if !finals.contains(&c.name) {
                self.unknown(c, "final state", finals.clone());
            }
        }
        let outcomes: Vec<String> = w
            .transitions
            .iter()
            .filter_map(|t| t.outcome.as_ref().map(|o| o.name.clone()))
            .collect();
        for (o, weight) in &w.feedback {
            if !outcomes.contains(&o.name) {
                self.unknown(o, "outcome", outcomes.clone());
            }
            let ok = Const::from(&weight.kind).as_decimal().is_some_and(|d| {
                d >= rust_decimal::Decimal::ZERO && d <= rust_decimal::Decimal::ONE
            });
            if !ok {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::workflow",
                        weight.span,
                        "a feedback weight is from 0 to 1",
                    )
                    .with_label("how much this outcome counts as satisfied"),
                );
            }
        }
        if let (Some(ch), Some(schema)) = (
            &w.channel,
            w.data.as_ref().and_then(|d| self.schemas.get(&d.name)),
        ) {
            if !schema.fields.iter().any(|f| f.name.name == ch.name) {
                let fields = schema.fields.iter().map(|f| f.name.name.clone()).collect();
                self.unknown(ch, "field", fields);
            }
        }
    }

    /// A calendar's year blocks: the calendar exists, the block holds only
    /// holidays and make-up days, all in its year, and no year is given
    /// twice (in a block or in the calendar itself).
    fn calendar_years(&mut self, items: &[&Item]) {
        let mut seen: BTreeMap<(String, i32), Span> = BTreeMap::new();
        for item in items {
            let Item::Calendar(c) = item else { continue };
            if c.year.is_none() {
                for r in c.holidays.iter().chain(&c.makeup) {
                    for y in [r.start.year(), r.end.year()] {
                        seen.entry((c.name.name.clone(), y)).or_insert(r.span);
                    }
                }
            }
        }
        for item in items {
            let Item::Calendar(c) = item else { continue };
            let Some((year, yspan)) = c.year else {
                continue;
            };
            self.expect_item(&c.name, &["calendar"], "calendar");
            if let Some(h) = c.hours.first() {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::calendar",
                        h.span,
                        "a year block has no working hours",
                    )
                    .with_label("hours belong to the calendar itself")
                    .with_help("a `year` block holds `holidays` and `makeup` only"),
                );
            }
            if let Some((_, tz)) = &c.timezone {
                self.diags.push(
                    Diagnostic::error("wangge::calendar", *tz, "a year block has no time zone")
                        .with_label("the time zone belongs to the calendar itself"),
                );
            }
            for r in c.holidays.iter().chain(&c.makeup) {
                if r.start.year() != year || r.end.year() != year {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::calendar",
                            r.span,
                            format!(
                                "a date outside {year} in the {year} block of `{}`",
                                c.name.name
                            ),
                        )
                        .with_label(format!("not in {year}")),
                    );
                }
            }
            let key = (c.name.name.clone(), year);
            if let Some(first) = seen.get(&key) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        yspan,
                        format!(
                            "the days off of {year} in `{}` are given twice",
                            c.name.name
                        ),
                    )
                    .with_label("second time")
                    .with_related(*first, "first given here"),
                );
            } else {
                seen.insert(key, yspan);
            }
        }
    }

    /// Every cycle of calls (`A` calls `B` calls `A`) is an error at the
    /// call that closes it.
    fn call_cycles(&mut self) {
        let mut edges: BTreeMap<&str, Vec<&ItemCall>> = BTreeMap::new();
        for c in &self.symbols.calls {
            edges.entry(c.caller.as_str()).or_default().push(c);
        }
        let mut reported = HashSet::new();
        for start in edges.keys() {
            // Depth-first from `start`, looking for a way back to it.
            let mut stack: Vec<(&str, Vec<&ItemCall>)> = vec![(start, Vec::new())];
            let mut seen = HashSet::new();
            while let Some((at, path)) = stack.pop() {
                for c in edges.get(at).into_iter().flatten() {
                    let mut path = path.clone();
                    path.push(c);
                    if c.callee == *start {
                        let mut names: Vec<&str> = path.iter().map(|c| c.caller.as_str()).collect();
                        names.sort_unstable();
                        if reported.insert(names) {
                            let chain: Vec<&str> = std::iter::once(*start)
                                .chain(path.iter().map(|c| c.callee.as_str()))
                                .collect();
                            self.diags.push(
                                Diagnostic::error(
                                    "wangge::item-call",
                                    c.span,
                                    format!("a cycle of calls: {}", chain.join(" → ")),
                                )
                                .with_label("calls back into the cycle")
                                .with_help("an item cannot depend on itself; break the cycle"),
                            );
                        }
                    } else if seen.insert(c.callee.as_str()) {
                        stack.push((c.callee.as_str(), path));
                    }
                }
            }
        }
    }

    fn declare(&mut self, item: &Item) {
        let name = item.name();
        if let Item::Policy(h) = item {
            if let Some(first) = &self.symbols.header {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        name.span,
                        format!("a second `policy` header `{}`", name.name),
                    )
                    .with_label("second header")
                    .with_related(first.name.span, "the policy set is already named here")
                    .with_help("a policy set has one `policy` header; keep it in one file"),
                );
                return;
            }
            for (k, _) in &h.fields {
                if !POLICY_FIELDS.contains(&k.name.as_str()) {
                    let mut d = Diagnostic::error(
                        "wangge::unknown-name",
                        k.span,
                        format!("unknown policy field `{}`", k.name),
                    )
                    .with_label("unknown field");
                    if let Some(h) = help_for(&k.name, POLICY_FIELDS.iter().copied()) {
                        d = d.with_help(h);
                    }
                    self.diags.push(d);
                }
            }
            self.symbols.header = Some(h.clone());
            return;
        }
        if let Some((kw, first)) = self.symbols.items.get(&name.name) {
            self.diags.push(
                Diagnostic::error(
                    "wangge::duplicate",
                    name.span,
                    format!("`{}` is defined twice", name.name),
                )
                .with_label(format!("second definition ({})", item.keyword()))
                .with_related(*first, format!("first defined here ({kw})")),
            );
            return;
        }
        self.symbols
            .items
            .insert(name.name.clone(), (item.keyword(), name.span));
        if let Item::Schema(sc) = item {
            self.schemas.insert(name.name.clone(), sc.clone());
        }
        let schemas = match item {
            Item::Table(t) => Some(&t.schemas),
            Item::Rules(r) => Some(&r.schemas),
            Item::Calc(c) => Some(&c.schemas),
            _ => None,
        };
        self.pending_schemas
            .extend(schemas.into_iter().flatten().flatten().cloned());
        let params = match item {
            Item::Table(t) => Some(&t.params),
            Item::Rules(r) => Some(&r.params),
            Item::Calc(c) => Some(&c.params),
            _ => None,
        };
        if let Some(ps) = params {
            let names = ps.iter().map(|p| p.name.clone()).collect();
            self.params.insert(name.name.clone(), names);
        }
        if let Item::Ladder(l) = item {
            let mut seen: HashSet<&str> = HashSet::new();
            for lv in &l.levels {
                if !seen.insert(&lv.name) {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::duplicate",
                            lv.span,
                            format!(
                                "level `{}` appears twice in ladder `{}`",
                                lv.name, l.name.name
                            ),
                        )
                        .with_label("repeated level"),
                    );
                    continue;
                }
                self.symbols
                    .levels
                    .entry(lv.name.clone())
                    .or_default()
                    .push(l.name.name.clone());
            }
        }
    }

    /// Params may name ladder levels and earlier params.
    fn eval_params(&mut self, items: &[&Item]) {
        for item in items {
            let Item::Param(p) = item else { continue };
            if self.symbols.items.get(&p.name.name).map(|(_, s)| *s) != Some(p.name.span) {
                continue; // a duplicate, already reported
            }
            if let Some(v) = self.value(&p.value) {
                self.symbols.params.insert(p.name.name.clone(), v);
            }
        }
    }

    fn value(&mut self, v: &ValueExpr) -> Option<Const> {
        match v {
            ValueExpr::Scalar(s) => self.scalar(s),
            ValueExpr::List(items, _) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.value(i)?);
                }
                Some(Const::List(out))
            }
        }
    }

    fn scalar(&mut self, s: &Scalar) -> Option<Const> {
        if let Some(c) = self.symbols.scalar(s) {
            return Some(c);
        }
        if let Scalar::Name(id) = s {
            self.unknown(
                id,
                "value",
                self.symbols.value_names().map(str::to_string).collect(),
            );
        }
        None
    }

    fn unknown(&mut self, id: &Ident, what: &str, candidates: Vec<String>) {
        let mut d = Diagnostic::error(
            "wangge::unknown-name",
            id.span,
            format!("unknown {what} `{}`", id.name),
        )
        .with_label(format!("not a known {what}"));
        if let Some(h) = help_for(&id.name, candidates.iter().map(String::as_str)) {
            d = d.with_help(h);
        }
        self.diags.push(d);
    }

    /// A party tree's organisations sit at ladder levels (or 专属网格) and
    /// are led by declared roles.
    fn party(&mut self, party: &Party) {
        for o in &party.orgs {
            if o.at.name != "专属网格" && !self.symbols.levels.contains_key(&o.at.name) {
                let mut known: Vec<String> = self.symbols.levels.keys().cloned().collect();
                known.push("专属网格".into());
                self.unknown(&o.at, "level", known);
            }
            for r in &o.led_by {
                self.expect_item(r, &["role"], "role");
            }
        }
        self.unique_names(party.orgs.iter().map(|o| &o.name), "organisation");
    }

    /// `assign` lines name transition actions of the workflow (once each)
    /// and declared roles.
    fn assign_rules(&mut self, w: &Workflow, levels: &[String]) {
        let actions: Vec<String> = w
            .transitions
            .iter()
            .map(|t| t.action.name.clone())
            .collect();
        for rule in &w.assign {
            if !actions.contains(&rule.action.name) {
                self.unknown(&rule.action, "action of the workflow", actions.clone());
            }
            for role in &rule.roles {
                self.expect_item(role, &["role"], "role");
            }
            match &rule.level {
                Some(l) if !levels.contains(&l.name) => self.unknown(l, "level", levels.to_vec()),
                Some(_)
                    if !w
                        .assign
                        .iter()
                        .any(|g| g.level.is_none() && g.action.name == rule.action.name) =>
                {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::workflow",
                            rule.span,
                            format!(
                                "`{} at …` needs a general line for `{}` first",
                                rule.action.name, rule.action.name
                            ),
                        )
                        .with_label("the roles at one level only")
                        .with_help(format!(
                            "add `{}: ROLES accept …` for the other levels",
                            rule.action.name
                        )),
                    )
                }
                _ => {}
            }
        }
        let lines: Vec<Ident> = (w.assign.iter())
            .map(|r| match &r.level {
                Some(l) => Ident {
                    name: format!("{} at {}", r.action.name, l.name),
                    span: r.action.span,
                },
                None => r.action.clone(),
            })
            .collect();
        self.unique_names(lines.iter(), "assign line");
        // A request is an action of its own: not a transition or a built-in.
        for r in &w.requests {
            let taken =
                actions.contains(&r.name.name) || BUILTIN_ACTIONS.contains(&r.name.name.as_str());
            if taken {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::workflow",
                        r.name.span,
                        format!("request `{}` has the name of an action", r.name.name),
                    )
                    .with_label("already an action")
                    .with_help("name the request apart, e.g. `延期申请`, `挂账`"),
                );
            }
        }
        self.unique_names(w.requests.iter().map(|r| &r.name), "request");
    }

    /// A role's levels are ladder levels; it requires 党员 or 正式党员.
    fn role(&mut self, role: &Role) {
        for lv in &role.levels {
            if !self.symbols.levels.contains_key(&lv.name) {
                let levels = self.symbols.levels.keys().cloned().collect();
                self.unknown(lv, "level", levels);
            }
        }
        if let Some(req) = &role.requires {
            if !PARTY_REQUIREMENTS.contains(&req.name.as_str()) {
                let known = PARTY_REQUIREMENTS.iter().map(|s| s.to_string()).collect();
                self.unknown(req, "requirement", known);
            }
        }
    }

    fn params_unique(&mut self, params: &[Ident]) {
        let mut seen = HashSet::new();
        for p in params {
            if !seen.insert(p.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        p.span,
                        format!("parameter `{}` is declared twice", p.name),
                    )
                    .with_label("repeated parameter"),
                );
            }
        }
    }

    fn table(&mut self, t: &Table) {
        let d = crate::schema_check::check_table(t, &self.schemas, &self.symbols);
        self.diags.extend(d);
        for col in &t.inputs {
            if let InputCol::Rhai(code) = col {
                self.item_calls(&t.name.name, code);
            }
        }
        let mut scripts = Vec::new();
        for cell in t.rows.iter().flat_map(|r| &r.cells) {
            collect_scripts(&cell.tests, &mut scripts);
        }
        for code in scripts {
            self.item_calls(&t.name.name, code);
        }
        self.params_unique(&t.params);
        let param_names: Vec<String> = t.params.iter().map(|p| p.name.clone()).collect();
        for col in &t.inputs {
            if let InputCol::Path(path, _) = col {
                if let Some(root) = path.first() {
                    if !param_names.contains(&root.name) {
                        self.unknown(root, "table input", param_names.clone());
                    }
                }
            }
        }
        let mut outs = HashSet::new();
        for o in &t.outputs {
            if !outs.insert(o.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        o.name.span,
                        format!("output column `{}` appears twice", o.name.name),
                    )
                    .with_label("repeated column"),
                );
            }
            for v in o.values.iter().flatten() {
                self.scalar(v);
            }
        }
        match t.hit {
            HitPolicy::Priority | HitPolicy::OutputOrder
                if t.outputs.iter().all(|o| o.values.is_none()) =>
            {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::hit-policy",
                        t.hit_span.unwrap_or(t.name.span),
                        format!(
                            "hit policy `{}` needs an output column with a value list",
                            t.hit.as_str()
                        ),
                    )
                    .with_label("no priorities to order by")
                    .with_help("list the values in priority order, e.g. `|| 等级: [\"大事\", \"难事\", \"小事\"] |`"),
                );
            }
            HitPolicy::Collect(Some(agg)) if t.outputs.len() != 1 => {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::hit-policy",
                        t.hit_span.unwrap_or(t.name.span),
                        format!(
                            "`collect {}` needs exactly one output column, found {}",
                            match agg {
                                Aggregator::Sum => "sum",
                                Aggregator::Min => "min",
                                Aggregator::Max => "max",
                                Aggregator::Count => "count",
                            },
                            t.outputs.len()
                        ),
                    )
                    .with_label("aggregates one column"),
                );
            }
            _ => {}
        }
        for (i, row) in t.rows.iter().enumerate() {
            let n = i + 1;
            if row.cells.len() != t.inputs.len() || row.outputs.len() != t.outputs.len() {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::table-shape",
                        row.span,
                        format!(
                            "row {n} has {} input and {} output cells, the header has {} and {}",
                            row.cells.len(),
                            row.outputs.len(),
                            t.inputs.len(),
                            t.outputs.len()
                        ),
                    )
                    .with_label("wrong number of cells")
                    .with_help("inputs and outputs are separated by `||`; each cell by `|`"),
                );
            }
            for cell in &row.cells {
                for test in &cell.tests {
                    self.test(test);
                }
            }
            for (j, out) in row.outputs.iter().enumerate() {
                let OutCell::Value(v) = out else { continue };
                let Some(value) = self.scalar(v) else {
                    continue;
                };
                let Some(col) = t.outputs.get(j) else {
                    continue;
                };
                let Some(list) = &col.values else { continue };
                let allowed: Vec<Const> =
                    list.iter().filter_map(|s| self.symbols.scalar(s)).collect();
                if !allowed.contains(&value) {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::value-list",
                            v.span(),
                            format!(
                                "`{}` is not in the value list of output `{}`",
                                value.display(),
                                col.name.name
                            ),
                        )
                        .with_label("not an allowed value")
                        .with_related(col.name.span, "value list declared here")
                        .with_help(format!(
                            "allowed: {}",
                            allowed
                                .iter()
                                .map(Const::display)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
            }
        }
    }

    fn test(&mut self, t: &Test) {
        match t {
            Test::Any(_) | Test::Rhai(_) => {}
            Test::Eq(s) | Test::Cmp(_, s, _) => {
                self.scalar(s);
            }
            Test::Range { lo, hi, .. } => {
                self.scalar(lo);
                self.scalar(hi);
            }
            Test::In(vs, _) => {
                for v in vs {
                    self.scalar(v);
                }
            }
            Test::Not(ts, _) => {
                for t in ts {
                    self.test(t);
                }
            }
        }
    }

    fn rules(&mut self, rs: &RuleSet) {
        self.params_unique(&rs.params);
        for r in &rs.rules {
            self.item_calls(&rs.name.name, &r.when);
            for (_, out) in &r.outputs {
                self.item_calls(&rs.name.name, out);
            }
        }
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for r in &rs.rules {
            if let Some(first) = seen.get(r.name.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        r.name.span,
                        format!(
                            "rule `{}` is defined twice in `{}`",
                            r.name.name, rs.name.name
                        ),
                    )
                    .with_label("second definition")
                    .with_related(*first, "first defined here"),
                );
            } else {
                seen.insert(&r.name.name, r.name.span);
            }
        }
    }

    /// Checks that `id` names an item of one of `kinds`.
    fn item_of(&mut self, id: &Ident, kinds: &[&str], what: &str) {
        match self.symbols.items.get(&id.name) {
            Some((kw, _)) if kinds.contains(kw) => {}
            Some((kw, span)) => {
                let span = *span;
                self.diags.push(
                    Diagnostic::error(
                        "wangge::wrong-kind",
                        id.span,
                        format!("`{}` is a {kw}, not a {what}", id.name),
                    )
                    .with_label(format!("needs a {what}"))
                    .with_related(span, "defined here"),
                );
            }
            None => {
                let candidates: Vec<String> = self
                    .symbols
                    .items
                    .iter()
                    .filter(|(_, (kw, _))| kinds.contains(kw))
                    .map(|(k, _)| k.clone())
                    .collect();
                self.unknown(id, what, candidates);
            }
        }
    }

    fn calendar(&mut self, c: &Calendar) {
        if c.year.is_some() {
            return;
        }
        if c.hours.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "wangge::calendar",
                    c.name.span,
                    format!("calendar `{}` has no working hours", c.name.name),
                )
                .with_label("no `hours` line")
                .with_help("add e.g. `hours 周一-周五 09:00-12:00, 13:30-17:30`"),
            );
        }
        let mut seen = [false; 7];
        for h in &c.hours {
            for d in h.first_day..=h.last_day.min(6) {
                if std::mem::replace(&mut seen[usize::from(d)], true) {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::calendar",
                            h.span,
                            "a weekday has working hours twice".to_string(),
                        )
                        .with_label("overlaps an earlier `hours` line"),
                    );
                    break;
                }
            }
            let mut ranges = h.ranges.clone();
            ranges.sort_unstable();
            if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::calendar",
                        h.span,
                        "working-hour ranges overlap".to_string(),
                    )
                    .with_label("overlapping ranges"),
                );
            }
        }
    }

    /// An item of the given kinds, or an error with the nearest name.
    fn expect_item(&mut self, name: &Ident, kinds: &[&str], what: &str) {
        match self.symbols.items.get(&name.name) {
            Some((kw, _)) if kinds.contains(kw) => {}
            Some((kw, _)) => self.diags.push(
                Diagnostic::error(
                    "wangge::scenario",
                    name.span,
                    format!("`{}` is a {kw}, not a {what}", name.name),
                )
                .with_label(format!("expected a {what}")),
            ),
            None => {
                let candidates: Vec<&str> = self
                    .symbols
                    .items
                    .iter()
                    .filter(|(_, (kw, _))| kinds.contains(kw))
                    .map(|(n, _)| n.as_str())
                    .collect();
                let mut d = Diagnostic::error(
                    "wangge::unknown-name",
                    name.span,
                    format!("unknown {what} `{}`", name.name),
                )
                .with_label("not defined in the policy set");
                if let Some(h) = help_for(&name.name, candidates) {
                    d = d.with_help(h);
                }
                self.diags.push(d);
            }
        }
    }

    /// Names must be unique within one list.
    fn unique_names<'a>(&mut self, names: impl Iterator<Item = &'a Ident>, what: &str) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for n in names {
            if let Some(first) = seen.get(n.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        n.span,
                        format!("{what} `{}` appears twice", n.name),
                    )
                    .with_label("repeated")
                    .with_related(*first, "first here"),
                );
            } else {
                seen.insert(&n.name, n.span);
            }
        }
    }

    fn subsidy(&mut self, s: &Subsidy) {
        for calc in s
            .components
            .iter()
            .map(|(_, c)| c)
            .chain(s.factors.iter().map(|(_, c, _)| c))
        {
            self.expect_item(calc, &["calc"], "calc");
        }
        self.unique_names(
            s.components
                .iter()
                .map(|(n, _)| n)
                .chain(s.factors.iter().map(|(n, _, _)| n)),
            "line item",
        );
        for (_, _, on) in &s.factors {
            for c in on {
                if !s.components.iter().any(|(n, _)| n.name == c.name) {
                    let mut d = Diagnostic::error(
                        "wangge::unknown-name",
                        c.span,
                        format!("subsidy `{}` has no component `{}`", s.name.name, c.name),
                    )
                    .with_label("not a component of this subsidy");
                    if let Some(h) =
                        help_for(&c.name, s.components.iter().map(|(n, _)| n.name.as_str()))
                    {
                        d = d.with_help(h);
                    }
                    self.diags.push(d);
                }
            }
        }
        self.unique_names(s.activities.iter(), "activity");
        if s.components.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "wangge::subsidy",
                    s.name.span,
                    format!("subsidy `{}` has no `component`", s.name.name),
                )
                .with_label("nothing to pay")
                .with_help("add a line item: `component 计件 = 计件补贴`"),
            );
        }
        for lit in [&s.floor, &s.cap].into_iter().flatten() {
            if !matches!(lit.kind, LitKind::Money(_)) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::subsidy",
                        lit.span,
                        "floors and caps are amounts in 元".to_string(),
                    )
                    .with_label("not an amount")
                    .with_help("write e.g. `300.00元`"),
                );
            }
        }
        if let (Some(f), Some(c)) = (&s.floor, &s.cap) {
            if let (LitKind::Money(f), LitKind::Money(c)) = (&f.kind, &c.kind) {
                if f > c {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::subsidy",
                            s.name.span,
                            format!("the floor {f}元 is above the cap {c}元"),
                        )
                        .with_label("floor above cap"),
                    );
                }
            }
        }
    }

    fn points(&mut self, p: &Points) {
        self.unique_names(p.earn.iter().map(|(n, _)| n), "earning rule");
        self.unique_names(p.redeem.iter().map(|(n, _)| n), "redemption rule");
        for (_, n) in p.earn.iter().chain(&p.redeem) {
            if !matches!(n.kind, LitKind::Int(i) if i > 0) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::points",
                        n.span,
                        "points are a whole number above zero".to_string(),
                    )
                    .with_label("not a positive whole number"),
                );
            }
        }
    }

    fn scenario(&mut self, sc: &Scenario) {
        let mut cases: BTreeMap<&str, Span> = BTreeMap::new();
        let mut timed = false;
        let unknown_case = |d: &mut Vec<Diagnostic>, id: &Ident, cases: &BTreeMap<&str, Span>| {
            let mut diag = Diagnostic::error(
                "wangge::unknown-name",
                id.span,
                format!("no case `{}` has been reported in this scenario", id.name),
            )
            .with_label("report it first: `report 工作流 as 名称 { … }`");
            if let Some(h) = help_for(&id.name, cases.keys().copied()) {
                diag = diag.with_help(h);
            }
            d.push(diag);
        };
        for step in &sc.steps {
            match step {
                Step::Start(t) if timed => self.diags.push(
                    Diagnostic::error(
                        "wangge::scenario",
                        t.span,
                        "`start` comes before the timeline".to_string(),
                    )
                    .with_label("move it to the top of the scenario"),
                ),
                Step::Start(_) | Step::Timezone(..) | Step::Org(_) => {}
                Step::At(_) => timed = true,
                Step::Report {
                    workflow, alias, ..
                } => {
                    timed = true;
                    self.expect_item(workflow, &["workflow"], "workflow");
                    if let Some(first) = cases.get(alias.name.as_str()) {
                        self.diags.push(
                            Diagnostic::error(
                                "wangge::duplicate",
                                alias.span,
                                format!("case `{}` is reported twice", alias.name),
                            )
                            .with_label("second report")
                            .with_related(*first, "first reported here"),
                        );
                    } else {
                        cases.insert(&alias.name, alias.span);
                    }
                }
                Step::Intake { intake, alias, .. } => {
                    timed = true;
                    self.expect_item(intake, &["intake"], "intake");
                    // A duplicate order may name the case another alias has.
                    cases.entry(&alias.name).or_insert(alias.span);
                }
                Step::Callback { intake, .. } => self.expect_item(intake, &["intake"], "intake"),
                Step::Act { case, .. } => {
                    if !cases.contains_key(case.name.as_str()) {
                        unknown_case(&mut self.diags, case, &cases);
                    }
                }
                Step::ExpectCase { case, checks, .. } => {
                    if !cases.contains_key(case.name.as_str()) {
                        unknown_case(&mut self.diags, case, &cases);
                    }
                    for c in checks {
                        if !CASE_FIELDS.contains(&c.field.name.as_str()) {
                            let mut d = Diagnostic::error(
                                "wangge::unknown-name",
                                c.field.span,
                                format!("cases have no field `{}`", c.field.name),
                            )
                            .with_label("unknown field");
                            if let Some(h) = help_for(&c.field.name, CASE_FIELDS.iter().copied()) {
                                d = d.with_help(h);
                            }
                            self.diags.push(d);
                        }
                    }
                }
                Step::ExpectItem { item, input, .. } => {
                    self.expect_item(
                        item,
                        &[
                            "table",
                            "rules",
                            "calc",
                            "subsidy",
                            "points",
                            "scorecard",
                            "award",
                        ],
                        "table, rule set, calc, subsidy, points, scorecard or award",
                    );
                    let kind = self.symbols.items.get(&item.name).map(|(k, _)| *k);
                    if matches!(kind, Some("subsidy" | "points" | "scorecard" | "award"))
                        && matches!(input, ItemInput::Args(_))
                    {
                        self.diags.push(
                            Diagnostic::error(
                                "wangge::scenario",
                                item.span,
                                format!("`{}` is expected for a unit or person: `expect {} for 编号 => {{ … }}`", item.name, item.name),
                            )
                            .with_label("name whom with `for`"),
                        );
                    }
                }
                Step::Record { .. } | Step::Points { .. } | Step::Survey { .. } => {}
            }
        }
    }

    /// A task: its ladder, the level it goes to (on that ladder), a limit
    /// (working time needs a calendar), distinct checklist items.
    fn task(&mut self, t: &Task) {
        if !matches!(self.symbols.items.get(&t.ladder.name), Some(("ladder", _))) {
            self.item_of(&t.ladder, &["ladder"], "ladder");
            return;
        }
        let levels: Vec<String> = (self.symbols.levels.iter())
            .filter(|(_, ls)| ls.contains(&t.ladder.name))
            .map(|(l, _)| l.clone())
            .collect();
        match &t.to {
            Some(to) if !levels.contains(&to.name) => self.unknown(to, "level", levels),
            Some(_) => {}
            None => self.diags.push(
                Diagnostic::error(
                    "wangge::task",
                    t.name.span,
                    format!("task `{}` needs `to LEVEL`", t.name.name),
                )
                .with_label("which units do it?")
                .with_help("e.g. `to 微网格`: every 微网格 under the unit that sends it"),
            ),
        }
        if let Some(c) = &t.calendar {
            self.item_of(c, &["calendar"], "calendar");
        }
        match &t.limit {
            None => self.diags.push(
                Diagnostic::error(
                    "wangge::task",
                    t.name.span,
                    format!("task `{}` needs a `limit`", t.name.name),
                )
                .with_label("by when must each unit be done?")
                .with_help("e.g. `limit 3h 紧急工作时`"),
            ),
            Some(l) if l.clock != ClockKind::Continuous && t.calendar.is_none() => self.diags.push(
                Diagnostic::error(
                    "wangge::task",
                    l.span,
                    format!("`{}` limits need a calendar", l.clock.as_str()),
                )
                .with_label("counted in working time")
                .with_help(format!("add `calendar 工作日历` to task `{}`", t.name.name)),
            ),
            Some(_) => {}
        }
        self.unique_names(t.checklist.iter(), "checklist item");
    }

    /// An intake: its workflow, the order's key and unit fields, distinct
    /// report fields, a duplicate field it fills, and a callback that names
    /// one of the workflow's actions and its outcomes.
    fn intake(&mut self, i: &Intake, items: &[&Item]) {
        self.item_of(&i.workflow, &["workflow"], "workflow");
        for (what, field) in [("key", &i.key), ("unit", &i.unit)] {
            if field.is_none() {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::intake",
                        i.name.span,
                        format!("intake `{}` needs `{what} FIELD`", i.name.name),
                    )
                    .with_label(format!("which field of the order is its {what}?"))
                    .with_help(format!(
                        "e.g. `{what} {}`",
                        if what == "key" {
                            "工单编号"
                        } else {
                            "网格编码"
                        }
                    )),
                );
            }
        }
        self.unique_names(i.fields.iter().map(|f| &f.target), "report field");
        if let Some((field, _)) = &i.duplicate {
            if !i.fields.iter().any(|f| f.target.name == field.name) {
                let filled = i.fields.iter().map(|f| f.target.name.clone()).collect();
                self.unknown(field, "report field", filled);
            }
        }
        let workflow = items.iter().find_map(|it| match it {
            Item::Workflow(w) if w.name.name == i.workflow.name => Some(w),
            _ => None,
        });
        let Some(w) = workflow else { return };
        if let (Some((_, span)), None) = (&i.channel, &w.channel) {
            self.diags.push(
                Diagnostic::error(
                    "wangge::intake",
                    *span,
                    format!(
                        "workflow `{}` declares no `channel` field to carry it",
                        w.name.name
                    ),
                )
                .with_label("the channel would be dropped")
                .with_help(format!("add `channel 来源` to workflow `{}`", w.name.name)),
            );
        }
        let Some(cb) = &i.callback else { return };
        let outcomes: Vec<String> = (w.transitions.iter())
            .filter(|t| t.action.name == cb.action.name)
            .filter_map(|t| t.outcome.as_ref().map(|o| o.name.clone()))
            .collect();
        if !w
            .transitions
            .iter()
            .any(|t| t.action.name == cb.action.name)
        {
            let actions = w
                .transitions
                .iter()
                .map(|t| t.action.name.clone())
                .collect();
            self.unknown(&cb.action, "action", actions);
            return;
        }
        for (_, outcome) in &cb.outcomes {
            if !outcomes.contains(&outcome.name) {
                self.unknown(outcome, "outcome", outcomes.clone());
            }
        }
    }

    fn workflow(&mut self, w: &Workflow) {
        if let Some(d) = &w.data {
            self.expect_item(d, &["schema"], "schema");
        }
        self.workflow_figures(w);
        let mut levels: Vec<String> = Vec::new();
        for ladder in std::iter::once(&w.ladder).chain(&w.more_ladders) {
            match self.symbols.items.get(&ladder.name) {
                Some(("ladder", _)) => levels.extend(
                    self.symbols
                        .levels
                        .iter()
                        .filter(|(l, ls)| ls.contains(&ladder.name) && !levels.contains(l))
                        .map(|(l, _)| l.clone())
                        .collect::<Vec<_>>(),
                ),
                _ => {
                    self.item_of(ladder, &["ladder"], "ladder");
                    return;
                }
            }
        }
        let is_level = |id: &Ident| levels.contains(&id.name);
        if let Some(c) = &w.calendar {
            self.item_of(c, &["calendar"], "calendar");
        }
        let needs_calendar = w
            .limits
            .iter()
            .chain(&w.summons)
            .find(|l| l.clock != ClockKind::Continuous);
        if let (None, Some(l)) = (&w.calendar, needs_calendar) {
            self.diags.push(
                Diagnostic::error(
                    "wangge::workflow",
                    l.span,
                    format!("`{}` limits need a calendar", l.clock.as_str()),
                )
                .with_label("counted in working time")
                .with_help(format!(
                    "add `calendar 工作日历` to workflow `{}`",
                    w.name.name
                )),
            );
        }
        match (&w.classify, &w.start) {
            (Some(c), _) => self.item_of(&c.item, &["table", "rules"], "table or rule set"),
            (None, Some(s)) if !is_level(s) => self.unknown(s, "level", levels.clone()),
            (None, Some(_)) => {}
            (None, None) => self.diags.push(
                Diagnostic::error(
                    "wangge::workflow",
                    w.name.span,
                    format!("workflow `{}` needs `classify` or `start`", w.name.name),
                )
                .with_label("where do new cases start?")
                .with_help("`classify 事件分级 { class 等级, level 处置层级 }` or `start 社区`"),
            ),
        }
        // States are whatever the transitions name.
        let mut states: Vec<String> = Vec::new();
        for t in &w.transitions {
            for s in t.from.iter().chain(std::iter::once(&t.to)) {
                if !states.contains(&s.name) {
                    states.push(s.name.clone());
                }
            }
            if let Some(req) = &t.requires {
                if !PARTY_REQUIREMENTS.contains(&req.name.as_str()) {
                    let known = PARTY_REQUIREMENTS.iter().map(|s| s.to_string()).collect();
                    self.unknown(req, "requirement", known);
                }
            }
            if BUILTIN_ACTIONS.contains(&t.action.name.as_str()) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::workflow",
                        t.action.span,
                        format!("`{}` is a built-in action", t.action.name),
                    )
                    .with_label("reserved")
                    .with_help(format!(
                        "built-in actions are {}",
                        BUILTIN_ACTIONS
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        self.assign_rules(w, &levels);
        for (i, a) in w.transitions.iter().enumerate() {
            for b in &w.transitions[..i] {
                let same = a.action.name == b.action.name
                    && a.outcome.as_ref().map(|o| &o.name) == b.outcome.as_ref().map(|o| &o.name);
                if same
                    && a.from
                        .iter()
                        .any(|s| b.from.iter().any(|t| t.name == s.name))
                {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::workflow",
                            a.span,
                            format!(
                                "action `{}` is defined twice from the same state",
                                a.action.name
                            ),
                        )
                        .with_label("ambiguous transition")
                        .with_related(b.span, "first defined here"),
                    );
                }
            }
        }
        match &w.initial {
            None => self.diags.push(
                Diagnostic::error(
                    "wangge::workflow",
                    w.name.span,
                    format!("workflow `{}` needs an `initial` state", w.name.name),
                )
                .with_label("no initial state")
                .with_help("e.g. `initial 上报`"),
            ),
            Some(i) if !states.contains(&i.name) => {
                self.unknown(i, "state", states.clone());
            }
            Some(_) => {}
        }
        for f in &w.finals {
            if !states.contains(&f.name) {
                self.unknown(f, "state", states.clone());
            }
        }
        for (class, level) in &w.ceiling {
            if !is_level(level) {
                self.unknown(level, "level", levels.clone());
            }
            // Alternatives of one entry (`难事: 村 | 居`) share the class's span.
            let first = w.ceiling.iter().find(|(c, _)| c.name == class.name);
            if first.is_some_and(|(c, _)| c.span != class.span) {
                self.diags.push(
                    Diagnostic::error(
                        "wangge::duplicate",
                        class.span,
                        format!("class `{}` has two ceilings", class.name),
                    )
                    .with_label("repeated class"),
                );
            }
        }
        let mut keys: Vec<String> = levels.clone();
        keys.extend(states.iter().cloned());
        let classes: Vec<String> = w.ceiling.iter().map(|(c, _)| c.name.clone()).collect();
        for l in &w.limits {
            if !keys.contains(&l.key.name) {
                self.unknown(&l.key, "level or state", keys.clone());
            }
            if let Some(c) = &l.class {
                if !classes.contains(&c.name) {
                    self.unknown(c, "class (one with a ceiling)", classes.clone());
                }
            }
        }
        for l in &w.summons {
            if !is_level(&l.key) {
                self.unknown(&l.key, "level", levels.clone());
            }
        }
        for group in [&w.limits, &w.summons] {
            for (i, l) in group.iter().enumerate() {
                let same = |m: &Limit| {
                    m.key.name == l.key.name
                        && m.class.as_ref().map(|c| &c.name) == l.class.as_ref().map(|c| &c.name)
                };
                if group[..i].iter().any(same) {
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::duplicate",
                            l.key.span,
                            format!("`{}` has two limits", l.key.name),
                        )
                        .with_label("repeated"),
                    );
                }
            }
        }
    }

    fn calc(&mut self, c: &Calc) {
        self.params_unique(&c.params);
        self.item_calls(&c.name.name, &c.body);
        if let Some(ret) = &c.returns {
            if !CALC_TYPES.contains(&ret.name.as_str()) {
                self.unknown(
                    ret,
                    "result type",
                    CALC_TYPES.iter().map(|s| s.to_string()).collect(),
                );
            }
        }
    }
}
