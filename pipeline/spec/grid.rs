//! The calendar grid a publication's periods lie on: months, calendar quarters, calendar
//! years, UK financial years (April to March) and the whole period. A case belongs to
//! the periods its date falls in; a date known only to the year belongs to its calendar
//! year and the whole period (not to a month, quarter or financial year); a case without
//! the date belongs to the whole period only.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Which date `--from`/`--to` and the monthly series use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateField {
    #[default]
    OpenedDate,
    ClosedDate,
}

impl DateField {
    pub fn column(self) -> &'static str {
        match self {
            DateField::OpenedDate => "opened_date",
            DateField::ClosedDate => "closed_date",
        }
    }
}

/// Where a case's date puts it: the finest period it is known to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leaf {
    /// Known to the month (or the day): year and month 1–12.
    Month(i32, u32),
    /// Known only to the year.
    Year(i32),
    /// No date.
    Undated,
}

/// The calendar quarter (1 to 4) of a month (1 to 12).
fn quarter(month: u32) -> u32 {
    (month - 1) / 3 + 1
}

/// A period of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub enum Period {
    /// Every case, dated or not.
    All,
    /// A calendar year.
    Year(i32),
    /// A UK financial year: April of the year to March of the next.
    FinancialYear(i32),
    /// A calendar quarter, 1–4.
    Quarter(i32, u32),
    Month(i32, u32),
}

/// The grid's kinds of period, coarse to fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    All,
    Year,
    FinancialYear,
    Quarter,
    Month,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::All,
        Level::Year,
        Level::FinancialYear,
        Level::Quarter,
        Level::Month,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::All => "all",
            Level::Year => "year",
            Level::FinancialYear => "financial_year",
            Level::Quarter => "quarter",
            Level::Month => "month",
        }
    }
}

impl Period {
    pub fn level(self) -> Level {
        match self {
            Period::All => Level::All,
            Period::Year(_) => Level::Year,
            Period::FinancialYear(_) => Level::FinancialYear,
            Period::Quarter(..) => Level::Quarter,
            Period::Month(..) => Level::Month,
        }
    }

    /// Whether a case at `leaf` belongs to this period.
    pub fn contains(self, leaf: Leaf) -> bool {
        Period::holding(leaf, &[self.level()]).contains(&self)
    }

    /// The periods of the grid at `levels` that hold `leaf`.
    pub fn holding(leaf: Leaf, levels: &[Level]) -> Vec<Period> {
        let mut out = Vec::new();
        for &level in levels {
            let p = match (level, leaf) {
                (Level::All, _) => Some(Period::All),
                (Level::Year, Leaf::Month(y, _) | Leaf::Year(y)) => Some(Period::Year(y)),
                (Level::FinancialYear, Leaf::Month(y, m)) => {
                    Some(Period::FinancialYear(if m >= 4 { y } else { y - 1 }))
                }
                (Level::Quarter, Leaf::Month(y, m)) => Some(Period::Quarter(y, quarter(m))),
                (Level::Month, Leaf::Month(y, m)) => Some(Period::Month(y, m)),
                _ => None,
            };
            out.extend(p);
        }
        out
    }

    /// The first and last day, for the dated periods.
    pub fn days(self) -> Option<(NaiveDate, NaiveDate)> {
        let ymd = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d);
        let last_of = |y: i32, m: u32| {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            ymd(ny, nm, 1).and_then(|d| d.pred_opt())
        };
        match self {
            Period::All => None,
            Period::Year(y) => Some((ymd(y, 1, 1)?, ymd(y, 12, 31)?)),
            Period::FinancialYear(y) => Some((ymd(y, 4, 1)?, ymd(y + 1, 3, 31)?)),
            Period::Quarter(y, q) => Some((ymd(y, 3 * q - 2, 1)?, last_of(y, 3 * q)?)),
            Period::Month(y, m) => Some((ymd(y, m, 1)?, last_of(y, m)?)),
        }
    }

    /// The period as written: `all`, `2024`, `FY2024-25`, `2024-Q2`, `2024-05`.
    pub fn code(self) -> String {
        match self {
            Period::All => "all".into(),
            Period::Year(y) => format!("{y}"),
            Period::FinancialYear(y) => format!("FY{y}-{:02}", (y + 1).rem_euclid(100)),
            Period::Quarter(y, q) => format!("{y}-Q{q}"),
            Period::Month(y, m) => format!("{y}-{m:02}"),
        }
    }

    /// In words: "the whole period", "2024", "financial year 2024-25", "April to June
    /// 2024", "May 2024".
    pub fn words(self) -> String {
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        match self {
            Period::All => "the whole period".into(),
            Period::Year(y) => format!("{y}"),
            Period::FinancialYear(y) => {
                format!("financial year {y}-{:02}", (y + 1).rem_euclid(100))
            }
            Period::Quarter(y, q) => format!(
                "{} to {} {y}",
                MONTHS[(3 * q - 3) as usize],
                MONTHS[(3 * q - 1) as usize]
            ),
            Period::Month(y, m) => format!("{} {y}", MONTHS[(m - 1) as usize]),
        }
    }

    /// Reads a period as written (see [`Period::code`]); `from..to` dates are not periods.
    pub fn parse(text: &str) -> Result<Period, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "{text:?} is not a period of the publication's grid: write all, a year (2024), a financial year (FY2024-25), a quarter (2024-Q2) or a month (2024-05)"
            )
        };
        let year = |s: &str| -> Option<i32> {
            (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if t.eq_ignore_ascii_case("all") || t.is_empty() {
            return Ok(Period::All);
        }
        if let Some(y) = year(t) {
            return Ok(Period::Year(y));
        }
        if let Some(rest) = t.strip_prefix("FY").or_else(|| t.strip_prefix("fy")) {
            let (a, b) = rest.split_once('-').ok_or_else(bad)?;
            let y = year(a).ok_or_else(bad)?;
            let next: i32 = b.parse().map_err(|_| bad())?;
            let ok = (b.len() == 2 && next == (y + 1).rem_euclid(100))
                || (b.len() == 4 && next == y + 1);
            return if ok {
                Ok(Period::FinancialYear(y))
            } else {
                Err(bad())
            };
        }
        let (a, b) = t.split_once('-').ok_or_else(bad)?;
        let y = year(a).ok_or_else(bad)?;
        if let Some(q) = b.strip_prefix('Q').or_else(|| b.strip_prefix('q')) {
            return match q.parse::<u32>() {
                Ok(q @ 1..=4) if b.len() == 2 => Ok(Period::Quarter(y, q)),
                _ => Err(bad()),
            };
        }
        match (b.len(), b.parse::<u32>()) {
            (2, Ok(m @ 1..=12)) => Ok(Period::Month(y, m)),
            _ => Err(bad()),
        }
    }

    /// A `from..to` range of days as a period of the grid, when it is exactly one.
    pub fn from_days(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Option<Period> {
        let (from, to) = match (from, to) {
            (None, None) => return Some(Period::All),
            (Some(f), Some(t)) => (f, t),
            _ => return None,
        };
        let y = from.year();
        let candidates = [
            Period::Year(y),
            Period::FinancialYear(y),
            Period::Quarter(y, quarter(from.month())),
            Period::Month(y, from.month()),
        ];
        candidates
            .into_iter()
            .find(|p| p.days() == Some((from, to)))
    }

    /// The periods of the grid (of `levels`, the coarsest first) that make up the days
    /// `from` to `to` exactly, or why they cannot: a range must start on the first of a
    /// month and end on the last day of one.
    pub fn cover(from: NaiveDate, to: NaiveDate, levels: &[Level]) -> Result<Vec<Period>, String> {
        let mut out = Vec::new();
        let mut at = from;
        while at <= to {
            let candidates = [
                (
                    Level::Year,
                    (at.month() == 1).then_some(Period::Year(at.year())),
                ),
                (
                    Level::FinancialYear,
                    (at.month() == 4).then_some(Period::FinancialYear(at.year())),
                ),
                (
                    Level::Quarter,
                    (at.month() - 1)
                        .is_multiple_of(3)
                        .then_some(Period::Quarter(at.year(), quarter(at.month()))),
                ),
                (Level::Month, Some(Period::Month(at.year(), at.month()))),
            ];
            let next = candidates
                .into_iter()
                .filter(|(l, _)| levels.contains(l))
                .filter_map(|(_, p)| p)
                .find(|p| p.days().is_some_and(|(a, b)| a == at && b <= to));
            match next {
                Some(p) => {
                    out.push(p);
                    at = p.days().map(|(_, b)| b).unwrap_or(to) + chrono::Duration::days(1);
                }
                None => {
                    return Err(format!(
                        "{from}..{to} is not made of whole periods of the publication's grid: it must start on the first day of a month and end on the last day of one"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The periods at `level` that lie within `self` (for a chart of months within a
    /// year): those whose days are within its days, in order.
    pub fn within(self, level: Level, leaves: &[Leaf]) -> Vec<Period> {
        let mut out: Vec<Period> = leaves
            .iter()
            .filter(|l| self.contains(**l))
            .flat_map(|l| Period::holding(*l, &[level]))
            .filter(|p| match (self.days(), p.days()) {
                (None, _) => true,
                (Some((a, b)), Some((c, d))) => a <= c && d <= b,
                _ => false,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.code()
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back() {
        for p in [
            Period::All,
            Period::Year(2024),
            Period::FinancialYear(2024),
            Period::FinancialYear(1999),
            Period::Quarter(2024, 2),
            Period::Month(2024, 5),
            Period::Month(2000, 1),
        ] {
            assert_eq!(Period::parse(&p.code()), Ok(p), "{}", p.code());
        }
        assert_eq!(Period::FinancialYear(1999).code(), "FY1999-00");
        for bad in [
            "2024-13",
            "2024-Q5",
            "FY2024-26",
            "24",
            "2024-1",
            "2024-01-01",
            "x",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_are_covered_by_whole_periods() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let all = [
            Level::Year,
            Level::FinancialYear,
            Level::Quarter,
            Level::Month,
        ];
        assert_eq!(
            Period::cover(d(2019, 1, 1), d(2020, 12, 31), &all),
            Ok(vec![Period::Year(2019), Period::Year(2020)])
        );
        assert_eq!(
            Period::cover(d(2021, 2, 1), d(2022, 6, 30), &all),
            Ok(vec![
                Period::Month(2021, 2),
                Period::Month(2021, 3),
                Period::FinancialYear(2021),
                Period::Quarter(2022, 2)
            ])
        );
        assert!(Period::cover(d(2021, 2, 2), d(2021, 3, 31), &all).is_err());
        assert!(Period::cover(d(2021, 1, 1), d(2021, 3, 30), &all).is_err());
        // Without months, a range of months cannot be made.
        assert!(Period::cover(d(2021, 2, 1), d(2021, 2, 28), &[Level::Year]).is_err());
    }

    #[test]
    fn leaves_and_periods() {
        let march = Leaf::Month(2024, 3);
        let april = Leaf::Month(2024, 4);
        assert!(Period::FinancialYear(2023).contains(march));
        assert!(Period::FinancialYear(2024).contains(april));
        assert!(!Period::FinancialYear(2024).contains(march));
        assert!(Period::Year(2024).contains(Leaf::Year(2024)));
        assert!(!Period::Quarter(2024, 1).contains(Leaf::Year(2024)));
        assert!(Period::All.contains(Leaf::Undated));
        assert!(!Period::Year(2024).contains(Leaf::Undated));
        assert_eq!(
            Period::holding(march, &Level::ALL),
            vec![
                Period::All,
                Period::Year(2024),
                Period::FinancialYear(2023),
                Period::Quarter(2024, 1),
                Period::Month(2024, 3)
            ]
        );
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(
            Period::Quarter(2024, 1).days(),
            Some((d(2024, 1, 1).unwrap(), d(2024, 3, 31).unwrap()))
        );
        assert_eq!(
            Period::Month(2024, 2).days().unwrap().1,
            d(2024, 2, 29).unwrap()
        );
        assert_eq!(
            Period::from_days(d(2024, 4, 1), d(2025, 3, 31)),
            Some(Period::FinancialYear(2024))
        );
        assert_eq!(Period::from_days(d(2024, 4, 2), d(2025, 3, 31)), None);
        assert_eq!(Period::from_days(None, None), Some(Period::All));
    }
}
