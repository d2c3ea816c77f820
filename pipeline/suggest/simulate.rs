//! The queue measured (`casework suggest --simulate`): learning curves of the queue
//! (uncertainty sampling) against random sampling on coded cases whose codes are hidden
//! until "asked for".
//!
//! The coded cases are split (stratified, seeded) into a test quarter and a pool. Both
//! strategies start from the same random seed set of the pool; each round a model is
//! fitted on the cases labelled so far and scored on the test quarter, then `batch`
//! more cases are labelled: the least certain of the pool by the current model
//! ([`super::uncertainty`] on its probabilities, 0.5 as every threshold), or random ones.
//! The score is the top-1 macro-F1 with one label a case, else the macro-F1 at a
//! probability of 0.5. The vocabulary is fitted once on every text (pool and test): text
//! is there before anyone codes it. Several repeats (other seeds) are averaged.

use super::text::{Csr, Vocabulary};
use super::{Labelled, Options, fit_all, folds, top1_macro_f1, uncertainty};
use crate::stats::random::SplitMix64;

/// Simulation settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub seed_cases: usize,
    pub batch: usize,
    pub budget: usize,
    pub repeats: usize,
}

/// One point of the curves: labelled cases, then the mean score of each strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub labelled: usize,
    pub random: f64,
    pub queue: f64,
}

/// The curves, and what they say: the random strategy's score at the budget, the
/// fewest labels with which the queue reached it (None: it did not), and the saving.
#[derive(Debug, Clone)]
pub struct Curves {
    pub points: Vec<Point>,
    pub target: f64,
    pub queue_reaches_at: Option<usize>,
    pub saving: Option<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// What every round of one repeat shares.
struct Round<'a> {
    x: &'a Csr,
    y: &'a [Vec<bool>],
    truth: &'a [Vec<usize>],
    test: &'a [usize],
    options: &'a Options,
    single: bool,
}

/// The score on the test cases of a model fitted on `train`, and the uncertainty of
/// each case of `pool` by it.
fn score(r: &Round<'_>, train: &[usize], pool: &[usize]) -> (f64, Vec<f64>) {
    let Round {
        x,
        y,
        truth,
        test,
        options,
        single,
    } = *r;
    let models = fit_all(x, y, train, options.fit);
    let prob =
        |i: usize| -> Vec<f64> { models.iter().map(|m| sigmoid(m.decision(x, i))).collect() };
    let p_test: Vec<Vec<f64>> = test.iter().map(|&i| prob(i)).collect();
    let labels = y.len();
    let f1 = if single {
        let t: Vec<Vec<usize>> = test.iter().map(|&i| truth[i].clone()).collect();
        top1_macro_f1(&p_test, &t, labels)
    } else {
        let mut sum = 0.0;
        let mut n = 0;
        for l in 0..labels {
            let yl: Vec<bool> = test.iter().map(|&i| y[l][i]).collect();
            if !yl.iter().any(|&v| v) {
                continue;
            }
            let pl: Vec<f64> = p_test.iter().map(|p| p[l]).collect();
            sum += super::calibrate::Confusion::at(&pl, &yl, 0.5).f1();
            n += 1;
        }
        sum / n.max(1) as f64
    };
    let half = vec![0.5; labels];
    let u = pool
        .iter()
        .map(|&i| uncertainty(&prob(i), &half, single))
        .collect();
    (f1, u)
}

/// Runs the simulation.
pub fn simulate(data: &Labelled<'_>, options: &Options, s: Settings) -> Curves {
    let n = data.texts.len();
    let single = data.single_label();
    let vocabulary = Vocabulary::fit(data.texts.iter().copied(), options.features);
    let x = vocabulary.transform(data.texts.iter().copied());
    let y = data.label_columns();
    let mut sums: Vec<Point> = Vec::new();
    let mut rounds_seen = 0;
    for r in 0..s.repeats.max(1) {
        let seed = options.seed.wrapping_add(r as u64);
        let fold = folds(&data.labels, data.names.len(), 4, seed);
        let test: Vec<usize> = (0..n).filter(|&i| fold[i] == 0).collect();
        let mut pool: Vec<usize> = (0..n).filter(|&i| fold[i] != 0).collect();
        let mut rng = SplitMix64(seed ^ 0x5eed);
        for i in (1..pool.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            pool.swap(i, j);
        }
        let start = s.seed_cases.min(pool.len());
        let budget = s.budget.min(pool.len());
        // Random: the shuffled pool in order. Queue: the seed, then the least certain.
        let random_order = pool.clone();
        let mut labelled: Vec<usize> = pool[..start].to_vec();
        let mut rest: Vec<usize> = pool[start..].to_vec();
        let mut k = 0;
        let mut size = start;
        loop {
            let train_random = &random_order[..size];
            let round = Round {
                x: &x,
                y: &y,
                truth: &data.labels,
                test: &test,
                options,
                single,
            };
            let (f_random, _) = score(&round, train_random, &[]);
            let (f_queue, u) = score(&round, &labelled, &rest);
            if sums.len() <= k {
                sums.push(Point {
                    labelled: size,
                    random: 0.0,
                    queue: 0.0,
                });
            }
            sums[k].random += f_random;
            sums[k].queue += f_queue;
            k += 1;
            if size >= budget {
                break;
            }
            let take = s.batch.min(budget - size);
            let mut order: Vec<usize> = (0..rest.len()).collect();
            order.sort_by(|&a, &b| u[a].total_cmp(&u[b]).then(rest[a].cmp(&rest[b])));
            let chosen: Vec<usize> = order[..take].to_vec();
            let mut taken = vec![false; rest.len()];
            for &c in &chosen {
                labelled.push(rest[c]);
                taken[c] = true;
            }
            rest = rest
                .iter()
                .zip(&taken)
                .filter(|(_, t)| !**t)
                .map(|(v, _)| *v)
                .collect();
            size += take;
        }
        rounds_seen = k;
    }
    let repeats = s.repeats.max(1) as f64;
    let points: Vec<Point> = sums
        .into_iter()
        .take(rounds_seen)
        .map(|p| Point {
            labelled: p.labelled,
            random: p.random / repeats,
            queue: p.queue / repeats,
        })
        .collect();
    let last = points.last().cloned().unwrap_or(Point {
        labelled: 0,
        random: 0.0,
        queue: 0.0,
    });
    let target = last.random;
    let queue_reaches_at = points
        .iter()
        .find(|p| p.queue >= target)
        .map(|p| p.labelled);
    let saving = queue_reaches_at.map(|at| 1.0 - at as f64 / last.labelled.max(1) as f64);
    Curves {
        points,
        target,
        queue_reaches_at,
        saving,
    }
}
