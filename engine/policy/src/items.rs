//! The narrow interface workflows and subsidy schemes use to reach the
//! other items of their policy set: evaluate a table or rule set, run a
//! calc, name the version. [`crate::PolicySet`] implements it; the compiled
//! workflow and subsidy modules never see the whole set, so they do not
//! depend on the module that compiles it.

use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;

use crate::calc::CompiledCalc;
use crate::error::EvalError;
use crate::explain::Decision;
use crate::rules::CompiledRules;
use crate::table::CompiledTable;

/// Evaluating the items of one compiled policy version.
pub trait Items {
    /// Evaluates item `item` on positional arguments (one per parameter).
    fn evaluate_args(&self, item: &str, args: &[&Value]) -> Result<Decision, EvalError>;
    /// The parameter names of item `item` (a table, rule set or calc).
    fn item_params(&self, item: &str) -> Result<&[String], EvalError>;
    /// The parameter names of calc `calc`.
    fn calc_params(&self, calc: &str) -> Result<&[String], EvalError>;
    /// Runs calc `calc` on rhai arguments, in parameter order.
    fn run_calc(&self, calc: &str, args: Vec<Dynamic>) -> Result<Value, EvalError>;
    /// The policy version (content hash) that decides.
    fn version(&self) -> &str;
}

/// An item that can be evaluated.
#[derive(Debug, Clone)]
pub enum Evaluable {
    Table(Arc<CompiledTable>),
    Rules(Arc<CompiledRules>),
    Calc(Arc<CompiledCalc>),
}

impl Evaluable {
    pub fn params(&self) -> &[String] {
        match self {
            Evaluable::Table(t) => &t.params,
            Evaluable::Rules(r) => &r.params,
            Evaluable::Calc(c) => &c.params,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Evaluable::Table(_) => "table",
            Evaluable::Rules(_) => "rules",
            Evaluable::Calc(_) => "calc",
        }
    }
}

impl<T: Items + ?Sized> Items for &T {
    fn evaluate_args(&self, item: &str, args: &[&Value]) -> Result<Decision, EvalError> {
        (**self).evaluate_args(item, args)
    }

    fn item_params(&self, item: &str) -> Result<&[String], EvalError> {
        (**self).item_params(item)
    }

    fn calc_params(&self, calc: &str) -> Result<&[String], EvalError> {
        (**self).calc_params(calc)
    }

    fn run_calc(&self, calc: &str, args: Vec<Dynamic>) -> Result<Value, EvalError> {
        (**self).run_calc(calc, args)
    }

    fn version(&self) -> &str {
        (**self).version()
    }
}
