//! The model file: everything a suggestion needs, and nothing of any case's text.
//!
//! Layout (little-endian): the line `CASEWORK-MODEL 1`, the header's length in bytes as
//! a decimal line, the header (JSON: the labels, the code list's SHA-256, the
//! warehouse version and number of cases it was trained on, the options, each label's
//! Platt sigmoid and threshold), then per feature its 64-bit hash, IDF (f32) and block
//! (one byte, 1 for words), then per label its weights (f32, one per feature) and its
//! intercept (f64). The model's name is the first twelve hex digits of the file's
//! SHA-256, and it codes as `model:NAME`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::calibrate::Platt;
use super::logistic::Binary;
use super::text::{Csr, Vocabulary};
use crate::error::{Error, Result};

const MAGIC: &str = "CASEWORK-MODEL 1\n";

/// The model's header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub level: String,
    pub labels: Vec<String>,
    /// The code list the labels come from.
    pub code_list_sha256: String,
    /// The warehouse version of the training cases, and how many.
    pub warehouse_version: String,
    pub training_cases: u64,
    pub seed: u64,
    pub folds: usize,
    pub threshold_rule: String,
    pub c: f64,
    pub class_weight_balanced: bool,
    pub max_iter: u64,
    pub min_df: u32,
    pub max_features: usize,
    pub word_ngrams: (usize, usize),
    pub char_ngrams: (usize, usize),
    /// Per label: Platt's A and B.
    pub platt: Vec<(f64, f64)>,
    pub thresholds: Vec<f64>,
    /// The cross-validated macro-F1 (and top-1 macro-F1 of single-label data).
    pub macro_f1: f64,
    pub top1_macro_f1: Option<f64>,
    pub features: usize,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub header: Header,
    pub vocabulary: Vocabulary,
    /// Per label, feature-major weights as f32 (as stored) and the intercept.
    pub weights: Vec<Vec<f32>>,
    pub intercepts: Vec<f64>,
}

impl Model {
    pub fn new(header: Header, vocabulary: Vocabulary, binaries: &[Binary]) -> Model {
        Model {
            header,
            vocabulary,
            weights: binaries
                .iter()
                .map(|b| b.w.iter().map(|&v| v as f32).collect())
                .collect(),
            intercepts: binaries.iter().map(|b| b.b).collect(),
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_string(&self.header).expect("a header serialises");
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC.as_bytes());
        out.extend_from_slice(format!("{}\n", header.len()).as_bytes());
        out.extend_from_slice(header.as_bytes());
        for i in 0..self.vocabulary.len() {
            out.extend_from_slice(&self.vocabulary.hashes[i].to_le_bytes());
            out.extend_from_slice(&self.vocabulary.idf[i].to_le_bytes());
            out.push(u8::from(self.vocabulary.word[i]));
        }
        for (w, b) in self.weights.iter().zip(&self.intercepts) {
            for v in w {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&b.to_le_bytes());
        }
        out
    }

    /// How the model was trained and validated, in a sentence (kept in the manifest with
    /// the codings it wrote, for the report's methods).
    pub fn describe(&self, name: &str) -> String {
        let h = &self.header;
        format!(
            "casework suggest: {}{name}: TF-IDF over word {}- to {}-grams and character {}- to {}-grams within words (hashed; kept when in two training texts or more), one logistic regression per {} (one-vs-rest, L2 penalty C = {}{}), Platt-calibrated; trained on {} coded cases of warehouse version {}; {}-fold cross-validation by case (stratified, seed {}): macro-F1 {:.3}{}; thresholds chosen for {}",
            super::store::MODEL_CODER,
            h.word_ngrams.0,
            h.word_ngrams.1,
            h.char_ngrams.0,
            h.char_ngrams.1,
            h.level,
            h.c,
            if h.class_weight_balanced {
                ", classes balanced"
            } else {
                ""
            },
            h.training_cases,
            h.warehouse_version,
            h.folds,
            h.seed,
            h.macro_f1,
            h.top1_macro_f1
                .map(|t| format!(" (top-1 {t:.3})"))
                .unwrap_or_default(),
            h.threshold_rule.replace("precision:", "a precision of ")
        )
    }

    /// The SHA-256 of the file, in hex.
    pub fn sha256(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The model's name: the first twelve hex digits of its file's SHA-256.
    pub fn name_of(bytes: &[u8]) -> String {
        Model::sha256(bytes)[..12].to_string()
    }

    /// Reads a model file, naming the file in any error.
    pub fn read(path: &Path) -> Result<(Model, String)> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad =
            |why: &str| Error::Usage(format!("{}: not a casework model: {why}", path.display()));
        let rest = bytes
            .strip_prefix(MAGIC.as_bytes())
            .ok_or_else(|| bad("it does not start with CASEWORK-MODEL 1"))?;
        let line = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no header length"))?;
        let len: usize = std::str::from_utf8(&rest[..line])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("the header length is not a number"))?;
        let rest = &rest[line + 1..];
        if rest.len() < len {
            return Err(bad("it ends inside its header"));
        }
        let header: Header = serde_json::from_slice(&rest[..len])
            .map_err(|e| bad(&format!("its header does not read: {e}")))?;
        let mut body = &rest[len..];
        let f = header.features;
        let k = header.labels.len();
        if body.len() != f * 13 + k * (f * 4 + 8) {
            return Err(bad(
                "its size is not what its header says (truncated or altered)",
            ));
        }
        let mut take = |n: usize| {
            let (a, b) = body.split_at(n);
            body = b;
            a
        };
        let mut vocabulary = Vocabulary::default();
        for _ in 0..f {
            vocabulary
                .hashes
                .push(u64::from_le_bytes(take(8).try_into().expect("8 bytes")));
            vocabulary
                .idf
                .push(f32::from_le_bytes(take(4).try_into().expect("4 bytes")));
            vocabulary.word.push(take(1)[0] == 1);
        }
        let mut weights = Vec::with_capacity(k);
        let mut intercepts = Vec::with_capacity(k);
        for _ in 0..k {
            weights.push(
                take(f * 4)
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                    .collect(),
            );
            intercepts.push(f64::from_le_bytes(take(8).try_into().expect("8 bytes")));
        }
        let name = Model::name_of(&bytes);
        Ok((
            Model {
                header,
                vocabulary,
                weights,
                intercepts,
            },
            name,
        ))
    }

    /// Each row's calibrated probability per label.
    pub fn probabilities(&self, x: &Csr) -> Vec<Vec<f64>> {
        (0..x.rows())
            .map(|i| {
                let (idx, val) = x.row(i);
                self.weights
                    .iter()
                    .zip(&self.intercepts)
                    .zip(&self.header.platt)
                    .map(|((w, b), &(a, pb))| {
                        let z = b + idx
                            .iter()
                            .zip(val)
                            .map(|(&j, &v)| f64::from(w[j as usize]) * f64::from(v))
                            .sum::<f64>();
                        Platt { a, b: pb }.probability(z)
                    })
                    .collect()
            })
            .collect()
    }
}
