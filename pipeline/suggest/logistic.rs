//! Binary logistic regression with an L2 penalty over sparse rows, fitted by argmin's
//! L-BFGS: the objective scikit-learn's `LogisticRegression(penalty="l2", C=C,
//! solver="lbfgs")` minimises,
//!
//!   C · Σᵢ log(1 + exp(−sᵢ (xᵢ·w + b))) + ½ ‖w‖²,  sᵢ = ±1,
//!
//! with the intercept b not penalised. It is convex, so any solver that converges finds
//! the same weights; tests/it/suggest.rs checks them against scikit-learn's on a
//! small problem. Hand-written here because no maintained Rust crate fits a logistic
//! regression to a sparse matrix (Cargo.toml, argmin).

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::text::Csr;

/// Fitting options: scikit-learn's defaults (C = 1, at most 100 iterations, a gradient
/// tolerance of 10⁻⁴).
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub c: f64,
    pub max_iter: u64,
    pub tol: f64,
    /// Weight each class by the inverse of its frequency (scikit-learn's
    /// `class_weight="balanced"`: n / (2 n₊) for a positive row, n / (2 n₋) for a
    /// negative one), so that a rare code is not drowned by its negatives.
    pub balanced: bool,
}

impl Default for Fit {
    fn default() -> Self {
        Fit {
            c: 1.0,
            max_iter: 100,
            tol: 1e-4,
            balanced: false,
        }
    }
}

/// Weights and intercept of one binary model.
#[derive(Debug, Clone, PartialEq)]
pub struct Binary {
    pub w: Vec<f64>,
    pub b: f64,
}

impl Binary {
    /// The decision value x·w + b of row `i`.
    pub fn decision(&self, x: &Csr, i: usize) -> f64 {
        let (idx, val) = x.row(i);
        self.b
            + idx
                .iter()
                .zip(val)
                .map(|(&j, &v)| self.w[j as usize] * f64::from(v))
                .sum::<f64>()
    }
}

/// A point, with its cost and gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

/// The objective over the rows `rows` of `x`, with labels `y` (one per row of x).
struct Objective<'a> {
    x: &'a Csr,
    y: &'a [bool],
    rows: &'a [usize],
    c: f64,
    /// The weights of a positive and of a negative row.
    weights: (f64, f64),
    /// The last point evaluated, with its cost and gradient: the line search asks for
    /// both at one point, and one pass over the rows gives both.
    last: Mutex<Option<Evaluated>>,
    /// The lowest cost seen and its point, kept should the line search fail.
    best: &'a Mutex<Option<(f64, Vec<f64>)>>,
}

impl Objective<'_> {
    fn evaluate(&self, p: &[f64]) -> (f64, Vec<f64>) {
        if let Some((q, cost, grad)) = self.last.lock().expect("not poisoned").as_ref()
            && q.as_slice() == p
        {
            return (*cost, grad.clone());
        }
        let d = self.x.columns;
        let (w, b) = (&p[..d], p[d]);
        let mut grad = vec![0.0; d + 1];
        let mut loss = 0.0;
        for &i in self.rows {
            let (idx, val) = self.x.row(i);
            let z = b + idx
                .iter()
                .zip(val)
                .map(|(&j, &v)| w[j as usize] * f64::from(v))
                .sum::<f64>();
            let (s, weight) = if self.y[i] {
                (1.0, self.weights.0)
            } else {
                (-1.0, self.weights.1)
            };
            // log(1 + exp(-s z)), and its derivative in z: -s σ(-s z), stably.
            let m = -s * z;
            loss += weight
                * if m > 0.0 {
                    m + (-m).exp().ln_1p()
                } else {
                    m.exp().ln_1p()
                };
            let sig = if m > 0.0 {
                1.0 / (1.0 + (-m).exp())
            } else {
                let e = m.exp();
                e / (1.0 + e)
            };
            let r = self.c * weight * -s * sig;
            for (&j, &v) in idx.iter().zip(val) {
                grad[j as usize] += r * f64::from(v);
            }
            grad[d] += r;
        }
        let mut cost = self.c * loss;
        for j in 0..d {
            cost += 0.5 * w[j] * w[j];
            grad[j] += w[j];
        }
        *self.last.lock().expect("not poisoned") = Some((p.to_vec(), cost, grad.clone()));
        let mut best = self.best.lock().expect("not poisoned");
        if best.as_ref().is_none_or(|(c, _)| cost < *c) {
            *best = Some((cost, p.to_vec()));
        }
        (cost, grad)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.evaluate(p).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(p).1)
    }
}

/// Fits one binary model to the rows `rows` of `x` (labels `y`, indexed like x's rows).
/// A label with no positive or no negative row among them gives zero weights and an
/// intercept that says so (±10).
pub fn fit(x: &Csr, y: &[bool], rows: &[usize], options: Fit) -> Binary {
    let positives = rows.iter().filter(|&&i| y[i]).count();
    let d = x.columns;
    if positives == 0 || positives == rows.len() {
        return Binary {
            w: vec![0.0; d],
            b: if positives == 0 { -10.0 } else { 10.0 },
        };
    }
    let best = Mutex::new(None);
    let objective = Objective {
        x,
        y,
        rows,
        c: options.c,
        weights: if options.balanced {
            let n = rows.len() as f64;
            let p = positives as f64;
            (n / (2.0 * p), n / (2.0 * (n - p)))
        } else {
            (1.0, 1.0)
        },
        last: Mutex::new(None),
        best: &best,
    };
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(options.tol)
        .expect("a positive tolerance")
        .with_tolerance_cost(1e-9)
        .expect("a positive tolerance");
    let start = vec![0.0; d + 1];
    let best = {
        let result = Executor::new(objective, solver)
            .configure(|state| state.param(start).max_iters(options.max_iter))
            .run();
        // The line search can fail to find a step where the objective is flat to
        // machine precision (a label the words separate): the lowest point seen is kept,
        // as it is when the solver ends normally.
        drop(result);
        best.lock().expect("not poisoned").take()
    };
    let p = best.map_or_else(|| vec![0.0; d + 1], |(_, p)| p);
    Binary {
        b: p[d],
        w: p[..d].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_scikit_learns() {
        // scikit-learn 1.9.1: LogisticRegression(C=1.0, tol=1e-10, max_iter=10000)
        // .fit(X, y) on these eight rows gives coef_ [1.15863215, -0.03573872,
        // 0.06702183] and intercept_ -0.5440653641973838.
        let rows: [[f32; 3]; 8] = [
            [1.0, 0.0, 0.5],
            [0.9, 0.1, 0.0],
            [0.0, 1.0, 0.2],
            [0.1, 0.8, 0.0],
            [0.5, 0.5, 1.0],
            [0.0, 0.0, 1.0],
            [1.0, 1.0, 0.0],
            [0.2, 0.0, 0.3],
        ];
        let y = [true, true, false, false, true, false, true, false];
        let mut x = Csr {
            indptr: vec![0],
            columns: 3,
            ..Csr::default()
        };
        for r in rows {
            for (j, v) in r.iter().enumerate() {
                if *v != 0.0 {
                    x.indices.push(j as u32);
                    x.values.push(*v);
                }
            }
            x.indptr.push(x.indices.len());
        }
        let all: Vec<usize> = (0..8).collect();
        let m = fit(
            &x,
            &y,
            &all,
            Fit {
                c: 1.0,
                max_iter: 1000,
                tol: 1e-10,
                balanced: false,
            },
        );
        let expect = [1.15863215, -0.03573872, 0.06702183];
        for (w, e) in m.w.iter().zip(expect) {
            assert!((w - e).abs() < 1e-5, "{:?} against {expect:?}", m.w);
        }
        assert!((m.b - -0.5440653641973838).abs() < 1e-5, "{}", m.b);
    }
}
