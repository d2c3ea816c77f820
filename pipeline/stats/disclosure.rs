//! Statistical disclosure control for published sub-national counts, by NHS Digital's
//! rule: 0 stays 0; 1 to 7 are suppressed (`*`); 8 and above are rounded to the nearest
//! 5. Percentages are computed from the rounded figures, and the rates and intervals of
//! suppressed cells are suppressed too.

use serde::Serialize;

/// The rule, as every published output states it.
pub const DISCLOSURE_RULE: &str = "Counts follow NHS statistical disclosure control: 0 is shown as 0, counts of 1 to 7 are suppressed (*), and counts of 8 or more are rounded to the nearest 5; percentages are calculated from the rounded figures, and the rates and intervals of suppressed counts are suppressed.";

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

/// A count under the rule.
pub fn publish_count(n: u64) -> Published {
    match n {
        0 => Published::Count(0),
        1..=7 => Published::Suppressed,
        _ => Published::Count((n + 2) / 5 * 5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_vector() {
        let got: Vec<String> = [0, 2, 5, 7, 8, 16, 57, 10023]
            .into_iter()
            .map(|n| publish_count(n).to_string())
            .collect();
        assert_eq!(got, ["0", "*", "*", "*", "10", "15", "55", "10025"]);
    }

    #[test]
    fn rounding_edges() {
        // Nearest 5: 12 → 10, 13 → 15, 17 → 15, 18 → 20.
        for (n, want) in [(9, 10), (12, 10), (13, 15), (17, 15), (18, 20), (20, 20)] {
            assert_eq!(publish_count(n), Published::Count(want), "{n}");
        }
        assert_eq!(serde_json::to_string(&publish_count(3)).unwrap(), "\"*\"");
        assert_eq!(serde_json::to_string(&publish_count(16)).unwrap(), "15");
    }
}
