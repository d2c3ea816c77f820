//! What an ingest or validation tells the analyst: counts per record type, problems
//! per rule, notes, the rows shown by a dry run, and the export's lines reconciled.

use super::*;

/// Problems of one rule: how many, and the first few.
#[derive(Debug, Clone, Serialize)]
pub struct RuleSummary {
    pub rule: Rule,
    pub count: u64,
    pub examples: Vec<Reject>,
}

/// What an ingest or validation found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub bundle: String,
    pub inputs: Vec<InputFile>,
    /// Per record type: rows read = stored + rejected. For `validate`, "stored" counts
    /// the rows that would be stored.
    pub counts: BTreeMap<RecordType, Counts>,
    /// Whole files that could not be read as rows (their rows are not counted).
    pub file_problems: Vec<Reject>,
    /// Problems per rule, most frequent first.
    pub rules: Vec<RuleSummary>,
    pub rejected_rows: u64,
    pub committed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejects_file: Option<String>,
    pub replaced_cases: u64,
    /// Whether `patient_ref` was stored as a keyed hash (`false`: not stored at all).
    pub pseudonymised: bool,
    pub patient_ref_values_seen: u64,
    pub code_list: String,
    pub thresholds: String,
    /// For a mapped export: the mapping file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// For a mapped export: export rows that gave no row of some record type, by reason
    /// (not rejects: the mapping says these make no row).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_mapped: BTreeMap<String, u64>,
    /// For an export read through a mapping, its data lines reconciled: read = used +
    /// skipped_by_skip_if + made_no_row + rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_lines: Option<ExportLines>,
    /// Date-times written without an offset were read in this zone (`--time-zone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// What the analyst should know that is not a rejected row (times with and without
    /// an offset mixed with no `--time-zone`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The first rows of each record type as read (after a mapping), when asked
    /// (`--show N`): the columns with a value in any of them, then the rows.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub shown: BTreeMap<String, Shown>,
}

impl Summary {
    /// Whether everything read was stored (and, for an ingest, committed).
    pub fn clean(&self) -> bool {
        self.file_problems.is_empty() && self.rejected_rows == 0
    }
}

/// Rows as read, for a dry run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Shown {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// An export's data lines, reconciled (see [`Summary::export_lines`]).
#[derive(Debug, Clone, Serialize)]
pub struct ExportLines {
    pub read: u64,
    /// Lines that gave at least one stored row and no rejected one.
    pub used: u64,
    pub skipped_by_skip_if: u64,
    /// Lines that made no row of their own: every row they would make needed an empty
    /// field (`require`), or they only repeated a case (a `per_case` field may still
    /// have read them).
    pub made_no_row: u64,
    /// Lines of which at least one row was rejected.
    pub rejected: u64,
}

/// What the summary says of dates stored without their day.
pub(super) fn partial_dates_note(
    counts: &BTreeMap<(RecordType, &'static str, &'static str), u64>,
) -> Option<String> {
    if counts.is_empty() {
        return None;
    }
    let list: Vec<String> = counts
        .iter()
        .map(|((t, column, precision), n)| {
            format!("{t}.{column}: {n} known only to the {precision}")
        })
        .collect();
    Some(format!(
        "dates without a day, stored at the first day of their month or year: {}; delay intervals and the days from decision to learning review leave them out (counted as not_to_the_day), and monthly series leave out a date known only to the year",
        list.join(", ")
    ))
}

/// Problems per rule, most frequent first.
pub(super) fn rules(per_rule: BTreeMap<Rule, RuleSummary>) -> Vec<RuleSummary> {
    let mut rules: Vec<RuleSummary> = per_rule.into_values().collect();
    rules.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule.cmp(&b.rule)));
    rules
}

/// What the analyst should know that is not a rejected row.
pub(super) fn notes(
    validator: &Validator,
    options: &Options,
    mapping: Option<&Mapping>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let (zoned, local) = validator.times_seen();
    if zoned > 0 && local > 0 && options.time_zone.is_none() {
        notes.push(format!(
            "{zoned} times have an offset (Z, +01:00) and {local} have none; those without are read as UTC, so an interval between the two kinds can be an hour out in summer: give --time-zone (for example Europe/London) to read them as local times"
        ));
    }
    let single = validator.single_coder_cases();
    if !single.is_empty() {
        let shown: Vec<&str> = single.iter().take(10).map(|s| s.as_str()).collect();
        notes.push(format!(
            "{} cases in codings were coded by one coder only ({}{}): agreement needs two coders of a case, so they are left out of it",
            single.len(),
            shown.join(", "),
            if single.len() > shown.len() { ", …" } else { "" }
        ));
    }
    if let Some(note) = partial_dates_note(validator.partial_dates()) {
        notes.push(note);
    }
    if let Some(m) = mapping {
        notes.extend(m.name_matches());
        notes.extend(m.unused());
    }
    notes
}

/// The rows a dry run keeps, as shown: patient_ref and free-text notes never; columns
/// with no value in any row left out.
pub(super) fn shown(
    kept: BTreeMap<RecordType, Vec<Vec<Option<String>>>>,
) -> BTreeMap<String, Shown> {
    let mut shown = BTreeMap::new();
    for (t, rows) in kept {
        if rows.is_empty() {
            continue;
        }
        let keep: Vec<usize> = (0..t.columns().len())
            .filter(|&i| !crate::spec::reject::CONFIDENTIAL_COLUMNS.contains(&t.columns()[i].name))
            .filter(|&i| rows.iter().any(|r| r[i].is_some()))
            .collect();
        shown.insert(
            t.name().to_string(),
            Shown {
                columns: keep
                    .iter()
                    .map(|&i| t.columns()[i].name.to_string())
                    .collect(),
                rows: rows
                    .iter()
                    .map(|r| {
                        keep.iter()
                            .map(|&i| r[i].clone().unwrap_or_default())
                            .collect()
                    })
                    .collect(),
            },
        );
    }
    shown
}

/// An export's data lines reconciled, from the mapping's counts and, per line, whether
/// a row of it was stored (bit 1) or rejected (bit 2).
pub(super) fn export_lines(mapping: &Mapping, lines: &[u8]) -> ExportLines {
    let (read, skipped) = mapping.lines();
    let rejected = lines.iter().filter(|b| **b & 2 != 0).count() as u64;
    let used = lines.iter().filter(|b| **b == 1).count() as u64;
    ExportLines {
        read,
        used,
        skipped_by_skip_if: skipped,
        made_no_row: read.saturating_sub(used + rejected + skipped),
        rejected,
    }
}
