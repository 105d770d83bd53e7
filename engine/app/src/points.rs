//! Residents' points (积分): earning and redemption by the rules of the
//! active policy's `points` block, an append-only ledger per resident, a
//! balance that never goes negative, and every entry idempotent by key.

use crate::Stamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use wangge_dsl::suggest::help_for;

use crate::error::AppError;
use crate::incentives::Incentives;
use crate::ledger::{seq_part, storage, BALANCES, POINTS, POINTS_KEYS};
use wangge_policy::PolicySet;
use wangge_policy::Timestamp;
use wangge_store::LedgerBatch;

use crate::error::{invalid, AppResult as R};

/// One entry of a resident's points ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointsEntry {
    pub resident: String,
    pub seq: u64,
    /// `earn` or `redeem`.
    pub kind: String,
    pub rule: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Signed: positive when earned.
    pub points: i64,
    /// The balance after this entry.
    pub balance: i64,
    pub key: String,
    pub note: Option<String>,
    pub at: Timestamp,
    pub policy_version: String,
    /// Who recorded it (the verified caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A resident's balance and the last entry's sequence.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct Balance {
    balance: i64,
    next: u64,
}

impl Incentives {
    fn balance_of(&self, resident: &str) -> R<Balance> {
        Ok(BALANCES
            .get(self.store().as_ref(), &[resident])?
            .unwrap_or_default())
    }

    /// A resident's balance.
    pub fn balance(&self, resident: &str) -> R<i64> {
        Ok(self.balance_of(resident)?.balance)
    }

    /// A resident's ledger, oldest first.
    pub fn history(&self, resident: &str) -> R<Vec<PointsEntry>> {
        let entries = POINTS.scan(self.store().as_ref(), &[resident])?;
        Ok(entries.into_iter().map(|(_, e)| e).collect())
    }

    /// Earns points by an earning rule (points per unit × `quantity`).
    #[allow(clippy::too_many_arguments)]
    pub fn earn(
        &self,
        set: &PolicySet,
        resident: &str,
        rule: &str,
        quantity: Decimal,
        key_: &str,
        note: Option<String>,
        now: impl Into<Stamp>,
    ) -> R<(PointsEntry, bool)> {
        self.points_entry(set, resident, rule, quantity, key_, note, now.into(), true)
    }

    /// Redeems points by a redemption rule (points per unit × `quantity`,
    /// e.g. per 元 of property fee); refused when the balance is short.
    #[allow(clippy::too_many_arguments)]
    pub fn redeem(
        &self,
        set: &PolicySet,
        resident: &str,
        rule: &str,
        quantity: Decimal,
        key_: &str,
        note: Option<String>,
        now: impl Into<Stamp>,
    ) -> R<(PointsEntry, bool)> {
        self.points_entry(set, resident, rule, quantity, key_, note, now.into(), false)
    }

    #[allow(clippy::too_many_arguments)]
    fn points_entry(
        &self,
        set: &PolicySet,
        resident: &str,
        rule: &str,
        quantity: Decimal,
        key_: &str,
        note: Option<String>,
        now: Stamp,
        earn: bool,
    ) -> R<(PointsEntry, bool)> {
        if resident.trim().is_empty() {
            return Err(invalid("resident", "is required"));
        }
        if key_.is_empty() {
            return Err(invalid("key", "is required (it makes retries safe)"));
        }
        if quantity <= Decimal::ZERO {
            return Err(invalid(
                "quantity",
                format!("`{quantity}` is not above zero"),
            ));
        }
        let Some(rules) = &set.points else {
            return Err(AppError::UnknownRule {
                what: "points scheme",
                name: rule.to_string(),
                help: Some("the active policy has no `points` block".into()),
            });
        };
        let (table, what) = if earn {
            (&rules.earn, "earning rule")
        } else {
            (&rules.redeem, "redemption rule")
        };
        let Some(rate) = table.get(rule) else {
            return Err(AppError::UnknownRule {
                what,
                name: rule.to_string(),
                help: help_for(rule, table.keys().map(String::as_str)).or_else(|| {
                    Some(format!(
                        "known: {}",
                        table.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                }),
            });
        };
        let exact = Decimal::from(*rate) * quantity;
        if !exact.fract().is_zero() {
            return Err(invalid(
                "quantity",
                format!("{quantity} × {rate} points is {exact}: it must come to whole points"),
            ));
        }
        let points = rust_decimal::prelude::ToPrimitive::to_i64(&exact)
            .ok_or_else(|| invalid("quantity", "is too large"))?;
        let signed = if earn { points } else { -points };
        let _g = self.lock()?;
        let store = self.store().as_ref();
        // Several servers on one database: the entry lands only if the
        // balance is still the one read (else read again), so two
        // redemptions at once can never take it below zero.
        for _ in 0..64 {
            if let Some(seq) = POINTS_KEYS.get(store, &[resident, key_])? {
                let old: PointsEntry = match POINTS.get(store, &[resident, &seq_part(seq)])? {
                    Some(e) => e,
                    None => {
                        return Err(AppError::Store(storage(format!(
                            "points entry {seq} of `{resident}` is missing"
                        ))))
                    }
                };
                let same = old.kind == if earn { "earn" } else { "redeem" }
                    && old.rule == rule
                    && old.quantity == quantity.normalize();
                return if same {
                    Ok((old, false))
                } else {
                    Err(AppError::KeyReused {
                        key: key_.to_string(),
                        what: "points entry",
                    })
                };
            }
            let raw = BALANCES.get_raw(store, &[resident])?;
            let b = match &raw {
                Some(bytes) => BALANCES.decode(bytes)?,
                None => Balance::default(),
            };
            let after = b.balance + signed;
            if after < 0 {
                return Err(AppError::InsufficientPoints {
                    resident: resident.to_string(),
                    balance: b.balance,
                    needed: points,
                });
            }
            let seq = b.next + 1;
            let entry = PointsEntry {
                resident: resident.to_string(),
                seq,
                kind: if earn { "earn" } else { "redeem" }.to_string(),
                rule: rule.to_string(),
                quantity: quantity.normalize(),
                points: signed,
                balance: after,
                key: key_.to_string(),
                note: note.clone(),
                at: now.at,
                by: now.by.clone(),
                policy_version: set.hash.to_string(),
            };
            let mut batch = LedgerBatch::new();
            batch.put(&POINTS, &[resident, &seq_part(seq)], &entry)?;
            batch.put(
                &BALANCES,
                &[resident],
                &Balance {
                    balance: after,
                    next: seq,
                },
            )?;
            batch.put(&POINTS_KEYS, &[resident, key_], &seq)?;
            if batch.write_if(store, &BALANCES, &[resident], raw.as_deref())? {
                self.store().flush()?;
                return Ok((entry, true));
            }
        }
        Err(AppError::Store(storage(format!(
            "the points balance of `{resident}` kept changing under this entry; try again"
        ))))
    }
}
