//! The row index of a decision table: for each path column, which rows
//! can match a given input value, so evaluation tests only those rows
//! instead of every row. Text cells (`"燃气安全"`, `in [...]`) are found by
//! hashing the value; numeric cells (`>= 3`, `[3..10)`, `5`) by a binary
//! search over the cut points of all their bounds, each region holding the
//! rows it satisfies. Other cells (`-`, `!=`, `not`, booleans) match any
//! value as far as the index is concerned. The candidate rows of all
//! columns are intersected and then tested exactly, in row order, so the
//! hit policies see the same matches as a full scan.
//!
//! Not built for small tables (a scan is faster), for tables with script
//! cells (their errors must surface exactly as a scan would meet them), or
//! where the numeric regions would take too much memory.

use std::borrow::Borrow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::value::{json_num, Num};

/// Rows as a bitset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rows(Vec<u64>);

impl Rows {
    fn empty(n: usize) -> Rows {
        Rows(vec![0; n.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn clear(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    /// The rows, in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(w * 64 + b)
            })
        })
    }
}

/// What one cell test is, for the index.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    /// Equal to this text.
    Text(String),
    /// A numeric test, decided by [`Key::num_matches`].
    Eq(Num),
    Cmp(Ordering, bool, Num),
    Range(Num, bool, Num, bool),
    /// Anything else: the index cannot narrow it.
    Other,
}

impl Key {
    /// The bounds a numeric key mentions.
    fn bounds(&self) -> Vec<Num> {
        match self {
            Key::Eq(n) | Key::Cmp(_, _, n) => vec![*n],
            Key::Range(a, _, b, _) => vec![*a, *b],
            _ => vec![],
        }
    }

    /// The regions (see [`Column`]) a numeric key matches, first and last;
    /// `None` when it matches none.
    fn span(&self, cuts: &[Num]) -> Option<(usize, usize)> {
        let last = 2 * cuts.len();
        match self.bounded_span(cuts, last) {
            Some((a, b)) => (a <= b && b <= last).then_some((a, b)),
            // A bound missing from the cuts cannot happen (they are all the
            // bounds); every region keeps the row, to be safe.
            None => Some((0, last)),
        }
    }

    /// [`Key::span`] before the empty check; `None` if a bound is not a cut.
    fn bounded_span(&self, cuts: &[Num], last: usize) -> Option<(usize, usize)> {
        let at = |b: &Num| cuts.binary_search_by(|c| c.compare(*b)).ok();
        Some(match self {
            Key::Eq(v) => {
                let i = at(v)?;
                (2 * i + 1, 2 * i + 1)
            }
            Key::Cmp(Ordering::Greater, incl, v) => {
                let i = at(v)?;
                (if *incl { 2 * i + 1 } else { 2 * i + 2 }, last)
            }
            Key::Cmp(Ordering::Less | Ordering::Equal, incl, v) => {
                let i = at(v)?;
                (0, if *incl { 2 * i + 1 } else { 2 * i })
            }
            Key::Range(lo, lo_incl, hi, hi_incl) => {
                let (i, j) = (at(lo)?, at(hi)?);
                (
                    if *lo_incl { 2 * i + 1 } else { 2 * i + 2 },
                    if *hi_incl { 2 * j + 1 } else { 2 * j },
                )
            }
            // Not numeric: never classified so; every region, to be safe.
            Key::Text(_) | Key::Other => (0, last),
        })
    }
}

/// How a cell (its tests, OR-ed) is indexed.
enum CellKind {
    Text(Vec<String>),
    Numeric(Vec<Key>),
    Any,
}

fn classify(keys: &[Key]) -> CellKind {
    if keys.is_empty() || keys.iter().any(|k| matches!(k, Key::Other)) {
        return CellKind::Any;
    }
    if keys.iter().all(|k| matches!(k, Key::Text(_))) {
        return CellKind::Text(
            keys.iter()
                .filter_map(|k| match k {
                    Key::Text(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
        );
    }
    if keys.iter().all(|k| !matches!(k, Key::Text(_))) {
        return CellKind::Numeric(keys.to_vec());
    }
    CellKind::Any
}

/// Most bits the numeric regions of one column may take (2 MiB).
const MAX_REGION_BITS: usize = 16 << 20;
/// Tables with fewer rows are scanned.
pub(crate) const MIN_ROWS: usize = 8;

/// The index of one column.
#[derive(Debug, Clone)]
struct Column {
    /// Rows any value may match here.
    any: Rows,
    text: foldhash::HashMap<String, Rows>,
    /// Sorted cut points; region `2i+1` is the point `cuts[i]`, region
    /// `2i` the open interval below it, the last region above the last.
    cuts: Vec<Num>,
    regions: Vec<Rows>,
}

impl Column {
    fn build(cells: &[Vec<Key>]) -> Column {
        let n = cells.len();
        let mut col = Column {
            any: Rows::empty(n),
            text: foldhash::HashMap::default(),
            cuts: Vec::new(),
            regions: Vec::new(),
        };
        let mut numeric: Vec<(usize, Vec<Key>)> = Vec::new();
        for (row, keys) in cells.iter().enumerate() {
            match classify(keys) {
                CellKind::Any => col.any.set(row),
                CellKind::Text(values) => {
                    for v in values {
                        col.text.entry(v).or_insert_with(|| Rows::empty(n)).set(row);
                    }
                }
                CellKind::Numeric(keys) => numeric.push((row, keys)),
            }
        }
        let mut cuts: Vec<Num> = numeric
            .iter()
            .flat_map(|(_, ks)| ks.iter().flat_map(Key::bounds))
            .collect();
        cuts.sort_by(|a, b| a.compare(*b));
        cuts.dedup_by(|a, b| a.compare(*b) == Ordering::Equal);
        if (2 * cuts.len() + 1).saturating_mul(n) > MAX_REGION_BITS {
            for (row, _) in &numeric {
                col.any.set(*row);
            }
            return col;
        }
        col.regions = regions(n, &cuts, &numeric);
        col.cuts = cuts;
        col
    }

    /// The row sets whose union is the rows that may match `v` here: the
    /// rows any value matches, the rows of its text, the rows of its region.
    fn parts(&self, v: &Value) -> [Option<&Rows>; 3] {
        let text = match v {
            Value::String(s) => self.text.get(s),
            _ => None,
        };
        let region = if self.regions.is_empty() {
            None
        } else {
            json_num(v).and_then(|n| {
                let region = match self.cuts.binary_search_by(|c| c.compare(n)) {
                    Ok(i) => 2 * i + 1,
                    Err(i) => 2 * i,
                };
                self.regions.get(region)
            })
        };
        [Some(&self.any), text, region]
    }
}

/// The rows each region matches, by a sweep over the regions: every key
/// matches one contiguous run of regions (its bounds are cuts), so a row
/// enters the running set where its first run starts and leaves where its
/// last ends. Linear in rows, keys and regions (it used to test every key at
/// a point of every region: quadratic in a large table's bounds).
fn regions(n: usize, cuts: &[Num], numeric: &[(usize, Vec<Key>)]) -> Vec<Rows> {
    let m = 2 * cuts.len() + 1;
    let mut enter: Vec<Vec<usize>> = vec![Vec::new(); m];
    let mut leave: Vec<Vec<usize>> = vec![Vec::new(); m + 1];
    for (row, keys) in numeric {
        for k in keys {
            if let Some((a, b)) = k.span(cuts) {
                enter[a].push(*row);
                leave[b + 1].push(*row);
            }
        }
    }
    let mut open = vec![0u32; n];
    let mut running = Rows::empty(n);
    let mut out = Vec::with_capacity(m);
    for r in 0..m {
        for &row in &leave[r] {
            open[row] -= 1;
            if open[row] == 0 {
                running.clear(row);
            }
        }
        for &row in &enter[r] {
            open[row] += 1;
            running.set(row);
        }
        out.push(running.clone());
    }
    out
}

/// The index of a table: one column per input (`None`: not indexed).
#[derive(Debug, Clone)]
pub(crate) struct TableIndex {
    columns: Vec<Option<Column>>,
    rows: usize,
}

impl TableIndex {
    /// Builds the index from each row's cells as keys (`cells[row][col]`);
    /// `indexed[col]` says which columns are paths (scripts are not).
    pub(crate) fn build(cells: &[Vec<Vec<Key>>], indexed: &[bool]) -> TableIndex {
        let columns = indexed
            .iter()
            .enumerate()
            .map(|(c, &on)| {
                on.then(|| {
                    let col: Vec<Vec<Key>> = cells
                        .iter()
                        .map(|row| row.get(c).cloned().unwrap_or_default())
                        .collect();
                    Column::build(&col)
                })
            })
            .collect();
        TableIndex {
            columns,
            rows: cells.len(),
        }
    }

    /// The rows that may match the input `values` (one per column): word by
    /// word, the AND over indexed columns of the OR of each column's parts
    /// (one allocation, for the answer).
    pub(crate) fn candidates<V: Borrow<Value>>(&self, values: &[V]) -> Rows {
        let words = self.rows.div_ceil(64);
        let mut out = Rows(vec![u64::MAX; words]);
        for (col, v) in self.columns.iter().zip(values) {
            let Some(col) = col else { continue };
            let parts = col.parts(v.borrow());
            for (w, word) in out.0.iter_mut().enumerate() {
                let mut any = 0;
                for p in parts.iter().flatten() {
                    any |= p.0.get(w).copied().unwrap_or(0);
                }
                *word &= any;
            }
        }
        // Bits past the last row stay clear.
        if !self.rows.is_multiple_of(64) {
            if let Some(last) = out.0.last_mut() {
                *last &= (1u64 << (self.rows % 64)) - 1;
            }
        }
        out
    }
}
