//! pest → syntax tree. Parsing goes item by item: a broken item is reported
//! and skipped up to the next line that starts with an item keyword, so one
//! run reports every broken item, not just the first. Parsing never panics.

use std::str::FromStr;

use pest::iterators::Pair;
use pest::Parser as _;
use rust_decimal::Decimal;

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::fullwidth;
use crate::span::Span;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub(crate) struct PolicyParser;

/// Words that start a top-level item.
pub const ITEM_KEYWORDS: &[&str] = &[
    "policy",
    "ladder",
    "role",
    "grant",
    "schema",
    "party",
    "param",
    "table",
    "rules",
    "calc",
    "calendar",
    "workflow",
    "subsidy",
    "points",
    "scorecard",
    "award",
    "scenario",
];

/// Syntax errors reported per file before the rest is skipped: each one
/// costs a pass over the rest of the file, so a file of broken items must
/// not cost quadratic time.
const MAX_SYNTAX_ERRORS: usize = 100;

/// Whether `text` is only whitespace and comments (the grammar's
/// `WHITESPACE` and `COMMENT`); an unterminated block comment is not.
fn only_trivia(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        if let Some(after) = rest.strip_prefix("//") {
            match after.find('\n') {
                Some(i) => rest = &after[i..],
                None => return true,
            }
        } else if let Some(after) = rest.strip_prefix("/*") {
            match after.find("*/") {
                Some(i) => rest = &after[i + 2..],
                None => return false,
            }
        } else {
            return rest.is_empty();
        }
    }
}

/// Parses one file. Always returns a tree of what could be parsed, and
/// every diagnostic found.
pub fn parse_file(text: &str, file: u32) -> (File, Vec<Diagnostic>) {
    let (patched, mut diags) = fullwidth::patch(text, file);
    let mut items = Vec::new();
    let mut pos = 0;
    let mut syntax_errors = 0;
    while pos < patched.len() {
        let rest = &patched[pos..];
        // Checked by hand: a failed pest parse builds an error whose line
        // lookup scans the rest of the file, which made parsing quadratic.
        if only_trivia(rest) {
            break;
        }
        match PolicyParser::parse(Rule::item_prefix, rest) {
            Ok(mut pairs) => {
                let Some(prefix) = pairs.next() else { break };
                let end = prefix.as_span().end();
                let mut b = Builder {
                    file,
                    base: pos,
                    diags: &mut diags,
                };
                for p in prefix.into_inner() {
                    if let Some(item) = b.item(p) {
                        items.push(item);
                    }
                }
                if end == 0 {
                    break;
                }
                pos += end;
            }
            Err(_) => {
                let e = detailed_error(rest);
                syntax_errors += 1;
                if syntax_errors > MAX_SYNTAX_ERRORS {
                    diags.push(Diagnostic::error(
                        "wangge::syntax",
                        Span::new(file, pos, pos),
                        format!(
                            "more than {MAX_SYNTAX_ERRORS} syntax errors in this file; the rest \
                             is not checked"
                        ),
                    ));
                    break;
                }
                let d = syntax_error(&e, rest, file, pos);
                let resume_from = d.span.start.max(pos + 1);
                diags.push(d);
                match next_item_start(&patched, resume_from) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    snap_to_marks(text, &mut diags);
    (File { items }, diags)
}

/// Serialises the parses that need pest's parse attempts (its error
/// detail, a process-wide switch): while one holds it the switch is on.
static ERROR_DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The error of a parse that failed, parsed again with pest's error detail
/// on (the parse attempts name what was expected; tracking them on every
/// parse cost about half the time of compiling a large table).
fn detailed_error(rest: &str) -> pest::error::Error<Rule> {
    let _only_one = ERROR_DETAIL.lock().unwrap_or_else(|p| p.into_inner());
    pest::set_error_detail(true);
    let result = PolicyParser::parse(Rule::item_prefix, rest);
    pest::set_error_detail(false);
    match result {
        Err(e) => e,
        // Cannot happen (the same input failed a moment ago); describe the
        // start of the rest rather than panic.
        Ok(_) => pest::error::Error::new_from_pos(
            pest::error::ErrorVariant::CustomError {
                message: "cannot parse this item".into(),
            },
            pest::Position::from_start(rest),
        ),
    }
}

/// A syntax error found in the padding of a replaced full-width mark would
/// point inside a character of the real text: move its ends to the mark's
/// edges (and any end to a character boundary), so every span is valid.
fn snap_to_marks(text: &str, diags: &mut [Diagnostic]) {
    let marks: Vec<(usize, usize)> = diags
        .iter()
        .filter(|d| d.code == "wangge::full-width")
        .map(|d| (d.span.start, d.span.end))
        .collect();
    let snap = |x: usize| -> usize {
        let x = marks
            .iter()
            .find(|(s, e)| *s < x && x < *e)
            .map_or(x, |(s, _)| *s)
            .min(text.len());
        (0..=x)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0)
    };
    for d in diags.iter_mut().filter(|d| d.code != "wangge::full-width") {
        d.span.start = snap(d.span.start);
        d.span.end = snap(d.span.end).max(d.span.start);
    }
}

/// The next line start at or after `from` that begins with an item keyword.
fn next_item_start(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let nl = text.get(at..)?.find('\n')?;
        at += nl + 1;
        let line = text.get(at..)?;
        for kw in ITEM_KEYWORDS {
            if let Some(after) = line.strip_prefix(kw) {
                if after
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_whitespace() || c == '{')
                {
                    return Some(at);
                }
            }
        }
    }
}

/// A friendly name for what the parser expected.
fn describe(r: Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::ident | Rule::path => "a name",
        Rule::string | Rule::str_text => "a string",
        Rule::number => "a number",
        Rule::money => "an amount in 元",
        Rule::duration => "a duration",
        Rule::moment => "a date or time",
        Rule::boolean => "`true` or `false`",
        Rule::value | Rule::list => "a value",
        Rule::kw_policy
        | Rule::kw_ladder
        | Rule::kw_role
        | Rule::kw_grant
        | Rule::kw_schema
        | Rule::kw_party
        | Rule::kw_param
        | Rule::kw_table
        | Rule::kw_rules
        | Rule::kw_calc
        | Rule::kw_calendar
        | Rule::kw_workflow
        | Rule::kw_scenario
        | Rule::kw_subsidy
        | Rule::kw_points
        | Rule::kw_scorecard
        | Rule::kw_award => "an item (`policy`, `ladder`, `role`, `grant`, `schema`, `party`, `param`, `table`, `rules`, `calc`, `calendar`, `workflow`, `subsidy`, `points`, `scorecard`, `award` or `scenario`)",
        Rule::period_kind => "`monthly`, `quarterly` or `yearly`",
        Rule::kw_indicator | Rule::kw_penalty | Rule::kw_stars | Rule::kw_index => "a scorecard line (`indicator`, `penalty`, `stars` or `index`)",
        Rule::kw_weight => "`weight`",
        Rule::norm | Rule::norm_linear | Rule::norm_bands | Rule::kw_linear | Rule::kw_bands | Rule::kw_raw => "a normalisation (`linear A..B`, `bands { … }` or `raw`)",
        Rule::band_entry => "a band such as `>= 0.95: 100` or `else: 0`",
        Rule::star_entry => "stars and their minimum total, e.g. `5: 90`",
        Rule::kw_eligible | Rule::kw_within | Rule::kw_top | Rule::kw_ties => "an award line (`eligible`, `within`, `top` or `ties`)",
        Rule::kw_component
        | Rule::kw_factor
        | Rule::kw_floor
        | Rule::kw_cap
        | Rule::kw_round
        | Rule::kw_activities => "a subsidy line (`component`, `factor`, `floor`, `cap`, `round` or `activities`)",
        Rule::kw_earn | Rule::kw_redeem => "`earn` or `redeem`",
        Rule::round_mode => "a rounding (`四舍五入`, `银行家舍入` or `舍去`)",
        Rule::pts_entry => "a rule such as `共享车位: 10`",
        Rule::kw_at
        | Rule::kw_report
        | Rule::kw_act
        | Rule::kw_expect
        | Rule::kw_org => "a scenario step (`start`, `timezone`, `org`, `at`, `report`, `act` or `expect`)",
        Rule::kw_as => "`as`",
        Rule::datetime => "a date and time such as `2026-09-14 09:00`",
        Rule::check | Rule::expect_case => "a check such as `state 结案`",
        Rule::check_value | Rule::check_list | Rule::kw_none => "a value to expect",
        Rule::call_args | Rule::rhai_args => "arguments `(…)`",
        Rule::act_name | Rule::act_args => "an action",
        Rule::unit_ref => "a unit id",
        Rule::kw_on => "`on`",
        Rule::kw_timezone | Rule::kw_hours | Rule::kw_holidays | Rule::kw_makeup => {
            "a calendar line (`hours`, `holidays`, `makeup` or `timezone`)"
        }
        Rule::kw_classify
        | Rule::kw_start
        | Rule::kw_initial
        | Rule::kw_final
        | Rule::kw_transitions
        | Rule::kw_ceiling
        | Rule::kw_limit
        | Rule::kw_summon => "a workflow line (`calendar`, `classify`, `start`, `initial`, `final`, `transitions`, `ceiling`, `limit` or `summon`)",
        Rule::kw_class => "`class`",
        Rule::kw_level => "`level`",
        Rule::weekday | Rule::weekday_range => "a weekday (`周一` … `周日`)",
        Rule::clock_time | Rule::time_range => "a time of day such as `09:00`",
        Rule::date | Rule::date_range => "a date such as `2026-10-01`",
        Rule::transition => "a transition `动作: 状态 -> 状态`",
        Rule::outcome => "an outcome",
        Rule::pair_entry => "`类别: 层级`",
        Rule::limit_entry => "a limit such as `微网格: 3h 紧急工作时`",
        Rule::clock_kind => "a clock (`紧急工作时`, `工作时` or `工作日`)",
        Rule::kw_rule => "`rule`",
        Rule::kw_hit | Rule::hit_clause | Rule::rules_hit => "`hit`",
        Rule::kw_when => "`when`",
        Rule::kw_then => "`then`",
        Rule::hit_policy
        | Rule::hp_unique
        | Rule::hp_first
        | Rule::hp_priority
        | Rule::hp_any
        | Rule::hp_collect
        | Rule::hp_rule_order
        | Rule::hp_output_order => "a hit policy (`unique`, `first`, `priority`, `any`, `collect`, `rule order`, `output order`)",
        Rule::rules_mode => "`first` or `all`",
        Rule::aggregator => "`sum`, `min`, `max` or `count`",
        Rule::params => "a parameter list `(…)`",
        Rule::header => "the header row `| 输入 || 输出 |`",
        Rule::row => "a row `| … || … |`",
        Rule::input_col => "an input column",
        Rule::output_col => "an output column",
        Rule::value_list => "a value list `[…]`",
        Rule::in_cell | Rule::not_test | Rule::in_test | Rule::range_test | Rule::cmp_test | Rule::eq_test | Rule::any_test => "a cell test",
        Rule::out_cell => "an output value",
        Rule::range_open | Rule::range_close => "a range bracket",
        Rule::cmp_op => "a comparison",
        Rule::rule => "a `rule`",
        Rule::when_expr => "a condition",
        Rule::assign => "an output `名称: 表达式`",
        Rule::out_expr => "an expression",
        Rule::rhai_block | Rule::rhai_body => "a rhai block `{…}`",
        Rule::policy_field => "a field such as `version \"1.0\"`",
        _ => "more input",
    }
}

fn syntax_error(e: &pest::error::Error<Rule>, rest: &str, file: u32, base: usize) -> Diagnostic {
    let mut at = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<String> = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().map(|r| describe(*r).to_string()).collect()
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    // With error detail on, pest also tracks literal tokens (`{`, `->` …),
    // which often fail further along than any rule.
    if let Some(attempts) = e.parse_attempts() {
        if attempts.max_position > at {
            at = attempts.max_position;
            expected.clear();
        }
        if attempts.max_position == at {
            for t in attempts.expected_tokens() {
                let token = t.to_string();
                let skip = matches!(
                    token.as_str(),
                    " " | "\t" | "\n" | "\r" | "//" | "/*" | "BUILTIN_RULE"
                ) || token.contains("..");
                if !skip {
                    expected.push(format!("`{token}`"));
                }
            }
            for cs in attempts.call_stacks() {
                if let Some(r) = cs.deepest.get_rule() {
                    if !matches!(r, Rule::WHITESPACE | Rule::COMMENT) {
                        expected.push(describe(*r).to_string());
                    }
                }
            }
        }
    }
    let found = rest.get(at..).and_then(|s| s.chars().next());
    let len = found.map(char::len_utf8).unwrap_or(0);
    let span = Span::new(file, base + at, base + at + len);
    expected.retain(|x| x != "more input" && x != "`_`");
    // Keyword fragments (`first`, `order` …) repeat what a rule description says.
    if expected.iter().any(|x| !x.starts_with('`')) {
        expected.retain(|x| {
            !(x.starts_with('`') && x.trim_matches('`').chars().all(|c| c.is_ascii_alphabetic()))
        });
    }
    expected.sort_unstable();
    expected.dedup();
    let found_text = match found {
        Some('\n') | Some('\r') => "end of line".to_string(),
        Some(c) => format!("`{c}`"),
        None => "end of file".to_string(),
    };
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    let message = if expected.is_empty() {
        format!("unexpected {found_text}")
    } else {
        format!("expected {}, found {found_text}", join_or(&expected))
    };
    let mut d = Diagnostic::error("wangge::syntax", span, message).with_label("here");
    if let Some(c) = found {
        if let Some(help) = punctuation_help(c) {
            d = d.with_help(help);
        }
    }
    d
}

fn punctuation_help(c: char) -> Option<String> {
    match c {
        '"' => Some("strings must be closed on the same line".to_string()),
        '|' => Some(
            "every table row has the same number of cells as the header: `| 输入… || 输出… |`"
                .to_string(),
        ),
        _ => None,
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

struct Builder<'d> {
    file: u32,
    base: usize,
    diags: &'d mut Vec<Diagnostic>,
}

type P<'i> = Pair<'i, Rule>;

impl Builder<'_> {
    fn span(&self, p: &P) -> Span {
        // pest may count trailing whitespace into a node: leave it out.
        let s = p.as_span();
        let end = s.start() + p.as_str().trim_end().len();
        Span::new(self.file, self.base + s.start(), self.base + end)
    }

    fn ident(&self, p: &P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    fn item(&mut self, p: P) -> Option<Item> {
        Some(match p.as_rule() {
            Rule::policy => Item::Policy(self.policy(p)?),
            Rule::ladder => Item::Ladder(self.ladder(p)?),
            Rule::role => Item::Role(self.role(p)?),
            Rule::grant => Item::Grant(self.grant(p)?),
            Rule::schema => Item::Schema(self.schema(p)?),
            Rule::party => Item::Party(self.party(p)?),
            Rule::param => Item::Param(self.param(p)?),
            Rule::table => Item::Table(self.table(p)?),
            Rule::rules => Item::Rules(self.rules(p)?),
            Rule::calc => Item::Calc(self.calc(p)?),
            Rule::calendar => Item::Calendar(self.calendar(p)?),
            Rule::workflow => Item::Workflow(self.workflow(p)?),
            Rule::scenario => Item::Scenario(self.scenario(p)?),
            Rule::subsidy => Item::Subsidy(self.subsidy(p)?),
            Rule::points => Item::Points(self.points(p)?),
            Rule::scorecard => Item::Scorecard(self.scorecard(p)?),
            Rule::award => Item::Award(self.award(p)?),
            Rule::task => Item::Task(self.task(p)?),
            Rule::intake => Item::Intake(self.intake(p)?),
            _ => return None,
        })
    }

    /// The inner pairs that are not keywords.
    fn parts<'i>(p: P<'i>) -> impl Iterator<Item = P<'i>> {
        p.into_inner().filter(|q| {
            !matches!(
                q.as_rule(),
                Rule::kw_policy
                    | Rule::kw_ladder
                    | Rule::kw_role
                    | Rule::kw_grant
                    | Rule::kw_assign
                    | Rule::kw_accept
                    | Rule::kw_requests
                    | Rule::kw_extend
                    | Rule::kw_pause
                    | Rule::kw_approve
                    | Rule::kw_schema
                    | Rule::kw_party
                    | Rule::kw_led
                    | Rule::kw_optional
                    | Rule::kw_personal
                    | Rule::kw_data
                    | Rule::kw_year
                    | Rule::kw_closed
                    | Rule::kw_feedback
                    | Rule::kw_channel
                    | Rule::kw_leads
                    | Rule::kw_requires
                    | Rule::kw_param
                    | Rule::kw_table
                    | Rule::kw_rules
                    | Rule::kw_rule
                    | Rule::kw_calc
                    | Rule::kw_hit
                    | Rule::kw_when
                    | Rule::kw_then
                    | Rule::kw_in
                    | Rule::kw_not
                    | Rule::kw_calendar
                    | Rule::kw_workflow
                    | Rule::kw_on
                    | Rule::kw_timezone
                    | Rule::kw_hours
                    | Rule::kw_holidays
                    | Rule::kw_makeup
                    | Rule::kw_classify
                    | Rule::kw_class
                    | Rule::kw_level
                    | Rule::kw_start
                    | Rule::kw_initial
                    | Rule::kw_final
                    | Rule::kw_transitions
                    | Rule::kw_ceiling
                    | Rule::kw_limit
                    | Rule::kw_summon
                    | Rule::kw_scenario
                    | Rule::kw_at
                    | Rule::kw_report
                    | Rule::kw_intake
                    | Rule::kw_callback
                    | Rule::kw_act
                    | Rule::kw_expect
                    | Rule::kw_as
                    | Rule::kw_org
                    | Rule::kw_for
                    | Rule::kw_subsidy
                    | Rule::kw_component
                    | Rule::kw_factor
                    | Rule::kw_floor
                    | Rule::kw_cap
                    | Rule::kw_round
                    | Rule::kw_activities
                    | Rule::kw_points
                    | Rule::kw_earn
                    | Rule::kw_redeem
                    | Rule::kw_by
                    | Rule::kw_scorecard
                    | Rule::kw_indicator
                    | Rule::kw_weight
                    | Rule::kw_linear
                    | Rule::kw_bands
                    | Rule::kw_penalty
                    | Rule::kw_per
                    | Rule::kw_stars
                    | Rule::kw_index
                    | Rule::kw_award
                    | Rule::kw_from
                    | Rule::kw_eligible
                    | Rule::kw_within
                    | Rule::kw_top
                    | Rule::kw_ties
            )
        })
    }

    fn policy(&mut self, p: P) -> Option<PolicyHeader> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let mut fields = Vec::new();
        for f in parts {
            let mut inner = f.into_inner();
            let key = self.ident(&inner.next()?);
            let value = self.string(inner.next()?);
            fields.push((key, value));
        }
        Some(PolicyHeader { name, fields, span })
    }

    fn ladder(&mut self, p: P) -> Option<Ladder> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let levels = parts.map(|q| self.ident(&q)).collect();
        Some(Ladder { name, levels, span })
    }

    fn role(&mut self, p: P) -> Option<Role> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let mut role = Role {
            name,
            levels: Vec::new(),
            leads: false,
            requires: None,
            span,
        };
        for q in parts {
            match q.as_rule() {
                Rule::role_at => role.levels.extend(Self::parts(q).map(|l| self.ident(&l))),
                Rule::role_leads => role.leads = true,
                Rule::role_party => role.requires = Self::parts(q).next().map(|i| self.ident(&i)),
                _ => {}
            }
        }
        Some(role)
    }

    fn grant(&mut self, p: P) -> Option<Grant> {
        let span = self.span(&p);
        let mut service = false;
        let mut summoned = false;
        let mut name = None;
        let mut lines = Vec::new();
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::kw_service => service = true,
                Rule::kw_summoned => summoned = true,
                Rule::ident => name = Some(self.ident(&q)),
                Rule::grant_line => lines.push(self.grant_line(q)?),
                _ => {}
            }
        }
        Some(Grant {
            name: name?,
            service,
            summoned,
            lines,
            span,
        })
    }

    fn grant_line(&mut self, p: P) -> Option<GrantLine> {
        let span = self.span(&p);
        let mut parts = p.into_inner();
        let permission = self.ident(&parts.next()?);
        let workflow = parts.next().map(|w| self.ident(&w));
        let actions = match parts.next() {
            Some(acts) => {
                let inner: Vec<P> = acts.into_inner().collect();
                if inner.iter().any(|a| a.as_rule() == Rule::grant_all) {
                    None
                } else {
                    Some(inner.iter().map(|a| self.ident(a)).collect())
                }
            }
            None => Some(Vec::new()),
        };
        Some(GrantLine {
            permission,
            workflow,
            actions,
            span,
        })
    }

    fn param(&mut self, p: P) -> Option<Param> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let value = self.value(parts.next()?)?;
        Some(Param { name, value, span })
    }

    fn value(&mut self, p: P) -> Option<ValueExpr> {
        let inner = p.into_inner().next()?;
        if inner.as_rule() == Rule::list {
            let span = self.span(&inner);
            let mut items = Vec::new();
            for v in inner.into_inner() {
                items.push(self.value(v)?);
            }
            return Some(ValueExpr::List(items, span));
        }
        Some(ValueExpr::Scalar(self.scalar(inner)?))
    }

    fn scalar(&mut self, p: P) -> Option<Scalar> {
        if p.as_rule() == Rule::ident {
            return Some(Scalar::Name(self.ident(&p)));
        }
        Some(Scalar::Lit(self.literal(p)?))
    }

    fn literal(&mut self, p: P) -> Option<Lit> {
        let span = self.span(&p);
        let text = p.as_str();
        let kind = match p.as_rule() {
            Rule::string => LitKind::Str(self.string(p)),
            Rule::boolean => LitKind::Bool(text == "true"),
            Rule::number => {
                if text.contains('.') {
                    match Decimal::from_str(text) {
                        Ok(d) => LitKind::Dec(d),
                        Err(_) => return self.bad_literal(span, "number", text),
                    }
                } else {
                    match text.parse::<i64>() {
                        Ok(i) => LitKind::Int(i),
                        Err(_) => return self.bad_literal(span, "number", text),
                    }
                }
            }
            Rule::money => {
                let digits = text.trim_end_matches('元');
                match Decimal::from_str(digits) {
                    Ok(d) if d.scale() <= 2 => LitKind::Money(d),
                    Ok(_) => {
                        self.diags.push(
                            Diagnostic::error(
                                "wangge::literal",
                                span,
                                format!("money `{text}` has more than two decimals"),
                            )
                            .with_label("money is exact to the fen (分)")
                            .with_help("write at most two decimals, e.g. `12.50元`"),
                        );
                        return None;
                    }
                    Err(_) => return self.bad_literal(span, "amount", text),
                }
            }
            Rule::moment => match crate::value::Moment::parse(text) {
                Some(m) => LitKind::Moment(m),
                None => return self.bad_literal(span, "date or time", text),
            },
            Rule::duration => match parse_duration(text) {
                Some(secs) => LitKind::Duration(secs),
                None => return self.bad_literal(span, "duration", text),
            },
            _ => return None,
        };
        Some(Lit { kind, span })
    }

    fn bad_literal<T>(&mut self, span: Span, what: &str, text: &str) -> Option<T> {
        self.diags.push(
            Diagnostic::error(
                "wangge::literal",
                span,
                format!("{what} `{text}` is out of range"),
            )
            .with_label("out of range"),
        );
        None
    }

    fn string(&mut self, p: P) -> String {
        let span = self.span(&p);
        let raw = p.into_inner().next().map(|t| t.as_str()).unwrap_or("");
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                other => {
                    let shown = other.map(String::from).unwrap_or_default();
                    self.diags.push(
                        Diagnostic::error(
                            "wangge::literal",
                            span,
                            format!("unknown escape `\\{shown}` in a string"),
                        )
                        .with_label("in this string")
                        .with_help("known escapes are `\\n`, `\\t`, `\\\"` and `\\\\`"),
                    );
                }
            }
        }
        out
    }

    /// Parameter names, and the schema each names (`事件: 事件报告`).
    fn params(&self, p: P) -> (Vec<Ident>, Vec<Option<Ident>>) {
        p.into_inner()
            .map(|decl| {
                let mut it = decl.into_inner();
                let name = it.next().map(|q| self.ident(&q));
                let schema = it.next().map(|q| self.ident(&q));
                (name, schema)
            })
            .filter_map(|(n, s)| n.map(|n| (n, s)))
            .unzip()
    }

    fn party(&mut self, p: P) -> Option<Party> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let mut orgs = Vec::new();
        for o in parts {
            let ospan = self.span(&o);
            let mut it = Self::parts(o);
            let org = self.ident(&it.next()?);
            let at = self.ident(&it.next()?);
            let led_by = it.map(|i| self.ident(&i)).collect();
            orgs.push(PartyOrg {
                name: org,
                at,
                led_by,
                span: ospan,
            });
        }
        Some(Party { name, orgs, span })
    }

    fn schema(&mut self, p: P) -> Option<Schema> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let mut fields = Vec::new();
        for decl in parts {
            fields.push(self.field_decl(decl)?);
        }
        Some(Schema { name, fields, span })
    }

    fn field_decl(&mut self, p: P) -> Option<FieldDecl> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let ty_pair = parts.next()?.into_inner().next()?;
        let ty = if ty_pair.as_rule() == Rule::enum_type {
            let ty_span = self.span(&ty_pair);
            let mut values = Vec::new();
            for v in ty_pair.into_inner() {
                values.push(self.scalar(v)?);
            }
            FieldType::Enum(values, ty_span)
        } else {
            FieldType::Named(self.ident(&ty_pair))
        };
        let mut field = FieldDecl {
            name,
            ty,
            optional: false,
            personal: false,
            range: None,
            span,
        };
        for m in parts {
            match m.as_rule() {
                Rule::fm_optional => field.optional = true,
                Rule::fm_personal => field.personal = true,
                Rule::fm_range => {
                    let r_span = self.span(&m);
                    let mut it = m.into_inner();
                    let lo_incl = it.next()?.as_str() == "[";
                    let lo = self.scalar(it.next()?)?;
                    let hi = self.scalar(it.next()?)?;
                    let hi_incl = it.next()?.as_str() == "]";
                    field.range = Some((lo, lo_incl, hi, hi_incl, r_span));
                }
                _ => {}
            }
        }
        Some(field)
    }

    fn rhai(&self, p: &P, trim: bool) -> RhaiCode {
        let text = if trim {
            p.as_str().trim_end()
        } else {
            p.as_str()
        };
        let mut span = self.span(p);
        span.end = span.start + text.len();
        RhaiCode {
            text: text.to_string(),
            span,
        }
    }

    fn rhai_block(&self, p: P) -> Option<RhaiCode> {
        let body = p.into_inner().next()?;
        Some(self.rhai(&body, false))
    }

    fn table(&mut self, p: P) -> Option<Table> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let (params, schemas) = self.params(parts.next()?);
        let mut table = Table {
            name,
            params,
            schemas,
            hit: HitPolicy::Unique,
            hit_span: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            rows: Vec::new(),
            span,
        };
        for q in parts {
            match q.as_rule() {
                Rule::hit_clause => {
                    let hp = Self::parts(q).next()?;
                    table.hit_span = Some(self.span(&hp));
                    table.hit = self.hit_policy(hp)?;
                }
                Rule::header => {
                    for col in q.into_inner() {
                        match col.as_rule() {
                            Rule::input_col => table.inputs.push(self.input_col(col)?),
                            Rule::output_col => table.outputs.push(self.output_col(col)?),
                            _ => {}
                        }
                    }
                }
                Rule::row => table.rows.push(self.row(q)?),
                _ => {}
            }
        }
        Some(table)
    }

    fn hit_policy(&self, p: P) -> Option<HitPolicy> {
        let hp = p.into_inner().next()?;
        Some(match hp.as_rule() {
            Rule::hp_unique => HitPolicy::Unique,
            Rule::hp_first => HitPolicy::First,
            Rule::hp_priority => HitPolicy::Priority,
            Rule::hp_any => HitPolicy::Any,
            Rule::hp_rule_order => HitPolicy::RuleOrder,
            Rule::hp_output_order => HitPolicy::OutputOrder,
            Rule::hp_collect => {
                HitPolicy::Collect(hp.into_inner().next().map(|a| match a.as_str() {
                    "sum" => Aggregator::Sum,
                    "min" => Aggregator::Min,
                    "max" => Aggregator::Max,
                    _ => Aggregator::Count,
                }))
            }
            _ => return None,
        })
    }

    fn input_col(&self, p: P) -> Option<InputCol> {
        let inner = p.into_inner().next()?;
        match inner.as_rule() {
            Rule::rhai_block => Some(InputCol::Rhai(self.rhai_block(inner)?)),
            _ => {
                let span = self.span(&inner);
                Some(InputCol::Path(
                    inner.into_inner().map(|i| self.ident(&i)).collect(),
                    span,
                ))
            }
        }
    }

    fn output_col(&mut self, p: P) -> Option<OutputCol> {
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next()?);
        let values = match inner.next() {
            Some(list) => {
                let mut vs = Vec::new();
                for v in list.into_inner() {
                    vs.push(self.scalar(v)?);
                }
                Some(vs)
            }
            None => None,
        };
        Some(OutputCol { name, values })
    }

    fn row(&mut self, p: P) -> Option<Row> {
        let span = self.span(&p);
        let mut row = Row {
            cells: Vec::new(),
            outputs: Vec::new(),
            span,
        };
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::in_cell => {
                    let cspan = self.span(&c);
                    let mut tests = Vec::new();
                    for t in c.into_inner() {
                        tests.push(self.test(t)?);
                    }
                    row.cells.push(Cell { tests, span: cspan });
                }
                Rule::out_cell => {
                    let v = c.into_inner().next()?;
                    row.outputs.push(if v.as_rule() == Rule::any_test {
                        OutCell::Null(self.span(&v))
                    } else {
                        OutCell::Value(self.scalar(v)?)
                    });
                }
                _ => {}
            }
        }
        Some(row)
    }

    fn test(&mut self, p: P) -> Option<Test> {
        let span = self.span(&p);
        Some(match p.as_rule() {
            Rule::any_test => Test::Any(span),
            Rule::eq_test => Test::Eq(self.scalar(p.into_inner().next()?)?),
            Rule::cmp_test => {
                let mut inner = p.into_inner();
                let op = match inner.next()?.as_str() {
                    ">=" => CmpOp::Ge,
                    "<=" => CmpOp::Le,
                    "!=" => CmpOp::Ne,
                    ">" => CmpOp::Gt,
                    "<" => CmpOp::Lt,
                    _ => CmpOp::Eq,
                };
                Test::Cmp(op, self.scalar(inner.next()?)?, span)
            }
            Rule::range_test => {
                let mut inner = p.into_inner();
                let lo_incl = inner.next()?.as_str() == "[";
                let lo = self.scalar(inner.next()?)?;
                let hi = self.scalar(inner.next()?)?;
                let hi_incl = inner.next()?.as_str() == "]";
                Test::Range {
                    lo,
                    lo_incl,
                    hi,
                    hi_incl,
                    span,
                }
            }
            Rule::in_test => {
                let mut vs = Vec::new();
                for v in Self::parts(p) {
                    vs.push(self.scalar(v)?);
                }
                Test::In(vs, span)
            }
            Rule::not_test => {
                let mut ts = Vec::new();
                for t in Self::parts(p) {
                    ts.push(self.test(t)?);
                }
                Test::Not(ts, span)
            }
            Rule::rhai_block => Test::Rhai(self.rhai_block(p)?),
            _ => return None,
        })
    }

    fn rules(&mut self, p: P) -> Option<RuleSet> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let (params, schemas) = self.params(parts.next()?);
        let mut set = RuleSet {
            name,
            params,
            schemas,
            mode: RulesMode::First,
            rules: Vec::new(),
            span,
        };
        for q in parts {
            match q.as_rule() {
                Rule::rules_hit => {
                    let mode = Self::parts(q).next()?;
                    set.mode = if mode.as_str() == "all" {
                        RulesMode::All
                    } else {
                        RulesMode::First
                    };
                }
                Rule::rule => set.rules.push(self.rule(q)?),
                _ => {}
            }
        }
        Some(set)
    }

    fn rule(&mut self, p: P) -> Option<Rule_> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let when = self.rhai(&parts.next()?, true);
        let mut outputs = Vec::new();
        for a in parts {
            let mut inner = a.into_inner();
            let key = self.ident(&inner.next()?);
            let expr = self.rhai(&inner.next()?, true);
            outputs.push((key, expr));
        }
        Some(Rule_ {
            name,
            when,
            outputs,
            span,
        })
    }

    fn calc(&mut self, p: P) -> Option<Calc> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let (params, schemas) = self.params(parts.next()?);
        let mut returns = None;
        let mut body = None;
        for q in parts {
            match q.as_rule() {
                Rule::ident => returns = Some(self.ident(&q)),
                Rule::rhai_body => body = Some(self.rhai(&q, false)),
                _ => {}
            }
        }
        Some(Calc {
            name,
            params,
            schemas,
            returns,
            body: body?,
            span,
        })
    }
}

impl Builder<'_> {
    fn calendar(&mut self, p: P) -> Option<Calendar> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let mut cal = Calendar {
            name,
            year: None,
            timezone: None,
            hours: Vec::new(),
            holidays: Vec::new(),
            makeup: Vec::new(),
            span,
        };
        for q in parts {
            match q.as_rule() {
                Rule::cal_year => {
                    let n = Self::parts(q).next()?;
                    let nspan = self.span(&n);
                    match n.as_str().parse::<i32>() {
                        Ok(y) if (1900..=2999).contains(&y) => cal.year = Some((y, nspan)),
                        _ => {
                            return self.bad_literal(nspan, "year", n.as_str());
                        }
                    }
                }
                Rule::cal_timezone => {
                    let s = Self::parts(q).next()?;
                    let sp = self.span(&s);
                    let text = self.string(s);
                    match time_zone(&text) {
                        Ok(zone) => cal.timezone = Some((zone, sp)),
                        Err(help) => self.diags.push(
                            Diagnostic::error(
                                "wangge::literal",
                                sp,
                                format!("`{text}` is not a UTC offset or a time zone"),
                            )
                            .with_label("no such zone")
                            .with_help(help),
                        ),
                    }
                }
                Rule::cal_hours => {
                    let hspan = self.span(&q);
                    let mut inner = Self::parts(q);
                    let days = inner.next()?;
                    let mut wd = days.into_inner();
                    let first = weekday(wd.next()?.as_str());
                    let last = wd.next().map(|w| weekday(w.as_str())).unwrap_or(first);
                    if last < first {
                        self.diags.push(
                            Diagnostic::error(
                                "wangge::calendar",
                                hspan,
                                "weekday range runs backwards".to_string(),
                            )
                            .with_label("write the earlier day first, e.g. `周一-周五`"),
                        );
                    }
                    let mut ranges = Vec::new();
                    for r in inner {
                        let rspan = self.span(&r);
                        let rtext = r.as_str().to_string();
                        let mut t = r.into_inner();
                        let a = clock_secs(t.next()?.as_str());
                        let b = clock_secs(t.next()?.as_str());
                        match (a, b) {
                            (Some(a), Some(b)) if a < b => ranges.push((a, b)),
                            _ => self.diags.push(
                                Diagnostic::error(
                                    "wangge::calendar",
                                    rspan,
                                    format!("`{rtext}` is not a time range within one day"),
                                )
                                .with_label("start must be before end, both within 00:00–24:00"),
                            ),
                        }
                    }
                    cal.hours.push(Hours {
                        first_day: first,
                        last_day: last,
                        ranges,
                        span: hspan,
                    });
                }
                Rule::cal_holidays | Rule::cal_makeup => {
                    let holidays = q.as_rule() == Rule::cal_holidays;
                    for r in Self::parts(q) {
                        if let Some(dr) = self.date_range(r) {
                            if holidays {
                                cal.holidays.push(dr);
                            } else {
                                cal.makeup.push(dr);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Some(cal)
    }

    fn scorecard(&mut self, p: P) -> Option<Scorecard> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let of = self.ident(&parts.next()?);
        let period = match parts.next()?.as_str() {
            "monthly" => PeriodKind::Monthly,
            "yearly" => PeriodKind::Yearly,
            _ => PeriodKind::Quarterly,
        };
        let mut card = Scorecard {
            name,
            of,
            period,
            indicators: Vec::new(),
            penalties: Vec::new(),
            stars: Vec::new(),
            index: None,
            span,
        };
        for q in parts {
            let qspan = self.span(&q);
            let kind = q.as_rule();
            let mut inner = Self::parts(q);
            match kind {
                Rule::card_indicator => {
                    let name = self.ident(&inner.next()?);
                    let expr = self.rhai_block(inner.next()?)?;
                    let weight = self.literal(inner.next()?)?;
                    let n = inner.next()?.into_inner().next()?;
                    let norm = match n.as_rule() {
                        Rule::norm_linear => {
                            let mut it = Self::parts(n);
                            let a = self.literal(it.next()?)?;
                            let b = self.literal(it.next()?)?;
                            Norm::Linear(a, b)
                        }
                        Rule::norm_bands => {
                            let mut bands = Vec::new();
                            for e in Self::parts(n) {
                                let mut it = e.into_inner();
                                let first = it.next()?;
                                if first.as_rule() == Rule::kw_else {
                                    bands.push((None, self.literal(it.next()?)?));
                                } else {
                                    let op = first.as_str().to_string();
                                    let at = self.literal(it.next()?)?;
                                    bands.push((Some((op, at)), self.literal(it.next()?)?));
                                }
                            }
                            Norm::Bands(bands)
                        }
                        _ => Norm::Raw,
                    };
                    card.indicators.push(Indicator {
                        name,
                        expr,
                        weight,
                        norm,
                        span: qspan,
                    });
                }
                Rule::card_penalty => {
                    let name = self.ident(&inner.next()?);
                    let expr = self.rhai_block(inner.next()?)?;
                    let per = self.literal(inner.next()?)?;
                    let cap = match inner.next() {
                        Some(c) => Some(self.literal(c)?),
                        None => None,
                    };
                    card.penalties.push(Penalty {
                        name,
                        expr,
                        per,
                        cap,
                        span: qspan,
                    });
                }
                Rule::card_stars => {
                    for e in inner {
                        let mut it = e.into_inner();
                        let s = self.literal(it.next()?)?;
                        let t = self.literal(it.next()?)?;
                        card.stars.push((s, t));
                    }
                }
                Rule::card_index => card.index = Some(self.ident(&inner.next()?)),
                _ => {}
            }
        }
        Some(card)
    }

    fn award(&mut self, p: P) -> Option<Award> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let scorecard = self.ident(&parts.next()?);
        let mut a = Award {
            name,
            scorecard,
            eligible: None,
            within: Within::City,
            top: None,
            ties: Vec::new(),
            span,
        };
        for q in parts {
            let kind = q.as_rule();
            let inner: Vec<P> = Self::parts(q).collect();
            match kind {
                Rule::aw_eligible => a.eligible = self.rhai_block(inner.into_iter().next()?),
                Rule::aw_within => {
                    let w = inner.into_iter().next()?;
                    a.within = if w.as_rule() == Rule::kw_city {
                        Within::City
                    } else {
                        Within::Level(self.ident(&w))
                    };
                }
                Rule::aw_top => {
                    let mut it = inner.into_iter();
                    let n = self.literal(it.next()?)?;
                    a.top = Some((n, it.next().is_some()));
                }
                Rule::aw_ties => a.ties = inner.iter().map(|i| self.ident(i)).collect(),
                _ => {}
            }
        }
        Some(a)
    }

    fn subsidy(&mut self, p: P) -> Option<Subsidy> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let role = self.ident(&parts.next()?);
        let mut s = Subsidy {
            name,
            role,
            components: Vec::new(),
            factors: Vec::new(),
            floor: None,
            cap: None,
            round: None,
            activities: Vec::new(),
            span,
        };
        for q in parts {
            let kind = q.as_rule();
            let mut inner = Self::parts(q);
            match kind {
                Rule::sub_component | Rule::sub_factor => {
                    let a = self.ident(&inner.next()?);
                    let b = self.ident(&inner.next()?);
                    if kind == Rule::sub_component {
                        s.components.push((a, b));
                    } else {
                        let on = inner.map(|i| self.ident(&i)).collect();
                        s.factors.push((a, b, on));
                    }
                }
                Rule::sub_floor => s.floor = Some(self.literal(inner.next()?)?),
                Rule::sub_cap => s.cap = Some(self.literal(inner.next()?)?),
                Rule::sub_round => {
                    let m = inner.next()?;
                    let mode = match m.as_str() {
                        "银行家舍入" => RoundMode::HalfEven,
                        "舍去" => RoundMode::Down,
                        _ => RoundMode::HalfUp,
                    };
                    s.round = Some((mode, self.span(&m)));
                }
                Rule::sub_activities => s.activities = inner.map(|i| self.ident(&i)).collect(),
                _ => {}
            }
        }
        Some(s)
    }

    fn points(&mut self, p: P) -> Option<Points> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let mut pts = Points {
            name,
            earn: Vec::new(),
            redeem: Vec::new(),
            span,
        };
        for q in parts {
            let earn = q.as_rule() == Rule::pts_earn;
            for e in Self::parts(q) {
                let mut it = e.into_inner();
                let name = self.ident(&it.next()?);
                let n = self.literal(it.next()?)?;
                if earn {
                    pts.earn.push((name, n));
                } else {
                    pts.redeem.push((name, n));
                }
            }
        }
        Some(pts)
    }

    fn local_time(&mut self, p: P) -> Option<LocalTime> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let d = inner.next()?;
        let date = self.date(&d)?;
        let t = inner.next()?;
        let Some(secs) = clock_secs(t.as_str())
            .map(i64::from)
            .filter(|s| *s < 86_400)
        else {
            self.diags.push(
                Diagnostic::error(
                    "wangge::literal",
                    self.span(&t),
                    format!("`{}` is not a time of day", t.as_str()),
                )
                .with_label("hours 00–23, minutes 00–59"),
            );
            return None;
        };
        Some(LocalTime { date, secs, span })
    }

    fn by_clause(&mut self, p: P) -> Option<(String, Span)> {
        let r = p.into_inner().find(|x| x.as_rule() == Rule::unit_ref)?;
        self.unit_ref(r)
    }

    fn unit_ref(&mut self, p: P) -> Option<(String, Span)> {
        let inner = p.into_inner().next()?;
        let span = self.span(&inner);
        let text = if inner.as_rule() == Rule::string {
            self.string(inner)
        } else {
            inner.as_str().to_string()
        };
        Some((text, span))
    }

    fn scenario(&mut self, p: P) -> Option<Scenario> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let n = parts.next()?;
        let name = if n.as_rule() == Rule::string {
            let s = self.span(&n);
            Ident {
                name: self.string(n),
                span: s,
            }
        } else {
            self.ident(&n)
        };
        let mut steps = Vec::new();
        for q in parts {
            if let Some(step) = self.scenario_step(q)? {
                steps.push(step);
            }
        }
        Some(Scenario { name, steps, span })
    }

    /// One step of a scenario: `None` when it cannot be read (the scenario
    /// is dropped; its error is reported), `Some(None)` for a pair that is
    /// not a step.
    fn scenario_step(&mut self, q: P) -> Option<Option<Step>> {
        let qspan = self.span(&q);
        let kind = q.as_rule();
        let fails = q
            .clone()
            .into_inner()
            .any(|x| x.as_rule() == Rule::kw_fails);
        let earn = q.clone().into_inner().any(|x| x.as_rule() == Rule::kw_earn);
        let mut inner = Self::parts(q).filter(|x| {
            !matches!(
                x.as_rule(),
                Rule::kw_start
                    | Rule::kw_timezone
                    | Rule::kw_in
                    | Rule::kw_fails
                    | Rule::kw_record
                    | Rule::kw_survey
                    | Rule::kw_earn
                    | Rule::kw_redeem
            )
        });
        let step = match kind {
            Rule::sc_start => Step::Start(self.local_time(inner.next()?)?),
            Rule::sc_timezone => {
                let s = inner.next()?;
                let sspan = self.span(&s);
                Step::Timezone(self.string(s), sspan)
            }
            Rule::sc_org => {
                let x = inner.next()?;
                if x.as_rule() == Rule::string {
                    let xspan = self.span(&x);
                    Step::Org(OrgFixture::File(self.string(x), xspan))
                } else {
                    Step::Org(OrgFixture::Inline(self.rhai_block(x)?))
                }
            }
            Rule::sc_at => self.at_step(inner.next()?)?,
            Rule::sc_report => self.report_step(inner, fails, qspan)?,
            Rule::sc_intake | Rule::sc_callback => {
                let intake = self.ident(&inner.next()?);
                let alias = match kind {
                    Rule::sc_intake => Some(self.ident(&inner.next()?)),
                    _ => None,
                };
                let mut order = None;
                let mut message = None;
                for x in inner {
                    match x.as_rule() {
                        Rule::rhai_block => order = self.rhai_block(x),
                        Rule::string => {
                            let sspan = self.span(&x);
                            message = Some((self.string(x), sspan));
                        }
                        _ => {}
                    }
                }
                let fails = fails.then_some(message);
                match alias {
                    Some(alias) => Step::Intake {
                        intake,
                        alias,
                        order: order?,
                        fails,
                        span: qspan,
                    },
                    None => Step::Callback {
                        intake,
                        order: order?,
                        fails,
                        span: qspan,
                    },
                }
            }
            Rule::sc_act => self.act_step(inner, fails, qspan)?,
            Rule::sc_record => {
                let person = self.unit_ref(inner.next()?)?;
                let kind = self.ident(&inner.next()?);
                let quantity = self.literal(inner.next()?)?;
                let unit = match inner.next() {
                    Some(u) => Some(self.unit_ref(u)?),
                    None => None,
                };
                Step::Record {
                    person,
                    kind,
                    quantity,
                    unit,
                    span: qspan,
                }
            }
            Rule::sc_survey => {
                let unit = self.unit_ref(inner.next()?)?;
                let period = self.string(inner.next()?);
                let score = self.literal(inner.next()?)?;
                let respondents = self.literal(inner.find(|x| x.as_rule() == Rule::number)?)?;
                Step::Survey {
                    unit,
                    period,
                    score,
                    respondents,
                    span: qspan,
                }
            }
            Rule::sc_points => {
                let resident = self.unit_ref(inner.next()?)?;
                let rule = self.ident(&inner.next()?);
                let quantity = self.literal(inner.next()?)?;
                Step::Points {
                    earn,
                    resident,
                    rule,
                    quantity,
                    fails,
                    span: qspan,
                }
            }
            Rule::sc_expect => {
                let x = inner.next()?;
                if x.as_rule() == Rule::expect_item {
                    self.expect_item_step(x, qspan)?
                } else {
                    self.expect_case_step(x, qspan)?
                }
            }
            _ => return Some(None),
        };
        Some(Some(step))
    }

    /// `at 3h01m` or `at 2026-09-15 10:00`.
    fn at_step(&mut self, x: P) -> Option<Step> {
        if x.as_rule() == Rule::datetime {
            return Some(Step::At(When::On(self.local_time(x)?)));
        }
        let xspan = self.span(&x);
        match parse_duration(x.as_str()) {
            Some(secs) => Some(Step::At(When::After(secs, xspan))),
            None => self.bad_literal(xspan, "duration", x.as_str()),
        }
    }

    fn report_step<'i>(
        &mut self,
        mut inner: impl Iterator<Item = P<'i>>,
        fails: bool,
        span: Span,
    ) -> Option<Step> {
        let workflow = self.ident(&inner.next()?);
        let alias = self.ident(&inner.next()?);
        let mut unit = None;
        let mut by = None;
        let mut data = None;
        let mut message = None;
        for x in inner {
            match x.as_rule() {
                Rule::unit_ref => unit = self.unit_ref(x),
                Rule::by_clause => by = self.by_clause(x),
                Rule::rhai_block => data = self.rhai_block(x),
                Rule::string => {
                    let sspan = self.span(&x);
                    message = Some((self.string(x), sspan));
                }
                _ => {}
            }
        }
        Some(Step::Report {
            workflow,
            alias,
            unit,
            by,
            data: data?,
            fails: fails.then_some(message),
            span,
        })
    }

    fn act_step<'i>(
        &mut self,
        mut inner: impl Iterator<Item = P<'i>>,
        fails: bool,
        span: Span,
    ) -> Option<Step> {
        let case = self.ident(&inner.next()?);
        let action = self.ident(&inner.next()?.into_inner().next()?);
        let mut args = Vec::new();
        let (mut by, mut to, mut note) = (None, None, None);
        for x in inner {
            match x.as_rule() {
                Rule::act_args => args = x.into_inner().map(|i| self.ident(&i)).collect(),
                Rule::by_clause => by = self.by_clause(x),
                Rule::to_clause => to = self.by_clause(x),
                Rule::note_clause => {
                    note = x
                        .into_inner()
                        .find(|y| y.as_rule() == Rule::string)
                        .map(|y| self.string(y))
                }
                _ => {}
            }
        }
        Some(Step::Act {
            case,
            action,
            args,
            by,
            to,
            note,
            fails,
            span,
        })
    }

    /// `expect ITEM(args) => { … }` or `expect ITEM for UNIT => { … }`.
    fn expect_item_step(&mut self, x: P, span: Span) -> Option<Step> {
        let mut e = x.into_inner().filter(|y| y.as_rule() != Rule::kw_for);
        let item = self.ident(&e.next()?);
        let how = e.next()?;
        let input = if how.as_rule() == Rule::call_args {
            ItemInput::Args(self.rhai(&how.into_inner().next()?, false))
        } else {
            let (id, s) = self.unit_ref(how)?;
            ItemInput::Unit(id, s)
        };
        let expected = self.rhai_block(e.next()?)?;
        Some(Step::ExpectItem {
            item,
            input,
            expected,
            span,
        })
    }

    /// `expect CASE state == 结案, level == 社区, …`.
    fn expect_case_step(&mut self, x: P, span: Span) -> Option<Step> {
        let mut e = x.into_inner();
        let case = self.ident(&e.next()?);
        let mut checks = Vec::new();
        for c in e {
            let cspan = self.span(&c);
            let mut ci = c.into_inner();
            let field = self.ident(&ci.next()?);
            let value = self.check_value(ci.next()?.into_inner().next()?)?;
            checks.push(Check {
                field,
                value,
                span: cspan,
            });
        }
        Some(Step::ExpectCase { case, checks, span })
    }

    fn check_value(&mut self, v: P) -> Option<CheckValue> {
        Some(match v.as_rule() {
            Rule::datetime => CheckValue::Time(self.local_time(v)?),
            Rule::kw_none => CheckValue::None(self.span(&v)),
            Rule::check_list => {
                let lspan = self.span(&v);
                let mut items = Vec::new();
                for i in v.into_inner() {
                    items.push(self.scalar(i)?);
                }
                CheckValue::List(items, lspan)
            }
            _ => CheckValue::Scalar(self.scalar(v)?),
        })
    }

    fn date(&mut self, p: &P) -> Option<Date> {
        let text = p.as_str();
        let mut it = text.split('-');
        let y = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        let d = it.next()?.parse().ok()?;
        let date = Date::new(y, m, d);
        if date.is_none() {
            self.diags.push(
                Diagnostic::error(
                    "wangge::literal",
                    self.span(p),
                    format!("`{text}` is not a date"),
                )
                .with_label("no such day"),
            );
        }
        date
    }

    fn date_range(&mut self, p: P) -> Option<DateRange> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let a = inner.next()?;
        let start = self.date(&a)?;
        let end = match inner.next() {
            Some(b) => self.date(&b)?,
            None => start,
        };
        if end < start {
            self.diags.push(
                Diagnostic::error(
                    "wangge::calendar",
                    span,
                    "date range runs backwards".to_string(),
                )
                .with_label("write the earlier date first"),
            );
            return None;
        }
        Some(DateRange { start, end, span })
    }

    fn limit(&mut self, p: P) -> Option<Limit> {
        let span = self.span(&p);
        let mut inner = p
            .into_inner()
            .filter(|q| q.as_rule() != Rule::kw_for)
            .peekable();
        let key = self.ident(&inner.next()?);
        let class = match inner.peek() {
            Some(q) if q.as_rule() == Rule::ident => inner.next().map(|q| self.ident(&q)),
            _ => None,
        };
        let (amount, clock) = self.amount_clock(inner.next()?, inner.next()?)?;
        Some(Limit {
            key,
            class,
            amount,
            clock,
            span,
        })
    }

    /// The amount and clock of a limit (`3h 工作时`, `2 工作日`), or a
    /// diagnostic at the amount.
    fn amount_clock(&mut self, amount_pair: P, clock_pair: P) -> Option<(i64, ClockKind)> {
        let amount_span = self.span(&amount_pair);
        let amount_text = amount_pair.as_str().to_string();
        let is_duration = amount_pair.as_rule() == Rule::duration;
        let clock = match clock_pair.as_str() {
            "紧急工作时" => ClockKind::Continuous,
            "工作时" => ClockKind::WorkingHours,
            _ => ClockKind::WorkingDays,
        };
        let amount = match (is_duration, clock) {
            (true, ClockKind::WorkingDays) => match parse_duration(&amount_text) {
                Some(s) if s % 86_400 == 0 => Some(s / 86_400),
                _ => None,
            },
            (true, _) => parse_duration(&amount_text),
            (false, ClockKind::WorkingDays) => amount_text.parse::<i64>().ok(),
            (false, _) => None,
        };
        let Some(amount) = amount.filter(|a| *a > 0) else {
            let help = match clock {
                ClockKind::WorkingDays => "working days are a whole number, e.g. `3 工作日`",
                _ => "hours are a duration, e.g. `24h 工作时` or `3h 紧急工作时`",
            };
            self.diags.push(
                Diagnostic::error(
                    "wangge::limit",
                    amount_span,
                    format!("`{amount_text}` is not a time limit in {}", clock.as_str()),
                )
                .with_label("not a positive amount of this clock")
                .with_help(help),
            );
            return None;
        };
        Some((amount, clock))
    }

    /// `extend 2 工作日` / `approve 1 工作日` as a limit keyed by `key`.
    fn keyed_limit(&mut self, q: P, key: &Ident) -> Option<Limit> {
        let span = self.span(&q);
        let mut parts = Self::parts(q);
        let (amount, clock) = self.amount_clock(parts.next()?, parts.next()?)?;
        Some(Limit {
            key: key.clone(),
            class: None,
            amount,
            clock,
            span,
        })
    }

    fn request_line(&mut self, p: P) -> Option<RequestRule> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let name = self.ident(&inner.next()?);
        let (mut extend, mut approve) = (None, None);
        for q in inner {
            match q.as_rule() {
                Rule::req_extend => extend = Some(self.keyed_limit(q, &name)?),
                Rule::req_approve => approve = Some(self.keyed_limit(q, &name)?),
                _ => {}
            }
        }
        Some(RequestRule {
            name,
            extend,
            approve,
            span,
        })
    }

    /// `task 名称 on 梯级 { to 级别  limit …  needs …  remind at … }`.
    fn task(&mut self, p: P) -> Option<Task> {
        let span = self.span(&p);
        let mut parts = Self::parts(p).filter(|q| q.as_rule() != Rule::kw_task);
        let name = self.ident(&parts.next()?);
        let ladder = self.ident(&parts.next()?);
        let mut t = Task {
            name,
            ladder,
            calendar: None,
            to: None,
            limit: None,
            count: None,
            checklist: Vec::new(),
            attachment: false,
            remind: Vec::new(),
            span,
        };
        for q in parts {
            match q.as_rule() {
                Rule::wf_calendar => t.calendar = Some(self.ident(&Self::parts(q).next()?)),
                Rule::task_to => t.to = q.into_inner().nth(1).map(|i| self.ident(&i)),
                Rule::task_limit => {
                    let key = t.name.clone();
                    let lspan = self.span(&q);
                    let mut inner = q.into_inner().skip(1);
                    let (amount, clock) = self.amount_clock(inner.next()?, inner.next()?)?;
                    t.limit = Some(Limit {
                        key,
                        class: None,
                        amount,
                        clock,
                        span: lspan,
                    });
                }
                Rule::task_needs => {
                    for n in q.into_inner() {
                        match n.as_rule() {
                            Rule::need_count => {
                                t.count = n.into_inner().nth(1).map(|i| self.ident(&i))
                            }
                            Rule::need_checklist => t.checklist.extend(
                                n.into_inner()
                                    .filter(|i| i.as_rule() == Rule::ident)
                                    .map(|i| self.ident(&i)),
                            ),
                            Rule::need_attach => t.attachment = true,
                            _ => {}
                        }
                    }
                }
                Rule::task_remind => t.remind = self.percents(q),
                _ => {}
            }
        }
        Some(t)
    }

    /// `intake 名称 for 流程 { channel … key … unit … field … duplicate … callback … }`.
    fn intake(&mut self, p: P) -> Option<Intake> {
        let span = self.span(&p);
        let mut parts = p
            .into_inner()
            .filter(|q| !matches!(q.as_rule(), Rule::kw_intake | Rule::kw_for));
        let name = self.ident(&parts.next()?);
        let workflow = self.ident(&parts.next()?);
        let mut i = Intake {
            name,
            workflow,
            channel: None,
            key: None,
            unit: None,
            fields: Vec::new(),
            duplicate: None,
            callback: None,
            span,
        };
        for q in parts {
            let qspan = self.span(&q);
            let kind = q.as_rule();
            let mut inner = q.into_inner().skip(1).peekable();
            match kind {
                Rule::in_channel => {
                    let text = self.string(inner.next()?);
                    i.channel = Some((text, qspan));
                }
                Rule::in_key => i.key = Some(self.ident(&inner.next()?)),
                Rule::in_unit => i.unit = Some(self.ident(&inner.next()?)),
                Rule::in_field => {
                    let target = self.ident(&inner.next()?);
                    let source = self.ident(&inner.next()?);
                    let mut codes = None;
                    let mut optional = false;
                    for x in inner {
                        match x.as_rule() {
                            Rule::in_codes => {
                                let mut list = Vec::new();
                                for e in x.into_inner() {
                                    let mut kv = e.into_inner();
                                    let k = kv.next()?;
                                    let code = match k.as_rule() {
                                        Rule::string => self.string(k),
                                        _ => k.as_str().to_string(),
                                    };
                                    let value = self.literal(kv.next()?)?;
                                    list.push((code, value));
                                }
                                codes = Some(list);
                            }
                            Rule::kw_optional => optional = true,
                            _ => {}
                        }
                    }
                    i.fields.push(IntakeField {
                        target,
                        source,
                        codes,
                        optional,
                        span: qspan,
                    });
                }
                Rule::in_duplicate => {
                    let field = self.ident(&inner.next()?);
                    let window = inner.find(|x| x.as_rule() == Rule::duration)?;
                    let Some(secs) = parse_duration(window.as_str()).filter(|s| *s > 0) else {
                        return self.bad_literal(self.span(&window), "duration", window.as_str());
                    };
                    i.duplicate = Some((field, secs));
                }
                Rule::in_callback => {
                    let action = self.ident(&inner.next()?);
                    let source = self.ident(&inner.next()?);
                    let mut outcomes = Vec::new();
                    for e in inner {
                        let mut kv = e.into_inner();
                        let value = self.string(kv.next()?);
                        outcomes.push((value, self.ident(&kv.next()?)));
                    }
                    i.callback = Some(IntakeCallback {
                        action,
                        source,
                        outcomes,
                        span: qspan,
                    });
                }
                _ => {}
            }
        }
        Some(i)
    }

    /// The shares (`80%`) among `p`'s pairs, each 1–99 %, sorted.
    fn percents(&mut self, p: P) -> Vec<u8> {
        let mut at = Vec::new();
        for q in p.into_inner().filter(|q| q.as_rule() == Rule::percent_lit) {
            let text = q.as_str().trim_end_matches('%');
            match text.parse::<u8>() {
                Ok(n) if (1..=99).contains(&n) => at.push(n),
                _ => self.diags.push(
                    Diagnostic::error(
                        "wangge::remind",
                        self.span(&q),
                        format!("`{}` is not a share of a limit to remind at", q.as_str()),
                    )
                    .with_label("between 1% and 99%")
                    .with_help(
                        "a reminder comes before the limit runs out, e.g. `remind limits at 80%`",
                    ),
                ),
            }
        }
        at.sort_unstable();
        at.dedup();
        at
    }

    /// `remind limits at 80%, 95%`; each share 1–99 %.
    fn remind(&mut self, p: P) -> Option<Remind> {
        let span = self.span(&p);
        let at = self.percents(p.clone());
        let what = p.into_inner().find(|q| q.as_rule() == Rule::remind_what)?;
        let of = match what.as_str() {
            "accept" => RemindOf::Accept,
            "approve" => RemindOf::Approve,
            "summons" => RemindOf::Summons,
            _ => RemindOf::Limits,
        };
        Some(Remind { of, at, span })
    }

    fn assign_line(&mut self, p: P) -> Option<AssignRule> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let action = self.ident(&inner.next()?);
        let mut roles = Vec::new();
        let mut accept = None;
        let mut level = None;
        for q in inner {
            match q.as_rule() {
                Rule::ident => roles.push(self.ident(&q)),
                Rule::assign_at => level = q.into_inner().nth(1).map(|l| self.ident(&l)),
                Rule::assign_accept => {
                    let aspan = self.span(&q);
                    let mut parts = Self::parts(q);
                    let (amount, clock) = self.amount_clock(parts.next()?, parts.next()?)?;
                    accept = Some(Limit {
                        key: action.clone(),
                        class: None,
                        amount,
                        clock,
                        span: aspan,
                    });
                }
                _ => {}
            }
        }
        Some(AssignRule {
            action,
            level,
            roles,
            accept,
            span,
        })
    }

    fn workflow(&mut self, p: P) -> Option<Workflow> {
        let span = self.span(&p);
        let mut parts = Self::parts(p);
        let name = self.ident(&parts.next()?);
        let ladder = self.ident(&parts.next()?);
        let mut more_ladders = Vec::new();
        let mut parts = parts.peekable();
        while let Some(q) = parts.next_if(|q| q.as_rule() == Rule::ident) {
            more_ladders.push(self.ident(&q));
        }
        let mut wf = Workflow {
            name,
            ladder,
            more_ladders,
            calendar: None,
            data: None,
            closed: Vec::new(),
            feedback: Vec::new(),
            channel: None,
            classify: None,
            start: None,
            initial: None,
            finals: Vec::new(),
            transitions: Vec::new(),
            ceiling: Vec::new(),
            limits: Vec::new(),
            summons: Vec::new(),
            assign: Vec::new(),
            requests: Vec::new(),
            reminders: Vec::new(),
            span,
        };
        for q in parts {
            match q.as_rule() {
                Rule::wf_calendar => wf.calendar = Some(self.ident(&Self::parts(q).next()?)),
                Rule::wf_data => wf.data = Some(self.ident(&Self::parts(q).next()?)),
                Rule::wf_channel => wf.channel = Some(self.ident(&Self::parts(q).next()?)),
                Rule::wf_closed => wf.closed.extend(Self::parts(q).map(|i| self.ident(&i))),
                Rule::wf_feedback => {
                    for e in Self::parts(q) {
                        let mut it = e.into_inner();
                        let outcome = self.ident(&it.next()?);
                        let weight = self.literal(it.next()?)?;
                        wf.feedback.push((outcome, weight));
                    }
                }
                Rule::wf_start => wf.start = Some(self.ident(&Self::parts(q).next()?)),
                Rule::wf_initial => wf.initial = Some(self.ident(&Self::parts(q).next()?)),
                Rule::wf_final => wf.finals.extend(Self::parts(q).map(|i| self.ident(&i))),
                Rule::wf_classify => {
                    let mut inner = Self::parts(q);
                    let item = self.ident(&inner.next()?);
                    let class_output = inner.next().map(|i| self.ident(&i));
                    let level_output = inner.next().map(|i| self.ident(&i));
                    wf.classify = Some(Classify {
                        item,
                        class_output,
                        level_output,
                    });
                }
                Rule::wf_transitions => {
                    for t in Self::parts(q) {
                        let tspan = self.span(&t);
                        let mut action = None;
                        let mut outcome = None;
                        let mut states = Vec::new();
                        let mut restart = false;
                        let mut requires = None;
                        for x in t.into_inner() {
                            match x.as_rule() {
                                Rule::tr_requires => {
                                    requires = Self::parts(x).next().map(|i| self.ident(&i))
                                }
                                Rule::ident if action.is_none() => action = Some(self.ident(&x)),
                                Rule::outcome => {
                                    outcome = x.into_inner().next().map(|i| self.ident(&i))
                                }
                                Rule::ident => states.push(self.ident(&x)),
                                Rule::kw_restart => restart = true,
                                _ => {}
                            }
                        }
                        let to = states.pop()?;
                        wf.transitions.push(Transition {
                            action: action?,
                            outcome,
                            from: states,
                            to,
                            restart,
                            requires,
                            span: tspan,
                        });
                    }
                }
                Rule::wf_ceiling => {
                    for e in Self::parts(q) {
                        let mut inner = e.into_inner();
                        let class = self.ident(&inner.next()?);
                        for level in inner {
                            wf.ceiling.push((class.clone(), self.ident(&level)));
                        }
                    }
                }
                Rule::wf_requests => {
                    for line in Self::parts(q) {
                        if let Some(rule) = self.request_line(line) {
                            wf.requests.push(rule);
                        }
                    }
                }
                Rule::wf_remind => {
                    if let Some(r) = self.remind(q) {
                        wf.reminders.push(r);
                    }
                }
                Rule::wf_assign => {
                    for line in Self::parts(q) {
                        if let Some(rule) = self.assign_line(line) {
                            wf.assign.push(rule);
                        }
                    }
                }
                Rule::wf_limit | Rule::wf_summon => {
                    let summon = q.as_rule() == Rule::wf_summon;
                    for e in Self::parts(q) {
                        if let Some(l) = self.limit(e) {
                            if summon {
                                wf.summons.push(l);
                            } else {
                                wf.limits.push(l);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Some(wf)
    }
}

fn weekday(text: &str) -> u8 {
    match text.chars().nth(1) {
        Some('一') => 0,
        Some('二') => 1,
        Some('三') => 2,
        Some('四') => 3,
        Some('五') => 4,
        Some('六') => 5,
        _ => 6,
    }
}

/// `09:30` → seconds from midnight (`24:00` allowed as the end of a day).
fn clock_secs(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 3600 + m * 60)
}

/// `+08:00` → 28800.
pub fn parse_offset(text: &str) -> Option<i32> {
    let sign = match text.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let (h, m) = text.get(1..)?.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// The AST's rule node (the grammar's `Rule` enum is pest's).
type Rule_ = crate::ast::Rule;

/// A calendar's `timezone`: a UTC offset (`+08:00`) or an IANA zone name
/// (`Asia/Shanghai`); the error is the help to show.
fn time_zone(text: &str) -> Result<crate::ast::TimeZoneName, String> {
    if let Some(o) = parse_offset(text) {
        return Ok(crate::ast::TimeZoneName::Offset(o));
    }
    let db = jiff::tz::db();
    if let Ok(tz) = db.get(text) {
        return Ok(crate::ast::TimeZoneName::Iana(tz));
    }
    let names: Vec<String> = db.available().map(|n| n.as_str().to_string()).collect();
    Err(
        match crate::suggest::nearest(text, names.iter().map(String::as_str)) {
            Some(n) => format!("did you mean `{n}`? (or an offset such as `+08:00`)"),
            None => "write an offset such as `+08:00` or a zone such as `Asia/Shanghai`".into(),
        },
    )
}

/// `1h30m` → 5400 seconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut num: i64 = 0;
    let mut have_digits = false;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            num = num.checked_mul(10)?.checked_add(i64::from(d))?;
            have_digits = true;
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        if !have_digits {
            return None;
        }
        total = total.checked_add(num.checked_mul(unit)?)?;
        num = 0;
        have_digits = false;
    }
    if have_digits {
        return None;
    }
    Some(total)
}
