//! Calibration and the validation statistics of one label: Platt scaling, the choice
//! of a threshold, precision, recall, F1, Cohen's κ, the AUROC and a reliability table.

/// Platt's sigmoid p = 1 / (1 + exp(A z + B)) of a decision value z.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    pub fn probability(&self, z: f64) -> f64 {
        let f = self.a * z + self.b;
        if f >= 0.0 {
            (-f).exp() / (1.0 + (-f).exp())
        } else {
            1.0 / (1.0 + f.exp())
        }
    }

    /// Fits A and B to decision values and labels by Newton's method with a
    /// backtracking line search, with Platt's smoothed targets ((N₊ + 1) / (N₊ + 2) and
    /// 1 / (N₋ + 2)): Algorithm 1 of Lin, Lin and Weng (2007), "A note on Platt's
    /// probabilistic outputs for support vector machines", Machine Learning 68, 267–276.
    pub fn fit(z: &[f64], y: &[bool]) -> Platt {
        let prior1 = y.iter().filter(|&&v| v).count() as f64;
        let prior0 = y.len() as f64 - prior1;
        let hi = (prior1 + 1.0) / (prior1 + 2.0);
        let lo = 1.0 / (prior0 + 2.0);
        let t: Vec<f64> = y.iter().map(|&v| if v { hi } else { lo }).collect();
        let (max_iter, min_step, sigma, eps) = (100, 1e-10, 1e-12, 1e-5);
        let mut a = 0.0;
        let mut b = ((prior0 + 1.0) / (prior1 + 1.0)).ln();
        let objective = |a: f64, b: f64| -> f64 {
            z.iter()
                .zip(&t)
                .map(|(&zi, &ti)| {
                    let f = zi * a + b;
                    if f >= 0.0 {
                        ti * f + (-f).exp().ln_1p()
                    } else {
                        (ti - 1.0) * f + f.exp().ln_1p()
                    }
                })
                .sum()
        };
        let mut fval = objective(a, b);
        for _ in 0..max_iter {
            let (mut h11, mut h22, mut h21, mut g1, mut g2) = (sigma, sigma, 0.0, 0.0, 0.0);
            for (&zi, &ti) in z.iter().zip(&t) {
                let f = zi * a + b;
                let (p, q) = if f >= 0.0 {
                    let e = (-f).exp();
                    (e / (1.0 + e), 1.0 / (1.0 + e))
                } else {
                    let e = f.exp();
                    (1.0 / (1.0 + e), e / (1.0 + e))
                };
                let d2 = p * q;
                h11 += zi * zi * d2;
                h22 += d2;
                h21 += zi * d2;
                let d1 = ti - p;
                g1 += zi * d1;
                g2 += d1;
            }
            if g1.abs() < eps && g2.abs() < eps {
                break;
            }
            let det = h11 * h22 - h21 * h21;
            let da = -(h22 * g1 - h21 * g2) / det;
            let db = -(-h21 * g1 + h11 * g2) / det;
            let gd = g1 * da + g2 * db;
            let mut step = 1.0;
            let mut moved = false;
            while step >= min_step {
                let (na, nb) = (a + step * da, b + step * db);
                let nf = objective(na, nb);
                if nf < fval + 1e-4 * step * gd {
                    a = na;
                    b = nb;
                    fval = nf;
                    moved = true;
                    break;
                }
                step /= 2.0;
            }
            if !moved {
                break;
            }
        }
        Platt { a, b }
    }
}

/// Counts of a 2×2 table at a threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
}

impl Confusion {
    pub fn at(p: &[f64], y: &[bool], threshold: f64) -> Confusion {
        let given: Vec<bool> = p.iter().map(|&pi| pi >= threshold).collect();
        Confusion::of(&given, y)
    }

    /// The table of what the model gave (`given`) against what the coders gave (`y`).
    pub fn of(given: &[bool], y: &[bool]) -> Confusion {
        let mut c = Confusion::default();
        for (&gi, &yi) in given.iter().zip(y) {
            match (gi, yi) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, true) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }

    pub fn add(&mut self, o: Confusion) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }

    /// Precision; 0 with nothing predicted (scikit-learn's `zero_division=0`).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// Cohen's κ of the model's and the coders' yes/no: (p_o − p_e) / (1 − p_e); 1 when
    /// both say the same of every case and p_e is 1.
    pub fn kappa(&self) -> f64 {
        let n = (self.tp + self.fp + self.fn_ + self.tn) as f64;
        if n == 0.0 {
            return 0.0;
        }
        let po = (self.tp + self.tn) as f64 / n;
        let yes_model = (self.tp + self.fp) as f64 / n;
        let yes_coder = (self.tp + self.fn_) as f64 / n;
        let pe = yes_model * yes_coder + (1.0 - yes_model) * (1.0 - yes_coder);
        if (1.0 - pe).abs() < 1e-12 {
            return if (po - 1.0).abs() < 1e-12 { 1.0 } else { 0.0 };
        }
        (po - pe) / (1.0 - pe)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The area under the ROC curve: the probability that a random positive scores above a
/// random negative, ties counting a half (the Mann–Whitney U over n₊ n₋). None without
/// both classes.
pub fn auroc(score: &[f64], y: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j < order.len() && score[order[j]] == score[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean = (i + 1 + j) as f64 / 2.0;
        rank_sum += order[i..j].iter().filter(|&&k| y[k]).count() as f64 * mean;
        i = j;
    }
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// How the threshold of a label is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// The threshold with the highest F1.
    F1,
    /// The lowest threshold whose precision reaches this share.
    Precision(f64),
}

impl Rule {
    pub fn describe(&self) -> String {
        match self {
            Rule::F1 => "f1".into(),
            Rule::Precision(p) => format!("precision:{p}"),
        }
    }
}

/// The threshold `rule` chooses on probabilities `p` with labels `y`: one of the
/// probabilities seen (a case is suggested when its probability is at least it). With
/// no positive case, or no threshold reaching a precision asked for, 1.0 plus a little:
/// the label is never suggested.
pub fn threshold(p: &[f64], y: &[bool], rule: Rule) -> f64 {
    const NEVER: f64 = 1.0 + 1e-9;
    let mut order: Vec<usize> = (0..p.len()).collect();
    // Highest probability first; walking down, each distinct value is a candidate.
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let positives = y.iter().filter(|&&v| v).count() as u64;
    if positives == 0 {
        return NEVER;
    }
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best = (f64::NEG_INFINITY, NEVER);
    let mut i = 0;
    while i < order.len() {
        let value = p[order[i]];
        while i < order.len() && p[order[i]] == value {
            if y[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let precision = tp as f64 / (tp + fp) as f64;
        match rule {
            Rule::F1 => {
                let f1 = 2.0 * tp as f64 / (tp + fp + positives) as f64;
                if f1 > best.0 {
                    best = (f1, value);
                }
            }
            Rule::Precision(target) => {
                if precision >= target {
                    best = (0.0, value);
                }
            }
        }
    }
    best.1
}

/// A reliability table: the probabilities cut into ten bins of equal width, each with
/// its cases, mean probability and the share of them the coders coded.
pub fn reliability(p: &[f64], y: &[bool]) -> Vec<(f64, f64, u64, f64, f64)> {
    let mut bins = vec![(0u64, 0.0f64, 0u64); 10];
    for (&pi, &yi) in p.iter().zip(y) {
        let k = ((pi * 10.0) as usize).min(9);
        bins[k].0 += 1;
        bins[k].1 += pi;
        bins[k].2 += u64::from(yi);
    }
    bins.iter()
        .enumerate()
        .filter(|(_, b)| b.0 > 0)
        .map(|(k, b)| {
            (
                k as f64 / 10.0,
                (k + 1) as f64 / 10.0,
                b.0,
                b.1 / b.0 as f64,
                b.2 as f64 / b.0 as f64,
            )
        })
        .collect()
}

/// The Brier score: the mean squared difference of probability and outcome.
pub fn brier(p: &[f64], y: &[bool]) -> f64 {
    if p.is_empty() {
        return 0.0;
    }
    p.iter()
        .zip(y)
        .map(|(&pi, &yi)| (pi - f64::from(u8::from(yi))).powi(2))
        .sum::<f64>()
        / p.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_is_scikit_learns() {
        // scikit-learn 1.9.1: sklearn.calibration._sigmoid_calibration(z, y) (Platt's
        // targets, as here) gives a = -0.8232120514101217, b = 0.19545702824773226.
        let z = [-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5, 2.5, -0.2, 0.8];
        let y = [
            false, false, true, false, true, true, true, true, false, false,
        ];
        let p = Platt::fit(&z, &y);
        assert!((p.a - -0.8232120514101217).abs() < 1e-4, "{p:?}");
        assert!((p.b - 0.19545702824773226).abs() < 1e-4, "{p:?}");
    }

    #[test]
    fn auroc_counts_ties_as_half() {
        // Positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5) (0.9>0.1) (0.5=0.5)
        // (0.5>0.1) → 3.5 of 4.
        let a = auroc(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]).unwrap();
        assert!((a - 0.875).abs() < 1e-12);
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn kappa_of_a_known_table() {
        // tp 20, fp 5, fn 10, tn 15 (n 50): p_o 0.7, p_e 0.5·0.6 + 0.5·0.4 = 0.5, κ 0.4.
        let c = Confusion {
            tp: 20,
            fp: 5,
            fn_: 10,
            tn: 15,
        };
        assert!((c.kappa() - 0.4).abs() < 1e-12);
        assert!((c.f1() - 40.0 / 55.0).abs() < 1e-12);
    }

    #[test]
    fn thresholds_for_f1_and_precision() {
        let p = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2];
        let y = [true, false, true, true, false, false];
        // F1 at 0.6: tp 3, fp 1, fn 0 → 6/7, the best.
        assert_eq!(threshold(&p, &y, Rule::F1), 0.6);
        // Precision ≥ 0.75: at 0.6 it is 3/4 (the lowest such threshold).
        assert_eq!(threshold(&p, &y, Rule::Precision(0.75)), 0.6);
        // Precision 1: only at 0.9.
        assert_eq!(threshold(&p, &y, Rule::Precision(1.0)), 0.9);
    }
}
