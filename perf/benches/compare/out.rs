//! The printed comparison: one Markdown row per measure, the anchor and
//! wangge as `median [min–max]` over the rounds, and the ratio taken
//! within each round.

use crate::timing::{human_ns, ratios, spread, times};

#[derive(Default)]
pub struct Table {
    rows: Vec<String>,
    notes: Vec<String>,
}

impl Table {
    /// Times per operation (lower is better); the ratio is wangge / anchor.
    pub fn row(
        &mut self,
        measure: &str,
        anchor: &str,
        a: &[f64],
        w: &[f64],
        floor: Option<(&str, &[f64])>,
    ) {
        let mut ratio = format!("{} of {anchor}", spread(&ratios(w, a), times));
        if let Some((name, f)) = floor {
            ratio.push_str(&format!(
                "; {} of {name} ({})",
                spread(&ratios(w, f), times),
                spread(f, human_ns)
            ));
        }
        self.push(
            measure,
            anchor,
            &spread(a, human_ns),
            &spread(w, human_ns),
            &ratio,
        );
    }

    /// Rates (higher is better); the ratio is wangge / anchor.
    pub fn rate_row(&mut self, measure: &str, anchor: &str, a: &[f64], w: &[f64], unit: &str) {
        let f = |x: f64| format!("{x:.0}{unit}");
        let ratio = format!("{} of {anchor}", spread(&ratios(w, a), times));
        self.push(measure, anchor, &spread(a, f), &spread(w, f), &ratio);
    }

    fn push(&mut self, measure: &str, anchor: &str, a: &str, w: &str, ratio: &str) {
        let line = format!("| {measure} | {anchor}: {a} | {w} | {ratio} |");
        println!("{line}");
        self.rows.push(line);
    }

    /// A line printed under the table.
    pub fn note(&mut self, line: String) {
        println!("  {line}");
        self.notes.push(line);
    }

    pub fn print(&self) {
        println!();
        println!("| measure | anchor in the same run | wangge | ratio (per round) |");
        println!("|---|---|---|---|");
        for r in &self.rows {
            println!("{r}");
        }
        println!();
        for n in &self.notes {
            println!("- {n}");
        }
    }
}
