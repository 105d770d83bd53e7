//! Rule sets: `when` conditions and `then` outputs in rhai, fired in order.

use std::sync::Arc;

use rhai::{Dynamic, Scope};
use serde_json::{Map, Value};
use wangge_dsl::ast::{self, RulesMode};
use wangge_dsl::Diagnostic;

use crate::error::EvalError;
use crate::explain::{Decision, Explanation, RuleMatch};
use crate::host::RhaiHost;
use crate::script::{Script, ScriptEnv};
use crate::value::{dynamic_to_json, json_to_dynamic};

#[derive(Debug, Clone)]
struct CRule {
    name: Arc<str>,
    when: Script,
    condition: Arc<str>,
    outputs: Vec<(String, Script)>,
    at: Arc<str>,
}

/// A compiled rule set.
#[derive(Debug, Clone)]
pub struct CompiledRules {
    pub name: Arc<str>,
    pub params: Vec<String>,
    pub mode: RulesMode,
    rules: Vec<CRule>,
    /// Every `param` any of the rules refers to.
    consts: Vec<(String, Dynamic)>,
}

impl CompiledRules {
    /// Every condition and output script, in order.
    pub(crate) fn scripts(&self) -> impl Iterator<Item = &Script> {
        self.rules
            .iter()
            .flat_map(|r| std::iter::once(&r.when).chain(r.outputs.iter().map(|(_, s)| s)))
    }
}

pub(crate) fn compile(
    rs: &ast::RuleSet,
    env: &ScriptEnv,
) -> Result<CompiledRules, Vec<Diagnostic>> {
    let params: Vec<&str> = rs.params.iter().map(|p| p.name.as_str()).collect();
    let mut diags = Vec::new();
    let mut rules = Vec::new();
    for r in &rs.rules {
        let item = format!("{}.{}", rs.name.name, r.name.name);
        let when = env.compile(&r.when, &item, &params, true);
        let mut outputs = Vec::new();
        for (key, code) in &r.outputs {
            match env.compile(code, &item, &params, true) {
                Ok(s) => outputs.push((key.name.clone(), s)),
                Err(d) => diags.push(d),
            }
        }
        match when {
            Ok(when) => {
                let at = Arc::from(format!("{}:{}", when.origin.file, when.origin.line));
                rules.push(CRule {
                    name: Arc::from(r.name.name.as_str()),
                    condition: Arc::from(when.text.as_str()),
                    when,
                    outputs,
                    at,
                });
            }
            Err(d) => diags.push(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut consts: Vec<(String, Dynamic)> = Vec::new();
    for r in &rules {
        for script in std::iter::once(&r.when).chain(r.outputs.iter().map(|(_, s)| s)) {
            for (name, value) in &script.consts {
                if !consts.iter().any(|(n, _)| n == name) {
                    consts.push((name.clone(), value.clone()));
                }
            }
        }
    }
    Ok(CompiledRules {
        name: Arc::from(rs.name.name.as_str()),
        params: params.iter().map(|p| p.to_string()).collect(),
        mode: rs.mode,
        rules,
        consts,
    })
}

impl CompiledRules {
    pub fn evaluate(
        &self,
        host: &RhaiHost,
        args: &[&Value],
        version: &Arc<str>,
    ) -> Result<Decision, EvalError> {
        // One scope for all rules: constants and inputs converted once.
        let mut scope = Scope::new();
        for (name, value) in &self.consts {
            scope.push_constant_dynamic(name.as_str(), value.clone());
        }
        for (name, value) in self.params.iter().zip(args) {
            scope.push_dynamic(name.as_str(), json_to_dynamic(value));
        }
        let mut matched = Vec::new();
        let mut evaluated = 0;
        for rule in &self.rules {
            evaluated += 1;
            let item = || format!("{}.{}", self.name, rule.name);
            let cond = rule.when.run_in(host, &mut scope, &self.name)?;
            let holds = cond.as_bool().map_err(|t| EvalError::ResultType {
                item: item(),
                expected: "a boolean condition".into(),
                found: format!("a `{t}`"),
            })?;
            if !holds {
                continue;
            }
            let mut outputs = Map::new();
            for (key, script) in &rule.outputs {
                let v = script.run_in(host, &mut scope, &self.name)?;
                outputs.insert(key.clone(), dynamic_to_json(&v));
            }
            matched.push(RuleMatch {
                rule: rule.name.clone(),
                at: rule.at.clone(),
                condition: rule.condition.clone(),
                outputs: Arc::new(Value::Object(outputs)),
            });
            if self.mode == RulesMode::First {
                break;
            }
        }
        // The result is the outputs of the rule(s) that fired; which rule
        // fired is in the explanation.
        let result = match self.mode {
            RulesMode::First => matched
                .first()
                .map_or_else(|| Arc::new(Value::Null), |m| Arc::clone(&m.outputs)),
            RulesMode::All => Arc::new(Value::Array(
                matched.iter().map(|m| Value::clone(&m.outputs)).collect(),
            )),
        };
        Ok(Decision {
            kind: "rules",
            item: self.name.clone(),
            policy_version: version.clone(),
            result,
            explanation: Explanation::Rules {
                mode: match self.mode {
                    RulesMode::First => "first",
                    RulesMode::All => "all",
                },
                matched,
                evaluated,
            },
            calls: Vec::new(),
        })
    }
}
