//! Secondary cell suppression by Gaussian elimination: Langsrud (2024), "Secondary Cell
//! Suppression by Gaussian Elimination: An Algorithm Suitable for Handling Issues with
//! Zeros and Singletons" (Privacy in Statistical Databases, LNCS 14915,
//! doi:10.1007/978-3-031-69651-0_6), as Statistics Norway's R package SSBtools implements
//! it in `GaussSuppression()`.
//!
//! A table set is a 0/1 matrix X: its rows are the inner cells (the finest cells, never
//! published themselves), its columns the published cells, each the sum of the inner
//! cells it covers. A primary suppressed cell is protected when its column is not in the
//! span of the published cells' columns: then no linear combination of published cells
//! (margins, siblings, overlapping periods, totals) gives its value. The candidates for
//! secondary suppression are taken one at a time in order of preference; each reduces the
//! primary cells' columns by Gaussian elimination, and a candidate that would eliminate a
//! primary cell completely (make it derivable) is suppressed instead.
//!
//! What this implementation adds or leaves out, against `GaussSuppression()`:
//! - The elimination is exact, in the field of integers modulo the Mersenne prime
//!   2^61 − 1 (SSBtools uses integer arithmetic with a floating-point fallback). A
//!   dependency over the rationals is one modulo the prime; the converse fails only
//!   when the prime divides a minor of a 0/1 matrix, a chance far below one in 2^40 for
//!   the tables casework publishes, and it errs towards suppressing more.
//! - The singleton method is `"none"`: casework rounds every published count after
//!   suppression (the publication's rule), so a contributor who knows their own inner
//!   cell of 1 learns a rounded sum, not a count.
//! - Zero cells are published, never suppressed (`secondaryZeros = FALSE`, SSBtools'
//!   default); inner cells of zero are left out of X, which is as if an attacker knew
//!   them, so the protection errs towards suppressing more.
//! - The candidate order is SSBtools' `CandidatesDefault()`: cells in decreasing order of
//!   frequency, ties broken by the frequencies of the cells they share inner cells with;
//!   [`candidate_order`]. Forced cells (published whatever happens) go first.
//!
//! The vectors in `tests/data/gauss/` were produced by `SSBtools::GaussSuppression()`
//! itself; the tests below give the same secondary cells for the same inputs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The field's modulus, the Mersenne prime 2^61 − 1.
const P: u64 = (1 << 61) - 1;

fn reduce(x: u128) -> u64 {
    // x mod 2^61 − 1 for x < 2^122: fold the high bits onto the low ones twice.
    let lo = (x as u64) & P;
    let hi = (x >> 61) as u64;
    let s = lo + (hi & P) + (hi >> 61);
    let s = (s & P) + (s >> 61);
    if s >= P { s - P } else { s }
}

fn mul(a: u64, b: u64) -> u64 {
    reduce(a as u128 * b as u128)
}

fn sub(a: u64, b: u64) -> u64 {
    if a >= b { a - b } else { a + P - b }
}

fn inverse(a: u64) -> u64 {
    // Fermat: a^(P − 2).
    let (mut base, mut exp, mut out) = (a, P - 2, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            out = mul(out, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    out
}

/// A sparse vector over the field: (row, value) in increasing row order, values nonzero.
type Vector = Vec<(u32, u64)>;

/// `v − a·w`.
fn axpy(v: &Vector, a: u64, w: &Vector) -> Vector {
    let mut out = Vec::with_capacity(v.len() + w.len());
    let (mut i, mut j) = (0, 0);
    while i < v.len() || j < w.len() {
        let take_v = j == w.len() || (i < v.len() && v[i].0 < w[j].0);
        let take_w = i == v.len() || (j < w.len() && w[j].0 < v[i].0);
        if take_v {
            out.push(v[i]);
            i += 1;
        } else if take_w {
            out.push((w[j].0, sub(0, mul(a, w[j].1))));
            j += 1;
        } else {
            let x = sub(v[i].1, mul(a, w[j].1));
            if x != 0 {
                out.push((v[i].0, x));
            }
            i += 1;
            j += 1;
        }
    }
    out
}

fn value_at(v: &Vector, row: u32) -> u64 {
    v.binary_search_by_key(&row, |e| e.0).map_or(0, |i| v[i].1)
}

/// The published cells' order of preference (first: published most willingly), as
/// SSBtools' `CandidatesDefault(freq, x, secondaryZeros = FALSE)`: with f = freq + 1 and
/// t = X'Xf scaled to a maximum of 1, cells in decreasing order of f + 0.99·t, zeros
/// first; ties keep their index order (R's `order(…, decreasing = TRUE)`, a stable
/// radix sort).
pub fn candidate_order(columns: &[Vec<u32>], freq: &[u64], rows: usize) -> Vec<usize> {
    let f: Vec<f64> = freq.iter().map(|&n| n as f64 + 1.0).collect();
    let mut per_row = vec![0.0f64; rows];
    for (c, col) in columns.iter().enumerate() {
        for &r in col {
            per_row[r as usize] += f[c];
        }
    }
    let tie: Vec<f64> = columns
        .iter()
        .map(|col| col.iter().map(|&r| per_row[r as usize]).sum::<f64>().abs())
        .collect();
    let most = tie.iter().copied().fold(0.0f64, f64::max);
    let mut key: Vec<f64> = f
        .iter()
        .zip(&tie)
        .map(|(f, t)| f.abs() + 0.99 * if most > 0.0 { t / most } else { f64::NAN })
        .collect();
    let top = key.iter().copied().fold(f64::MIN, f64::max);
    for (k, &n) in key.iter_mut().zip(freq) {
        if n == 0 {
            *k += 0.01 + top;
        }
    }
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by(|&a, &b| key[b].total_cmp(&key[a]));
    order
}

/// What the elimination decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Cells suppressed to protect the primary ones, in increasing index order.
    pub secondary: Vec<usize>,
    /// Primary cells that forced cells alone give away (they cannot be protected by
    /// suppressing more), in increasing index order.
    pub unprotected: Vec<usize>,
}

/// Secondary suppression: `columns[c]` lists the inner rows of cell `c` (increasing,
/// distinct); `primary` and `forced` flag cells; `order` is the candidates' order of
/// preference (typically [`candidate_order`]; primary cells in it are skipped, forced
/// ones are taken first).
pub fn suppress(
    columns: &[Vec<u32>],
    primary: &[bool],
    forced: &[bool],
    order: &[usize],
) -> Outcome {
    let rows = row_count(columns);
    // The primary cells' columns, reduced by the published ones so far, and per row the
    // primary cells with a nonzero entry there.
    let slots: Vec<usize> = (0..columns.len())
        .filter(|&c| primary[c] && !forced[c] && !columns[c].is_empty())
        .collect();
    let mut residual: Vec<Vector> = slots
        .iter()
        .map(|&c| columns[c].iter().map(|&r| (r, 1)).collect())
        .collect();
    let mut at_row: Vec<Vec<u32>> = vec![Vec::new(); rows];
    for (s, v) in residual.iter().enumerate() {
        for &(r, _) in v {
            at_row[r as usize].push(s as u32);
        }
    }
    // The published cells' reduced columns, each normalised to 1 at its pivot row and 0
    // at every earlier pivot row; per row, the basis vector pivoting there.
    let mut basis: Vec<(u32, Vector)> = Vec::new();
    let mut pivot_of: Vec<u32> = vec![u32::MAX; rows];
    let mut outcome = Outcome::default();
    let forced_first: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&c| forced[c])
        .chain(order.iter().copied().filter(|&c| !forced[c]))
        .filter(|&c| (!primary[c] || forced[c]) && !columns[c].is_empty())
        .collect();
    // Per row, the candidates still to come that hold it: with the primary cells holding
    // it, what choosing it as a pivot would spread a vector into (Markowitz's rule: the
    // pivot of least fill).
    let mut ahead: Vec<u32> = vec![0; rows];
    for &c in &forced_first {
        for &r in &columns[c] {
            ahead[r as usize] += 1;
        }
    }
    // A column seen before is decided as it was (duplicated cells are common: a
    // grouping of one organisation, a financial year at the edge of the data).
    let mut decided: std::collections::HashMap<&[u32], bool> = std::collections::HashMap::new();
    for c in forced_first {
        for &r in &columns[c] {
            ahead[r as usize] -= 1;
        }
        if let Some(&published) = decided.get(columns[c].as_slice()) {
            if !published && !forced[c] {
                outcome.secondary.push(c);
            }
            continue;
        }
        // Reduce by the basis in the order its vectors were added: a vector has zeros at
        // the pivots of those before it, so each subtraction only brings in later pivots.
        let mut v: Vector = columns[c].iter().map(|&r| (r, 1)).collect();
        let mut due: BinaryHeap<Reverse<u32>> = v
            .iter()
            .filter(|&&(r, _)| pivot_of[r as usize] != u32::MAX)
            .map(|&(r, _)| Reverse(pivot_of[r as usize]))
            .collect();
        let mut last = None;
        while let Some(Reverse(k)) = due.pop() {
            if last == Some(k) {
                continue;
            }
            last = Some(k);
            let (pivot, b) = &basis[k as usize];
            let a = value_at(&v, *pivot);
            if a == 0 {
                continue;
            }
            for &(r, _) in b {
                let p = pivot_of[r as usize];
                if p != u32::MAX && p > k && value_at(&v, r) == 0 {
                    due.push(Reverse(p));
                }
            }
            v = axpy(&v, a, b);
        }
        if v.is_empty() {
            // Already given by the published cells: publishing it reveals nothing more.
            decided.insert(columns[c].as_slice(), true);
            continue;
        }
        let pivot = v
            .iter()
            .map(|&(r, _)| r)
            .min_by_key(|&r| (ahead[r as usize] as usize + at_row[r as usize].len(), r))
            .unwrap_or(v[0].0);
        let scale = inverse(value_at(&v, pivot));
        for e in &mut v {
            e.1 = mul(e.1, scale);
        }
        // The primary cells that publishing this one would leave derivable.
        let mut updated: Vec<(usize, Vector)> = Vec::new();
        let mut reveals = false;
        for &s in &at_row[pivot as usize] {
            let s = s as usize;
            let a = value_at(&residual[s], pivot);
            let next = axpy(&residual[s], a, &v);
            if next.is_empty() {
                reveals = true;
                if forced[c] {
                    outcome.unprotected.push(slots[s]);
                } else {
                    break;
                }
            }
            updated.push((s, next));
        }
        if reveals && !forced[c] {
            outcome.secondary.push(c);
            decided.insert(columns[c].as_slice(), false);
            continue;
        }
        decided.insert(columns[c].as_slice(), true);
        for (s, next) in updated {
            for &(r, _) in &residual[s] {
                let list = &mut at_row[r as usize];
                if let Some(i) = list.iter().position(|&x| x as usize == s) {
                    list.swap_remove(i);
                }
            }
            for &(r, _) in &next {
                at_row[r as usize].push(s as u32);
            }
            residual[s] = next;
        }
        pivot_of[pivot as usize] = basis.len() as u32;
        basis.push((pivot, v));
    }
    outcome.secondary.sort_unstable();
    outcome.unprotected.sort_unstable();
    outcome.unprotected.dedup();
    outcome
}

/// The rows of a system given by its columns' nonzero rows: one past the largest.
fn row_count(columns: &[Vec<u32>]) -> usize {
    columns
        .iter()
        .flat_map(|c| c.iter())
        .map(|&r| r as usize + 1)
        .max()
        .unwrap_or(0)
}

/// Whether cell `target` is given by the published cells (`published[c]`): its column
/// is in their span. For tests: an independent check of [`suppress`].
#[cfg(test)]
pub fn derivable(columns: &[Vec<u32>], published: &[bool], target: usize) -> bool {
    let rows = row_count(columns);
    // Row-reduce the published columns (pivot = first entry, fully reduced against each
    // other), then reduce the target.
    let mut basis: Vec<Vector> = Vec::new();
    let mut pivot_of: Vec<Option<usize>> = vec![None; rows];
    let reduce_by = |v: &mut Vector, basis: &[Vector], pivot_of: &[Option<usize>]| {
        while let Some(&(r, a)) = v.iter().find(|(r, _)| pivot_of[*r as usize].is_some()) {
            let b = &basis[pivot_of[r as usize].unwrap_or(0)];
            *v = axpy(v, mul(a, inverse(value_at(b, r))), b);
        }
    };
    for (c, col) in columns.iter().enumerate() {
        if !published[c] || c == target {
            continue;
        }
        let mut v: Vector = col.iter().map(|&r| (r, 1)).collect();
        reduce_by(&mut v, &basis, &pivot_of);
        if let Some(&(r, _)) = v.first() {
            pivot_of[r as usize] = Some(basis.len());
            basis.push(v);
        }
    }
    let mut t: Vector = columns[target].iter().map(|&r| (r, 1)).collect();
    reduce_by(&mut t, &basis, &pivot_of);
    t.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of `tests/data/gauss/`: each file's `source` says how it was made
    /// (SSBtools 1.8.6's `GaussSuppression()` under R 4.2.2, singleton method "none",
    /// candidates by GaussSuppression 1.2.3's `CandidatesDefault()`).
    const VECTORS: &[(&str, &str)] = &[
        (
            "doc-example",
            include_str!("../../tests/data/gauss/doc-example.json"),
        ),
        (
            "periods-small",
            include_str!("../../tests/data/gauss/periods-small.json"),
        ),
        (
            "periods-orgs",
            include_str!("../../tests/data/gauss/periods-orgs.json"),
        ),
        (
            "random-large",
            include_str!("../../tests/data/gauss/random-large.json"),
        ),
    ];

    struct Case {
        columns: Vec<Vec<u32>>,
        rows: usize,
        freq: Vec<u64>,
        primary: Vec<bool>,
        candidates: Vec<usize>,
        secondary: Vec<usize>,
    }

    fn read(text: &str) -> Case {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let ncol = v["ncol"].as_u64().unwrap() as usize;
        let rows = v["nrow"].as_u64().unwrap() as usize;
        let mut columns = vec![Vec::new(); ncol];
        for e in v["x"].as_array().unwrap() {
            let (r, c) = (
                e[0].as_u64().unwrap() as u32 - 1,
                e[1].as_u64().unwrap() as usize - 1,
            );
            columns[c].push(r);
        }
        for c in &mut columns {
            c.sort_unstable();
        }
        let ones = |k: &str| -> Vec<usize> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize - 1)
                .collect()
        };
        let mut primary = vec![false; ncol];
        for p in ones("primary") {
            primary[p] = true;
        }
        Case {
            columns,
            rows,
            freq: v["freq"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect(),
            primary,
            candidates: ones("candidates"),
            secondary: ones("secondary"),
        }
    }

    #[test]
    fn the_candidate_order_is_ssbtools() {
        for (name, text) in VECTORS {
            let v = read(text);
            assert_eq!(
                candidate_order(&v.columns, &v.freq, v.rows),
                v.candidates,
                "{name}"
            );
        }
    }

    #[test]
    fn the_secondary_cells_are_ssbtools() {
        for (name, text) in VECTORS {
            let v = read(text);
            let out = suppress(
                &v.columns,
                &v.primary,
                &vec![false; v.columns.len()],
                &v.candidates,
            );
            assert_eq!(out.secondary, v.secondary, "{name}");
            assert!(out.unprotected.is_empty(), "{name}");
            // And independently: no primary cell is in the span of the published ones.
            if v.columns.len() < 2000 {
                let published: Vec<bool> = (0..v.columns.len())
                    .map(|c| !v.primary[c] && out.secondary.binary_search(&c).is_err())
                    .collect();
                for c in (0..v.columns.len()).filter(|&c| v.primary[c]) {
                    assert!(!derivable(&v.columns, &published, c), "{name}: cell {c}");
                }
            }
        }
    }

    #[test]
    fn field_arithmetic() {
        for a in [1u64, 2, 3, 12345, P - 1, 1 << 40] {
            assert_eq!(mul(a, inverse(a)), 1, "{a}");
        }
        assert_eq!(reduce((P as u128) * (P as u128)), 0);
        assert_eq!(sub(3, 5), P - 2);
    }

    /// A 2 × 2 table with margins: inner cells a, b, c, d; published a, b, c, d, a+b,
    /// c+d, a+c, b+d, total. With a primary, one of its row and column siblings and the
    /// opposite corner must go too.
    #[test]
    fn a_two_by_two_table_loses_four_cells() {
        let columns: Vec<Vec<u32>> = vec![
            vec![0],
            vec![1],
            vec![2],
            vec![3],
            vec![0, 1],
            vec![2, 3],
            vec![0, 2],
            vec![1, 3],
            vec![0, 1, 2, 3],
        ];
        let freq = [3, 20, 30, 40, 23, 70, 33, 60, 93];
        let primary: Vec<bool> = freq.iter().map(|&n| (1..=7).contains(&n)).collect();
        let order = candidate_order(&columns, &freq, 4);
        let out = suppress(&columns, &primary, &[false; 9], &order);
        assert_eq!(out.secondary, vec![1, 2, 3]);
        let published: Vec<bool> = (0..9)
            .map(|c| !primary[c] && !out.secondary.contains(&c))
            .collect();
        assert!(!derivable(&columns, &published, 0));
        // Without the secondary cells it is: a = (a + b) − b.
        let naive: Vec<bool> = primary.iter().map(|p| !p).collect();
        assert!(derivable(&columns, &naive, 0));
    }
}
