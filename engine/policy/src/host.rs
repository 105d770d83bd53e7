//! The rhai host: one registration function builds the hardened engine used
//! by production and tests alike. The engine is raw (no packages but the
//! standard one, no `eval`, no modules, no clock), strict about variables,
//! bounded in operations, call depth, expression depth and data sizes, and
//! watched by a wall-clock backstop through the progress callback. The
//! operation limit is what decides (deterministic); the backstop is only
//! for safety. After
//! set-up it is frozen behind an `Arc` and shared.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::packages::{Package, StandardPackage};
use rhai::{Dynamic, Engine};

/// Limits on every script evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_fn_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Wall-clock backstop of one evaluation: a safety watchdog far above
    /// what the operation limit allows on a busy machine, so the operation
    /// limit decides (the same inputs give the same answer, live and in a
    /// replay) and the watchdog only catches what it cannot count.
    pub time_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 2_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_fn_expr_depth: 32,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            time_budget: Duration::from_secs(5),
        }
    }
}

/// Value returned by the progress callback when the time budget is spent.
pub const BUDGET_TOKEN: &str = "time budget exceeded";

/// The running evaluation's budget: `Armed(budget)` until the first clock
/// check turns it into a `Deadline` (so short scripts never read the clock).
#[derive(Clone, Copy)]
enum Watch {
    Idle,
    Armed(Duration),
    Deadline(Instant),
}

thread_local! {
    static WATCH: Cell<Watch> = const { Cell::new(Watch::Idle) };
}

/// The shared, frozen rhai engine with its limits.
#[derive(Clone)]
pub struct RhaiHost {
    engine: Arc<Engine>,
    limits: Limits,
}

impl std::fmt::Debug for RhaiHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhaiHost")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for RhaiHost {
    fn default() -> Self {
        RhaiHost::new(Limits::default())
    }
}

/// The one registration function: builds the hardened engine.
pub fn build_engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine.set_strict_variables(true);
    engine.set_fail_on_invalid_map_property(false);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_fn_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.disable_symbol("eval");
    register_exact_mixed_arithmetic(&mut engine);
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.on_progress(|ops| {
        // Reading the clock costs more than an operation: look every 256.
        // The first look starts the clock, so the budget is counted from
        // the 256th operation; the operation limit covers the ones before.
        if ops & 0xFF != 0 {
            return None;
        }
        WATCH.with(|w| match w.get() {
            Watch::Armed(budget) => {
                w.set(Watch::Deadline(Instant::now() + budget));
                None
            }
            Watch::Deadline(d) if Instant::now() >= d => Some(Dynamic::from(BUDGET_TOKEN)),
            _ => None,
        })
    });
    engine
}

/// A float literal next to a decimal is read as the decimal it was written
/// as (`0.9` → `0.9`, not the nearest binary fraction), so money and rates
/// stay exact: `金额 * 0.9` and `按期率 >= 0.95` work on decimals.
fn register_exact_mixed_arithmetic(engine: &mut Engine) {
    use rust_decimal::Decimal;
    use std::str::FromStr;
    fn dec(f: f64) -> Result<Decimal, Box<rhai::EvalAltResult>> {
        Decimal::from_str(&format!("{f}"))
            .or_else(|_| Decimal::from_scientific(&format!("{f:e}")))
            .map_err(|_| format!("`{f}` is not a number a decimal can hold").into())
    }
    type R<T> = Result<T, Box<rhai::EvalAltResult>>;
    fn checked(d: Option<Decimal>, op: &str) -> R<Decimal> {
        d.ok_or_else(|| format!("decimal overflow or division by zero in `{op}`").into())
    }
    engine.register_fn("+", |a: Decimal, b: f64| -> R<Decimal> {
        checked(a.checked_add(dec(b)?), "+")
    });
    engine.register_fn("+", |a: f64, b: Decimal| -> R<Decimal> {
        checked(dec(a)?.checked_add(b), "+")
    });
    engine.register_fn("-", |a: Decimal, b: f64| -> R<Decimal> {
        checked(a.checked_sub(dec(b)?), "-")
    });
    engine.register_fn("-", |a: f64, b: Decimal| -> R<Decimal> {
        checked(dec(a)?.checked_sub(b), "-")
    });
    engine.register_fn("*", |a: Decimal, b: f64| -> R<Decimal> {
        checked(a.checked_mul(dec(b)?), "*")
    });
    engine.register_fn("*", |a: f64, b: Decimal| -> R<Decimal> {
        checked(dec(a)?.checked_mul(b), "*")
    });
    engine.register_fn("/", |a: Decimal, b: f64| -> R<Decimal> {
        checked(a.checked_div(dec(b)?), "/")
    });
    engine.register_fn("/", |a: f64, b: Decimal| -> R<Decimal> {
        checked(dec(a)?.checked_div(b), "/")
    });
    engine.register_fn("<", |a: Decimal, b: f64| -> R<bool> { Ok(a < dec(b)?) });
    engine.register_fn("<", |a: f64, b: Decimal| -> R<bool> { Ok(dec(a)? < b) });
    engine.register_fn("<=", |a: Decimal, b: f64| -> R<bool> { Ok(a <= dec(b)?) });
    engine.register_fn("<=", |a: f64, b: Decimal| -> R<bool> { Ok(dec(a)? <= b) });
    engine.register_fn(">", |a: Decimal, b: f64| -> R<bool> { Ok(a > dec(b)?) });
    engine.register_fn(">", |a: f64, b: Decimal| -> R<bool> { Ok(dec(a)? > b) });
    engine.register_fn(">=", |a: Decimal, b: f64| -> R<bool> { Ok(a >= dec(b)?) });
    engine.register_fn(">=", |a: f64, b: Decimal| -> R<bool> { Ok(dec(a)? >= b) });
    engine.register_fn("==", |a: Decimal, b: f64| -> R<bool> { Ok(a == dec(b)?) });
    engine.register_fn("==", |a: f64, b: Decimal| -> R<bool> { Ok(dec(a)? == b) });
    engine.register_fn("!=", |a: Decimal, b: f64| -> R<bool> { Ok(a != dec(b)?) });
    engine.register_fn("!=", |a: f64, b: Decimal| -> R<bool> { Ok(dec(a)? != b) });
}

impl RhaiHost {
    pub fn new(limits: Limits) -> Self {
        RhaiHost {
            engine: Arc::new(build_engine(&limits)),
            limits,
        }
    }

    /// A host with the same limits and a fresh engine that also has the
    /// functions `add` registers (a policy set's callable items).
    pub(crate) fn with_functions(&self, add: impl FnOnce(&mut Engine)) -> RhaiHost {
        let mut engine = build_engine(&self.limits);
        add(&mut engine);
        RhaiHost {
            engine: Arc::new(engine),
            limits: self.limits.clone(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs `f` under the wall-clock budget.
    pub fn run<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        let previous = WATCH.with(|w| w.replace(Watch::Armed(self.limits.time_budget)));
        let out = f(&self.engine);
        WATCH.with(|w| w.set(previous));
        out
    }
}
