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
}

impl Filter {
    pub fn name(self) -> &'static str {
        match self {
            Filter::Organisation => "organisation",
            Filter::Region => "region",
            Filter::Source => "source",
            Filter::Decision => "decision",
        }
    }
}

/// How a publication rounds what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// To the nearest multiple of the base (5: NHS practice); halves up.
    Nearest(u64),
}

impl Rounding {
    pub fn count(self, n: u64) -> u64 {
        match self {
            Rounding::Nearest(b) => (n + b / 2) / b * b,
        }
    }

    pub fn words(self) -> String {
        match self {
            Rounding::Nearest(b) => format!("rounded to the nearest {b}"),
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
    /// Published counts are rounded to the nearest multiple of this.
    pub rounding: u64,
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
            rounding: 5,
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
    pub fn rounding(&self) -> Rounding {
        Rounding::Nearest(self.rounding.max(1))
    }

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
        if self.rounding == 0 || self.rounding > 100 {
            return Err("publication.rounding must be from 1 to 100".into());
        }
        if self.amount_unit == 0 {
            return Err("publication.amount_unit must be at least 1 (pound)".into());
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
        let filters: Vec<&str> = self.filters.iter().map(|f| f.name()).collect();
        format!(
            "{rule}: the published figures are one fixed set of tables for this version of the data, for {periods} and the whole period, for all {filters_all}{filters}. Counts of 1 to {t} are suppressed (*), and so are further counts wherever a suppressed count could otherwise be worked out from other published counts (secondary suppression by Gaussian elimination, Langsrud 2024, as Statistics Norway's GaussSuppression); 0 is shown as 0, and every other count is {rounding}. Rates and intervals are calculated from the published counts. Amounts are shown only where their count is published and no single amount is more than {dom:.0}% of the total, {amount}; medians and percentiles only where their group's published count is above {t}, days rounded to whole weeks; minima and maxima are not published.",
            rule = self.rule,
            periods = periods.join(", "),
            filters_all = if filters.is_empty() { "" } else { "and each " },
            filters = filters.join(", each "),
            rounding = self.rounding().words(),
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
