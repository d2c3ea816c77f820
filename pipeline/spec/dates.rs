//! Dates as the bundle contract writes them (ISO 8601 `YYYY-MM-DD`), as days since
//! 1970-01-01 (Arrow's Date32). Used by the checker and by mappings.

use chrono::NaiveDate;

pub const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// `YYYY-MM-DD` → days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let d = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some((d - EPOCH).num_days() as i32)
}

/// How much of a date the input gave: the day, only the month, or only the year. A
/// month or a year is stored at its first day, with its precision beside it, so that
/// measures that need a day can leave it out and say how many they left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Day,
    Month,
    Year,
}

impl Precision {
    /// The stored value of the `<name>_precision` column.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Day => "day",
            Precision::Month => "month",
            Precision::Year => "year",
        }
    }
}

/// The name of the companion column that keeps a date's precision.
pub fn precision_column(name: &str) -> String {
    format!("{name}_precision")
}

/// `YYYY-MM-DD`, `YYYY-MM` or `YYYY` → days since 1970-01-01 of its first day, and
/// its precision.
pub fn parse_partial_date(text: &str) -> Option<(i32, Precision)> {
    let b = text.as_bytes();
    let first_day = |y: &str, m: &str| {
        if !(y.bytes().all(|c| c.is_ascii_digit()) && m.bytes().all(|c| c.is_ascii_digit())) {
            return None;
        }
        let d = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
        Some((d - EPOCH).num_days() as i32)
    };
    match b.len() {
        10 => parse_date(text).map(|d| (d, Precision::Day)),
        7 if b[4] == b'-' => first_day(&text[..4], &text[5..]).map(|d| (d, Precision::Month)),
        4 => first_day(text, "01").map(|d| (d, Precision::Year)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_or_a_year_is_its_first_day() {
        // 2025-10-01 is day 20362 since 1970-01-01 (Python: date(2025,10,1) - date(1970,1,1)).
        assert_eq!(
            parse_partial_date("2025-10-01"),
            Some((20362, Precision::Day))
        );
        assert_eq!(
            parse_partial_date("2025-10"),
            Some((20362, Precision::Month))
        );
        // 2025-01-01 is day 20089.
        assert_eq!(parse_partial_date("2025"), Some((20089, Precision::Year)));
        for bad in [
            "2025-13",
            "2025-1",
            "25",
            "20x5",
            "2025-10-32",
            "2025/10",
            "+202",
        ] {
            assert_eq!(parse_partial_date(bad), None, "{bad}");
        }
    }
}
