//! Assisted coding (`casework suggest`, docs/suggest.md): a model trained on the coded
//! cases' text suggests codes for the cases nobody has coded, and is measured as one
//! more coder.
//!
//! - [`text`]: TF-IDF over word and character n-grams;
//! - [`logistic`]: one logistic regression per label (one-vs-rest);
//! - [`calibrate`]: Platt scaling, thresholds and the validation statistics;
//! - [`model`]: the model file (its hash names the coder `model:HASH`);
//! - this module: stratified cross-validation by case, training, suggestions and the
//!   queue of what to code next.

pub mod calibrate;
pub mod logistic;
pub mod model;
pub mod simulate;
pub mod store;
pub mod text;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value, json};

use crate::stats::random::SplitMix64;
use calibrate::{Confusion, Platt, Rule};
use logistic::{Binary, Fit};
use text::{Csr, Features, Vocabulary};

/// Codes or themes as the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Code,
    Theme,
}

impl Level {
    pub fn name(&self) -> &'static str {
        match self {
            Level::Code => "code",
            Level::Theme => "theme",
        }
    }
}

/// Training and validation options.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub level: Level,
    pub folds: usize,
    pub seed: u64,
    pub rule: Rule,
    pub fit: Fit,
    pub features: Features,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: Level::Code,
            folds: 5,
            seed: 1,
            rule: Rule::F1,
            fit: Fit::default(),
            features: Features::default(),
        }
    }
}

/// Labelled texts: each case's text and the indices of its labels.
pub struct Labelled<'a> {
    pub texts: Vec<&'a str>,
    pub labels: Vec<Vec<usize>>,
    pub names: Vec<String>,
    /// With codes as the labels: each code's theme, for the validation per theme.
    pub themes: Option<Vec<String>>,
}

impl Labelled<'_> {
    /// Per label, whether each case has it.
    pub fn label_columns(&self) -> Vec<Vec<bool>> {
        let mut y = vec![vec![false; self.texts.len()]; self.names.len()];
        for (i, ls) in self.labels.iter().enumerate() {
            for &l in ls {
                y[l][i] = true;
            }
        }
        y
    }

    /// Whether every case has exactly one label (a single-label task: then the top-1
    /// macro-F1 is comparable with a multinomial classifier's).
    pub fn single_label(&self) -> bool {
        single_label(&self.labels)
    }
}

/// Whether every case has exactly one label.
pub fn single_label(labels: &[Vec<usize>]) -> bool {
    labels.iter().all(|l| l.len() == 1)
}

/// Stratified folds by case: each case's stratum is its rarest label (cases with none
/// form one stratum); within a stratum the cases are shuffled with the seed and dealt to
/// the folds in turn, the turn carried from one stratum to the next. Deterministic.
pub fn folds(labels: &[Vec<usize>], n_labels: usize, k: usize, seed: u64) -> Vec<u32> {
    let mut count = vec![0usize; n_labels];
    for ls in labels {
        for &l in ls {
            count[l] += 1;
        }
    }
    let stratum = |ls: &Vec<usize>| -> usize {
        ls.iter()
            .copied()
            .min_by_key(|&l| (count[l], l))
            .unwrap_or(n_labels)
    };
    let mut strata: Vec<Vec<usize>> = vec![Vec::new(); n_labels + 1];
    for (i, ls) in labels.iter().enumerate() {
        strata[stratum(ls)].push(i);
    }
    let mut rng = SplitMix64(seed);
    let mut fold = vec![0u32; labels.len()];
    let mut turn = 0usize;
    for s in &mut strata {
        // Fisher–Yates with the seeded generator.
        for i in (1..s.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            s.swap(i, j);
        }
        for &case in s.iter() {
            fold[case] = (turn % k) as u32;
            turn += 1;
        }
    }
    fold
}

/// Fits one binary model per label on `rows` of `x`, on as many threads as there are
/// cores; each label's fit is on one thread, so the result does not depend on them.
pub fn fit_all(x: &Csr, y: &[Vec<bool>], rows: &[usize], fit: Fit) -> Vec<Binary> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Binary>>> = Mutex::new(vec![None; y.len()]);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(y.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let l = next.fetch_add(1, Ordering::Relaxed);
                    if l >= y.len() {
                        break;
                    }
                    let m = logistic::fit(x, &y[l], rows, fit);
                    out.lock().expect("not poisoned")[l] = Some(m);
                }
            });
        }
    });
    out.into_inner()
        .expect("not poisoned")
        .into_iter()
        .map(|m| m.expect("every label fitted"))
        .collect()
}

/// One label's cross-validated statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRow {
    /// `code` or `theme`: with codes as the labels, each theme's row follows them,
    /// judged from its codes (a case has the theme when it has one of its codes; the
    /// model gives it when it suggests one of them; its score is the highest of their
    /// probabilities).
    pub level: String,
    pub label: String,
    pub cases: u64,
    pub positives: u64,
    pub threshold_rule: String,
    /// The threshold chosen on every case's out-of-fold probability (the model's).
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub kappa: f64,
    pub auroc: Option<f64>,
    pub brier: f64,
}

/// What cross-validation found.
#[derive(Debug, Clone)]
pub struct Validation {
    pub rows: Vec<LabelRow>,
    /// Mean F1 over the labels with at least one positive case.
    pub macro_f1: f64,
    /// With single-label data: the macro-F1 of the most probable label of each case.
    pub top1_macro_f1: Option<f64>,
    /// Each case's fold.
    pub fold: Vec<u32>,
    /// Each case's out-of-fold decision values, per label.
    pub decision: Vec<Vec<f64>>,
    /// Each case's out-of-fold calibrated probability, per label.
    pub probability: Vec<Vec<f64>>,
    /// Per label: the Platt sigmoid fitted on every out-of-fold decision value (the
    /// final model's calibration).
    pub platt: Vec<Platt>,
    /// Per label: the threshold on every out-of-fold probability (the final model's).
    pub thresholds: Vec<f64>,
}

/// Stratified k-fold cross-validation by case.
///
/// In each fold the vocabulary and the models are fitted on the other folds' cases
/// alone, and give the fold's cases their out-of-fold decision values. The Platt
/// sigmoid and the threshold that judge fold f's cases are fitted on the other folds'
/// out-of-fold values (cross-fitting), so no case is judged by a calibration or a
/// threshold fitted on itself; the statistics pool the folds' 2×2 tables.
pub fn cross_validate(data: &Labelled<'_>, options: &Options) -> Validation {
    let n = data.texts.len();
    let k = options.folds.max(2);
    let y = data.label_columns();
    let fold = folds(&data.labels, data.names.len(), k, options.seed);
    // Each fold's (other folds' cases, its own cases), once.
    let split: Vec<(Vec<usize>, Vec<usize>)> = (0..k as u32)
        .map(|f| (0..n).partition(|&i| fold[i] != f))
        .collect();
    let mut decision = vec![vec![0.0; data.names.len()]; n];
    for (train, test) in &split {
        if test.is_empty() {
            continue;
        }
        let vocabulary = Vocabulary::fit(train.iter().map(|&i| data.texts[i]), options.features);
        let x_train = vocabulary.transform(train.iter().map(|&i| data.texts[i]));
        let y_train: Vec<Vec<bool>> = y
            .iter()
            .map(|col| train.iter().map(|&i| col[i]).collect())
            .collect();
        let rows: Vec<usize> = (0..train.len()).collect();
        let models = fit_all(&x_train, &y_train, &rows, options.fit);
        let x_test = vocabulary.transform(test.iter().map(|&i| data.texts[i]));
        for (t, &i) in test.iter().enumerate() {
            for (l, m) in models.iter().enumerate() {
                decision[i][l] = m.decision(&x_test, t);
            }
        }
    }
    let labels = data.names.len();
    let mut probability = vec![vec![0.0; labels]; n];
    let mut rows = Vec::new();
    let mut platt = Vec::new();
    let mut thresholds = Vec::new();
    // Per label and fold: the threshold that judged the fold's cases.
    let mut fold_thresholds = vec![vec![1.0; k]; labels];
    for l in 0..labels {
        let z: Vec<f64> = decision.iter().map(|d| d[l]).collect();
        let mut pooled = Confusion::default();
        for (f, (other, this)) in split.iter().enumerate() {
            if this.is_empty() {
                continue;
            }
            let zo: Vec<f64> = other.iter().map(|&i| z[i]).collect();
            let yo: Vec<bool> = other.iter().map(|&i| y[l][i]).collect();
            let sig = Platt::fit(&zo, &yo);
            let po: Vec<f64> = zo.iter().map(|&v| sig.probability(v)).collect();
            let t = calibrate::threshold(&po, &yo, options.rule);
            fold_thresholds[l][f] = t;
            for &i in this {
                probability[i][l] = sig.probability(z[i]);
            }
            let pt: Vec<f64> = this.iter().map(|&i| probability[i][l]).collect();
            let yt: Vec<bool> = this.iter().map(|&i| y[l][i]).collect();
            pooled.add(Confusion::at(&pt, &yt, t));
        }
        let sig = Platt::fit(&z, &y[l]);
        let all: Vec<f64> = z.iter().map(|&v| sig.probability(v)).collect();
        platt.push(sig);
        thresholds.push(calibrate::threshold(&all, &y[l], options.rule));
        let p: Vec<f64> = probability.iter().map(|p| p[l]).collect();
        rows.push(LabelRow {
            level: options.level.name().into(),
            label: data.names[l].clone(),
            cases: n as u64,
            positives: y[l].iter().filter(|&&v| v).count() as u64,
            threshold_rule: options.rule.describe(),
            threshold: *thresholds.last().expect("pushed"),
            precision: pooled.precision(),
            recall: pooled.recall(),
            f1: pooled.f1(),
            kappa: pooled.kappa(),
            auroc: calibrate::auroc(&z, &y[l]),
            brier: calibrate::brier(&p, &y[l]),
        });
    }
    let scored: Vec<&LabelRow> = rows.iter().filter(|r| r.positives > 0).collect();
    let macro_f1 = scored.iter().map(|r| r.f1).sum::<f64>() / scored.len().max(1) as f64;
    if let Some(themes) = &data.themes {
        let mut order: Vec<&String> = Vec::new();
        for t in themes {
            if !order.contains(&t) {
                order.push(t);
            }
        }
        for theme in order {
            let members: Vec<usize> = (0..labels).filter(|&l| &themes[l] == theme).collect();
            let truth: Vec<bool> = (0..n).map(|i| members.iter().any(|&l| y[l][i])).collect();
            let given: Vec<bool> = (0..n)
                .map(|i| {
                    members
                        .iter()
                        .any(|&l| probability[i][l] >= fold_thresholds[l][fold[i] as usize])
                })
                .collect();
            let score: Vec<f64> = (0..n)
                .map(|i| {
                    members
                        .iter()
                        .map(|&l| probability[i][l])
                        .fold(0.0, f64::max)
                })
                .collect();
            let c = Confusion::of(&given, &truth);
            rows.push(LabelRow {
                level: "theme".into(),
                label: theme.clone(),
                cases: n as u64,
                positives: truth.iter().filter(|&&v| v).count() as u64,
                threshold_rule: "one of its codes suggested".into(),
                threshold: f64::NAN,
                precision: c.precision(),
                recall: c.recall(),
                f1: c.f1(),
                kappa: c.kappa(),
                auroc: calibrate::auroc(&score, &truth),
                brier: f64::NAN,
            });
        }
    }
    let top1_macro_f1 = data
        .single_label()
        .then(|| top1_macro_f1(&probability, &data.labels, labels));
    Validation {
        rows,
        macro_f1,
        top1_macro_f1,
        fold,
        decision,
        probability,
        platt,
        thresholds,
    }
}

/// The validation table: one row per label, then the macro average (of the labels
/// with a positive case).
pub fn validation_rows(v: &Validation) -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> = v
        .rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            m.insert("level".into(), json!(r.level));
            m.insert("label".into(), json!(r.label));
            m.insert("cases".into(), json!(r.cases));
            m.insert("positives".into(), json!(r.positives));
            m.insert("threshold_rule".into(), json!(r.threshold_rule));
            let threshold = (!r.threshold.is_nan()).then(|| round(r.threshold.min(1.0)));
            m.insert("threshold".into(), json!(threshold));
            m.insert("precision".into(), json!(round(r.precision)));
            m.insert("recall".into(), json!(round(r.recall)));
            m.insert("f1".into(), json!(round(r.f1)));
            m.insert("kappa".into(), json!(round(r.kappa)));
            m.insert("auroc".into(), json!(r.auroc.map(round)));
            m.insert("brier".into(), json!(round(r.brier)));
            m
        })
        .collect();
    let mut m = Map::new();
    m.insert(
        "level".into(),
        json!(v.rows.first().map_or("code", |r| r.level.as_str())),
    );
    m.insert("label".into(), json!("(macro average)"));
    for k in [
        "cases",
        "positives",
        "threshold_rule",
        "threshold",
        "precision",
        "recall",
    ] {
        m.insert(k.into(), Value::Null);
    }
    m.insert("f1".into(), json!(round(v.macro_f1)));
    for k in ["kappa", "auroc", "brier"] {
        m.insert(k.into(), Value::Null);
    }
    out.push(m);
    out
}

/// The calibration of the out-of-fold probabilities: per label, ten bins of
/// probability with their cases, mean probability and the share the coders coded.
pub fn calibration_rows(
    v: &Validation,
    names: &[String],
    data: &Labelled<'_>,
) -> Vec<Map<String, Value>> {
    let y = data.label_columns();
    let mut out = Vec::new();
    for (l, name) in names.iter().enumerate() {
        let p: Vec<f64> = v.probability.iter().map(|p| p[l]).collect();
        for (from, to, cases, mean, observed) in calibrate::reliability(&p, &y[l]) {
            let mut m = Map::new();
            m.insert("label".into(), json!(name));
            m.insert("probability_from".into(), json!(from));
            m.insert("probability_to".into(), json!(to));
            m.insert("cases".into(), json!(cases));
            m.insert("mean_probability".into(), json!(round(mean)));
            m.insert("observed_share".into(), json!(round(observed)));
            out.push(m);
        }
    }
    out
}

/// Four places; not a number (a theme row's threshold and Brier score) stays one, and
/// is written as null.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The macro-F1 of each case's most probable label against its one true label, over
/// the labels that occur (scikit-learn's `f1_score(average="macro")` over the labels
/// present in either).
pub fn top1_macro_f1(probability: &[Vec<f64>], truth: &[Vec<usize>], labels: usize) -> f64 {
    let mut c = vec![Confusion::default(); labels];
    for (p, t) in probability.iter().zip(truth) {
        let best = argmax(p);
        let truth = t[0];
        if best == truth {
            c[best].tp += 1;
        } else {
            c[best].fp += 1;
            c[truth].fn_ += 1;
        }
    }
    let present: Vec<&Confusion> = c.iter().filter(|c| c.tp + c.fp + c.fn_ > 0).collect();
    present.iter().map(|c| c.f1()).sum::<f64>() / present.len().max(1) as f64
}

fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// How much a person's code for a case would teach the model: lower is more. With
/// single-label data, the margin between the two most probable labels (margin sampling,
/// Scheffer, Decomain and Wrobel 2001); otherwise the least distance of a label's
/// probability from its threshold.
pub fn uncertainty(p: &[f64], thresholds: &[f64], single_label: bool) -> f64 {
    if single_label {
        let mut top = [f64::NEG_INFINITY; 2];
        for &v in p {
            if v > top[0] {
                top = [v, top[0]];
            } else if v > top[1] {
                top[1] = v;
            }
        }
        if top[1].is_finite() {
            top[0] - top[1]
        } else {
            1.0
        }
    } else {
        p.iter()
            .zip(thresholds)
            .map(|(v, t)| (v - t.min(1.0)).abs())
            .fold(f64::INFINITY, f64::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_seeded() {
        // 10 cases of label 0, 5 of label 1 (rarer), 5 of none, into 5 folds.
        let mut labels = vec![vec![0]; 10];
        labels.extend(vec![vec![0, 1]; 5]);
        labels.extend(vec![vec![]; 5]);
        let f = folds(&labels, 2, 5, 7);
        assert_eq!(f, folds(&labels, 2, 5, 7));
        assert_ne!(f, folds(&labels, 2, 5, 8));
        for fold in 0..5 {
            let of = |r: std::ops::Range<usize>| r.filter(|&i| f[i] == fold).count();
            assert_eq!(of(0..10), 2, "label 0 alone, fold {fold}");
            assert_eq!(of(10..15), 1, "label 1, fold {fold}");
            assert_eq!(of(15..20), 1, "no label, fold {fold}");
        }
    }
}
