//! Sheets of `bundle.xlsx`, read with calamine. The first non-empty row of a sheet is
//! its header; positions are the row numbers Excel shows.

use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};

use super::{Item, RawRow, Rows, Source, field, map_header};
use crate::error::Result;
use crate::limits::Limits;
use crate::reject::{Position, Reject, Rule};

pub(super) fn sheet_names(path: &Path) -> std::result::Result<Vec<String>, String> {
    check_size(path, Limits::default().max_xlsx_bytes)?;
    let workbook: Xlsx<_> =
        open_workbook(path).map_err(|e| format!("cannot read the workbook: {e}"))?;
    Ok(workbook.sheet_names().to_vec())
}

pub(super) fn open(source: &Source) -> Result<std::result::Result<Rows, Vec<Reject>>> {
    let t = source.record_type;
    let sheet = source.sheet.clone().unwrap_or_else(|| t.name().to_string());
    let sheet_pos = Position {
        sheet: Some(sheet.clone()),
        ..Position::file(&source.file)
    };
    let unreadable = |message: String| {
        Ok(Err(vec![Reject::new(
            t,
            sheet_pos.clone(),
            Rule::Unreadable,
            message,
        )]))
    };
    if let Err(message) = check_size(&source.path, source.limits.max_xlsx_bytes) {
        return unreadable(message);
    }
    let mut workbook: Xlsx<_> = match open_workbook(&source.path) {
        Ok(w) => w,
        Err(e) => return unreadable(format!("cannot read the workbook: {e}")),
    };
    let range = match workbook.worksheet_range(&sheet) {
        Ok(r) => r,
        Err(e) => return unreadable(format!("cannot read the sheet: {e}")),
    };
    let Some((first_row, _)) = range.start() else {
        return Ok(Err(vec![Reject::new(
            t,
            sheet_pos,
            Rule::EmptyFile,
            "the sheet is empty: expected a header row naming the columns",
        )]));
    };
    let skip = source.skip_rows();
    let first_row = u64::from(first_row) + skip;
    let mut rows = range.rows().skip(skip as usize);
    let header_row = rows.next().unwrap_or(&[]);
    let header_pos = Position::cell(&source.file, &sheet, first_row + 1);
    let names: Vec<String> = header_row
        .iter()
        .map(|c| cell_text(c).ok().flatten().unwrap_or_default())
        .collect();
    let mapping = match map_header(source, &header_pos, &names) {
        Ok(m) => m,
        Err(problems) => return Ok(Err(problems)),
    };
    let width = source.width();
    let mut items = Vec::new();
    for (i, cells) in rows.enumerate() {
        let position = header_pos.at(first_row + 2 + i as u64);
        if cells.iter().all(|c| matches!(c, Data::Empty)) {
            continue; // a row with no values holds no data
        }
        let mut values = vec![None; width];
        let mut bad = None;
        for (j, cell) in cells.iter().enumerate() {
            let Some(index) = mapping.get(j).copied().flatten() else {
                continue;
            };
            match cell_text(cell) {
                Ok(v) => values[index] = v,
                Err(message) => {
                    bad = Some(
                        Reject::new(t, position.clone(), Rule::Format, message).column(&names[j]),
                    );
                    break;
                }
            }
        }
        items.push(Ok(match bad {
            Some(reject) => Item::Unreadable(reject),
            None => Item::Row(RawRow {
                position,
                values,
                origin: None,
            }),
        }));
    }
    Ok(Ok(Box::new(items.into_iter())))
}

/// Refuses a workbook whose parts expand to more than `max` bytes, reading only the zip
/// central directory (before calamine decompresses anything).
fn check_size(path: &Path, max: u64) -> std::result::Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the workbook: {e}"))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("cannot read the workbook: {e}"))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let part = archive
            .by_index_raw(i)
            .map_err(|e| format!("cannot read the workbook: {e}"))?;
        total = total.saturating_add(part.size());
    }
    if total > max {
        return Err(format!(
            "the workbook expands to {total} bytes, more than the --max-xlsx-bytes limit of {max}: save large data as CSV"
        ));
    }
    Ok(())
}

/// A cell's value as the text the validator reads. Date cells become ISO dates (with the
/// time of day when it is not midnight); whole numbers lose their `.0`.
fn cell_text(cell: &Data) -> std::result::Result<Option<String>, String> {
    Ok(match cell {
        Data::Empty => None,
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => field(s),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(if f.fract() == 0.0 && f.abs() < 1e15 {
            format!("{}", *f as i64)
        } else {
            f.to_string()
        }),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(d) => {
            let Some(dt) = d.as_datetime() else {
                return Err(format!("the date cell holds {d}, which is not a date"));
            };
            if dt.time() == chrono::NaiveTime::MIN {
                Some(dt.format("%Y-%m-%d").to_string())
            } else {
                Some(dt.format("%Y-%m-%dT%H:%M:%S").to_string())
            }
        }
        Data::Error(e) => return Err(format!("the cell holds the Excel error {e}")),
    })
}
