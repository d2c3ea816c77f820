//! Dates as the bundle contract writes them (ISO 8601 `YYYY-MM-DD`), as days since
//! 1970-01-01 (Arrow's Date32). Used by the checker and by mappings.

#[cfg(test)]
use chrono::Datelike;
use chrono::NaiveDate;

pub const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");

/// `YYYY-MM-DD` → days since 1970-01-01.
///
/// Hand-written: every date of every row passes here (the ingest's hot path), and
/// chrono's format parser costs several times the digits' own reading. The days are
/// Hinnant's `days_from_civil` (http://howardhinnant.github.io/date_algorithms.html);
/// the test below checks it against chrono on every day of 1600 to 2400 and on malformed
/// text.
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    day_of(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// ASCII digits as a number (`None` for anything else).
fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a real calendar date.
fn day_of(y: i64, m: i64, d: i64) -> Option<i32> {
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) as i32)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01
/// (Hinnant, `civil_from_days`): integer arithmetic, where chrono's date addition was a
/// visible share of the checking thread's time on the cases file (each case's year;
/// docs/benchmarks.md).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
    match b.len() {
        10 => parse_date(text).map(|d| (d, Precision::Day)),
        7 if b[4] == b'-' => {
            day_of(digits(&b[..4])?, digits(&b[5..])?, 1).map(|d| (d, Precision::Month))
        }
        4 => day_of(digits(b)?, 1, 1).map(|d| (d, Precision::Year)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against chrono, from before year 1 to after 9999, every 13th day and the days
    /// around each turn of a year and of a 400-year era; and back through
    /// days_from_civil.
    #[test]
    fn civil_from_days_is_chronos_calendar() {
        use chrono::Datelike;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut days: Vec<i64> = (-800_000..3_000_000).step_by(13).collect();
        for y in [
            -1, 0, 1, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 2400, 9999,
        ] {
            let first = days_from_civil(y, 1, 1);
            days.extend(first - 2..first + 2);
        }
        for d in days {
            let want = epoch + chrono::Duration::days(d);
            let (y, m, day) = civil_from_days(d);
            assert_eq!(
                (y, m, day),
                (i64::from(want.year()), want.month(), want.day()),
                "{d}"
            );
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(day)), d);
        }
    }

    #[test]
    fn the_hand_written_date_reader_agrees_with_chrono() {
        let chrono_days = |t: &str| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .map(|d| (d - EPOCH).num_days() as i32)
        };
        // Every day of 1600 to 2400, and day 32 and month 13 of each month and year.
        let mut d = NaiveDate::from_ymd_opt(1600, 1, 1).unwrap();
        while d.year() < 2400 {
            let t = d.format("%Y-%m-%d").to_string();
            assert_eq!(parse_date(&t), chrono_days(&t), "{t}");
            d = d.succ_opt().unwrap();
        }
        for y in [1900, 2000, 2023, 2024, 2100] {
            for m in 0..=13 {
                for day in [0, 28, 29, 30, 31, 32] {
                    let t = format!("{y:04}-{m:02}-{day:02}");
                    assert_eq!(parse_date(&t), chrono_days(&t), "{t}");
                }
            }
        }
        for bad in [
            "2024-1-05",
            "2024/01/05",
            "24-01-2024",
            "2024-01-5 ",
            "+024-01-05",
            "2024-0a-05",
            "2024-01-05T",
            "",
            "2024-02-30",
            "1900-02-29",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
        assert_eq!(parse_date("0000-01-01"), chrono_days("0000-01-01"));
    }

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
