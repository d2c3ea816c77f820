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
