//! Agreement between coders (inter-rater reliability), from counts. Each coefficient is
//! the published method named at its function; each returns `None` where the method
//! leaves it undefined (a zero denominator), never NaN.
//!
//! The data are *units* (cases) rated by *coders* into *categories* (for casework: a
//! code or theme given, or not). Two shapes of input:
//! - a k×k table of two coders (`table[i][j]`: units coder 1 put in category i and coder
//!   2 in j), for Cohen's kappa and the prevalence and bias indices;
//! - unit × category counts (`counts[u][c]`: coders who put unit u in category c), for
//!   Fleiss' kappa, Krippendorff's alpha and Gwet's AC1.

use super::Interval;
use super::random::SplitMix64;

/// Cohen's kappa for two coders with its large-sample standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cohen {
    pub units: f64,
    /// Observed agreement: the share of units both coders put in one category.
    pub observed: f64,
    /// Agreement expected by chance from the two coders' margins.
    pub expected: f64,
    /// `None` when chance agreement is 1 (both coders used one category throughout).
    pub kappa: Option<f64>,
    /// The standard error of Fleiss, Cohen and Everitt (1969) (not the one under
    /// kappa = 0), as statsmodels' `cohens_kappa` gives it (`std_kappa`).
    pub se: Option<f64>,
    /// kappa ± z·se at the level asked for.
    pub interval: Option<Interval>,
}

/// Cohen (1960) kappa = (po − pe)/(1 − pe) for a k×k table of two coders, with the
/// standard error of Fleiss, Cohen and Everitt (1969):
/// var = [Σᵢ pᵢᵢ(1 − (pᵢ. + p.ᵢ)(1 − κ))² + (1 − κ)² Σᵢ≠ⱼ pᵢⱼ(p.ᵢ + pⱼ.)² − (κ − pe(1 − κ))²]
/// / ((1 − pe)² n), and the interval κ ± z·se (z the normal quantile of the level).
/// `None` for an empty table.
pub fn cohen(table: &[Vec<f64>], level: f64) -> Option<Cohen> {
    let k = table.len();
    let n: f64 = table.iter().flatten().sum();
    if n <= 0.0 || table.iter().any(|r| r.len() != k) {
        return None;
    }
    let p = |i: usize, j: usize| table[i][j] / n;
    let row: Vec<f64> = (0..k).map(|i| (0..k).map(|j| p(i, j)).sum()).collect();
    let col: Vec<f64> = (0..k).map(|j| (0..k).map(|i| p(i, j)).sum()).collect();
    let observed: f64 = (0..k).map(|i| p(i, i)).sum();
    let expected: f64 = (0..k).map(|i| row[i] * col[i]).sum();
    let defined = 1.0 - expected > 1e-12;
    let kappa = defined.then(|| (observed - expected) / (1.0 - expected));
    let se = kappa.map(|kappa| {
        let term_a: f64 = (0..k)
            .map(|i| p(i, i) * (1.0 - (row[i] + col[i]) * (1.0 - kappa)).powi(2))
            .sum();
        let term_b: f64 = (0..k)
            .flat_map(|i| (0..k).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| p(i, j) * (col[i] + row[j]).powi(2))
            .sum();
        let term_b = (1.0 - kappa).powi(2) * term_b;
        let term_c = (kappa - expected * (1.0 - kappa)).powi(2);
        let var = (term_a + term_b - term_c) / (1.0 - expected).powi(2) / n;
        var.max(0.0).sqrt()
    });
    let z = super::normal_quantile(1.0 - (1.0 - level) / 2.0);
    let interval = kappa.zip(se).map(|(k, s)| Interval {
        low: k - z * s,
        high: k + z * s,
    });
    Some(Cohen {
        units: n,
        observed,
        expected,
        kappa,
        se,
        interval,
    })
}

/// The prevalence index (a − d)/n and the bias index (b − c)/n of Byrt, Bishop and Carlin
/// (1993) for a 2×2 table [[a, b], [c, d]] (a: both coders say yes; d: both no), and
/// their prevalence-adjusted bias-adjusted kappa, PABAK = 2·po − 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Indices {
    pub prevalence: f64,
    pub bias: f64,
    pub pabak: f64,
}

pub fn indices(a: f64, b: f64, c: f64, d: f64) -> Option<Indices> {
    let n = a + b + c + d;
    (n > 0.0).then(|| Indices {
        prevalence: (a - d) / n,
        bias: (b - c) / n,
        pabak: 2.0 * (a + d) / n - 1.0,
    })
}

/// Fleiss (1971) kappa for units rated by the same number of coders each:
/// Pᵢ = (Σⱼ nᵢⱼ² − m)/(m(m − 1)), P̄ the mean of Pᵢ, pⱼ = Σᵢ nᵢⱼ/(N m), P̄e = Σⱼ pⱼ²,
/// κ = (P̄ − P̄e)/(1 − P̄e). Returns (P̄, κ); κ is `None` when P̄e = 1 (one category
/// throughout), and the whole is `None` with no units, fewer than two coders or units
/// with different numbers of coders.
pub fn fleiss(counts: &[Vec<f64>]) -> Option<(f64, Option<f64>)> {
    let m: f64 = counts.first()?.iter().sum();
    if m < 2.0
        || counts
            .iter()
            .any(|u| (u.iter().sum::<f64>() - m).abs() > 1e-9)
    {
        return None;
    }
    let units = counts.len() as f64;
    let categories = counts[0].len();
    let p_bar = counts
        .iter()
        .map(|u| (u.iter().map(|x| x * x).sum::<f64>() - m) / (m * (m - 1.0)))
        .sum::<f64>()
        / units;
    let pe: f64 = (0..categories)
        .map(|j| {
            let pj = counts.iter().map(|u| u[j]).sum::<f64>() / (units * m);
            pj * pj
        })
        .sum();
    let kappa = (1.0 - pe > 1e-12).then(|| (p_bar - pe) / (1.0 - pe));
    Some((p_bar, kappa))
}

/// Krippendorff's alpha for nominal data, missing codings allowed (Krippendorff 2011,
/// "Computing Krippendorff's alpha-reliability"): units with fewer than two codings are
/// left out; the coincidences o_ck = Σᵤ nᵤc(nᵤk − [c = k])/(mᵤ − 1), n_c = Σₖ o_ck, n = Σ n_c,
/// α = 1 − (n − 1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k. `None` when no unit has two codings or
/// every coding is one category (no expected disagreement).
pub fn krippendorff_nominal(counts: &[Vec<f64>]) -> Option<f64> {
    let units: Vec<(&[f64], f64)> = counts.iter().map(|u| (u.as_slice(), 1.0)).collect();
    alpha_of_patterns(&units)
}

/// Alpha from units given as (counts, how many units have them).
fn alpha_of_patterns(units: &[(&[f64], f64)]) -> Option<f64> {
    let categories = units.first()?.0.len();
    let mut o = vec![vec![0.0; categories]; categories];
    for (u, weight) in units {
        let m: f64 = u.iter().sum();
        if m < 2.0 || *weight == 0.0 {
            continue;
        }
        for c in 0..categories {
            for k in 0..categories {
                let same = if c == k { 1.0 } else { 0.0 };
                o[c][k] += weight * u[c] * (u[k] - same) / (m - 1.0);
            }
        }
    }
    let n_c: Vec<f64> = o.iter().map(|r| r.iter().sum()).collect();
    let n: f64 = n_c.iter().sum();
    let mut observed = 0.0;
    let mut expected = 0.0;
    for c in 0..categories {
        for k in 0..categories {
            if c != k {
                observed += o[c][k];
                expected += n_c[c] * n_c[k];
            }
        }
    }
    (n > 0.0 && expected > 0.0).then(|| 1.0 - (n - 1.0) * observed / expected)
}

/// Gwet's (2008) AC1 for nominal ratings by any number of coders, missing codings
/// allowed (Gwet, *Handbook of Inter-Rater Reliability*, 4th ed., ch. 2):
/// pa = mean over units with rᵤ ≥ 2 of Σ_q rᵤq(rᵤq − 1)/(rᵤ(rᵤ − 1));
/// π_q = mean over units with rᵤ ≥ 1 of rᵤq/rᵤ; pe = Σ_q π_q(1 − π_q)/(Q − 1);
/// AC1 = (pa − pe)/(1 − pe). For two coders and two categories this is
/// pe = 2π(1 − π) with π the mean of the two coders' "yes" shares. `None` with fewer than
/// two categories or no unit with two codings.
pub fn gwet_ac1(counts: &[Vec<f64>]) -> Option<f64> {
    let categories = counts.first()?.len();
    if categories < 2 {
        return None;
    }
    let rated: Vec<&Vec<f64>> = counts
        .iter()
        .filter(|u| u.iter().sum::<f64>() >= 1.0)
        .collect();
    let paired: Vec<&Vec<f64>> = rated
        .iter()
        .copied()
        .filter(|u| u.iter().sum::<f64>() >= 2.0)
        .collect();
    if paired.is_empty() {
        return None;
    }
    let pa = paired
        .iter()
        .map(|u| {
            let r: f64 = u.iter().sum();
            u.iter().map(|x| x * (x - 1.0)).sum::<f64>() / (r * (r - 1.0))
        })
        .sum::<f64>()
        / paired.len() as f64;
    let pe = (0..categories)
        .map(|q| {
            let pi = rated
                .iter()
                .map(|u| u[q] / u.iter().sum::<f64>())
                .sum::<f64>()
                / rated.len() as f64;
            pi * (1.0 - pi)
        })
        .sum::<f64>()
        / (categories as f64 - 1.0);
    (1.0 - pe > 1e-12).then(|| (pa - pe) / (1.0 - pe))
}

/// How a bootstrap interval was drawn, for the record.
pub const BOOTSTRAP_DRAWS: usize = 1000;
pub const BOOTSTRAP_SEED: u64 = 20_260_601;

/// A percentile bootstrap interval for Krippendorff's alpha: the units are drawn with
/// replacement `draws` times (from SplitMix64 seeded with `seed`, so the interval is the
/// same on every run), alpha computed on each draw, and the interval is the (1 − level)/2
/// and 1 − (1 − level)/2 empirical quantiles (linear between order statistics, as R's
/// default `quantile` type 7) of the draws where alpha is defined. Returns the interval
/// and the number of draws where alpha was undefined (left out). `None` when alpha is
/// undefined on every draw. casework's convention; Hayes and Krippendorff's (2007)
/// bootstrap resamples coincidences instead.
///
/// Alpha depends on the units only through their counts, so units with the same counts
/// are one pattern, and a draw is how many times each pattern is drawn: with n units and
/// pattern k held by n_k of them, those counts are multinomial (n; n_k / n), which is
/// drawn exactly as a chain of binomials: pattern 1's count is Binomial(n, n_1 / n), and
/// each next pattern's Binomial(what is left to draw, its share of the patterns left).
/// rand_distr's binomial sampler (BTPE, Kachitvichyanukul and Schmeiser 1988; inversion
/// for small means) takes the random numbers, so a draw costs a few per pattern whatever
/// the number of units, where drawing one unit at a time was slow on a large sample
/// (docs/benchmarks.md).
pub fn krippendorff_bootstrap(
    counts: &[Vec<f64>],
    level: f64,
    draws: usize,
    seed: u64,
) -> Option<(Interval, usize)> {
    use rand_distr::{Binomial, Distribution};
    let mut patterns: Vec<(Vec<f64>, u64)> = Vec::new();
    for u in counts.iter().filter(|u| u.iter().sum::<f64>() >= 2.0) {
        match patterns.iter_mut().find(|(p, _)| p == u) {
            Some((_, n)) => *n += 1,
            None => patterns.push((u.clone(), 1)),
        }
    }
    let units: u64 = patterns.iter().map(|(_, n)| n).sum();
    if units == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let mut alphas = Vec::with_capacity(draws);
    let mut drawn = vec![0u64; patterns.len()];
    for _ in 0..draws {
        let (mut to_draw, mut units_left) = (units, units);
        for ((_, n), d) in patterns.iter().zip(drawn.iter_mut()) {
            *d = if *n == units_left {
                to_draw
            } else {
                Binomial::new(to_draw, *n as f64 / units_left as f64)
                    .expect("n < units_left: a share of the units left is a probability")
                    .sample(&mut rng)
            };
            to_draw -= *d;
            units_left -= n;
        }
        let weighted: Vec<(&[f64], f64)> = patterns
            .iter()
            .zip(&drawn)
            .map(|((p, _), n)| (p.as_slice(), *n as f64))
            .collect();
        if let Some(a) = alpha_of_patterns(&weighted) {
            alphas.push(a);
        }
    }
    if alphas.is_empty() {
        return None;
    }
    alphas.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some((
        Interval {
            low: quantile7(&alphas, tail),
            high: quantile7(&alphas, 1.0 - tail),
        },
        draws - alphas.len(),
    ))
}

/// The p-quantile of sorted values, linear between order statistics (Hyndman and Fan
/// 1996, type 7).
fn quantile7(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Landis and Koch's (1977) words for a kappa.
pub fn landis_koch(kappa: f64) -> &'static str {
    match kappa {
        k if k < 0.0 => "poor",
        k if k <= 0.20 => "slight",
        k if k <= 0.40 => "fair",
        k if k <= 0.60 => "moderate",
        k if k <= 0.80 => "substantial",
        _ => "almost perfect",
    }
}

/// Krippendorff's (2004) thresholds for alpha, in words: at least 0.8 reliable, from
/// 0.667 tentative conclusions only, below that unreliable.
pub fn krippendorff_band(alpha: f64) -> &'static str {
    match alpha {
        a if a >= 0.8 => "reliable",
        a if a >= 0.667 => "tentative",
        _ => "unreliable",
    }
}

#[cfg(test)]
mod tests {
    //! Reference values computed outside casework (2026-11-28) with statsmodels 0.15.0
    //! (`cohens_kappa`, `fleiss_kappa`), krippendorff 0.9.0 (`alpha`, nominal) and
    //! irrCAC 0.4.4 (`CAC(...).gwet()`, rounding off), and checked as exact fractions by
    //! hand (Python `fractions`). Each agrees with the package to 1e-12; the published
    //! values they reproduce are named at each data set.
    use super::*;

    fn close(got: f64, want: f64, what: &str) {
        assert!((got - want).abs() < 1e-9, "{what}: {got} vs {want}");
    }

    fn table(rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| r.to_vec()).collect()
    }

    /// A 2×2 table [[a, b], [c, d]] of two coders as unit × [yes, no] counts.
    fn units_of(a: usize, b: usize, c: usize, d: usize) -> Vec<Vec<f64>> {
        let mut u = Vec::new();
        u.extend(std::iter::repeat_n(vec![2.0, 0.0], a));
        u.extend(std::iter::repeat_n(vec![1.0, 1.0], b + c));
        u.extend(std::iter::repeat_n(vec![0.0, 2.0], d));
        u
    }

    #[test]
    fn cohen_matches_statsmodels_with_the_fleiss_cohen_everitt_error() {
        // (table, kappa, std_kappa, kappa_low, kappa_upp, po, pe): statsmodels
        // `cohens_kappa(table)`; exact kappa 2/5, 8/43, 226/331, 3/23.
        #[rustfmt::skip]
        type Vector = (Vec<Vec<f64>>, f64, f64, f64, f64, f64, f64);
        let vectors: [Vector; 4] = [
            (
                table(&[&[20.0, 5.0], &[10.0, 15.0]]),
                0.4,
                0.12699606293110033,
                0.151092290476661,
                0.6489077095233389,
                0.7,
                0.5,
            ),
            (
                table(&[&[1.0, 4.0], &[3.0, 92.0]]),
                8.0 / 43.0,
                0.1896589187176096,
                -0.18567813840541617,
                0.5577711616612328,
                0.93,
                0.914,
            ),
            (
                table(&[&[25.0, 3.0, 2.0], &[4.0, 30.0, 6.0], &[1.0, 5.0, 24.0]]),
                226.0 / 331.0,
                0.061778727392417625,
                0.5616953754934969,
                0.8038635368932102,
                0.79,
                0.338,
            ),
            (
                table(&[&[45.0, 15.0], &[25.0, 15.0]]),
                3.0 / 23.0,
                0.0986615376234396,
                -0.06293827779258965,
                0.3238078430099807,
                0.6,
                0.54,
            ),
        ];
        for (t, kappa, se, low, high, po, pe) in vectors {
            let c = cohen(&t, 0.95).unwrap();
            close(c.kappa.unwrap(), kappa, "kappa");
            close(c.se.unwrap(), se, "se");
            close(c.interval.unwrap().low, low, "low");
            close(c.interval.unwrap().high, high, "high");
            close(c.observed, po, "po");
            close(c.expected, pe, "pe");
        }
    }

    #[test]
    fn fleiss_matches_the_published_examples() {
        // Fleiss (1971), 30 patients, 6 psychiatrists, 5 diagnoses: published 0.430;
        // statsmodels' test `diagnoses` aggregated, 0.43024452006014074 (5437/12637).
        #[rustfmt::skip]
        let fleiss_1971 = table(&[
            &[0.,0.,0.,6.,0.], &[0.,3.,0.,0.,3.], &[0.,1.,4.,0.,1.], &[0.,0.,0.,0.,6.], &[0.,3.,0.,3.,0.],
            &[2.,0.,4.,0.,0.], &[0.,0.,4.,0.,2.], &[2.,0.,3.,1.,0.], &[2.,0.,0.,4.,0.], &[0.,0.,0.,0.,6.],
            &[1.,0.,0.,5.,0.], &[1.,1.,0.,4.,0.], &[0.,3.,3.,0.,0.], &[1.,0.,0.,5.,0.], &[0.,2.,0.,3.,1.],
            &[0.,0.,5.,0.,1.], &[3.,0.,0.,1.,2.], &[5.,1.,0.,0.,0.], &[0.,2.,0.,4.,0.], &[1.,0.,2.,0.,3.],
            &[0.,0.,0.,0.,6.], &[0.,1.,0.,5.,0.], &[0.,2.,0.,1.,3.], &[2.,0.,0.,4.,0.], &[1.,0.,0.,4.,1.],
            &[0.,5.,0.,1.,0.], &[4.,0.,0.,0.,2.], &[0.,2.,0.,4.,0.], &[1.,0.,5.,0.,0.], &[0.,0.,0.,0.,6.],
        ]);
        let (p_bar, kappa) = fleiss(&fleiss_1971).unwrap();
        close(p_bar, 5.0 / 9.0, "Pbar");
        close(kappa.unwrap(), 0.43024452006014074, "Fleiss 1971");
        // Wikipedia's "Fleiss' kappa" example (10 subjects, 14 raters): published 0.210;
        // statsmodels `table1`, 0.20993070442195522 (4211/20059).
        #[rustfmt::skip]
        let wikipedia = table(&[
            &[0.,0.,0.,0.,14.], &[0.,2.,6.,4.,2.], &[0.,0.,3.,5.,6.], &[0.,3.,9.,2.,0.], &[2.,2.,8.,1.,1.],
            &[7.,7.,0.,0.,0.], &[3.,2.,6.,3.,0.], &[2.,5.,3.,2.,2.], &[6.,5.,2.,1.,0.], &[0.,2.,2.,3.,7.],
        ]);
        close(
            fleiss(&wikipedia).unwrap().1.unwrap(),
            4211.0 / 20059.0,
            "Wikipedia",
        );
        // Binary, 3 coders (F1): statsmodels 0.4444444444444443 (4/9).
        let f1 = f1();
        close(fleiss(&f1).unwrap().1.unwrap(), 4.0 / 9.0, "F1");
        // Units with different numbers of coders are not Fleiss' design.
        assert_eq!(fleiss(&table(&[&[2.0, 0.0], &[1.0, 2.0]])), None);
    }

    /// F1: 10 units, 3 coders, [no, yes] counts.
    fn f1() -> Vec<Vec<f64>> {
        [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 2.0, 3.0, 0.0, 1.0]
            .iter()
            .map(|yes| vec![3.0 - yes, *yes])
            .collect()
    }

    /// M: 3 coders × 8 units with missing codings, as [no, yes] counts per unit:
    /// coder1 1,1,0,0,1,–,0,1; coder2 1,0,0,0,1,1,–,1; coder3 –,1,0,1,1,1,0,–.
    fn with_missing() -> Vec<Vec<f64>> {
        table(&[
            &[0.0, 2.0],
            &[1.0, 2.0],
            &[3.0, 0.0],
            &[2.0, 1.0],
            &[0.0, 3.0],
            &[0.0, 2.0],
            &[2.0, 0.0],
            &[0.0, 2.0],
        ])
    }

    #[test]
    fn krippendorff_matches_the_package_and_his_worked_example() {
        // Krippendorff (2011), 4 coders × 12 units with missing values, nominal alpha
        // published 0.743; krippendorff 0.9.0: 0.743421052631579 (113/152). Counts per
        // unit over the values 1..5 (unit 12 has one coding and is left out).
        #[rustfmt::skip]
        let canonical = table(&[
            &[3.,0.,0.,0.,0.], &[0.,3.,1.,0.,0.], &[0.,0.,4.,0.,0.], &[0.,0.,4.,0.,0.],
            &[0.,4.,0.,0.,0.], &[1.,1.,1.,1.,0.], &[0.,0.,0.,4.,0.], &[3.,1.,0.,0.,0.],
            &[0.,4.,0.,0.,0.], &[0.,0.,0.,0.,3.], &[2.,0.,0.,0.,0.], &[0.,0.,1.,0.,0.],
        ]);
        close(
            krippendorff_nominal(&canonical).unwrap(),
            113.0 / 152.0,
            "canonical",
        );
        // 2 coders from 2×2 tables T1, T2, T4: 2/5, 326/1719, 57/455.
        close(
            krippendorff_nominal(&units_of(20, 5, 10, 15)).unwrap(),
            0.4,
            "T1",
        );
        close(
            krippendorff_nominal(&units_of(1, 4, 3, 92)).unwrap(),
            326.0 / 1719.0,
            "T2",
        );
        close(
            krippendorff_nominal(&units_of(45, 15, 25, 15)).unwrap(),
            57.0 / 455.0,
            "T4",
        );
        close(krippendorff_nominal(&f1()).unwrap(), 25.0 / 54.0, "F1");
        close(
            krippendorff_nominal(&with_missing()).unwrap(),
            29.0 / 48.0,
            "M",
        );
        // Every coding the same value: no expected disagreement, alpha undefined.
        assert_eq!(krippendorff_nominal(&units_of(0, 0, 0, 9)), None);
    }

    #[test]
    fn gwet_ac1_matches_irrcac_and_stays_high_where_kappa_collapses() {
        close(
            gwet_ac1(&units_of(20, 5, 10, 15)).unwrap(),
            41.0 / 101.0,
            "T1",
        );
        close(
            gwet_ac1(&units_of(45, 15, 25, 15)).unwrap(),
            29.0 / 109.0,
            "T4",
        );
        close(gwet_ac1(&f1()).unwrap(), 19.0 / 39.0, "F1");
        close(gwet_ac1(&with_missing()).unwrap(), 35.0 / 51.0, "M");
        // The prevalence paradox, worked by hand: T2 = [[1, 4], [3, 92]], a theme both
        // coders rarely give. po = 93/100; π = (5/100 + 4/100)/2 = 9/200;
        // pe = 2π(1 − π) = 1719/20000; AC1 = (po − pe)/(1 − pe) = 16881/18281 ≈ 0.923,
        // while kappa = 8/43 ≈ 0.186 (slight).
        let ac1 = gwet_ac1(&units_of(1, 4, 3, 92)).unwrap();
        close(ac1, 16881.0 / 18281.0, "T2");
        let kappa = cohen(&table(&[&[1.0, 4.0], &[3.0, 92.0]]), 0.95)
            .unwrap()
            .kappa
            .unwrap();
        assert_eq!(landis_koch(kappa), "slight");
        assert_eq!(landis_koch(ac1), "almost perfect");
    }

    #[test]
    fn prevalence_and_bias_indices_by_hand() {
        // Byrt, Bishop and Carlin (1993): PI = (a − d)/n, BI = (b − c)/n, PABAK = 2po − 1.
        for ((a, b, c, d), (pi, bi, pabak)) in [
            ((20.0, 5.0, 10.0, 15.0), (0.1, -0.1, 0.4)),
            ((1.0, 4.0, 3.0, 92.0), (-0.91, 0.01, 0.86)),
            ((45.0, 15.0, 25.0, 15.0), (0.3, -0.1, 0.2)),
        ] {
            let i = indices(a, b, c, d).unwrap();
            close(i.prevalence, pi, "PI");
            close(i.bias, bi, "BI");
            close(i.pabak, pabak, "PABAK");
        }
        assert_eq!(indices(0.0, 0.0, 0.0, 0.0), None);
    }

    #[test]
    fn degenerate_tables_give_no_coefficient_not_nan() {
        // Both coders said yes on every unit: agreement 100%, kappa undefined.
        let c = cohen(&table(&[&[10.0, 0.0], &[0.0, 0.0]]), 0.95).unwrap();
        assert_eq!(c.observed, 1.0);
        assert_eq!((c.kappa, c.se, c.interval), (None, None, None));
        assert_eq!(fleiss(&units_of(10, 0, 0, 0)).unwrap().1, None);
        assert_eq!(gwet_ac1(&units_of(0, 0, 0, 0)), None);
        assert_eq!(cohen(&table(&[&[0.0, 0.0], &[0.0, 0.0]]), 0.95), None);
        // A single coder: no unit has two codings.
        assert_eq!(
            krippendorff_nominal(&table(&[&[1.0, 0.0], &[0.0, 1.0]])),
            None
        );
        assert_eq!(
            krippendorff_bootstrap(&table(&[&[1.0, 0.0]]), 0.95, 100, 1),
            None
        );
    }

    #[test]
    fn the_bootstrap_interval_is_fixed_by_its_seed_and_holds_alpha() {
        let t4 = units_of(45, 15, 25, 15);
        let alpha = krippendorff_nominal(&t4).unwrap();
        let (a, undefined) =
            krippendorff_bootstrap(&t4, 0.95, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED).unwrap();
        let (b, _) = krippendorff_bootstrap(&t4, 0.95, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED).unwrap();
        assert_eq!(a, b, "the same seed gives the same interval");
        assert_eq!(undefined, 0);
        assert!(a.low < alpha && alpha < a.high, "{a:?} around {alpha}");
        // The resampling spread is close to the large-sample one: T4's kappa (close to
        // its alpha) has se 0.0987, so the 95% interval is about ±0.19 wide.
        let half = (a.high - a.low) / 2.0;
        assert!((0.14..0.25).contains(&half), "{a:?}");
        // A hundred times the units (the same shares): the same alpha, and the spread
        // a tenth as wide (0.019 by the large-sample se), as a multinomial draw of the
        // patterns' counts must give.
        let big = units_of(4500, 1500, 2500, 1500);
        assert!((krippendorff_nominal(&big).unwrap() - alpha).abs() < 0.01);
        let (c, _) = krippendorff_bootstrap(&big, 0.95, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED).unwrap();
        let half = (c.high - c.low) / 2.0;
        assert!((0.015..0.024).contains(&half), "{c:?}");
        assert!(c.low < alpha && alpha < c.high, "{c:?} around {alpha}");
    }

    #[test]
    fn bands_in_words() {
        assert_eq!(landis_koch(-0.1), "poor");
        assert_eq!(landis_koch(0.52), "moderate");
        assert_eq!(landis_koch(0.8), "substantial");
        assert_eq!(landis_koch(0.81), "almost perfect");
        assert_eq!(krippendorff_band(0.8), "reliable");
        assert_eq!(krippendorff_band(0.7), "tentative");
        assert_eq!(krippendorff_band(0.6), "unreliable");
    }
}
