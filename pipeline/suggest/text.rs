//! Case text to TF-IDF features: word 1- and 2-grams and character 3- to 5-grams within
//! words, as scikit-learn's `TfidfVectorizer` makes them (`analyzer="word"` with its
//! default token pattern, and `analyzer="char_wb"`), each block weighted and
//! L2-normalised on its own, as a `FeatureUnion` of the two would be.
//!
//! Conventions (docs/suggest.md):
//! - lower case first; words are runs matching `\b\w\w+\b` (Unicode), scikit-learn's
//!   default, so one-letter words are dropped from the word block;
//! - character n-grams of each whitespace-separated word padded with one space either
//!   side (scikit-learn's `char_wb`); a word shorter than n gives one n-gram, itself;
//! - an n-gram is kept as a 64-bit FNV-1a hash of its block and text, never as text: a
//!   model file holds no word of any case. Two n-grams sharing a hash (about one pair in
//!   10¹⁰ among a million kept) would share a weight;
//! - a feature is kept when at least `min_df` training texts hold it (2), and at most
//!   `max_features` of them (1,000,000), the most frequent first, ties by hash;
//! - term frequency sublinear (1 + ln tf), inverse document frequency smoothed
//!   (ln((1 + n) / (1 + df)) + 1), as scikit-learn's `sublinear_tf=True, smooth_idf=True`.

use std::collections::HashMap;

use regex::Regex;

/// The word and character n-gram ranges.
pub const WORD_NGRAMS: (usize, usize) = (1, 2);
pub const CHAR_NGRAMS: (usize, usize) = (3, 5);

/// A sparse matrix, one row per text (compressed sparse rows).
#[derive(Debug, Clone, Default)]
pub struct Csr {
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
    pub columns: usize,
}

impl Csr {
    pub fn rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Row `i`: its column indices and values.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }
}

/// The tokenizer: scikit-learn's default token pattern.
pub struct Tokens {
    word: Regex,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            word: Regex::new(r"\b\w\w+\b").expect("a valid pattern"),
        }
    }
}

const WORD_BLOCK: u8 = b'w';
const CHAR_BLOCK: u8 = b'c';

/// FNV-1a, 64 bits, over the block's byte and then the n-gram's bytes (parts joined by a
/// space, as scikit-learn joins a word n-gram).
fn fnv(block: u8, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(block);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            eat(b' ');
        }
        for &b in p.as_bytes() {
            eat(b);
        }
    }
    h
}

impl Tokens {
    /// Each n-gram of `text` as (hash, whether it is of the word block), with
    /// repetitions, word block first.
    pub fn ngrams(&self, text: &str, out: &mut Vec<(u64, bool)>) {
        out.clear();
        let lower = text.to_lowercase();
        let words: Vec<&str> = self.word.find_iter(&lower).map(|m| m.as_str()).collect();
        for n in WORD_NGRAMS.0..=WORD_NGRAMS.1 {
            for w in words.windows(n) {
                out.push((fnv(WORD_BLOCK, w), true));
            }
        }
        let mut chars: Vec<char> = Vec::new();
        let mut buf = String::new();
        for w in lower.split_whitespace() {
            chars.clear();
            chars.push(' ');
            chars.extend(w.chars());
            chars.push(' ');
            for n in CHAR_NGRAMS.0..=CHAR_NGRAMS.1 {
                // A padded word no longer than n: itself, once, and no longer n-grams.
                if chars.len() <= n {
                    buf.clear();
                    buf.extend(chars.iter());
                    out.push((fnv(CHAR_BLOCK, &[&buf]), false));
                    break;
                }
                for g in chars.windows(n) {
                    buf.clear();
                    buf.extend(g.iter());
                    out.push((fnv(CHAR_BLOCK, &[&buf]), false));
                }
            }
        }
    }
}

/// The kept features: their hashes (sorted), blocks and inverse document frequencies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vocabulary {
    pub hashes: Vec<u64>,
    pub word: Vec<bool>,
    pub idf: Vec<f32>,
}

/// Feature options.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub min_df: u32,
    pub max_features: usize,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            min_df: 2,
            max_features: 1_000_000,
        }
    }
}

impl Vocabulary {
    /// The vocabulary of `texts`.
    pub fn fit<'a>(texts: impl Iterator<Item = &'a str>, options: Features) -> Vocabulary {
        let tokens = Tokens::default();
        let mut df: HashMap<u64, (u32, bool)> = HashMap::new();
        let mut grams = Vec::new();
        let mut n = 0u64;
        for text in texts {
            n += 1;
            tokens.ngrams(text, &mut grams);
            grams.sort_unstable();
            grams.dedup();
            for &(h, word) in &grams {
                df.entry(h).or_insert((0, word)).0 += 1;
            }
        }
        let mut kept: Vec<(u64, u32, bool)> = df
            .into_iter()
            .filter(|(_, (d, _))| *d >= options.min_df)
            .map(|(h, (d, w))| (h, d, w))
            .collect();
        if kept.len() > options.max_features {
            kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            kept.truncate(options.max_features);
        }
        kept.sort_unstable_by_key(|k| k.0);
        let idf = kept
            .iter()
            .map(|&(_, d, _)| (((1 + n) as f64 / (1 + d) as f64).ln() + 1.0) as f32)
            .collect();
        Vocabulary {
            hashes: kept.iter().map(|k| k.0).collect(),
            word: kept.iter().map(|k| k.2).collect(),
            idf,
        }
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The TF-IDF rows of `texts`.
    pub fn transform<'a>(&self, texts: impl Iterator<Item = &'a str>) -> Csr {
        let tokens = Tokens::default();
        let mut m = Csr {
            indptr: vec![0],
            columns: self.len(),
            ..Csr::default()
        };
        let mut grams = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for text in texts {
            tokens.ngrams(text, &mut grams);
            ids.clear();
            ids.extend(
                grams
                    .iter()
                    .filter_map(|(h, _)| self.hashes.binary_search(h).ok().map(|i| i as u32)),
            );
            ids.sort_unstable();
            let start = m.indices.len();
            let mut i = 0;
            while i < ids.len() {
                let mut j = i;
                while j < ids.len() && ids[j] == ids[i] {
                    j += 1;
                }
                let f = ids[i] as usize;
                m.indices.push(ids[i]);
                m.values
                    .push(((1.0 + ((j - i) as f64).ln()) * f64::from(self.idf[f])) as f32);
                i = j;
            }
            // Each block to unit length on its own.
            for block in [true, false] {
                let norm: f64 = (start..m.indices.len())
                    .filter(|&k| self.word[m.indices[k] as usize] == block)
                    .map(|k| f64::from(m.values[k]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if norm > 0.0 {
                    for k in start..m.indices.len() {
                        if self.word[m.indices[k] as usize] == block {
                            m.values[k] = (f64::from(m.values[k]) / norm) as f32;
                        }
                    }
                }
            }
            m.indptr.push(m.indices.len());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngrams_are_scikit_learns() {
        // TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer() on
        // "Ab CDE" gives " ab", "ab ", " ab ", " cd", "cde", "de ", " cde", "cde ",
        // " cde " (scikit-learn 1.5, checked by hand); the word analyzer with (1, 2) gives
        // "ab", "cde", "ab cde".
        let t = Tokens::default();
        let mut out = Vec::new();
        t.ngrams("Ab CDE", &mut out);
        let words: Vec<u64> = out.iter().filter(|g| g.1).map(|g| g.0).collect();
        assert_eq!(
            words,
            vec![
                fnv(WORD_BLOCK, &["ab"]),
                fnv(WORD_BLOCK, &["cde"]),
                fnv(WORD_BLOCK, &["ab", "cde"])
            ]
        );
        let chars: Vec<u64> = out.iter().filter(|g| !g.1).map(|g| g.0).collect();
        let expect: Vec<u64> = [
            // " ab " is 4 characters: itself as its 4-gram, and no 5-gram.
            " ab", "ab ", " ab ", " cd", "cde", "de ", " cde", "cde ", " cde ",
        ]
        .iter()
        .map(|g| fnv(CHAR_BLOCK, &[g]))
        .collect();
        assert_eq!(chars, expect);
    }

    #[test]
    fn tf_idf_rows_are_unit_length_per_block() {
        let texts = ["late report again", "report late", "again and again"];
        let v = Vocabulary::fit(texts.iter().copied(), Features::default());
        let m = v.transform(texts.iter().copied());
        for i in 0..m.rows() {
            let (idx, val) = m.row(i);
            for block in [true, false] {
                let s: f64 = idx
                    .iter()
                    .zip(val)
                    .filter(|(j, _)| v.word[**j as usize] == block)
                    .map(|(_, x)| f64::from(*x).powi(2))
                    .sum();
                assert!((s - 1.0).abs() < 1e-5, "row {i} block {block}: {s}");
            }
        }
        // "late" is in two of three texts: idf = ln(4/3) + 1.
        let late = v.hashes.binary_search(&fnv(WORD_BLOCK, &["late"])).unwrap();
        assert!((f64::from(v.idf[late]) - ((4.0f64 / 3.0).ln() + 1.0)).abs() < 1e-6);
    }
}
