//! Composition: a calc, rule or table cell calls another table, rule set or
//! calc by name (`事件分级(事件).等级`), as DMN decision requirements do.
//! Each such item becomes a rhai function of the set's own engine; the
//! call evaluates the item on the JSON of its arguments, and its decision
//! (with its own nested calls) joins the caller's explanation as `calls`.
//! The names, arities and the absence of cycles are checked by `check`
//! (`wangge_dsl::resolve`), so a call that compiles is a call that can run.

use std::any::TypeId;
use std::cell::RefCell;
use std::str::FromStr;
use std::sync::Weak;

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::explain::Decision;
use crate::value::{dynamic_to_json, json_to_dynamic};

thread_local! {
    /// One frame per evaluation in progress on this thread: the decisions
    /// of the items it called.
    static FRAMES: RefCell<Vec<Vec<Decision>>> = const { RefCell::new(Vec::new()) };
}

/// What runs an item for a call: the set's item table.
pub(crate) trait Callee: Send + Sync + 'static {
    fn call(&self, item: &str, args: &[&Value]) -> Result<Decision, String>;
}

/// Runs `f` (one evaluation) in a frame of its own; the decisions of the
/// items it called come back with its result.
pub(crate) fn framed<T>(f: impl FnOnce() -> T) -> (T, Vec<Decision>) {
    FRAMES.with(|fr| fr.borrow_mut().push(Vec::new()));
    let out = f();
    let calls = FRAMES.with(|fr| fr.borrow_mut().pop()).unwrap_or_default();
    (out, calls)
}

/// Registers one function per callable item (`(name, arity, money)`:
/// `money` when it is a calc `-> 元`, whose result is exact money).
pub(crate) fn register<C: Callee>(
    engine: &mut Engine,
    items: &[(String, usize, bool)],
    callee: Weak<C>,
) {
    for (name, arity, money) in items {
        let types = vec![TypeId::of::<Dynamic>(); *arity];
        let (item, money, callee) = (name.clone(), *money, callee.clone());
        engine.register_raw_fn(
            name.as_str(),
            types,
            move |_ctx: NativeCallContext, args: &mut [&mut Dynamic]| {
                call(&callee, &item, money, args)
            },
        );
    }
}

fn call<C: Callee>(
    callee: &Weak<C>,
    item: &str,
    money: bool,
    args: &mut [&mut Dynamic],
) -> Result<Dynamic, Box<EvalAltResult>> {
    let Some(callee) = callee.upgrade() else {
        return Err(format!("`{item}` is no longer loaded").into());
    };
    let json: Vec<Value> = args.iter().map(|a| dynamic_to_json(a)).collect();
    let refs: Vec<&Value> = json.iter().collect();
    let decision = callee
        .call(item, &refs)
        .map_err(|e| format!("in `{item}`: {e}"))?;
    let result = if money {
        money_dynamic(item, &decision.result)?
    } else {
        json_to_dynamic(&decision.result)
    };
    FRAMES.with(|fr| {
        if let Some(top) = fr.borrow_mut().last_mut() {
            top.push(decision);
        }
    });
    Ok(result)
}

/// A calc's money result (`"12.50"`) back as an exact decimal.
fn money_dynamic(item: &str, v: &Value) -> Result<Dynamic, Box<EvalAltResult>> {
    match v {
        Value::String(s) => Decimal::from_str(s)
            .map(Dynamic::from_decimal)
            .map_err(|_| format!("`{item}` gave `{s}`, which is no amount").into()),
        other => Err(format!("`{item}` gave `{other}`, which is no amount").into()),
    }
}
