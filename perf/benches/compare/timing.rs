//! Interleaved timing: every contender runs for a short budget in turn, round
//! after round, so a noisy machine slows all of them alike; the summary gives
//! medians over rounds and the ratio taken within each round.

use std::time::{Duration, Instant};

/// One thing to time: its label and one operation.
pub struct Contender<'a> {
    pub name: String,
    pub op: Box<dyn FnMut() + 'a>,
}

impl<'a> Contender<'a> {
    pub fn new(name: impl Into<String>, op: impl FnMut() + 'a) -> Self {
        Contender {
            name: name.into(),
            op: Box::new(op),
        }
    }
}

/// Nanoseconds per operation: batches doubling until `budget` is spent.
pub fn per_op(op: &mut dyn FnMut(), budget: Duration) -> f64 {
    let start = Instant::now();
    let mut done = 0u64;
    let mut batch = 1u64;
    while start.elapsed() < budget {
        for _ in 0..batch {
            op();
        }
        done += batch;
        if batch < 1 << 14 {
            batch *= 2;
        }
    }
    start.elapsed().as_nanos() as f64 / done as f64
}

/// Runs every contender once per round (after one discarded warm-up round);
/// `times[c][r]` is contender `c`'s ns/op in round `r`.
pub fn interleave(
    contenders: &mut [Contender<'_>],
    rounds: usize,
    budget: Duration,
) -> Vec<Vec<f64>> {
    for c in contenders.iter_mut() {
        per_op(&mut c.op, budget / 2);
    }
    let mut times = vec![Vec::new(); contenders.len()];
    for round in 0..rounds {
        // Alternate the order so neither side always runs first.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..contenders.len()).collect()
        } else {
            (0..contenders.len()).rev().collect()
        };
        for i in order {
            times[i].push(per_op(&mut contenders[i].op, budget));
        }
    }
    let line: Vec<String> = contenders
        .iter()
        .zip(&times)
        .map(|(c, t)| format!("{} {}", c.name, human_ns(median(t))))
        .collect();
    println!("    {}", line.join(", "));
    times
}

/// The median of some figures.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// `median [min–max]` of some figures, formatted by `f`.
pub fn spread(v: &[f64], f: impl Fn(f64) -> String) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{} [{}–{}]", f(median(v)), f(lo), f(hi))
}

/// Per-round ratios `a[r] / b[r]`.
pub fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// A duration in ns given as the most readable unit.
pub fn human_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else if ns < 1_000_000_000.0 {
        format!("{:.1} ms", ns / 1_000_000.0)
    } else {
        format!("{:.2} s", ns / 1_000_000_000.0)
    }
}

/// A ratio such as `0.42×`.
pub fn times(r: f64) -> String {
    format!("{r:.2}×")
}
