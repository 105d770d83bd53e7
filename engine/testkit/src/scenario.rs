//! The scenario runner: each scenario of a policy set's `*.test.wg` files
//! runs on its own manual clock and in-memory store, step by step, and
//! every expectation that does not hold becomes a [`Failure`] that shows
//! the expected and the actual value with what produced them (the event,
//! the matched table row, the computed deadline). Scenarios run in
//! parallel; each is deterministic.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rhai::Dynamic;
use serde::Serialize;
use serde_json::Value;
use wangge_dsl::ast::{
    Check as CaseCheck, CheckValue, Ident, ItemInput, Lit, LocalTime, OrgFixture, RhaiCode, Scalar,
    Scenario, Step, When,
};
use wangge_dsl::value::Const;
use wangge_dsl::{Diagnostic, SourceSet, Span};

use wangge_app::org::Unit;
use wangge_app::{CaseService, Report};
use wangge_policy::dynamic_to_json;
use wangge_policy::format_ts;
use wangge_policy::Case;
use wangge_policy::PolicySet;
use wangge_policy::{decision_hits, event_hits, Hit};
use wangge_policy::{Action, Actor};
use wangge_policy::{Clock, ManualClock, Timestamp};
use wangge_store::MemStore;

/// A person named in a step, with where.
type Named = Option<(String, Span)>;
/// China Standard Time, the default time zone of scenarios.
const DEFAULT_OFFSET: i64 = 8 * 3600;

/// One expectation that did not hold (or a step that could not run).
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// `file:line:column` of the step.
    pub at: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// The values involved: `(what, value)`.
    pub context: Vec<(String, String)>,
    /// The step in a code frame, for people.
    #[serde(skip)]
    pub frame: String,
    #[serde(skip)]
    pub span: Span,
}

/// How one scenario went.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    /// `file:line:column` of the scenario.
    pub at: String,
    pub file: String,
    pub failures: Vec<Failure>,
    pub seconds: f64,
    #[serde(skip)]
    pub hits: BTreeSet<Hit>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs `scenarios` (those whose name contains `filter`, if given) against
/// `set`, on up to `threads` threads, in the order given.
pub fn run_all(
    set: &Arc<PolicySet>,
    sources: &SourceSet,
    scenarios: &[Scenario],
    filter: Option<&str>,
    threads: usize,
) -> Vec<Outcome> {
    let chosen: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| filter.is_none_or(|f| s.name.name.contains(f)))
        .collect();
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Outcome>> = (0..chosen.len()).map(|_| None).collect();
    let threads = threads.clamp(1, chosen.len().max(1));
    let done: Vec<Vec<(usize, Outcome)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(sc) = chosen.get(i) else { break };
                        out.push((i, run(set, sources, sc)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, o) in done.into_iter().flatten() {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(o);
        }
    }
    results.into_iter().flatten().collect()
}

/// Runs one scenario.
pub fn run(set: &Arc<PolicySet>, sources: &SourceSet, sc: &Scenario) -> Outcome {
    let started = Instant::now();
    let file = sources
        .get(sc.span.file)
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let mut r = Runner::new(set.clone(), sources, &file);
    for step in &sc.steps {
        if r.step(step).is_err() {
            break;
        }
    }
    r.collect_hits();
    Outcome {
        name: sc.name.name.clone(),
        at: sources.location(sc.name.span),
        file,
        failures: r.failures,
        seconds: started.elapsed().as_secs_f64(),
        hits: r.hits,
    }
}

/// A step that stops the scenario (its failure is recorded).
struct Stop;

struct Runner<'s> {
    set: Arc<PolicySet>,
    sources: &'s SourceSet,
    dir: std::path::PathBuf,
    offset: i64,
    start: Timestamp,
    started: bool,
    clock: Arc<ManualClock>,
    svc: Arc<CaseService>,
    intake: wangge_app::Intake,
    cases: HashMap<String, u64>,
    units: Vec<Unit>,
    failures: Vec<Failure>,
    hits: BTreeSet<Hit>,
    incentives: wangge_app::Incentives,
    /// Keys for the scenario's own activity and points entries.
    keys: u64,
}

impl<'s> Runner<'s> {
    fn new(set: Arc<PolicySet>, sources: &'s SourceSet, file: &str) -> Self {
        // 2026-01-05 (a Monday) 09:00 in China: the start unless a scenario says.
        let start = 20_458 * 86_400 + 9 * 3600 - DEFAULT_OFFSET;
        let clock = Arc::new(ManualClock::new(start));
        let store: Arc<dyn wangge_store::Store> = Arc::new(MemStore::new());
        let svc = Arc::new(CaseService::new(store.clone(), set.clone(), clock.clone()));
        Runner {
            intake: wangge_app::Intake::new(store.clone(), svc.clone()),
            set,
            sources,
            dir: Path::new(file)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            offset: DEFAULT_OFFSET,
            start,
            started: false,
            clock,
            svc,
            cases: HashMap::new(),
            units: Vec::new(),
            failures: Vec::new(),
            hits: BTreeSet::new(),
            incentives: wangge_app::Incentives::new(store),
            keys: 0,
        }
    }

    fn ts(&self, t: &LocalTime) -> Timestamp {
        t.date.to_days() * 86_400 + t.secs - self.offset
    }

    fn show_ts(&self, t: Timestamp) -> String {
        format_ts(t, self.offset)
    }

    fn fail(&mut self, span: Span, message: String) -> Failure {
        let d = Diagnostic::error("wangge::scenario", span, message.clone()).with_label("here");
        Failure {
            at: self.sources.location(span),
            message,
            expected: None,
            actual: None,
            context: Vec::new(),
            frame: wangge_dsl::render(&[d], self.sources, false),
            span,
        }
    }

    /// Records a failure that stops the scenario.
    fn stop(&mut self, span: Span, message: String) -> Stop {
        let f = self.fail(span, message);
        self.failures.push(f);
        Stop
    }

    /// Evaluates rhai code (no variables) to JSON.
    fn eval(&mut self, code: &RhaiCode, wrap: (&str, &str)) -> Result<Value, Stop> {
        let text = format!("{}{}{}", wrap.0, code.text, wrap.1);
        let host = self.set.host().clone();
        let result = host.run(|e| e.eval_expression::<Dynamic>(&text));
        match result {
            Ok(d) => Ok(dynamic_to_json(&d)),
            Err(e) => Err(self.stop(
                code.span,
                format!("cannot evaluate `{}`: {e}", code.text.trim()),
            )),
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn step(&mut self, step: &Step) -> Result<(), Stop> {
        match step {
            Step::Timezone(tz, span) => self.timezone(tz, *span),
            Step::Start(t) => {
                self.start = self.ts(t);
                self.started = true;
                self.clock.set(self.start);
                Ok(())
            }
            Step::Org(fixture) => self.org(fixture),
            Step::At(when) => self.at(when),
            Step::Report {
                workflow,
                alias,
                unit,
                by,
                data,
                fails,
                span,
            } => self.report(workflow, alias, unit, by, data, fails.as_ref(), *span),
            Step::Intake {
                intake,
                alias,
                order,
                fails,
                span,
            } => self.intake(intake, Some(alias), order, fails.as_ref(), *span),
            Step::Callback {
                intake,
                order,
                fails,
                span,
            } => self.intake(intake, None, order, fails.as_ref(), *span),
            Step::Act {
                case,
                action,
                args,
                by,
                to,
                note,
                fails,
                span,
            } => self.act(case, action, args, (by, to, note), *fails, *span),
            Step::Record {
                person,
                kind,
                quantity,
                unit,
                span,
            } => self.record(person, kind, quantity, unit, *span),
            Step::Survey {
                unit,
                period,
                score,
                respondents,
                span,
            } => self.survey(unit, period, score, respondents, *span),
            Step::Points {
                earn,
                resident,
                rule,
                quantity,
                fails,
                span,
            } => self.points(*earn, resident, rule, quantity, *fails, *span),
            Step::ExpectCase { case, checks, .. } => self.expect_case(case, checks),
            Step::ExpectItem {
                item,
                input,
                expected,
                span,
            } => self.expect_item(&item.name, input, expected, *span),
        }
    }

    fn timezone(&mut self, tz: &str, span: Span) -> Result<(), Stop> {
        let Some(o) = wangge_dsl::parser::parse_offset(tz) else {
            return Err(self.stop(span, format!("`{tz}` is not a UTC offset such as `+08:00`")));
        };
        self.offset = i64::from(o);
        if !self.started {
            self.start += DEFAULT_OFFSET - self.offset;
            self.clock.set(self.start);
        }
        Ok(())
    }

    fn at(&mut self, when: &When) -> Result<(), Stop> {
        let (t, span) = match when {
            When::After(secs, span) => (self.start + secs, *span),
            When::On(lt) => (self.ts(lt), lt.span),
        };
        if t < self.now() {
            let now = self.show_ts(self.now());
            return Err(self.stop(
                span,
                format!("`at` goes back in time: the clock is already at {now}"),
            ));
        }
        self.clock.set(t);
        if let Err(e) = self.svc.fire_due() {
            return Err(self.stop(span, format!("timers failed: {e}")));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        workflow: &Ident,
        alias: &Ident,
        unit: &Option<(String, Span)>,
        by: &Option<(String, Span)>,
        data: &RhaiCode,
        fails: Option<&Option<(String, Span)>>,
        span: Span,
    ) -> Result<(), Stop> {
        let data = self.eval(data, ("#{", "}"))?;
        let report = Report {
            on_behalf: None,
            workflow: workflow.name.clone(),
            unit: unit.as_ref().map(|(u, _)| u.clone()),
            data,
            idempotency_key: None,
            actor: by.as_ref().map_or("scenario".into(), |(b, _)| b.clone()),
        };
        match (self.svc.report(report), fails) {
            (Ok((case, _)), None) => {
                self.cases.insert(alias.name.clone(), case.id);
            }
            (Err(e), None) => return Err(self.stop(span, format!("the report was refused: {e}"))),
            (Ok(_), Some(_)) => {
                return Err(self.stop(span, "the report was accepted; expected a refusal".into()))
            }
            (Err(e), Some(Some((want, at)))) if !e.to_string().contains(want.as_str()) => {
                return Err(self.stop(*at, format!("the report was refused, but with `{e}`")))
            }
            (Err(_), Some(_)) => {}
        }
        Ok(())
    }

    /// `intake NAME as ALIAS { order }` (with an alias) or `callback NAME
    /// { order }`: through the same service the server runs.
    fn intake(
        &mut self,
        intake: &Ident,
        alias: Option<&Ident>,
        order: &RhaiCode,
        fails: Option<&Option<(String, Span)>>,
        span: Span,
    ) -> Result<(), Stop> {
        let order = self.eval(order, ("#{", "}"))?;
        let what = if alias.is_some() {
            "the order"
        } else {
            "the 回访"
        };
        let done = match alias {
            Some(_) => self
                .intake
                .submit(&self.set, &intake.name, &order, "scenario", None)
                .map(|t| t.case.id),
            None => {
                let who = Actor {
                    on_behalf: None,
                    actor: "scenario".into(),
                    note: None,
                };
                (self.intake.callback(&self.set, &intake.name, &order, &who)).map(|c| c.id)
            }
        };
        match (done, fails) {
            (Ok(id), None) => {
                if let Some(a) = alias {
                    self.cases.insert(a.name.clone(), id);
                }
            }
            (Err(e), None) => return Err(self.stop(span, format!("{what} was refused: {e}"))),
            (Ok(_), Some(_)) => {
                return Err(self.stop(span, format!("{what} was accepted; expected a refusal")))
            }
            (Err(e), Some(Some((want, at)))) if !e.to_string().contains(want.as_str()) => {
                return Err(self.stop(*at, format!("{what} was refused, but with `{e}`")))
            }
            (Err(_), Some(_)) => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    /// `act` with its `by P`, `to P` and `note "…"`.
    fn act(
        &mut self,
        case: &Ident,
        action: &Ident,
        args: &[Ident],
        (by, to, note): (&Named, &Named, &Option<String>),
        fails: bool,
        span: Span,
    ) -> Result<(), Stop> {
        let who = Actor {
            on_behalf: None,
            actor: by.as_ref().map_or("scenario".into(), |(b, _)| b.clone()),
            note: note.clone(),
        };
        let id = self.case_id(case.name.as_str(), case.span)?;
        let names: Vec<String> = args.iter().map(|a| a.name.clone()).collect();
        let outcome = names.first().map(String::as_str);
        let assignee = to.as_ref().map(|(t, _)| t.as_str());
        let parsed = match Action::parse(&action.name, outcome, &names, assignee) {
            Ok(a) => a,
            Err((field, msg)) => return Err(self.stop(span, format!("{field} {msg}"))),
        };
        let before = self.svc.get(id).ok();
        match (self.svc.act(id, &parsed, &who, None), fails) {
            (Ok(_), false) | (Err(_), true) => {}
            (Ok(after), true) => {
                let mut f = self.fail(
                    span,
                    format!(
                        "expected `{}` to be refused, but it was applied",
                        parsed.name()
                    ),
                );
                f.expected = Some("refused".into());
                f.actual = Some(format!(
                    "state {} → {}, level {}",
                    before.map(|c| c.state).unwrap_or_default(),
                    after.state,
                    after.level
                ));
                self.failures.push(f);
            }
            (Err(e), false) => {
                let mut f = self.fail(span, format!("`{}` was refused: {e}", parsed.name()));
                if let Some(c) = before {
                    f.context = self.case_context(case.name.as_str(), &c);
                }
                self.failures.push(f);
                return Err(Stop);
            }
        }
        Ok(())
    }

    fn record(
        &mut self,
        person: &(String, Span),
        kind: &Ident,
        quantity: &Lit,
        unit: &Option<(String, Span)>,
        span: Span,
    ) -> Result<(), Stop> {
        let quantity = lit_decimal(quantity);
        let period = self.month();
        self.keys += 1;
        let a = wangge_app::NewActivity {
            person: person.0.clone(),
            kind: kind.name.clone(),
            quantity,
            period,
            unit: unit.as_ref().map(|(u, _)| u.clone()),
            key: format!("scenario-{}", self.keys),
            note: None,
            correction: false,
        };
        if let Err(e) = self.incentives.record_activity(&self.set, a, self.now()) {
            return Err(self.stop(span, format!("the activity was refused: {e}")));
        }
        Ok(())
    }

    fn survey(
        &mut self,
        unit: &(String, Span),
        period: &str,
        score: &Lit,
        respondents: &Lit,
        span: Span,
    ) -> Result<(), Stop> {
        let count = lit_decimal(respondents);
        let Some(respondents) =
            rust_decimal::prelude::ToPrimitive::to_i64(&count).filter(|_| count.fract().is_zero())
        else {
            return Err(self.stop(span, format!("`{count}` respondents is not a whole number")));
        };
        self.keys += 1;
        let survey = wangge_app::Survey {
            recorded_by: None,
            unit: unit.0.clone(),
            period: period.to_string(),
            score: lit_decimal(score),
            respondents,
            key: format!("scenario-{}", self.keys),
        };
        let eval = wangge_app::Evaluation::new(self.svc.store().clone());
        if let Err(e) = eval.record_survey(survey) {
            return Err(self.stop(span, format!("the survey was refused: {e}")));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn points(
        &mut self,
        earn: bool,
        resident: &(String, Span),
        rule: &Ident,
        quantity: &Lit,
        fails: bool,
        span: Span,
    ) -> Result<(), Stop> {
        let quantity = lit_decimal(quantity);
        self.keys += 1;
        let key = format!("scenario-{}", self.keys);
        let now = self.now();
        let r = if earn {
            self.incentives.earn(
                &self.set,
                &resident.0,
                &rule.name,
                quantity,
                &key,
                None,
                now,
            )
        } else {
            self.incentives.redeem(
                &self.set,
                &resident.0,
                &rule.name,
                quantity,
                &key,
                None,
                now,
            )
        };
        match (r, fails) {
            (Ok(_), false) | (Err(_), true) => {}
            (Ok((e, _)), true) => {
                let mut f = self.fail(
                    span,
                    format!("expected `{}` to be refused, but it was applied", rule.name),
                );
                f.expected = Some("refused".into());
                f.actual = Some(format!("{:+} points, balance {}", e.points, e.balance));
                self.failures.push(f);
            }
            (Err(e), false) => {
                return Err(self.stop(span, format!("`{}` was refused: {e}", rule.name)))
            }
        }
        Ok(())
    }

    fn expect_case(&mut self, case: &Ident, checks: &[CaseCheck]) -> Result<(), Stop> {
        let id = self.case_id(case.name.as_str(), case.span)?;
        let c = match self.svc.get(id) {
            Ok(c) => c,
            Err(e) => return Err(self.stop(case.span, e.to_string())),
        };
        for check in checks {
            let (expected, actual) = self.check(&c, &check.field.name, &check.value);
            if expected != actual {
                let mut f = self.fail(
                    check.span,
                    format!(
                        "case `{}`: expected {} `{expected}`, found `{actual}`",
                        case.name, check.field.name
                    ),
                );
                f.expected = Some(expected);
                f.actual = Some(actual);
                f.context = self.case_context(&case.name, &c);
                self.failures.push(f);
            }
        }
        Ok(())
    }

    fn case_id(&mut self, alias: &str, span: Span) -> Result<u64, Stop> {
        match self.cases.get(alias) {
            Some(id) => Ok(*id),
            None => Err(self.stop(span, format!("no case `{alias}` was reported"))),
        }
    }

    fn org(&mut self, fixture: &OrgFixture) -> Result<(), Stop> {
        let (text, name, span) = match fixture {
            OrgFixture::File(path, span) => {
                let full = self.dir.join(path);
                match std::fs::read_to_string(&full) {
                    Ok(t) => (t, full.display().to_string(), *span),
                    Err(e) => {
                        return Err(
                            self.stop(*span, format!("cannot read `{}`: {e}", full.display()))
                        )
                    }
                }
            }
            OrgFixture::Inline(code) => {
                let v = self.eval(code, ("[", "]"))?;
                (v.to_string(), "inline units".to_string(), code.span)
            }
        };
        let rows = match wangge_app::org::read_rows(&text, &name) {
            Ok(r) => r,
            Err(e) => return Err(self.stop(span, e.to_string())),
        };
        if wangge_app::org::rows_are_people(&rows) {
            let org = wangge_app::Organisation::new(self.svc.store().clone());
            return match org.put_people(&self.set, rows, &name) {
                Ok(_) => Ok(()),
                Err(e) => Err(self.stop(span, e.to_string())),
            };
        }
        let levels: Vec<String> = rows
            .iter()
            .filter_map(|r| r.fields.get("level").cloned())
            .collect();
        let ladders = wangge_app::org::fitting_ladders(&self.set, &levels);
        let levels_of: Vec<(String, Vec<String>)> = ladders
            .iter()
            .map(|(n, l)| ((*n).clone(), l.to_vec()))
            .collect();
        match wangge_app::org::validate_units(&rows, &levels_of, &self.units, &name) {
            Ok(units) => {
                if let Err(e) = self.svc.store().put_units(&units) {
                    return Err(self.stop(span, e.to_string()));
                }
                // A unit at a level exercises that rung of each of its ladders.
                for (name, levels) in ladders {
                    for u in units.iter().filter(|u| levels.contains(&u.level)) {
                        self.hits.insert((
                            wangge_policy::TargetKind::Rung,
                            (*name).clone(),
                            u.level.clone(),
                        ));
                    }
                }
                self.units.extend(units);
                Ok(())
            }
            Err(e) => Err(self.stop(span, e.to_string())),
        }
    }

    /// The expected and the actual value of one field, as text.
    fn check(&self, c: &Case, field: &str, value: &CheckValue) -> (String, String) {
        let expected = match value {
            CheckValue::Scalar(s) => scalar_text(s),
            CheckValue::Time(t) => self.show_ts(self.ts(t)),
            CheckValue::None(_) => "none".into(),
            CheckValue::List(items, _) => {
                format!(
                    "[{}]",
                    items.iter().map(scalar_text).collect::<Vec<_>>().join(", ")
                )
            }
        };
        let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
        let actual = match field {
            "state" => c.state.clone(),
            "class" => opt(&c.class),
            "level" => c.level.clone(),
            "ceiling" => opt(&c.ceiling),
            "escalations" => c.escalations.to_string(),
            "breaches" => c.breaches.len().to_string(),
            "breached" => c.breached().to_string(),
            "overdue" => c.overdue.to_string(),
            "reopened" => c.reopened.to_string(),
            "paused" => c.paused_at.is_some().to_string(),
            "closed" => c.closed_at.is_some().to_string(),
            "missed" => c.summons.iter().filter(|s| s.missed).count().to_string(),
            "deadline" => c
                .next_deadline()
                .map(|d| self.show_ts(d.due))
                .unwrap_or_else(|| "none".into()),
            "history" => {
                let written_with_outcomes = matches!(value, CheckValue::List(items, _)
                    if items.iter().any(|s| scalar_text(s).contains(' ')));
                let events = self.svc.events(c.id).unwrap_or_default();
                let names: Vec<String> = events
                    .iter()
                    .map(|e| match (&e.outcome, written_with_outcomes) {
                        (Some(o), true) => format!("{} {o}", e.action),
                        _ => e.action.clone(),
                    })
                    .collect();
                format!("[{}]", names.join(", "))
            }
            other => format!("(no field `{other}`)"),
        };
        (expected, actual)
    }

    /// The case as a failure shows it: its data, classification (with the
    /// matched row), deadlines and history.
    fn case_context(&self, alias: &str, c: &Case) -> Vec<(String, String)> {
        let mut ctx = vec![
            (
                format!("case {alias}"),
                format!(
                    "#{} in {} · reported {} in {}",
                    c.id,
                    c.workflow,
                    self.show_ts(c.created_at),
                    c.unit.as_deref().unwrap_or("-")
                ),
            ),
            ("data".into(), c.data.to_string()),
            (
                "now".into(),
                format!(
                    "{} · state {} · level {} · class {} (ceiling {}) · escalations {} · breaches {}",
                    self.show_ts(self.now()),
                    c.state,
                    c.level,
                    c.class.as_deref().unwrap_or("-"),
                    c.ceiling.as_deref().unwrap_or("-"),
                    c.escalations,
                    if c.breaches.is_empty() {
                        "none".to_string()
                    } else {
                        c.breaches
                            .iter()
                            .map(|b| format!("{}→{} at {}", b.from, b.to, self.show_ts(b.at)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ),
        ];
        let deadlines: Vec<String> = c
            .deadlines
            .iter()
            .map(|d| {
                let what = d.kind.describe();
                format!("{what} ({}) due {}", d.clock.as_str(), self.show_ts(d.due))
            })
            .collect();
        ctx.push((
            "deadlines".into(),
            if deadlines.is_empty() {
                "none".into()
            } else {
                deadlines.join("; ")
            },
        ));
        if let Ok(wf) = self.set.workflow(&c.workflow) {
            if let Some(item) = wf.classifier() {
                if let Ok(d) = self.set.evaluate_args(item, &[&c.data]) {
                    ctx.push(("classification".into(), d.render().trim_end().to_string()));
                }
            }
        }
        if let Ok(events) = self.svc.events(c.id) {
            let h: Vec<String> = events
                .iter()
                .map(|e| {
                    let action = match &e.outcome {
                        Some(o) => format!("{} {o}", e.action),
                        None => e.action.clone(),
                    };
                    format!(
                        "{} {action} ({}) → {} @ {}",
                        self.show_ts(e.at),
                        e.actor,
                        e.state_after,
                        e.level_after
                    )
                })
                .collect();
            ctx.push(("history".into(), h.join("\n")));
        }
        ctx
    }

    fn expect_item(
        &mut self,
        item: &str,
        input: &ItemInput,
        expected: &RhaiCode,
        span: Span,
    ) -> Result<(), Stop> {
        if self.set.scorecards.contains_key(item) || self.set.awards.contains_key(item) {
            let ItemInput::Unit(who, _) = input else {
                return Err(self.stop(span, format!("`{item}` is expected `for` a unit or person")));
            };
            return self.expect_evaluation(item, who, expected, span);
        }
        let is_subsidy = self.set.subsidies.values().any(|s| s.name == item);
        let is_points = self.set.points.as_ref().is_some_and(|p| p.name == item);
        if is_subsidy || is_points {
            let ItemInput::Unit(who, _) = input else {
                return Err(self.stop(span, format!("`{item}` is expected `for` a person")));
            };
            return self.expect_incentive(item, who, is_points, expected, span);
        }
        let args: Vec<Value> = match input {
            ItemInput::Args(code) => match self.eval(code, ("[", "]"))? {
                Value::Array(a) => a,
                other => vec![other],
            },
            ItemInput::Unit(id, uspan) => match self.units.iter().find(|u| u.id == *id) {
                Some(u) => vec![u.to_policy_json()],
                None => {
                    return Err(self.stop(
                        *uspan,
                        format!("no unit `{id}` in this scenario's organisation (add `org …`)"),
                    ))
                }
            },
        };
        let want = match self.eval(expected, ("#{", "}")) {
            Ok(v) => v,
            Err(Stop) => {
                // Not a map: a plain value (a calc result). Drop the failure
                // the map attempt recorded and try again.
                self.failures.pop();
                self.eval(expected, ("", ""))?
            }
        };
        let refs: Vec<&Value> = args.iter().collect();
        let decision = match self.set.evaluate_args(item, &refs) {
            Ok(d) => d,
            Err(e) => return Err(self.stop(span, format!("`{item}` failed: {e}"))),
        };
        if let Ok(v) = serde_json::to_value(&decision) {
            decision_hits(&v, &mut self.hits);
        }
        let got = &decision.result;
        let mismatches = mismatches(&want, got);
        if !mismatches.is_empty() {
            let mut f = self.fail(
                span,
                format!("`{item}` decided otherwise: {}", mismatches.join("; ")),
            );
            f.expected = Some(want.to_string());
            f.actual = Some(got.to_string());
            f.context = vec![
                ("input".into(), Value::Array(args.clone()).to_string()),
                ("decision".into(), decision.render().trim_end().to_string()),
            ];
            self.failures.push(f);
        }
        Ok(())
    }

    /// A score (this period, computed now) or an award's ranking (the
    /// level scored and stored for this period, then ranked).
    fn expect_evaluation(
        &mut self,
        item: &str,
        who: &str,
        expected: &RhaiCode,
        span: Span,
    ) -> Result<(), Stop> {
        let want = self.eval(expected, ("#{", "}"))?;
        let card_name = match self.set.awards.get(item) {
            Some(a) => a.scorecard.clone(),
            None => item.to_string(),
        };
        let Some(card) = self.set.scorecards.get(&card_name).cloned() else {
            return Err(self.stop(span, format!("no scorecard `{card_name}`")));
        };
        let local = self.show_ts(self.now());
        let year = local.get(..4).unwrap_or("1970").to_string();
        let month: u32 = local.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
        let period = match card.period {
            wangge_dsl::ast::PeriodKind::Monthly => format!("{year}-{month:02}"),
            wangge_dsl::ast::PeriodKind::Quarterly => format!("{year}-Q{}", (month - 1) / 3 + 1),
            wangge_dsl::ast::PeriodKind::Yearly => year,
        };
        let eval = wangge_app::Evaluation::new(self.svc.store().clone());
        for name in card.item_names() {
            self.hits.insert((
                wangge_policy::TargetKind::Indicator,
                card_name.clone(),
                name,
            ));
        }
        let mut got = serde_json::Map::new();
        let context = if self.set.awards.contains_key(item) {
            let ranked = eval
                .score_level(&self.set, &card_name, &period, self.now())
                .and_then(|_| eval.rank(&self.set, item, &period));
            let ranked = match ranked {
                Ok(r) => r,
                Err(e) => return Err(self.stop(span, format!("`{item}` for {period}: {e}"))),
            };
            let Some(r) = ranked.iter().find(|r| r.id == who) else {
                return Err(self.stop(span, format!("`{who}` is not ranked by `{item}`")));
            };
            got.insert("名次".into(), Value::from(r.rank));
            got.insert("获奖".into(), Value::from(r.awarded));
            got.insert("符合条件".into(), Value::from(r.eligible));
            got.insert("总分".into(), Value::String(r.total.to_string()));
            got.insert("星级".into(), Value::from(r.stars));
            ranked
                .iter()
                .filter(|x| x.group == r.group)
                .map(|x| {
                    (
                        format!("#{} {}", x.rank, x.id),
                        format!(
                            "total {} · {} star(s){}{}",
                            x.total,
                            x.stars,
                            if x.eligible { "" } else { " · not eligible" },
                            if x.awarded { " · awarded" } else { "" }
                        ),
                    )
                })
                .collect::<Vec<_>>()
        } else {
            let s = match eval.score_one(&self.set, &card_name, who, &period) {
                Ok(s) => s,
                Err(e) => {
                    return Err(self.stop(span, format!("`{item}` for `{who}` in {period}: {e}")))
                }
            };
            got.insert("总分".into(), Value::from(s.total.to_string()));
            got.insert("星级".into(), Value::from(s.stars));
            for i in s.indicators.iter() {
                got.insert(i.name.clone(), Value::String(i.normalised.to_string()));
            }
            for p in s.penalties.iter() {
                got.insert(p.name.clone(), Value::String(p.points.to_string()));
            }
            let mut c: Vec<(String, String)> = s
                .indicators
                .iter()
                .map(|i| {
                    (
                        i.name.clone(),
                        format!(
                            "raw {} → {} × weight {} = {}",
                            i.raw, i.normalised, i.weight, i.contribution
                        ),
                    )
                })
                .collect();
            c.extend(s.penalties.iter().map(|p| {
                (
                    p.name.clone(),
                    format!("{} time(s) → −{}", p.count, p.points),
                )
            }));
            c.push(("figures".into(), s.stats.as_str().to_string()));
            c
        };
        let got = Value::Object(got);
        let mismatches = mismatches(&want, &got);
        if !mismatches.is_empty() {
            let mut f = self.fail(
                span,
                format!(
                    "`{item}` for `{who}` in {period}: {}",
                    mismatches.join("; ")
                ),
            );
            f.expected = Some(want.to_string());
            f.actual = Some(got.to_string());
            f.context = context;
            self.failures.push(f);
        }
        Ok(())
    }

    /// The month the clock is in, `2026-09`.
    fn month(&self) -> String {
        self.show_ts(self.now()).chars().take(7).collect()
    }

    /// A subsidy (this month's preview for a person) or a points balance.
    fn expect_incentive(
        &mut self,
        item: &str,
        who: &str,
        points: bool,
        expected: &RhaiCode,
        span: Span,
    ) -> Result<(), Stop> {
        if points {
            let want = self.eval(expected, ("", ""))?;
            let got = match self.incentives.balance(who) {
                Ok(b) => b,
                Err(e) => return Err(self.stop(span, e.to_string())),
            };
            if !same(&want, &Value::from(got)) {
                let mut f = self.fail(span, format!("`{who}` has {got} points, expected {want}"));
                f.expected = Some(want.to_string());
                f.actual = Some(got.to_string());
                if let Ok(h) = self.incentives.history(who) {
                    f.context = h
                        .iter()
                        .map(|e| {
                            (
                                format!("#{}", e.seq),
                                format!(
                                    "{} {} × {} = {:+} → {}",
                                    e.kind, e.rule, e.quantity, e.points, e.balance
                                ),
                            )
                        })
                        .collect();
                }
                self.failures.push(f);
            }
            return Ok(());
        }
        let want = self.eval(expected, ("#{", "}"))?;
        let month = self.month();
        let s = match self.incentives.preview(&self.set, who, &month, self.now()) {
            Ok(s) => s,
            Err(e) => return Err(self.stop(span, format!("`{item}` for `{who}`: {e}"))),
        };
        let b = &s.breakdown;
        for l in b.components.iter().chain(&b.factors) {
            let name = l.name.split(" (").next().unwrap_or(&l.name).to_string();
            self.hits
                .insert((wangge_policy::TargetKind::Component, b.scheme.clone(), name));
        }
        let mut got = serde_json::Map::new();
        for (k, v) in [
            ("合计", &b.total),
            ("小计", &b.subtotal),
            ("取整", &b.rounded),
        ] {
            got.insert(k.to_string(), Value::String(v.to_string()));
        }
        for l in b.components.iter().chain(&b.factors) {
            let name = l.name.split(" (").next().unwrap_or(&l.name).to_string();
            got.insert(name, Value::String(l.value.to_string()));
        }
        got.insert(
            "封顶保底".to_string(),
            b.limited_by.clone().map_or(Value::Null, Value::String),
        );
        let got = Value::Object(got);
        let mismatches = mismatches(&want, &got);
        if !mismatches.is_empty() {
            let mut f = self.fail(
                span,
                format!("`{item}` for `{who}` in {month}: {}", mismatches.join("; ")),
            );
            f.expected = Some(want.to_string());
            f.actual = Some(got.to_string());
            f.context = vec![
                ("figures".into(), s.stats.as_str().to_string()),
                (
                    "line items".into(),
                    b.components
                        .iter()
                        .chain(&b.factors)
                        .map(|l| {
                            format!(
                                "{} = {} ({} with {})",
                                l.name,
                                l.value,
                                l.calc,
                                serde_json::to_string(&*l.params).unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                (
                    "total".into(),
                    format!(
                        "subtotal {} → exact {} → {} {} → {}{}",
                        b.subtotal,
                        b.exact,
                        serde_json::to_string(&b.rounding).unwrap_or_default(),
                        b.rounded,
                        b.total,
                        b.limited_by
                            .as_ref()
                            .map(|l| format!(" (by the {l})"))
                            .unwrap_or_default()
                    ),
                ),
            ];
            self.failures.push(f);
        }
        Ok(())
    }

    fn collect_hits(&mut self) {
        let mut all = Vec::new();
        let _ = self.svc.store().scan_cases(&mut |c| {
            all.push(c);
            true
        });
        for c in all {
            let (Ok(wf), Ok(events)) = (self.set.workflow(&c.workflow), self.svc.events(c.id))
            else {
                continue;
            };
            for e in &events {
                event_hits(wf, e, &mut self.hits);
            }
        }
    }
}

fn lit_decimal(l: &wangge_dsl::ast::Lit) -> rust_decimal::Decimal {
    Const::from(&l.kind).as_decimal().unwrap_or_default()
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Name(i) => i.name.clone(),
        Scalar::Lit(l) => match Const::from(&l.kind) {
            Const::Str(s) => s,
            Const::Bool(b) => b.to_string(),
            other => other
                .as_decimal()
                .map(|d| d.normalize().to_string())
                .unwrap_or_default(),
        },
    }
}

/// Where `got` differs from `want`: for maps, each expected key (others in
/// `got` are ignored); otherwise the values (numbers compared by value).
fn mismatches(want: &Value, got: &Value) -> Vec<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .filter_map(|(k, v)| match g.get(k) {
                Some(x) if same(v, x) => None,
                Some(x) => Some(format!("`{k}` is {x}, expected {v}")),
                None => Some(format!("no `{k}` in the result, expected {v}")),
            })
            .collect(),
        _ if same(want, got) => Vec::new(),
        _ => vec![format!("the result is {got}, expected {want}")],
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (wangge_policy::json_num(a), wangge_policy::json_num(b)) {
        (Some(x), Some(y)) => x.compare(y).is_eq(),
        _ => match (a, b) {
            // Money results are exact decimal strings: compare them as numbers.
            (Value::String(s), Value::Number(_)) | (Value::Number(_), Value::String(s)) => {
                let n = if let Value::Number(n) = a {
                    n
                } else if let Value::Number(n) = b {
                    n
                } else {
                    return false;
                };
                s.parse::<rust_decimal::Decimal>()
                    .ok()
                    .map(|d| d.normalize().to_string())
                    == n.to_string()
                        .parse::<rust_decimal::Decimal>()
                        .ok()
                        .map(|d| d.normalize().to_string())
            }
            _ => a == b,
        },
    }
}
