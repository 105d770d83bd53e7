//! Calculations: rhai bodies with a declared result type. `-> 元` rounds
//! half away from zero (四舍五入) to the fen and returns exact money. The
//! explanation shows the values the body reads (`事件.人数 = 12`), found
//! when it is compiled, not copies of whole inputs.

use std::sync::Arc;

use rhai::Dynamic;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use wangge_dsl::ast;
use wangge_dsl::Diagnostic;

use crate::error::EvalError;
use crate::explain::{Decision, Explanation, InputSeen};
use crate::host::RhaiHost;
use crate::script::{Script, ScriptEnv};
use crate::script_reads::{reads, Read};
use crate::value::{dynamic_to_json, json_to_dynamic, money_string};

/// A compiled calculation.
#[derive(Debug, Clone)]
pub struct CompiledCalc {
    pub name: Arc<str>,
    pub params: Vec<String>,
    pub returns: Option<String>,
    /// What the body reads from `params`, for explanations.
    reads: Vec<Read>,
    body: Script,
}

pub(crate) fn compile(c: &ast::Calc, env: &ScriptEnv) -> Result<CompiledCalc, Diagnostic> {
    let params: Vec<&str> = c.params.iter().map(|p| p.name.as_str()).collect();
    let body = env.compile(&c.body, &c.name.name, &params, false)?;
    Ok(CompiledCalc {
        name: Arc::from(c.name.name.as_str()),
        params: params.iter().map(|p| p.to_string()).collect(),
        reads: reads(&body.ast, &params),
        returns: c.returns.as_ref().map(|r| r.name.clone()),
        body,
    })
}

fn wrong(item: &str, expected: &str, d: &Dynamic) -> EvalError {
    EvalError::ResultType {
        item: item.to_string(),
        expected: expected.to_string(),
        found: format!("a `{}` (`{d}`)", d.type_name()),
    }
}

impl CompiledCalc {
    pub fn evaluate(
        &self,
        host: &RhaiHost,
        args: &[&Value],
        version: &Arc<str>,
    ) -> Result<Decision, EvalError> {
        // The scope is filled straight from the JSON (no intermediate
        // vector): this is the path `eval` and the classifiers take.
        let vars = self.params.iter().map(String::as_str);
        let vars = vars.zip(args.iter().map(|v| json_to_dynamic(v)));
        let out = self.body.run(host, vars, &self.name)?;
        let result = self.typed(out)?;
        Ok(self.decision(result, args, version))
    }

    /// Runs with rhai values and returns only the typed result (no
    /// explanation): the settlement path, where the explanation is the
    /// line item itself.
    pub fn run_dynamic(&self, host: &RhaiHost, args: Vec<Dynamic>) -> Result<Value, EvalError> {
        let bound = self.params.iter().map(String::as_str).zip(args);
        let out = self.body.run(host, bound, &self.name)?;
        self.typed(out)
    }

    /// The `param`s the body refers to, with their values.
    /// Its body.
    pub(crate) fn body(&self) -> &Script {
        &self.body
    }

    pub fn param_values(&self) -> std::collections::BTreeMap<String, Value> {
        self.body
            .consts
            .iter()
            .map(|(n, v)| (n.clone(), dynamic_to_json(v)))
            .collect()
    }

    /// The decision, with the values the body read from `args`.
    fn decision(&self, result: Value, args: &[&Value], version: &Arc<str>) -> Decision {
        Decision {
            kind: "calc",
            item: self.name.clone(),
            policy_version: version.clone(),
            result: Arc::new(result),
            explanation: Explanation::Calc {
                inputs: self
                    .reads
                    .iter()
                    .map(|r| InputSeen {
                        name: r.shown.clone(),
                        value: r.value(args),
                    })
                    .collect(),
                params: self
                    .body
                    .consts
                    .iter()
                    .map(|(n, v)| InputSeen {
                        name: Arc::from(n.as_str()),
                        value: dynamic_to_json(v),
                    })
                    .collect(),
            },
            calls: Vec::new(),
        }
    }

    /// The result checked against the declared type (`元` rounded to the fen).
    fn typed(&self, out: Dynamic) -> Result<Value, EvalError> {
        Ok(match self.returns.as_deref() {
            Some("元") => {
                let d = if let Ok(d) = out.as_decimal() {
                    d
                } else if let Ok(i) = out.as_int() {
                    Decimal::from(i)
                } else if let Some(d) = out.as_float().ok().and_then(Decimal::from_f64) {
                    d
                } else {
                    return Err(wrong(&self.name, "an amount in 元", &out));
                };
                money_string(d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
            }
            Some("数") if out.is_int() || out.is_float() || out.is_decimal() => {
                dynamic_to_json(&out)
            }
            Some("数") => return Err(wrong(&self.name, "a number", &out)),
            Some("整数") if out.is_int() => dynamic_to_json(&out),
            Some("整数") => return Err(wrong(&self.name, "an integer", &out)),
            Some("文本") if out.is_string() => dynamic_to_json(&out),
            Some("文本") => return Err(wrong(&self.name, "text", &out)),
            Some("布尔") if out.is_bool() => dynamic_to_json(&out),
            Some("布尔") => return Err(wrong(&self.name, "a boolean", &out)),
            _ => dynamic_to_json(&out),
        })
    }
}
