//! A count as published: a number, or suppressed (`*`). Which counts are suppressed,
//! and how the rest are rounded, is the publication's audited set (`publication`,
//! `stats::suppression`).

use serde::Serialize;

/// A count as published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Published {
    Count(u64),
    #[serde(serialize_with = "star")]
    Suppressed,
}

fn star<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("*")
}

impl Published {
    pub fn value(self) -> Option<u64> {
        match self {
            Published::Count(n) => Some(n),
            Published::Suppressed => None,
        }
    }
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Published::Count(n) => write!(f, "{n}"),
            Published::Suppressed => f.write_str("*"),
        }
    }
}
