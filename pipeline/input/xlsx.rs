//! Sheets of `bundle.xlsx`, read with calamine. The first non-empty row of a sheet is
//! its header; positions are the row numbers Excel shows.

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};

use super::{Item, RawRow, Rows, Source, field, map_header};
use crate::error::Result;
use crate::spec::reject::{Position, Reject, Rule};

pub(super) fn sheet_names(
    path: &Path,
    max_xlsx_bytes: u64,
) -> std::result::Result<Vec<String>, String> {
    check_size(path, max_xlsx_bytes)?;
    let names = || -> std::result::Result<Vec<String>, String> {
        let workbook: Xlsx<_> =
            open_workbook(path).map_err(|e| format!("cannot read the workbook: {e}"))?;
        Ok(workbook.sheet_names().to_vec())
    };
    // A panic in calamine on a malformed workbook is an unreadable file (see read_cells).
    std::panic::catch_unwind(names)
        .unwrap_or_else(|_| Err("cannot read the workbook: it is malformed".into()))
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
    let cells = match read_cells(&source.path, &sheet) {
        Ok(cells) => cells,
        Err(message) => return unreadable(message),
    };
    let Some(first_row) = cells.keys().next().copied() else {
        return Ok(Err(vec![Reject::new(
            t,
            sheet_pos,
            Rule::EmptyFile,
            "the sheet is empty: expected a header row naming the columns",
        )]));
    };
    // Columns count from the sheet's first used column, as in a range.
    let first_col = cells
        .values()
        .filter_map(|row| row.keys().next().copied())
        .min()
        .unwrap_or(0);
    let header_row = u64::from(first_row) + source.skip_rows();
    let header_pos = Position::cell(&source.file, &sheet, header_row + 1);
    let mut names: Vec<String> = Vec::new();
    if let Some(header) = u32::try_from(header_row).ok().and_then(|r| cells.get(&r)) {
        for (c, cell) in header {
            let j = (c - first_col) as usize;
            if names.len() <= j {
                names.resize(j + 1, String::new());
            }
            names[j] = cell_text(cell).ok().flatten().unwrap_or_default();
        }
    }
    let mapping = match map_header(source, &header_pos, &names) {
        Ok(m) => m,
        Err(problems) => return Ok(Err(problems)),
    };
    let width = source.width();
    let mut items = Vec::new();
    for (row, row_cells) in &cells {
        if u64::from(*row) <= header_row {
            continue;
        }
        let position = header_pos.at(u64::from(*row) + 1);
        let mut values = vec![None; width];
        let mut bad = None;
        for (c, cell) in row_cells {
            let j = (c - first_col) as usize;
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

/// Whether a panic is one `read_cells` and `sheet_names` catch: raised inside calamine.
pub(super) fn caught_panic(info: &std::panic::PanicHookInfo<'_>) -> bool {
    info.location()
        .is_some_and(|l| l.file().replace('\\', "/").contains("/calamine-"))
}

/// Excel's last row and column (1,048,576 rows, 16,384 columns: XFD).
const EXCEL_ROWS: u32 = 1 << 20;
const EXCEL_COLUMNS: u32 = 1 << 14;

/// A sheet's non-empty cells: 0-based row, then 0-based column, to value.
type SheetCells = BTreeMap<u32, BTreeMap<u32, Data>>;

/// Reads a sheet's cells one by one (calamine's cell reader), keeping only those with a
/// value. Not calamine's `worksheet_range`: that allocates the whole rectangle the sheet
/// spans, so one cell at XFD1048576 asks for 550 GB and aborts the process.
///
/// calamine 0.38 overflows on cell references beyond any real sheet (`AAAAAAAAAAA1`):
/// with overflow checks (debug builds, and calamine in casework's release profile) that
/// is a panic, which is caught here and reported as an unreadable workbook.
fn read_cells(path: &Path, sheet: &str) -> std::result::Result<SheetCells, String> {
    let read = || -> std::result::Result<SheetCells, String> {
        let mut workbook: Xlsx<_> =
            open_workbook(path).map_err(|e| format!("cannot read the workbook: {e}"))?;
        let mut reader = workbook
            .worksheet_cells_reader(sheet)
            .map_err(|e| format!("cannot read the sheet: {e}"))?;
        let mut cells = SheetCells::new();
        while let Some(cell) = reader
            .next_cell()
            .map_err(|e| format!("cannot read the sheet: {e}"))?
        {
            let (row, col) = cell.get_position();
            if row >= EXCEL_ROWS || col >= EXCEL_COLUMNS {
                return Err(format!(
                    "a cell at row {}, column {} is beyond Excel's last cell (XFD1048576): the workbook is malformed",
                    u64::from(row) + 1,
                    u64::from(col) + 1
                ));
            }
            let value = Data::from(cell.get_value().clone());
            if !matches!(value, Data::Empty) {
                // A cell given twice keeps its last value, as in a range.
                cells.entry(row).or_default().insert(col, value);
            }
        }
        Ok(cells)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err("cannot read the workbook: a cell reference is out of range (the workbook is malformed)".into())
    })
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
