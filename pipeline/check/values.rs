//! Values typed from text: date-times, booleans, amounts, and the keyed hash of
//! `patient_ref`.

use super::*;

/// `patient_ref` → HMAC-SHA-256 under the key, as lowercase hex.
pub fn pseudonymise(key: &[u8], value: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(super) fn show_date(days: i32, precision: Precision) -> String {
    let format = match precision {
        Precision::Day => "%Y-%m-%d",
        Precision::Month => "%Y-%m",
        Precision::Year => "%Y",
    };
    (EPOCH + chrono::Duration::days(i64::from(days)))
        .format(format)
        .to_string()
}

/// The last day of the month or year that starts on `first` (the day itself for a day).
pub(super) fn last_day(first: i32, precision: Precision) -> i32 {
    let start = EPOCH + chrono::Duration::days(i64::from(first));
    let next = match precision {
        Precision::Day => return first,
        Precision::Month => start.checked_add_months(chrono::Months::new(1)),
        Precision::Year => start.checked_add_months(chrono::Months::new(12)),
    };
    next.map_or(i32::MAX, |n| (n - EPOCH).num_days() as i32 - 1)
}

pub(super) fn date_time_expected(name: &str) -> String {
    format!(
        "{name} must be a date YYYY-MM-DD (or only a month YYYY-MM, or a year YYYY) or a date-time YYYY-MM-DDTHH:MM[:SS], optionally ending in Z or an offset such as +01:00"
    )
}

/// A date or date-time → (seconds since 1970-01-01T00:00:00, whether it had a time of
/// day). Local times are taken as given; a `Z` or offset is converted to UTC.
pub fn parse_date_time(text: &str) -> Option<(i64, bool)> {
    if text.len() == 10 {
        let days = parse_date(text)?;
        return Some((i64::from(days) * 86_400, false));
    }
    let (date, rest) = text.split_at_checked(10)?;
    let days = parse_date(date)?;
    let rest = rest.strip_prefix('T')?;
    // Split off the zone: `Z`, or `+HH:MM` / `-HH:MM` / `+HHMM` after the time.
    let (clock, offset_seconds) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0i64)
    } else if let Some(i) = rest.find(['+', '-']) {
        let (c, zone) = rest.split_at(i);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let hours: i64 = digits[..2].parse().ok()?;
        let minutes: i64 = digits[2..].parse().ok()?;
        if hours > 23 || minutes > 59 {
            return None;
        }
        (c, sign * (hours * 3600 + minutes * 60))
    } else {
        (rest, 0)
    };
    let time = match clock.len() {
        5 => NaiveTime::parse_from_str(clock, "%H:%M").ok()?,
        8 => NaiveTime::parse_from_str(clock, "%H:%M:%S").ok()?,
        _ => return None,
    };
    let local = NaiveDateTime::new(EPOCH + chrono::Duration::days(i64::from(days)), time);
    let seconds = (local - NaiveDateTime::new(EPOCH, NaiveTime::MIN)).num_seconds();
    Some((seconds - offset_seconds, true))
}

/// Whether a date-time text ends in its own offset (`Z`, `+01:00`, `-0500`).
pub(super) fn has_offset(text: &str) -> bool {
    text.len() > 10 && (text.ends_with('Z') || text[10..].contains(['+', '-']))
}

/// A local wall-clock time (seconds since 1970-01-01T00:00 as written) in `zone` → UTC
/// seconds. A time the clocks skipped, or one they passed twice, is refused: only an
/// offset can say which instant it was.
pub(super) fn local_to_utc(seconds: i64, zone: chrono_tz::Tz) -> std::result::Result<i64, String> {
    use chrono::TimeZone;
    let local = NaiveDateTime::new(EPOCH, NaiveTime::MIN) + chrono::Duration::seconds(seconds);
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Ok(t.timestamp()),
        chrono::LocalResult::Ambiguous(a, b) => Err(format!(
            "happened twice in {zone} (the clocks went back): write the offset, {} or {}",
            a.format("%:z"),
            b.format("%:z")
        )),
        chrono::LocalResult::None => Err(format!(
            "did not happen in {zone} (the clocks went forward past it): check the time, or write its offset"
        )),
    }
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A decimal ≥ 0 with at most two places and at most ten whole digits → pence.
pub fn parse_amount(text: &str) -> std::result::Result<i128, &'static str> {
    const WHY: &str =
        "a decimal number of pounds ≥ 0 with at most two decimal places, such as 2500 or 950.50";
    if text.starts_with('-') {
        return Err("≥ 0");
    }
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return Err(WHY);
    }
    if frac.len() > 2 {
        return Err("given to at most two decimal places (pence)");
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > usize::from(AMOUNT_PRECISION) - 2 {
        return Err("less than 10,000,000,000");
    }
    let w: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| WHY)?
    };
    let f: i128 = format!("{frac:0<2}").parse().map_err(|_| WHY)?;
    Ok(w * 100 + f)
}
