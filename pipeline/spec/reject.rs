//! Where an input row came from, and why a row or a file could not be stored.

use std::fmt;

use serde::Serialize;

use crate::spec::RecordType;

/// The place of a row in its input: a line of a CSV or NDJSON file, or a row of a sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    /// The file's name within the bundle (`cases.csv`, `bundle.xlsx`).
    pub file: String,
    /// 1-based line (CSV: the line the record starts on; NDJSON: the line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// 1-based row number as Excel shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
}

impl Position {
    pub fn file(file: &str) -> Position {
        Position {
            file: file.to_string(),
            line: None,
            sheet: None,
            row: None,
        }
    }

    pub fn line(file: &str, line: u64) -> Position {
        Position {
            line: Some(line),
            ..Position::file(file)
        }
    }

    pub fn cell(file: &str, sheet: &str, row: u64) -> Position {
        Position {
            sheet: Some(sheet.to_string()),
            row: Some(row),
            ..Position::file(file)
        }
    }

    /// The same place, another line or row: the line for text files, the row for sheets.
    pub fn at(&self, n: u64) -> Position {
        let mut p = self.clone();
        if p.sheet.is_some() {
            p.row = Some(n);
        } else {
            p.line = Some(n);
        }
        p
    }

    /// The line or row number, whichever this position has.
    pub fn number(&self) -> Option<u64> {
        self.line.or(self.row)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(sheet) = &self.sheet {
            write!(f, " sheet {sheet}")?;
        }
        if let Some(row) = self.row {
            write!(f, " row {row}")?;
        }
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        Ok(())
    }
}

/// The rule a rejected row or file broke. The names are stable: they appear in the
/// rejects file and in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    // Row rules of the spec.
    Required,
    Format,
    AllowedValues,
    TooLong,
    UnknownCode,
    DateOrder,
    DuplicateCaseId,
    /// A codings row that repeats an earlier one (same case, coder, code and stage).
    DuplicateCoding,
    UnknownCase,
    AmountKind,
    /// A mapped export value that the mapping's value map does not cover.
    UnmappedValue,
    // Rows that could not be read as rows.
    FieldCount,
    UnbalancedQuote,
    InvalidUtf8,
    MalformedJson,
    NotAnObject,
    // Whole files.
    MissingFile,
    DuplicateFile,
    UnknownSheet,
    EmptyFile,
    MissingColumn,
    DuplicateColumn,
    Unreadable,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Required => "required",
            Rule::Format => "format",
            Rule::AllowedValues => "allowed_values",
            Rule::TooLong => "too_long",
            Rule::UnknownCode => "unknown_code",
            Rule::DateOrder => "date_order",
            Rule::DuplicateCaseId => "duplicate_case_id",
            Rule::DuplicateCoding => "duplicate_coding",
            Rule::UnknownCase => "unknown_case",
            Rule::AmountKind => "amount_kind",
            Rule::UnmappedValue => "unmapped_value",
            Rule::FieldCount => "field_count",
            Rule::UnbalancedQuote => "unbalanced_quote",
            Rule::InvalidUtf8 => "invalid_utf8",
            Rule::MalformedJson => "malformed_json",
            Rule::NotAnObject => "not_an_object",
            Rule::MissingFile => "missing_file",
            Rule::DuplicateFile => "duplicate_file",
            Rule::UnknownSheet => "unknown_sheet",
            Rule::EmptyFile => "empty_file",
            Rule::MissingColumn => "missing_column",
            Rule::DuplicateColumn => "duplicate_column",
            Rule::Unreadable => "unreadable",
        }
    }

    /// Whether the rule concerns a whole file (nothing of it could be read as rows).
    pub fn is_file_rule(self) -> bool {
        self >= Rule::MissingFile
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem with one row (or, for file rules, one file). A row with several problems
/// gives several rejects.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    pub record_type: RecordType,
    #[serde(flatten)]
    pub position: Position,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The offending value as read; never a `patient_ref` or `note` (shown as redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub rule: Rule,
    pub message: String,
    /// The case a rejected row of `cases` gives, when it is known before the row is
    /// checked (a mapped export's row whose value the mapping could not convert): the
    /// case's later rows and the rows naming it are then told it was rejected.
    #[serde(skip)]
    pub case: Option<String>,
}

/// Columns whose values are never copied into a reject, a log or an output.
pub const CONFIDENTIAL_COLUMNS: &[&str] = &["patient_ref", "note", "narrative"];

/// What a reject shows of a value: confidential columns are redacted, long values cut.
pub fn shown_value(column: &str, value: &str) -> String {
    if CONFIDENTIAL_COLUMNS.contains(&column) {
        return "(redacted)".to_string();
    }
    const MAX: usize = 200;
    if value.chars().count() > MAX {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        value.to_string()
    }
}

impl Reject {
    pub fn new(
        record_type: RecordType,
        position: Position,
        rule: Rule,
        message: impl Into<String>,
    ) -> Reject {
        Reject {
            record_type,
            position,
            column: None,
            value: None,
            rule,
            message: message.into(),
            case: None,
        }
    }

    pub fn column(mut self, column: &str) -> Reject {
        self.column = Some(column.to_string());
        self
    }

    pub fn value(mut self, column: &str, value: &str) -> Reject {
        self.column = Some(column.to_string());
        self.value = Some(shown_value(column, value));
        self
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.position)?;
        if let Some(c) = &self.column {
            write!(f, ", column {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}
