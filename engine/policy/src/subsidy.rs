//! Subsidy schemes and residents' points rules, compiled from `subsidy` and
//! `points` items, and the subsidy computation: components (calcs in 元)
//! summed, multiplied by factors (calcs giving exact numbers), rounded to
//! the fen as the policy says, then the floor and the cap. Money is
//! `rust_decimal` throughout; nothing here reads a clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::Dynamic;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wangge_dsl::ast::{self, LitKind, RoundMode};
use wangge_dsl::suggest::help_for;
use wangge_dsl::Diagnostic;

use crate::error::EvalError;
use crate::items::{Evaluable, Items};

/// Parameter values a calc used, shared by every line item that shows them.
pub type Params = Arc<BTreeMap<String, Value>>;

/// What a subsidy calc may take, by parameter name.
pub const CONTEXT: &[&str] = &["统计", "人员", "期间"];

/// A compiled `subsidy`.
#[derive(Debug, Clone, Serialize)]
pub struct CompiledSubsidy {
    pub name: String,
    pub role: String,
    /// `(line item, calc)`.
    pub components: Vec<(String, String)>,
    /// `(factor, calc, components it multiplies; empty = all)`.
    pub factors: Vec<(String, String, Vec<String>)>,
    /// The `param`s each calc uses, with their values (fixed per version).
    #[serde(skip)]
    pub params: BTreeMap<String, Params>,
    /// The parameters the calcs take (`统计`, `人员`, `期间`).
    #[serde(skip)]
    pub inputs: Vec<String>,
    pub floor: Option<Decimal>,
    pub cap: Option<Decimal>,
    pub round: RoundMode,
    pub activities: Vec<String>,
}

/// A compiled `points` block.
#[derive(Debug, Clone, Serialize)]
pub struct PointsRules {
    pub name: String,
    pub earn: BTreeMap<String, i64>,
    pub redeem: BTreeMap<String, i64>,
}

fn money(l: &Option<ast::Lit>) -> Option<Decimal> {
    l.as_ref().and_then(|l| match l.kind {
        LitKind::Money(m) => Some(m),
        _ => None,
    })
}

/// Compiles the subsidies (one per role) against the compiled calcs.
pub(crate) fn compile_subsidies(
    subs: &[&ast::Subsidy],
    items: &BTreeMap<String, Evaluable>,
    roles: &[&str],
) -> (BTreeMap<String, Arc<CompiledSubsidy>>, Vec<Diagnostic>) {
    let mut out: BTreeMap<String, Arc<CompiledSubsidy>> = BTreeMap::new();
    let mut spans: BTreeMap<String, wangge_dsl::Span> = BTreeMap::new();
    let mut diags = Vec::new();
    for s in subs {
        if !roles.contains(&s.role.name.as_str()) {
            let mut d = Diagnostic::error(
                "wangge::subsidy",
                s.role.span,
                format!("unknown role `{}`", s.role.name),
            )
            .with_label("no `role` item declares it");
            if let Some(h) = help_for(&s.role.name, roles.iter().copied()) {
                d = d.with_help(h);
            }
            diags.push(d);
            continue;
        }
        if let Some(first) = spans.get(&s.role.name) {
            diags.push(
                Diagnostic::error(
                    "wangge::duplicate",
                    s.role.span,
                    format!("a second subsidy for `{}`", s.role.name),
                )
                .with_label("second scheme for this role")
                .with_related(*first, "the first one"),
            );
            continue;
        }
        let mut ok = true;
        for (calc, want) in s
            .components
            .iter()
            .map(|(_, c)| (c, "元"))
            .chain(s.factors.iter().map(|(_, c, _)| (c, "数")))
        {
            let Some(Evaluable::Calc(c)) = items.get(&calc.name) else {
                ok = false; // reported by name resolution
                continue;
            };
            if c.returns.as_deref() != Some(want) {
                ok = false;
                let what = if want == "元" {
                    "a line item is an amount: its calc must be `-> 元`"
                } else {
                    "a factor is a number: its calc must be `-> 数`"
                };
                diags.push(
                    Diagnostic::error(
                        "wangge::subsidy",
                        calc.span,
                        format!(
                            "calc `{}` returns {}",
                            calc.name,
                            c.returns
                                .as_deref()
                                .map_or("anything".to_string(), |r| format!("`{r}`"))
                        ),
                    )
                    .with_label(what),
                );
            }
            for p in &c.params {
                if !CONTEXT.contains(&p.as_str()) {
                    ok = false;
                    diags.push(
                        Diagnostic::error(
                            "wangge::subsidy",
                            calc.span,
                            format!(
                                "calc `{}` takes `{p}`, which a settlement cannot give",
                                calc.name
                            ),
                        )
                        .with_label("parameters must be `统计`, `人员` or `期间`"),
                    );
                }
            }
        }
        if !ok {
            continue;
        }
        spans.insert(s.role.name.clone(), s.role.span);
        let params = s
            .components
            .iter()
            .map(|(_, c)| c)
            .chain(s.factors.iter().map(|(_, c, _)| c))
            .filter_map(|c| match items.get(&c.name) {
                Some(Evaluable::Calc(cc)) => Some((c.name.clone(), Arc::new(cc.param_values()))),
                _ => None,
            })
            .collect();
        out.insert(
            s.role.name.clone(),
            Arc::new(CompiledSubsidy {
                name: s.name.name.clone(),
                role: s.role.name.clone(),
                components: s
                    .components
                    .iter()
                    .map(|(n, c)| (n.name.clone(), c.name.clone()))
                    .collect(),
                factors: s
                    .factors
                    .iter()
                    .map(|(n, c, on)| {
                        (
                            n.name.clone(),
                            c.name.clone(),
                            on.iter().map(|i| i.name.clone()).collect(),
                        )
                    })
                    .collect(),
                floor: money(&s.floor),
                cap: money(&s.cap),
                round: s.round.map_or(RoundMode::HalfUp, |(m, _)| m),
                params,
                activities: s.activities.iter().map(|a| a.name.clone()).collect(),
                inputs: s
                    .components
                    .iter()
                    .map(|(_, c)| c)
                    .chain(s.factors.iter().map(|(_, c, _)| c))
                    .filter_map(|c| match items.get(&c.name) {
                        Some(Evaluable::Calc(cc)) => Some(cc.params.clone()),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
            }),
        );
    }
    (out, diags)
}

/// Compiles the one `points` block a policy set may have.
pub(crate) fn compile_points(
    blocks: &[&ast::Points],
) -> (Option<Arc<PointsRules>>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let Some(first) = blocks.first() else {
        return (None, diags);
    };
    for extra in blocks.iter().skip(1) {
        diags.push(
            Diagnostic::error(
                "wangge::duplicate",
                extra.name.span,
                format!("a second `points` block `{}`", extra.name.name),
            )
            .with_label("one points scheme per policy set")
            .with_related(first.name.span, "the first one"),
        );
    }
    let rules = |v: &[(ast::Ident, ast::Lit)]| {
        v.iter()
            .filter_map(|(n, l)| match l.kind {
                LitKind::Int(i) if i > 0 => Some((n.name.clone(), i)),
                _ => None,
            })
            .collect()
    };
    (
        Some(Arc::new(PointsRules {
            name: first.name.name.clone(),
            earn: rules(&first.earn),
            redeem: rules(&first.redeem),
        })),
        diags,
    )
}

/// One line item of a computation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub name: String,
    pub calc: String,
    /// Money to the fen (`860.00`) or, for factors, the exact number; on
    /// the wire a decimal string.
    pub value: Decimal,
    /// The `param`s the calc used, with their values. Stored settlements
    /// keep them once per period and version (see `incentives.rs`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: Params,
}

/// A subsidy computed for one person and period, with how it came about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub scheme: String,
    pub role: String,
    pub policy_version: String,
    pub components: Vec<LineItem>,
    pub factors: Vec<LineItem>,
    /// Sum of the components.
    pub subtotal: Decimal,
    /// The subtotal times every factor, before rounding.
    pub exact: Decimal,
    /// Rounded to the fen as the policy says.
    pub rounded: Decimal,
    pub rounding: RoundMode,
    /// `floor` or `cap` when one of them changed the amount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<String>,
    pub total: Decimal,
}

/// Money shown to the fen: the same amount with scale 2.
fn fen(d: Decimal) -> Decimal {
    let mut d = d;
    d.rescale(2);
    d
}

fn exact(d: Decimal) -> Decimal {
    d.normalize()
}

/// The amount a decision of a money or number calc gave, exactly.
fn decimal_of(v: &Value, calc: &str) -> Result<Decimal, EvalError> {
    let bad = || EvalError::ResultType {
        item: calc.to_string(),
        expected: "an exact number".to_string(),
        found: format!("`{v}`"),
    };
    match v {
        Value::String(s) => s.parse::<Decimal>().map_err(|_| bad()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(Decimal::from(i)),
            None => Err(EvalError::ResultType {
                item: calc.to_string(),
                expected: "an exact number (amounts are never floating point: start from a \
                           decimal `param` such as `param 基准 = 1.0`, or use `parse_decimal`)"
                    .to_string(),
                found: format!("the float `{n}`"),
            }),
        },
        _ => Err(bad()),
    }
}

impl CompiledSubsidy {
    /// Whether any of its calcs takes `input`.
    pub fn takes(&self, input: &str) -> bool {
        self.inputs.iter().any(|i| i == input)
    }

    /// Computes the subsidy from the context (`统计`, `人员`, `期间` as rhai
    /// values; `统计` carries exact decimals).
    pub fn compute(
        &self,
        set: &impl Items,
        context: &[(&str, Dynamic)],
    ) -> Result<Breakdown, EvalError> {
        let run = |calc: &str| -> Result<(Value, LineItem), EvalError> {
            let args: Vec<Dynamic> = set
                .calc_params(calc)?
                .iter()
                .map(|p| {
                    context
                        .iter()
                        .find(|(n, _)| n == p)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Dynamic::UNIT)
                })
                .collect();
            let result = set.run_calc(calc, args)?;
            Ok((
                result,
                LineItem {
                    name: String::new(),
                    calc: calc.to_string(),
                    value: Decimal::ZERO,
                    params: self.params.get(calc).cloned().unwrap_or_default(),
                },
            ))
        };
        let mut subtotal = Decimal::ZERO;
        let mut amounts = Vec::with_capacity(self.components.len());
        let mut components = Vec::with_capacity(self.components.len());
        for (name, calc) in &self.components {
            let (v, mut line) = run(calc)?;
            let amount = decimal_of(&v, calc)?;
            subtotal += amount;
            amounts.push((name.as_str(), amount));
            line.name = name.clone();
            line.value = fen(amount);
            components.push(line);
        }
        let mut factors = Vec::with_capacity(self.factors.len());
        for (name, calc, on) in &self.factors {
            let (v, mut line) = run(calc)?;
            let f = decimal_of(&v, calc)?;
            for (component, amount) in &mut amounts {
                if on.is_empty() || on.iter().any(|c| c == component) {
                    *amount = amount.checked_mul(f).ok_or_else(|| EvalError::ResultType {
                        item: calc.to_string(),
                        expected: "a factor the amount can be multiplied by".to_string(),
                        found: format!("`{f}`"),
                    })?;
                }
            }
            line.name = name.clone();
            line.value = exact(f);
            if !on.is_empty() {
                line.name = format!("{name} (× {})", on.join(", "));
            }
            factors.push(line);
        }
        let product: Decimal = amounts.iter().map(|(_, a)| *a).sum();
        let strategy = match self.round {
            RoundMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundMode::HalfEven => RoundingStrategy::MidpointNearestEven,
            RoundMode::Down => RoundingStrategy::ToZero,
        };
        let rounded = product.round_dp_with_strategy(2, strategy);
        let mut total = rounded;
        let mut limited_by = None;
        // 以奖代补: no activity, no subsidy; the floor lifts those who did some.
        if let Some(floor) = self.floor {
            if total > Decimal::ZERO && total < floor {
                total = floor;
                limited_by = Some("floor".to_string());
            }
        }
        if let Some(cap) = self.cap {
            if total > cap {
                total = cap;
                limited_by = Some("cap".to_string());
            }
        }
        if total < Decimal::ZERO {
            total = Decimal::ZERO;
            limited_by = Some("zero".to_string());
        }
        Ok(Breakdown {
            scheme: self.name.clone(),
            role: self.role.clone(),
            policy_version: set.version().to_string(),
            components,
            factors,
            subtotal: fen(subtotal),
            exact: exact(product),
            rounded: fen(rounded),
            rounding: self.round,
            limited_by,
            total: fen(total),
        })
    }
}

/// A map of rhai values from JSON-like pairs (for building `统计`).
pub fn rhai_map(entries: Vec<(&str, Dynamic)>) -> Dynamic {
    let mut m = rhai::Map::new();
    for (k, v) in entries {
        m.insert(k.into(), v);
    }
    Dynamic::from_map(m)
}
