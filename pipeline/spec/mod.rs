//! The case bundle, version 1: record types, columns, allowed values, the code list and
//! the delay thresholds. Names and values here are the contract of docs/data-dictionary.md (bundle v1 and its extensions).

pub mod dates;
pub mod grid;
pub mod publication;
pub mod reject;
pub mod study;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The record types of a bundle, in the order they are read (cases first, so that the
/// others can be checked against them). `codings` (the independent codings of a sample
/// of cases by two or more coders) extends bundle v1; a v1 bundle has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    Cases,
    Findings,
    Events,
    Recommendations,
    Codings,
}

impl RecordType {
    pub const ALL: [RecordType; 5] = [
        RecordType::Cases,
        RecordType::Findings,
        RecordType::Events,
        RecordType::Recommendations,
        RecordType::Codings,
    ];

    /// The record type's position in [`RecordType::ALL`] (its declaration order).
    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            RecordType::Cases => "cases",
            RecordType::Findings => "findings",
            RecordType::Events => "events",
            RecordType::Recommendations => "recommendations",
            RecordType::Codings => "codings",
        }
    }

    pub fn from_name(name: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn required(self) -> bool {
        self == RecordType::Cases
    }

    /// The position of column `name` among the record type's columns.
    pub fn column_index(self, name: &str) -> Option<usize> {
        self.columns().iter().position(|c| c.name == name)
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            RecordType::Cases => CASES,
            RecordType::Findings => FINDINGS,
            RecordType::Events => EVENTS,
            RecordType::Recommendations => RECOMMENDATIONS,
            RecordType::Codings => CODINGS,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a column's text is checked and typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `case_id`: 1–64 characters of `A-Z a-z 0-9 . _ -`.
    Identifier,
    /// Free text, optionally limited in length (characters).
    Text { max_chars: Option<usize> },
    /// One of a fixed list of values; stored dictionary encoded.
    Enum(&'static [&'static str]),
    /// A code from the code list in force; stored dictionary encoded.
    Code,
    /// ISO 8601 `YYYY-MM-DD`; stored as Date32.
    Date,
    /// A date, or only a month `YYYY-MM` or a year `YYYY`; stored as Date32 at its first
    /// day, with a companion `<name>_precision` column (`day`, `month`, `year`).
    PartialDate,
    /// A date (or only a month or a year, as `PartialDate`), or a date-time with optional
    /// seconds and optional `Z`/offset; stored as Timestamp (milliseconds), with companion
    /// columns `<name>_has_time` (boolean) and `<name>_precision`.
    DateTime,
    /// `true`/`false` (and `yes`/`no`, `1`/`0`, any case).
    Boolean,
    /// A decimal amount ≥ 0 with at most two places; stored as Decimal128(12,2).
    Amount,
    /// `patient_ref`: replaced by a keyed hash, or not stored at all without a key.
    Secret,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

const fn col(name: &'static str, kind: Kind, required: bool) -> Column {
    Column {
        name,
        kind,
        required,
    }
}

const TEXT: Kind = Kind::Text { max_chars: None };

pub const SOURCES: &[&str] = &[
    "ombudsman_complaint",
    "local_complaint",
    "patient_safety_incident",
    "serious_incident",
];
pub const ORGANISATION_TYPES: &[&str] = &[
    "acute_trust",
    "mental_health_trust",
    "community_trust",
    "ambulance_trust",
    "gp_practice",
    "independent_provider",
    "commissioner",
    "other",
];
pub const DECISIONS: &[&str] = &["upheld", "partly_upheld", "not_upheld", "resolved", "open"];
pub const MODALITIES: &[&str] = &[
    "xray",
    "ct",
    "mri",
    "ultrasound",
    "mammography",
    "fluoroscopy",
    "nuclear_medicine",
    "other",
];
pub const HARMS: &[&str] = &["none", "low", "moderate", "severe", "death"];
pub const STAGES: &[&str] = &[
    "request",
    "acquisition",
    "review",
    "reporting",
    "communication",
    "action",
    "learning",
];
pub const EVENTS_KINDS: &[&str] = &[
    "requested",
    "performed",
    "reviewed",
    "reported",
    "alert_raised",
    "alert_acknowledged",
    "acted_on",
    "patient_informed",
    "diagnosed",
    "learning_review",
];
pub const URGENCIES: &[&str] = &["critical", "urgent", "significant", "routine"];
pub const RECOMMENDATION_KINDS: &[&str] = &[
    "apology",
    "financial_remedy",
    "action_plan",
    "audit",
    "policy_review",
    "training",
    "duty_of_candour",
    "other",
];
pub const STATUSES: &[&str] = &["pending", "complied", "not_complied"];

/// Longest `note`, in characters.
pub const NOTE_MAX_CHARS: usize = 2000;
/// Longest `narrative`, in characters (CFPB's longest narratives are about 30,000).
pub const NARRATIVE_MAX_CHARS: usize = 100_000;
/// The free-text columns: a case's narrative and a finding's note. Never published, kept
/// out of every table a report writes, and left out of the warehouse by `ingest
/// --no-text` (docs/data-dictionary.md, "Case text").
pub const FREE_TEXT_COLUMNS: &[&str] = &["narrative", "note"];
/// Longest `case_id` and `episode`, in characters.
pub const ID_MAX_CHARS: usize = 64;

pub const CASES: &[Column] = &[
    col("case_id", Kind::Identifier, true),
    col("source", Kind::Enum(SOURCES), true),
    col("organisation_code", TEXT, true),
    col("organisation_name", TEXT, false),
    col("organisation_type", Kind::Enum(ORGANISATION_TYPES), false),
    col("region", TEXT, false),
    col("opened_date", Kind::PartialDate, true),
    col("closed_date", Kind::PartialDate, false),
    col("decision", Kind::Enum(DECISIONS), false),
    col("service", TEXT, false),
    col("modality", Kind::Enum(MODALITIES), false),
    col("condition_group", TEXT, false),
    col("harm", Kind::Enum(HARMS), false),
    col("avoidable_death", Kind::Boolean, false),
    col("patient_ref", Kind::Secret, false),
    col(
        "narrative",
        Kind::Text {
            max_chars: Some(NARRATIVE_MAX_CHARS),
        },
        false,
    ),
];

pub const FINDINGS: &[Column] = &[
    col("case_id", Kind::Identifier, true),
    col("code", Kind::Code, true),
    col("stage", Kind::Enum(STAGES), false),
    col("service", TEXT, false),
    col(
        "note",
        Kind::Text {
            max_chars: Some(NOTE_MAX_CHARS),
        },
        false,
    ),
];

pub const EVENTS: &[Column] = &[
    col("case_id", Kind::Identifier, true),
    col(
        "episode",
        Kind::Text {
            max_chars: Some(ID_MAX_CHARS),
        },
        true,
    ),
    col("event", Kind::Enum(EVENTS_KINDS), true),
    col("occurred_at", Kind::DateTime, true),
    col("urgency", Kind::Enum(URGENCIES), false),
    col("modality", Kind::Enum(MODALITIES), false),
];

pub const RECOMMENDATIONS: &[Column] = &[
    col("case_id", Kind::Identifier, true),
    col("kind", Kind::Enum(RECOMMENDATION_KINDS), true),
    col("amount_gbp", Kind::Amount, false),
    col("made_date", Kind::Date, true),
    col("due_date", Kind::Date, false),
    col("completed_date", Kind::Date, false),
    col("status", Kind::Enum(STATUSES), true),
];

/// The independent codings of a sample of cases: one row per case, coder and code. A
/// row with no code says the coder read the case and coded nothing in it.
pub const CODINGS: &[Column] = &[
    col("case_id", Kind::Identifier, true),
    col(
        "coder",
        Kind::Text {
            max_chars: Some(ID_MAX_CHARS),
        },
        true,
    ),
    col("code", Kind::Code, false),
    col("stage", Kind::Enum(STAGES), false),
];

/// Where a piece of configuration came from: the copy embedded in the binary, or a file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigSource {
    /// `embedded:data/codes/imaging-themes.csv`, or the file's path.
    pub name: String,
    pub sha256: String,
    /// The text itself (kept in the warehouse beside the data it coded; not in JSON).
    #[serde(skip)]
    pub text: String,
}

impl ConfigSource {
    pub(crate) fn of(name: String, text: &str) -> ConfigSource {
        ConfigSource {
            name,
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            text: text.to_string(),
        }
    }
}

/// One entry of a code list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Code {
    pub code: String,
    pub theme: String,
    pub meaning: String,
}

/// The code list in force: each code maps to one theme.
#[derive(Debug, Clone)]
pub struct CodeList {
    pub codes: Vec<Code>,
    pub source: ConfigSource,
}

const DEFAULT_CODES: &str = include_str!("../../data/codes/imaging-themes.csv");
const DEFAULT_THRESHOLDS: &str = include_str!("../../data/thresholds.toml");
/// The shipped code lists, built into the binary for the shipped studies.
const SHIPPED_CODES: &[(&str, &str)] = &[
    ("data/codes/imaging-themes.csv", DEFAULT_CODES),
    (
        "data/codes/cfpb-complaint-themes.csv",
        include_str!("../../data/codes/cfpb-complaint-themes.csv"),
    ),
    (
        "data/codes/device-report-themes.csv",
        include_str!("../../data/codes/device-report-themes.csv"),
    ),
];
/// The shipped delay thresholds, likewise.
const SHIPPED_THRESHOLDS: &[(&str, &str)] = &[
    ("data/thresholds.toml", DEFAULT_THRESHOLDS),
    (
        "data/mappings/cfpb-thresholds.toml",
        include_str!("../../data/mappings/cfpb-thresholds.toml"),
    ),
    (
        "data/mappings/fda-maude-thresholds.toml",
        include_str!("../../data/mappings/fda-maude-thresholds.toml"),
    ),
];

/// `path` (relative to a shipped study's folder, `data/studies/NAME/`) as a path from the
/// repository's root, `..` resolved.
pub(crate) fn from_study_folder(path: &str) -> String {
    let mut parts: Vec<&str> = vec!["data", "studies", "_"];
    for p in path.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    parts.join("/")
}

impl CodeList {
    /// The bundle spec's default code list (imaging-themes.csv), embedded in the binary.
    pub fn spec_default() -> CodeList {
        CodeList::parse(
            DEFAULT_CODES,
            "embedded:data/codes/imaging-themes.csv".into(),
        )
        .expect("the embedded code list is valid")
    }

    /// A shipped code list, named as a shipped study names it (relative to its folder).
    pub fn embedded(relative: &str) -> Option<CodeList> {
        let path = from_study_folder(relative);
        SHIPPED_CODES
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(p, text)| {
                CodeList::parse(text, format!("embedded:{p}"))
                    .expect("shipped code lists are valid")
            })
    }

    pub fn load(path: Option<&Path>) -> Result<CodeList> {
        match path {
            None => Ok(CodeList::spec_default()),
            Some(p) => {
                let text = read_config(p)?;
                CodeList::parse(&text, p.display().to_string())
            }
        }
    }

    /// Parses a code list: a CSV with columns `code`, `theme`, `meaning`.
    pub fn parse(text: &str, name: String) -> Result<CodeList> {
        let bad = |line: u64, message: String| Error::Config {
            file: PathBuf::from(&name),
            message: format!("line {line}: {message}"),
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut codes: Vec<Code> = Vec::new();
        let columns = |e: csv::Error| {
            let line = e.position().map(|p| p.line()).unwrap_or(1);
            bad(
                line,
                format!("expected the columns code, theme, meaning: {e}"),
            )
        };
        let headers = reader.headers().map_err(columns)?.clone();
        for raw in reader.records() {
            let raw = raw.map_err(columns)?;
            // The line the record starts on (blank lines and quoted line breaks count),
            // not its record number.
            let line = raw.position().map_or(1, |p| {
                // The reader's position may be at blank lines before the record.
                let bytes = text.as_bytes();
                let mut at = (p.byte() as usize).min(bytes.len());
                while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
                    at += 1;
                }
                bytes[..at].iter().filter(|b| **b == b'\n').count() as u64 + 1
            });
            let record: Code = raw.deserialize(Some(&headers)).map_err(|e| {
                bad(
                    line,
                    format!("expected the columns code, theme, meaning: {e}"),
                )
            })?;
            if record.code.is_empty() || record.theme.is_empty() {
                return Err(bad(line, "code and theme must not be empty".into()));
            }
            if codes.iter().any(|c| c.code == record.code) {
                return Err(bad(line, format!("code {} is listed twice", record.code)));
            }
            codes.push(record);
        }
        if codes.is_empty() {
            return Err(bad(1, "the code list has no codes".into()));
        }
        Ok(CodeList {
            codes,
            source: ConfigSource::of(name, text),
        })
    }

    /// Whether the list has this code. A scan: asked while a study is read, not per
    /// row (the ingest checks rows' codes through `check::Listed`).
    pub fn contains(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c.code == code)
    }

    /// The themes, in the order they first appear in the list.
    pub fn themes(&self) -> Vec<String> {
        let mut themes: Vec<String> = Vec::new();
        for c in &self.codes {
            if !themes.contains(&c.theme) {
                themes.push(c.theme.clone());
            }
        }
        themes
    }
}

/// One row of the delay threshold table. A key it does not know is refused: an option
/// that would have no effect is an error, not a silence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub from: String,
    pub to: String,
    /// Urgencies this threshold applies to: `any`, `missing`, or values of `urgency`.
    pub urgency: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<f64>,
    /// Threshold in days when either event has no time of day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_only_days: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

impl Interval {
    /// The threshold in hours.
    pub fn threshold_hours(&self) -> f64 {
        self.hours.unwrap_or(0.0) + self.days.unwrap_or(0.0) * 24.0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdFile {
    interval: Vec<Interval>,
}

/// The delay thresholds in force.
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub intervals: Vec<Interval>,
    pub source: ConfigSource,
}

impl Thresholds {
    pub fn spec_default() -> Thresholds {
        Thresholds::parse(DEFAULT_THRESHOLDS, "embedded:data/thresholds.toml".into())
            .expect("the embedded thresholds are valid")
    }

    /// Shipped thresholds, named as a shipped study names them (relative to its folder).
    pub fn embedded(relative: &str) -> Option<Thresholds> {
        let path = from_study_folder(relative);
        SHIPPED_THRESHOLDS
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(p, text)| {
                Thresholds::parse(text, format!("embedded:{p}"))
                    .expect("shipped thresholds are valid")
            })
    }

    pub fn load(path: Option<&Path>) -> Result<Thresholds> {
        match path {
            None => Ok(Thresholds::spec_default()),
            Some(p) => {
                let text = read_config(p)?;
                Thresholds::parse(&text, p.display().to_string())
            }
        }
    }

    pub fn parse(text: &str, name: String) -> Result<Thresholds> {
        let bad = |message: String| Error::Config {
            file: PathBuf::from(&name),
            message,
        };
        let file: ThresholdFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        for (i, t) in file.interval.iter().enumerate() {
            let n = i + 1;
            for ev in [&t.from, &t.to] {
                if !EVENTS_KINDS.contains(&ev.as_str()) {
                    return Err(bad(format!(
                        "interval {n}: unknown event {ev:?} (expected one of {})",
                        EVENTS_KINDS.join(", ")
                    )));
                }
            }
            for u in &t.urgency {
                if u != "any" && u != "missing" && !URGENCIES.contains(&u.as_str()) {
                    return Err(bad(format!(
                        "interval {n}: unknown urgency {u:?} (expected any, missing, {})",
                        URGENCIES.join(", ")
                    )));
                }
            }
            if t.days.is_none() && t.hours.is_none() {
                return Err(bad(format!("interval {n}: give `days` or `hours`")));
            }
        }
        Ok(Thresholds {
            intervals: file.interval,
            source: ConfigSource::of(name, text),
        })
    }
}

fn read_config(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })
}

/// A whole number with thousands separators: 26,076.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_types_index_is_its_place_in_all() {
        for (i, t) in RecordType::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i, "{}", t.name());
        }
    }

    #[test]
    fn default_code_list_has_the_spec_codes_and_four_themes() {
        let list = CodeList::spec_default();
        assert_eq!(list.codes.len(), 17);
        assert_eq!(
            list.themes(),
            [
                "unreported_finding",
                "unfollowed_alert",
                "delay",
                "unlearned_lesson"
            ]
        );
        assert!(list.contains("FA4") && !list.contains("FA6"));
    }

    #[test]
    fn default_thresholds_match_the_spec_table() {
        let t = Thresholds::spec_default();
        assert_eq!(t.intervals.len(), 9);
        assert_eq!(t.intervals[0].threshold_hours(), 42.0 * 24.0);
        assert_eq!(t.intervals[4].threshold_hours(), 1.0);
        assert_eq!(t.intervals[7].threshold_hours(), 14.0 * 24.0);
    }

    #[test]
    fn code_list_errors_name_the_line_not_the_record() {
        // A meaning over two lines and a blank line: the duplicate is on line 6, though
        // it is the fourth record.
        let text = "code,theme,meaning\nA1,a,\"one\ntwo\"\nB1,b,x\n\nA1,a,again\n";
        let err = CodeList::parse(text, "f.csv".into())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 6") && err.contains("A1 is listed twice"),
            "{err}"
        );
        // With Excel's byte-order mark the header is still read.
        let bom = "\u{feff}code,theme,meaning\r\nA1,a,x\r\n";
        assert_eq!(
            CodeList::parse(bom, "g.csv".into()).unwrap().codes[0].code,
            "A1"
        );
    }

    #[test]
    fn code_list_errors_name_the_line() {
        let err = CodeList::parse("code,theme,meaning\nA1,x,y\nA1,z,w\n", "f.csv".into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.csv") && err.contains("line 3"), "{err}");
    }
}
