//! Printing: ingest summaries, measure tables, JSON and CSV.

use std::path::Path;

use casework::ingest::Summary;
use casework::measures::{Form, Output, QueryOutput};
use serde_json::{Map, Value};

use crate::args::Format;

pub(super) fn print_summary(summary: &Summary, format: Format, verb: &str) {
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(summary).expect("summary serialises")
        );
        return;
    }
    println!("casework {verb}: {}", summary.bundle);
    for (t, c) in &summary.counts {
        let files: Vec<String> = summary
            .inputs
            .iter()
            .filter(|i| i.record_type == t.name())
            .map(|i| i.file.clone())
            .collect();
        println!(
            "  {:<16} {:>9} read {:>9} {} {:>9} rejected  {}",
            t.name(),
            c.read,
            c.stored,
            if summary.warehouse.is_none() {
                "valid "
            } else {
                "stored"
            },
            c.rejected,
            files.join(", ")
        );
    }
    if summary.pseudonymised {
        println!("  patient_ref: stored as HMAC-SHA-256 under the key given.");
    } else if summary.patient_ref_values_seen > 0 {
        println!(
            "  patient_ref: not stored ({} values dropped; give --key-file to keep a keyed hash for linkage).",
            summary.patient_ref_values_seen
        );
    }
    for (t, shown) in &summary.shown {
        println!("\n  {t}: the first {} rows as read", shown.rows.len());
        let widths: Vec<usize> = shown
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                shown
                    .rows
                    .iter()
                    .map(|r| r[i].chars().count().min(40))
                    .chain([c.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(v, w)| {
                    let v: String = v.chars().take(40).collect();
                    format!("{v:<w$}")
                })
                .collect();
            println!("    {}", parts.join("  ").trim_end());
        };
        line(shown.columns.clone());
        for r in &shown.rows {
            line(r.clone());
        }
    }
    if let Some(z) = &summary.time_zone {
        println!("  times without an offset read as local times of {z}");
    }
    for note in &summary.notes {
        println!("  note: {note}");
    }
    if let Some(m) = &summary.mapping {
        println!("  read through the mapping {m}");
        if let Some(l) = &summary.export_lines {
            println!(
                "    export lines: {} read = {} used + {} skipped by skip_if + {} made no row + {} with a rejected row",
                l.read, l.used, l.skipped_by_skip_if, l.made_no_row, l.rejected
            );
        }
        for (reason, n) in &summary.not_mapped {
            println!("    no row made ({n}): {reason}");
        }
    }
    if !summary.file_problems.is_empty() {
        println!("\nFiles that could not be read:");
        for p in &summary.file_problems {
            println!("  [{}] {p}", p.rule);
        }
    }
    if summary.rejected_rows > 0 {
        println!(
            "\nRejected rows: {}. Problems by rule:",
            summary.rejected_rows
        );
        for r in summary.rules.iter().filter(|r| !r.rule.is_file_rule()) {
            println!("  {} ({})", r.rule, r.count);
            for e in &r.examples {
                let value = e
                    .value
                    .as_deref()
                    .map(|v| format!(" [value: {v:?}]"))
                    .unwrap_or_default();
                println!("    {e}{value}");
            }
        }
    }
    if let Some(path) = &summary.rejects_file {
        println!("\nEvery problem, one per line: {}", show(Path::new(path)));
    }
    match (&summary.warehouse, summary.committed) {
        (Some(w), true) => println!(
            "\nCommitted to {w} as {} ({} cases replaced).",
            summary.version.as_deref().unwrap_or("?"),
            summary.replaced_cases
        ),
        (Some(w), false) => println!(
            "\nNothing was committed: the warehouse {w} is unchanged. Fix the problems above and ingest again, or use --accept-partial to store the valid rows."
        ),
        (None, _) if summary.clean() => println!("\nValid: every row can be stored."),
        (None, _) => println!("\nNot valid: fix the problems above."),
    }
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("output serialises")
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows as CSV, columns in the order of the first row.
pub(super) fn csv_text(rows: &[Map<String, Value>]) -> String {
    casework::measures::rows_csv(rows)
}

/// An output as printed: its JSON (fields in their order), and its rows for tables and
/// CSV. Made at the edge from a measure's typed output, raw or published.
pub(crate) struct Printed {
    pub measure: String,
    pub disclosure: Option<String>,
    pub json: Value,
    pub rows: Vec<Map<String, Value>>,
}

impl Printed {
    pub(crate) fn of<F: Form>(o: &Output<F>) -> Printed {
        Printed {
            measure: o.measure.clone(),
            disclosure: o.disclosure.clone(),
            json: serde_json::to_value(o).expect("output serialises"),
            rows: o.rows.to_maps(),
        }
    }

    pub(crate) fn of_query(o: &QueryOutput) -> Printed {
        Printed {
            measure: o.measure.clone(),
            disclosure: None,
            json: serde_json::to_value(o).expect("output serialises"),
            rows: o.rows.clone(),
        }
    }
}

/// A measure as an aligned text table; fractions to four places.
pub(super) fn print_table(o: &Printed) {
    println!("{}", o.measure);
    if let Some(rule) = &o.disclosure {
        println!("  {rule}");
    }
    let Some(first) = o.rows.first() else {
        println!("  (no rows)\n");
        return;
    };
    let keys: Vec<&String> = first.keys().collect();
    let show = |v: &Value| match v {
        Value::Number(n) if n.is_f64() => format!("{:.4}", n.as_f64().unwrap_or(0.0)),
        other => cell(other),
    };
    let cells: Vec<Vec<String>> = o
        .rows
        .iter()
        .map(|r| {
            keys.iter()
                .map(|k| r.get(*k).map(show).unwrap_or_default())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([k.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<&str>| {
        let parts: Vec<String> = values
            .iter()
            .zip(&widths)
            // Padded by hand: a width in a format string must fit in 16 bits, and a
            // cell can be longer (an EXPLAIN plan).
            .map(|(v, w)| {
                let pad = w.saturating_sub(v.chars().count());
                format!("{v}{}", " ".repeat(pad))
            })
            .collect();
        println!("  {}", parts.join("  ").trim_end());
    };
    line(keys.iter().map(|k| k.as_str()).collect());
    for c in &cells {
        line(c.iter().map(String::as_str).collect());
    }
    println!();
}

fn show(p: &Path) -> String {
    p.display().to_string()
}
