//! A study's publication rules (`[publication]` in study.toml): the disclosure rule's
//! name, threshold and rounding, the filters and periods a published view may have, the
//! date the periods are of, and the unit amounts are rounded to. Configuration only; the
//! audited set itself is `publication`'s.

use serde::{Deserialize, Serialize};

use crate::spec::grid::{DateField, Level};

/// A total of amounts is withheld when one item is more than this share of it (the
/// (1, 85%) dominance rule), whatever the count.
pub const DOMINANCE: f64 = 0.85;

/// The kinds of filter a publication may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Filter {
    Organisation,
    /// The study's second grouping (`region` in the bundle).
    Region,
    Source,
    Decision,
    /// The service mainly complained about (`service` in cases). The explorer and the
    /// measures filter on it; a publication does not offer it (its fixed table set).
    Service,
    /// A finding's stage (`stage` in findings): it selects findings, not cases (a case
    /// stays in scope, with the themes of its findings at the stages chosen). Not
    /// offered by a publication either.
    Stage,
}

impl Filter {
    pub const ALL: [Filter; 6] = [
        Filter::Organisation,
        Filter::Region,
        Filter::Source,
        Filter::Decision,
        Filter::Service,
        Filter::Stage,
    ];

    /// Whether it selects findings (a stage), not cases.
    pub fn of_findings(self) -> bool {
        self == Filter::Stage
    }

    /// Its column in the cases (in the findings for a stage).
    pub fn column(self) -> &'static str {
        match self {
            Filter::Organisation => "organisation_code",
            Filter::Region => "region",
            Filter::Source => "source",
            Filter::Decision => "decision",
            Filter::Service => "service",
            Filter::Stage => "stage",
        }
    }

    /// Its name in filters and addresses.
    pub fn name(self) -> &'static str {
        match self {
            Filter::Organisation => "organisation",
            Filter::Region => "region",
            Filter::Source => "source",
            Filter::Decision => "decision",
            Filter::Service => "service",
            Filter::Stage => "stage",
        }
    }
}

/// How a publication rounds the counts it shows (after suppression).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// To the nearest multiple of the base (5: NHS Digital's practice); halves up.
    Nearest(u64),
    /// To the midpoint of its band of six: 1–6 as 3, 7–12 as 9, 13–18 as 15 (OpenSAFELY's
    /// "midpoint 6" rounding; 0 stays 0).
    Midpoint6,
}

impl Rounding {
    pub fn count(self, n: u64) -> u64 {
        match self {
            Rounding::Nearest(b) => (n + b / 2) / b * b,
            Rounding::Midpoint6 if n == 0 => 0,
            Rounding::Midpoint6 => n.div_ceil(6) * 6 - 3,
        }
    }

    pub fn words(self) -> String {
        match self {
            Rounding::Nearest(b) => format!("rounded to the nearest {b}"),
            Rounding::Midpoint6 => "rounded to the midpoint of its band of six (7 to 12 shown as 9, 13 to 18 as 15; OpenSAFELY's midpoint-6 rounding)".into(),
        }
    }
}

impl Serialize for Rounding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rounding::Nearest(b) => s.serialize_u64(*b),
            Rounding::Midpoint6 => s.serialize_str("midpoint6"),
        }
    }
}

impl<'de> Deserialize<'de> for Rounding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rounding, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Base(u64),
            Name(String),
        }
        match Given::deserialize(d)? {
            Given::Base(b) if (1..=100).contains(&b) => Ok(Rounding::Nearest(b)),
            Given::Base(b) => Err(serde::de::Error::custom(format!(
                "rounding {b}: a base from 1 to 100, or \"midpoint6\""
            ))),
            Given::Name(n) if n == "midpoint6" => Ok(Rounding::Midpoint6),
            Given::Name(n) => Err(serde::de::Error::custom(format!(
                "rounding {n:?}: a base from 1 to 100, or \"midpoint6\""
            ))),
        }
    }
}

/// The study's publication rules (`[publication]` in study.toml, docs/studies.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The rule's name as the methods say it ("NHS statistical disclosure control").
    pub rule: String,
    /// Counts of 1 to this are suppressed.
    pub threshold: u64,
    /// Published counts are rounded to the nearest multiple of this, or (`"midpoint6"`)
    /// to the midpoint of their band of six.
    pub rounding: Rounding,
    /// The filters a published view may have, one at a time.
    pub filters: Vec<Filter>,
    /// The grid's periods a published view may have (the whole period always).
    pub periods: Vec<Level>,
    /// The date the periods are of.
    pub date_field: DateField,
    /// Amounts are rounded to the nearest multiple of this many pounds.
    pub amount_unit: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            rule: "Statistical disclosure control".into(),
            threshold: 7,
            rounding: Rounding::Nearest(5),
            filters: vec![Filter::Organisation, Filter::Region],
            periods: vec![
                Level::Month,
                Level::Quarter,
                Level::FinancialYear,
                Level::Year,
            ],
            date_field: DateField::OpenedDate,
            amount_unit: 100,
        }
    }
}

impl Settings {
    /// The grid's levels in use, the whole period included.
    pub fn levels(&self) -> Vec<Level> {
        let mut l = vec![Level::All];
        l.extend(self.periods.iter().copied().filter(|l| *l != Level::All));
        l
    }

    /// Checks the settings themselves.
    pub fn check(&self) -> Result<(), String> {
        if self.threshold == 0 {
            return Err("publication.threshold must be at least 1".into());
        }
        if self.amount_unit == 0 {
            return Err("publication.amount_unit must be at least 1 (pound)".into());
        }
        if let Some(f) = self
            .filters
            .iter()
            .find(|f| matches!(f, Filter::Service | Filter::Stage))
        {
            return Err(format!(
                "publication.filters: {:?} is not a published filter (a publication's \
                 views are of organisation, region, source and decision); the explorer \
                 and the measures filter on it",
                f.name()
            ));
        }
        Ok(())
    }

    /// The rule in one paragraph, as every published output states it.
    pub fn text(&self) -> String {
        let t = self.threshold;
        let periods: Vec<&str> = self
            .levels()
            .iter()
            .filter(|l| **l != Level::All)
            .map(|l| match l {
                Level::Month => "months",
                Level::Quarter => "calendar quarters",
                Level::FinancialYear => "financial years (April to March)",
                Level::Year => "calendar years",
                Level::All => "",
            })
            .collect();
        let filters: Vec<&str> = self
            .filters
            .iter()
            .map(|f| match f {
                Filter::Region => "each value of the second grouping (region)",
                Filter::Organisation => "each organisation",
                Filter::Source => "each source",
                Filter::Decision => "each decision",
                Filter::Service => "each service",
                Filter::Stage => "each stage",
            })
            .collect();
        let units = match filters.as_slice() {
            [] => "all cases".to_string(),
            [one] => format!("all cases and {one}"),
            [init @ .., last] => format!("all cases, {} and {last}", init.join(", ")),
        };
        format!(
            "{rule}: the published figures are one fixed set of tables for this version of the data, for {periods} and the whole period, for {units}, one at a time. Counts of 1 to {t} are suppressed (*), and so are further counts wherever a suppressed count could otherwise be worked out from other published counts (secondary suppression by Gaussian elimination, Langsrud 2024, as Statistics Norway's GaussSuppression); 0 is shown as 0, and every other count is {rounding}. Rates and intervals are calculated from the published counts. Amounts are shown only where their count is published and no single amount is more than {dom:.0}% of the total, {amount}; medians and percentiles only where their group's published count is above {t}, days rounded to whole weeks; minima and maxima are not published.",
            rule = self.rule,
            periods = periods.join(", "),
            rounding = self.rounding.words(),
            dom = DOMINANCE * 100.0,
            amount = format_args!("rounded to the nearest £{}", self.amount_unit),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NHS Digital's rounding of counts above the threshold: nearest 5, halves up (the
    /// vector of issue 17: 8 → 10, 16 → 15, 57 → 55, 10023 → 10025).
    #[test]
    fn counts_round_to_the_nearest_five() {
        let r = Rounding::Nearest(5);
        for (n, want) in [
            (8, 10),
            (9, 10),
            (12, 10),
            (13, 15),
            (16, 15),
            (17, 15),
            (18, 20),
            (20, 20),
            (57, 55),
            (10023, 10025),
        ] {
            assert_eq!(r.count(n), want, "{n}");
        }
    }

    /// OpenSAFELY's midpoint-6 rounding, `ceiling(x / 6) * 6 - 3` for x > 0: its
    /// documented bands (1–6 → 3, 7–12 → 9, 13–18 → 15).
    #[test]
    fn midpoint_six() {
        let r = Rounding::Midpoint6;
        for (n, want) in [
            (0, 0),
            (1, 3),
            (6, 3),
            (7, 9),
            (8, 9),
            (12, 9),
            (13, 15),
            (18, 15),
            (19, 21),
            (100, 99),
        ] {
            assert_eq!(r.count(n), want, "{n}");
        }
        let s: Settings = toml::from_str("rounding = \"midpoint6\"\nthreshold = 10").unwrap();
        assert_eq!(s.rounding, Rounding::Midpoint6);
        assert!(s.text().contains("midpoint"));
        assert!(toml::from_str::<Settings>("rounding = 0").is_err());
        assert!(toml::from_str::<Settings>("rounding = \"half\"").is_err());
    }

    #[test]
    fn the_settings_read_from_a_study() {
        let s: Settings = toml::from_str(
            "rule = \"NHS statistical disclosure control\"\nthreshold = 9\nfilters = [\"organisation\"]\nperiods = [\"quarter\", \"financial_year\"]",
        )
        .unwrap();
        assert_eq!(s.threshold, 9);
        assert_eq!(s.filters, vec![Filter::Organisation]);
        assert_eq!(
            s.levels(),
            vec![Level::All, Level::Quarter, Level::FinancialYear]
        );
        assert!(s.text().contains("Counts of 1 to 9 are suppressed"));
        assert!(toml::from_str::<Settings>("threshold = 7\nround = 5").is_err());
    }
}
