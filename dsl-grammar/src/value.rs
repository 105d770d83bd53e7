//! Constant values known at compile time: literals, `param`s and ladder levels.

use rust_decimal::Decimal;

use crate::ast::LitKind;

/// A constant value.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Str(String),
    Int(i64),
    Dec(Decimal),
    Bool(bool),
    /// Money in 元, exact to the fen.
    Money(Decimal),
    /// A duration in seconds.
    Duration(i64),
    List(Vec<Const>),
}

impl From<&LitKind> for Const {
    fn from(k: &LitKind) -> Self {
        match k {
            LitKind::Str(s) => Const::Str(s.clone()),
            LitKind::Int(i) => Const::Int(*i),
            LitKind::Dec(d) => Const::Dec(*d),
            LitKind::Bool(b) => Const::Bool(*b),
            LitKind::Money(m) => Const::Money(*m),
            LitKind::Duration(d) => Const::Duration(*d),
        }
    }
}

impl Const {
    /// The numeric value, for numbers, money and durations (in seconds).
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Const::Int(i) | Const::Duration(i) => Some(Decimal::from(*i)),
            Const::Dec(d) | Const::Money(d) => Some(*d),
            _ => None,
        }
    }

    /// How the value is written in a policy.
    pub fn display(&self) -> String {
        match self {
            Const::Str(s) => format!("{s:?}"),
            Const::Int(i) => i.to_string(),
            Const::Dec(d) => d.to_string(),
            Const::Bool(b) => b.to_string(),
            Const::Money(m) => format!("{:.2}元", m),
            Const::Duration(s) => format!("{s}s"),
            Const::List(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(Const::display)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
