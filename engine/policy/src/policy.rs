//! A compiled, immutable policy set: every table, rule set and calc of one
//! directory of `.wg` files, identified by a content hash of its sources.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wangge_dsl::ast::Item;
use wangge_dsl::suggest::help_for;
use wangge_dsl::{parse_set, Diagnostic, ParsedSet, SourceSet};

use crate::calc;
use crate::calendar::CompiledCalendar;
use crate::case_error::CaseError;
use crate::error::EvalError;
use crate::explain::Decision;
use crate::host::RhaiHost;
pub use crate::items::Evaluable;
use crate::rules;
use crate::script::ScriptEnv;
use crate::table::TableCompiler;
use crate::value::const_to_dynamic;
use crate::workflow::CompiledWorkflow;

/// A compiled policy set. Immutable; share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// Name from the `policy` header, if any.
    pub name: Option<String>,
    /// `version` from the `policy` header, if any.
    pub label: Option<String>,
    /// SHA-256 of the sources, hex: the version every decision records.
    pub hash: Arc<str>,
    /// Ladders by name, lowest level first.
    pub ladders: BTreeMap<String, Vec<String>>,
    /// Roles people may hold, by name.
    pub roles: BTreeMap<String, crate::org::RoleDef>,
    /// What each role and service account may do (`grant` items).
    pub grants: crate::access::Grants,
    /// Schemas by name.
    pub schemas: BTreeMap<String, crate::schema::CompiledSchema>,
    /// Party trees (3+1 网格党组织 …) by name.
    pub parties: BTreeMap<String, crate::org::PartyTree>,
    /// The schema of each parameter of each table, rule set and calc that
    /// declares one.
    param_schemas: BTreeMap<String, Vec<Option<String>>>,
    core: Arc<Core>,
    workflows: BTreeMap<String, Arc<CompiledWorkflow>>,
    /// Subsidy schemes by the role they pay.
    pub subsidies: BTreeMap<String, Arc<crate::subsidy::CompiledSubsidy>>,
    /// Residents' points rules, if the set has them.
    pub points: Option<Arc<crate::subsidy::PointsRules>>,
    /// Scorecards and awards by name.
    pub scorecards: BTreeMap<String, Arc<crate::scorecard::CompiledScorecard>>,
    pub awards: BTreeMap<String, Arc<crate::scorecard::CompiledAward>>,
    /// Tasks sent down (下派任务) by name.
    pub tasks: BTreeMap<String, Arc<crate::task::CompiledTask>>,
    /// Intake mappings of external work orders by name.
    pub intakes: BTreeMap<String, Arc<crate::intake::CompiledIntake>>,
}

/// The evaluable items and the engine that runs them: the host's, or,
/// when items call each other, one with a function per called item
/// (`compose`), which reaches back here through a weak reference.
#[derive(Debug)]
struct Core {
    items: BTreeMap<String, Evaluable>,
    host: RhaiHost,
    hash: Arc<str>,
    /// Whether any item calls another (only then are calls collected).
    composed: bool,
}

impl Core {
    fn new(
        items: BTreeMap<String, Evaluable>,
        host: &RhaiHost,
        hash: Arc<str>,
        calls: &[wangge_dsl::resolve::ItemCall],
    ) -> Arc<Core> {
        let mut called: Vec<(String, usize, bool)> = Vec::new();
        for c in calls {
            if called.iter().any(|(n, _, _)| *n == c.callee) {
                continue;
            }
            if let Some(ev) = items.get(&c.callee) {
                let money =
                    matches!(ev, Evaluable::Calc(calc) if calc.returns.as_deref() == Some("元"));
                called.push((c.callee.clone(), ev.params().len(), money));
            }
        }
        if called.is_empty() {
            return Arc::new(Core {
                items,
                host: host.clone(),
                hash,
                composed: false,
            });
        }
        Arc::new_cyclic(|weak| Core {
            items,
            host: host.with_functions(|e| crate::compose::register(e, &called, weak.clone())),
            hash,
            composed: true,
        })
    }

    /// Evaluates one item; the decisions of the items it calls come with it.
    fn dispatch(&self, ev: &Evaluable, args: &[&Value]) -> Result<Decision, EvalError> {
        let run = || match ev {
            Evaluable::Table(t) => t.evaluate(&self.host, args, &self.hash),
            Evaluable::Rules(r) => r.evaluate(&self.host, args, &self.hash),
            Evaluable::Calc(c) => c.evaluate(&self.host, args, &self.hash),
        };
        if !self.composed {
            return run();
        }
        let (out, calls) = crate::compose::framed(run);
        out.map(|mut d| {
            d.calls = calls;
            d
        })
    }
}

impl crate::compose::Callee for Core {
    fn call(&self, item: &str, args: &[&Value]) -> Result<Decision, String> {
        let ev = self
            .items
            .get(item)
            .ok_or_else(|| format!("no item `{item}`"))?;
        self.dispatch(ev, args).map_err(|e| e.to_string())
    }
}

/// The outcome of compiling: the set (when there were no errors) and every
/// diagnostic, errors and warnings, in source order.
#[derive(Debug)]
pub struct Compiled {
    pub set: Option<PolicySet>,
    pub sources: SourceSet,
    pub diagnostics: Vec<Diagnostic>,
    /// The scenarios of its `*.test.wg` files.
    pub scenarios: Vec<wangge_dsl::ast::Scenario>,
    /// Everything a scenario can exercise (for coverage).
    pub targets: Vec<crate::coverage::Target>,
    /// The syntax trees it was compiled from, by file id (for the tools
    /// that also navigate the source: the language server, `wangge doc`).
    pub files: Vec<wangge_dsl::ast::File>,
}

/// Scenario files: `*.test.wg`. They hold scenarios only, and are not part
/// of the policy version (its hash) or of a deployment.
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".test.wg")
}

/// SHA-256 over the files' contents, in path order.
pub fn content_hash(sources: &SourceSet) -> String {
    let mut h = Sha256::new();
    for f in sources.files.iter().filter(|f| !is_test_file(&f.name)) {
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(f.text.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses, resolves, lints and compiles a policy set.
pub fn compile(sources: SourceSet, host: &RhaiHost) -> Compiled {
    let ParsedSet {
        sources,
        files,
        symbols,
        mut diagnostics,
    } = parse_set(sources);
    let params: BTreeMap<String, Dynamic> = symbols
        .params
        .iter()
        .map(|(k, v)| (k.clone(), const_to_dynamic(v)))
        .collect();
    let env = ScriptEnv {
        host,
        sources: &sources,
        params: &params,
    };
    let tc = TableCompiler {
        env: &env,
        symbols: &symbols,
    };
    let mut items = BTreeMap::new();
    let mut ladders = BTreeMap::new();
    let mut roles = BTreeMap::new();
    let mut grants = crate::access::Grants::default();
    let mut schemas = BTreeMap::new();
    let mut parties = BTreeMap::new();
    let mut param_schemas = BTreeMap::new();
    let mut calendars: HashMap<String, Arc<CompiledCalendar>> = HashMap::new();
    let mut workflow_asts = Vec::new();
    let mut subsidy_asts = Vec::new();
    let mut points_asts = Vec::new();
    let mut card_asts = Vec::new();
    let mut award_asts = Vec::new();
    let mut task_asts = Vec::new();
    let mut intake_asts = Vec::new();
    let mut scenarios = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let test_file = sources.files.get(i).is_some_and(|f| is_test_file(&f.name));
        for item in &file.items {
            let in_place = matches!(item, Item::Scenario(_)) == test_file;
            if !in_place {
                let (message, help) = if test_file {
                    (
                        format!("a {} in a scenario file", item.keyword()),
                        "`*.test.wg` files hold scenarios only; move it to a policy file",
                    )
                } else {
                    (
                        "a scenario in a policy file".to_string(),
                        "scenarios go in `*.test.wg` files, which are not deployed",
                    )
                };
                diagnostics.push(
                    Diagnostic::error("wangge::scenario", item.name().span, message)
                        .with_label("not allowed here")
                        .with_help(help),
                );
            }
        }
    }
    // Year blocks of calendars, by calendar.
    let mut calendar_years: HashMap<&str, Vec<&wangge_dsl::ast::Calendar>> = HashMap::new();
    for item in files.iter().flat_map(|f| f.items.iter()) {
        if let Item::Calendar(c) = item {
            if c.year.is_some() {
                calendar_years
                    .entry(c.name.name.as_str())
                    .or_default()
                    .push(c);
            }
        }
    }
    for item in files.iter().flat_map(|f| f.items.iter()) {
        if let Item::Scenario(sc) = item {
            scenarios.push(sc.clone());
            continue;
        }
        if matches!(item, Item::Calendar(c) if c.year.is_some()) {
            continue;
        }
        // Grants are named after roles, not in the symbol table (the
        // resolver refused a second grant of the same name).
        if let Item::Grant(g) = item {
            grants.add(g);
            continue;
        }
        // Skip duplicates: the first definition is the one in the symbol table.
        let name = item.name();
        if symbols.items.get(&name.name).map(|(_, s)| *s) != Some(name.span) {
            continue;
        }
        // An evaluable item goes into the table of items, or its
        // diagnostics into the list.
        let mut add = |name: &str, compiled: Result<Evaluable, Vec<Diagnostic>>| match compiled {
            Ok(e) => {
                items.insert(name.to_string(), e);
            }
            Err(d) => diagnostics.extend(d),
        };
        let declared = match item {
            Item::Table(t) => Some(&t.schemas),
            Item::Rules(r) => Some(&r.schemas),
            Item::Calc(c) => Some(&c.schemas),
            _ => None,
        };
        if let Some(ds) = declared.filter(|ds| ds.iter().any(Option::is_some)) {
            let names = ds
                .iter()
                .map(|d| d.as_ref().map(|i| i.name.clone()))
                .collect();
            param_schemas.insert(name.name.clone(), names);
        }
        match item {
            Item::Table(t) => add(
                &t.name.name,
                tc.compile(t).map(|c| Evaluable::Table(Arc::new(c))),
            ),
            Item::Rules(r) => add(
                &r.name.name,
                rules::compile(r, &env).map(|c| Evaluable::Rules(Arc::new(c))),
            ),
            Item::Calc(c) => add(
                &c.name.name,
                calc::compile(c, &env)
                    .map(|cc| Evaluable::Calc(Arc::new(cc)))
                    .map_err(|d| vec![d]),
            ),
            Item::Ladder(l) => {
                ladders.insert(
                    l.name.name.clone(),
                    l.levels.iter().map(|i| i.name.clone()).collect(),
                );
            }
            Item::Role(r) => {
                roles.insert(r.name.name.clone(), role_def(r));
            }
            Item::Party(p) => {
                parties.insert(p.name.name.clone(), party_tree(p));
            }
            Item::Grant(_) => {}
            Item::Schema(sc) => {
                let compiled = crate::schema::CompiledSchema::compile(sc, &symbols);
                schemas.insert(sc.name.name.clone(), compiled);
            }
            Item::Calendar(c) => {
                let years = calendar_years
                    .get(c.name.name.as_str())
                    .map_or(&[][..], Vec::as_slice);
                calendars.insert(
                    c.name.name.clone(),
                    Arc::new(CompiledCalendar::compile(c, years)),
                );
            }
            Item::Workflow(w) => workflow_asts.push(w),
            Item::Subsidy(sub) => subsidy_asts.push(sub),
            Item::Points(p) => points_asts.push(p),
            Item::Scorecard(c) => card_asts.push(c),
            Item::Award(a) => award_asts.push(a),
            Item::Task(t) => task_asts.push(t),
            Item::Intake(i) => intake_asts.push(i),
            Item::Param(_) | Item::Policy(_) | Item::Scenario(_) => {}
        }
    }
    diagnostics.extend(schema_diagnostics(
        &items,
        &param_schemas,
        &schemas,
        &sources,
    ));
    let role_names: Vec<&str> = roles.keys().map(String::as_str).collect();
    let (subsidies, d) = crate::subsidy::compile_subsidies(&subsidy_asts, &items, &role_names);
    diagnostics.extend(d);
    let (points, d) = crate::subsidy::compile_points(&points_asts);
    diagnostics.extend(d);
    let all_levels: Vec<String> = ladders.values().flatten().cloned().collect();
    let (scorecards, awards, d) =
        crate::scorecard::compile(&card_asts, &award_asts, &env, &all_levels, &role_names);
    diagnostics.extend(d);
    let intakes = (intake_asts.iter())
        .filter_map(|i| {
            let channel = (workflow_asts.iter())
                .find(|w| w.name.name == i.workflow.name)
                .and_then(|w| w.channel.as_ref())
                .map(|c| c.name.as_str());
            crate::intake::CompiledIntake::compile(i, channel)
        })
        .map(|i| (i.name.clone(), Arc::new(i)))
        .collect();
    let mut workflows = BTreeMap::new();
    for w in workflow_asts {
        if let Some(cw) = CompiledWorkflow::compile(w, &ladders, &calendars) {
            let cw = cw.with_classes(declared_classes(w, &files, &symbols));
            workflows.insert(w.name.name.clone(), Arc::new(cw));
        }
    }
    let tasks = (task_asts.iter())
        .filter_map(|t| crate::task::CompiledTask::compile(t, &calendars))
        .map(|t| (t.name.clone(), Arc::new(t)))
        .collect();
    diagnostics.sort_by_key(|d| (d.span.file, d.span.start, d.severity));
    let hash: Arc<str> = Arc::from(content_hash(&sources));
    let set = (!diagnostics.iter().any(Diagnostic::is_error)).then(|| PolicySet {
        name: symbols.header.as_ref().map(|h| h.name.name.clone()),
        label: symbols.header_field("version").map(str::to_string),
        core: Core::new(items, host, hash.clone(), &symbols.calls),
        hash,
        ladders,
        roles,
        grants,
        schemas,
        parties,
        param_schemas,
        workflows,
        subsidies,
        points,
        scorecards,
        awards,
        tasks,
        intakes,
    });
    let targets = crate::coverage::targets(&files, &sources);
    Compiled {
        set,
        sources,
        diagnostics,
        scenarios,
        targets,
        files,
    }
}

/// The fields calcs and rules read on parameters with schemas, checked.
fn schema_diagnostics(
    items: &BTreeMap<String, Evaluable>,
    param_schemas: &BTreeMap<String, Vec<Option<String>>>,
    schemas: &BTreeMap<String, crate::schema::CompiledSchema>,
    sources: &SourceSet,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (name, declared) in param_schemas {
        let Some(ev) = items.get(name) else { continue };
        let params: Vec<&str> = ev.params().iter().map(String::as_str).collect();
        let scripts: Vec<&crate::script::Script> = match ev {
            Evaluable::Calc(c) => vec![c.body()],
            Evaluable::Rules(r) => r.scripts().collect(),
            Evaluable::Table(_) => Vec::new(),
        };
        for s in scripts {
            out.extend(crate::schema_reads::check(
                s, name, &params, declared, schemas, sources,
            ));
        }
    }
    out
}

/// The classes a workflow's classifying table declares for its class
/// output (`等级: ["大事", "难事", "小事"]`), in order; none when it
/// declares none (or classifies with rules or a calc).
fn declared_classes(
    w: &wangge_dsl::ast::Workflow,
    files: &[wangge_dsl::ast::File],
    symbols: &wangge_dsl::Symbols,
) -> Vec<String> {
    let Some(c) = &w.classify else {
        return Vec::new();
    };
    let column = c.class_output.as_ref().map_or("等级", |i| i.name.as_str());
    let table = files.iter().flat_map(|f| &f.items).find_map(|i| match i {
        Item::Table(t) if t.name.name == c.item.name => Some(t),
        _ => None,
    });
    let values = table
        .and_then(|t| t.outputs.iter().find(|o| o.name.name == column))
        .and_then(|o| o.values.as_ref());
    values
        .into_iter()
        .flatten()
        .filter_map(|v| match symbols.scalar(v) {
            Some(wangge_dsl::Const::Str(s)) => Some(s),
            _ => None,
        })
        .collect()
}

/// A party tree as the registry checks it.
fn party_tree(p: &wangge_dsl::ast::Party) -> crate::org::PartyTree {
    crate::org::PartyTree {
        name: p.name.name.clone(),
        orgs: p
            .orgs
            .iter()
            .map(|o| crate::org::PartyOrgDef {
                name: o.name.name.clone(),
                at: o.at.name.clone(),
                led_by: o.led_by.iter().map(|r| r.name.clone()).collect(),
            })
            .collect(),
    }
}

/// A role as the registry checks it (its words were resolved already).
fn role_def(r: &wangge_dsl::ast::Role) -> crate::org::RoleDef {
    crate::org::RoleDef {
        name: r.name.name.clone(),
        levels: r.levels.iter().map(|l| l.name.clone()).collect(),
        leads: r.leads,
        requires: r
            .requires
            .as_ref()
            .and_then(|w| crate::org::PartyRequirement::from_word(&w.name)),
    }
}

impl PolicySet {
    /// Names and kinds of everything that can be evaluated.
    pub fn items(&self) -> impl Iterator<Item = (&str, &Evaluable)> {
        self.core.items.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// A workflow by name.
    pub fn workflow(&self, name: &str) -> Result<&Arc<CompiledWorkflow>, CaseError> {
        self.workflows
            .get(name)
            .ok_or_else(|| CaseError::UnknownWorkflow {
                name: name.to_string(),
                help: help_for(name, self.workflows.keys().map(String::as_str)),
            })
    }

    /// The time zone periods are read in: the first workflow's calendar,
    /// else China Standard Time.
    pub fn zone(&self) -> crate::Zone {
        self.workflows
            .values()
            .find(|w| w.calendar().is_some())
            .map_or(crate::Zone::CHINA, |w| w.zone().clone())
    }

    /// The subsidy scheme that pays `person`: the scheme of the first of
    /// their positions that has one.
    pub fn subsidy_for(
        &self,
        person: &crate::org::Person,
    ) -> Option<&Arc<crate::subsidy::CompiledSubsidy>> {
        person
            .positions()
            .find_map(|(role, _)| self.subsidies.get(role))
    }

    /// The hardened rhai host the set runs in.
    pub fn host(&self) -> &RhaiHost {
        &self.core.host
    }

    /// Names of the workflows.
    pub fn workflows(&self) -> impl Iterator<Item = &Arc<CompiledWorkflow>> {
        self.workflows.values()
    }

    pub fn get(&self, name: &str) -> Result<&Evaluable, EvalError> {
        self.core
            .items
            .get(name)
            .ok_or_else(|| EvalError::UnknownItem {
                name: name.to_string(),
                help: help_for(name, self.core.items.keys().map(String::as_str)),
            })
    }

    /// Evaluates `item` with `input`, a JSON object keyed by parameter name.
    pub fn evaluate(&self, item: &str, input: &Value) -> Result<Decision, EvalError> {
        let ev = self.get(item)?;
        let params = ev.params();
        let Value::Object(obj) = input else {
            let example = params
                .iter()
                .map(|p| format!("\"{p}\": {{…}}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(EvalError::InputNotObject {
                item: item.to_string(),
                example: format!("{{{example}}}"),
            });
        };
        if let Some(key) = obj.keys().find(|k| !params.contains(k)) {
            return Err(EvalError::UnknownInput {
                item: item.to_string(),
                key: key.clone(),
                help: help_for(key, params.iter().map(String::as_str)),
            });
        }
        let missing = |p: &String| EvalError::MissingInput {
            item: item.to_string(),
            param: p.clone(),
        };
        let declared = self.param_schemas.get(item);
        // Up to four arguments on the stack (every shipped item has one or
        // two): this is the hot path of every classification.
        static NULL: Value = Value::Null;
        if params.len() <= 4 {
            let mut args = [&NULL; 4];
            for (slot, p) in args.iter_mut().zip(params) {
                *slot = obj.get(p).ok_or_else(|| missing(p))?;
            }
            let args = &args[..params.len()];
            if let Some(declared) = declared {
                self.check_inputs(item, params, declared, args)?;
            }
            return self.dispatch(ev, args);
        }
        let mut args = Vec::with_capacity(params.len());
        for p in params {
            args.push(obj.get(p).ok_or_else(|| missing(p))?);
        }
        if let Some(declared) = declared {
            self.check_inputs(item, params, declared, &args)?;
        }
        self.dispatch(ev, &args)
    }

    /// Checks each input that has a schema against it.
    fn check_inputs(
        &self,
        item: &str,
        params: &[String],
        declared: &[Option<String>],
        args: &[&Value],
    ) -> Result<(), EvalError> {
        for ((p, schema), v) in params.iter().zip(declared).zip(args) {
            let Some(schema) = schema.as_ref().and_then(|s| self.schemas.get(s)) else {
                continue;
            };
            schema
                .check(v, &self.schemas)
                .map_err(|m| EvalError::InvalidInput {
                    item: item.to_string(),
                    field: if m.field.is_empty() {
                        p.clone()
                    } else {
                        format!("{p}.{}", m.field)
                    },
                    message: m.message,
                })?;
        }
        Ok(())
    }

    /// The schema of `item`'s parameter `index`, if it declares one.
    pub fn param_schema(&self, item: &str, index: usize) -> Option<&crate::schema::CompiledSchema> {
        let name = self.param_schemas.get(item)?.get(index)?.as_ref()?;
        self.schemas.get(name)
    }

    /// Evaluates `item` with one value per parameter, in order.
    pub fn evaluate_args(&self, item: &str, args: &[&Value]) -> Result<Decision, EvalError> {
        let ev = self.get(item)?;
        if let Some(p) = ev.params().get(args.len()) {
            return Err(EvalError::MissingInput {
                item: item.to_string(),
                param: p.clone(),
            });
        }
        self.dispatch(ev, args)
    }

    fn dispatch(&self, ev: &Evaluable, args: &[&Value]) -> Result<Decision, EvalError> {
        self.core.dispatch(ev, args)
    }
}

impl crate::items::Items for PolicySet {
    fn evaluate_args(&self, item: &str, args: &[&Value]) -> Result<Decision, EvalError> {
        PolicySet::evaluate_args(self, item, args)
    }

    fn item_params(&self, item: &str) -> Result<&[String], EvalError> {
        Ok(self.get(item)?.params())
    }

    fn calc_params(&self, calc: &str) -> Result<&[String], EvalError> {
        match self.get(calc)? {
            Evaluable::Calc(c) => Ok(&c.params),
            _ => Err(EvalError::UnknownItem {
                name: calc.to_string(),
                help: None,
            }),
        }
    }

    fn run_calc(&self, calc: &str, args: Vec<Dynamic>) -> Result<Value, EvalError> {
        match self.get(calc)? {
            Evaluable::Calc(c) => c.run_dynamic(self.host(), args),
            _ => Err(EvalError::UnknownItem {
                name: calc.to_string(),
                help: None,
            }),
        }
    }

    fn version(&self) -> &str {
        &self.hash
    }
}
