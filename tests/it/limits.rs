//! Resource limits: a hostile file is refused or its rows rejected with a clear message,
//! never read whole into memory. Each test lowers the cap so a small file exceeds it.

use std::fs;

use crate::common::*;

fn example_csv(name: &str) -> String {
    fs::read_to_string(format!("{EXAMPLE}/{name}")).unwrap()
}

#[test]
fn a_line_longer_than_the_cap_refuses_the_file_naming_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut cases = example_csv("cases.csv");
    // Line 3 becomes a 5,000-byte line with no line break.
    let mut lines: Vec<String> = cases.lines().map(str::to_string).collect();
    lines[2] = format!("{}{}", lines[2], "x".repeat(5000));
    cases = lines.join("\n") + "\n";
    let b = bundle(d, "b", &[("cases.csv", cases.as_bytes())]);
    let out = casework(
        d,
        &["validate", b.to_str().unwrap(), "--max-line-bytes", "4096"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("line 3 is longer than 4096 bytes (the --max-line-bytes limit)"),
        "{}",
        stderr(&out)
    );
    // The default cap reads the same file (the long field is then a row reject).
    let out = casework(
        d,
        &[
            "validate",
            b.to_str().unwrap(),
            "--max-field-bytes",
            "100000",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn a_field_longer_than_the_cap_rejects_its_row_and_the_counts_reconcile() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = copy_example(d, "b");
    let cases = example_csv("cases.csv").replacen(
        "Trust A (unnamed in the report)",
        &format!("Trust A {}", "y".repeat(300)),
        1,
    );
    fs::write(b.join("cases.csv"), cases).unwrap();
    let out = casework(
        d,
        &[
            "validate",
            "b",
            "--max-field-bytes",
            "200",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["cases"]["read"], 14);
    assert_eq!(s["counts"]["cases"]["rejected"], 1);
    let too_long = s["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "too_long")
        .unwrap();
    assert_eq!(too_long["count"], 1);
    let e = &too_long["examples"][0];
    assert_eq!(e["file"], "cases.csv");
    assert_eq!(e["line"], 2);
    assert_eq!(e["column"], "organisation_name");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("the value is 308 bytes long; at most 200 are read")
    );
    assert!(
        e.get("value").is_none(),
        "a long value is not copied into the reject"
    );
}

#[test]
fn a_file_with_more_rows_than_the_cap_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = casework(d, &["ingest", EXAMPLE, "--max-rows", "10", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the file has more than 10 rows (the --max-rows limit)"),
        "{}",
        stderr(&out)
    );
    assert!(
        !d.join("warehouse/manifest.json").exists(),
        "nothing committed"
    );
    // The example's longest file, codings.csv, has 47 rows.
    let out = casework(d, &["ingest", EXAMPLE, "--max-rows", "47", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_workbook_that_expands_past_the_cap_is_refused_before_it_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::create_dir(d.join("b")).unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet().set_name("cases").unwrap();
    for (i, h) in ["case_id", "source", "organisation_code", "opened_date"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    for r in 1..2000u32 {
        ws.write_string(r, 0, format!("c-{r}")).unwrap();
        ws.write_string(r, 1, "local_complaint").unwrap();
        ws.write_string(r, 2, "ORG").unwrap();
        ws.write_string(r, 3, "2023-01-01").unwrap();
    }
    wb.save(d.join("b/bundle.xlsx")).unwrap();
    let out = casework(
        d,
        &[
            "validate",
            "b",
            "--max-xlsx-bytes",
            "20000",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    // Refused once, when its sheets are listed, before any sheet is opened.
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let refusals = summary["file_problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["file"] == "bundle.xlsx")
        .count();
    assert_eq!(refusals, 1, "{text}");
    assert!(text.contains("the workbook expands to"), "{text}");
    assert!(
        text.contains("more than the --max-xlsx-bytes limit of 20000"),
        "{text}"
    );
    let out = casework(d, &["validate", "b", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A minimal workbook with one sheet `cases` holding `sheet_data` (the XML inside
/// `<sheetData>`), zipped without compression.
fn workbook(sheet_data: &str) -> Vec<u8> {
    use std::io::Write;
    let ns = "http://schemas.openxmlformats.org";
    let parts = [
        (
            "[Content_Types].xml",
            format!(
                r#"<Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#
            ),
        ),
        (
            "_rels/.rels",
            format!(
                r#"<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                r#"<workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/relationships"><sheets><sheet name="cases" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                r#"<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(
                r#"<worksheet xmlns="{ns}/spreadsheetml/2006/main"><sheetData>{sheet_data}</sheetData></worksheet>"#
            ),
        ),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in parts {
        zip.start_file(name, stored).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The example's cases as inline-string rows 1, 2, …
fn cases_rows() -> String {
    // Without a header row the reader yields every line, the header first (row 1).
    let text = example_csv("cases.csv");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut out = String::new();
    for (i, record) in reader.records().enumerate() {
        let r = i + 1;
        out += &format!("<row r=\"{r}\">");
        for (j, v) in record.unwrap().iter().enumerate() {
            let col = (b'A' + j as u8) as char;
            let v = v
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            out += &format!(r#"<c r="{col}{r}" t="inlineStr"><is><t>{v}</t></is></c>"#);
        }
        out += "</row>";
    }
    out
}

/// Regression (found by fuzz/xlsx): a workbook is read cell by cell, so one legal cell at
/// Excel's last position (XFD1048576) is one more row to check, not a 550 GB rectangle
/// that aborts the process; a cell reference no sheet can have (calamine overflows on
/// it) makes the workbook unreadable, reported as such, with no panic message.
#[test]
fn xlsx_far_and_impossible_cells_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let rows = cases_rows();
    assert!(
        rows.contains("A1") && rows.contains("A15"),
        "header and 14 cases"
    );

    let far = format!(
        r#"{rows}<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>"#
    );
    let b = bundle(d, "far", &[("bundle.xlsx", &workbook(&far))]);
    let out = casework(d, &["validate", b.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    // The 14 cases are valid; the far row is one rejected row (no case_id, …).
    assert!(
        text.contains("cases                   15 read        14 valid          1 rejected"),
        "{text}"
    );
    assert!(
        text.contains("bundle.xlsx sheet cases row 1048576, column case_id: case_id is required"),
        "{text}"
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    // An unreadable workbook: exit 2, the message, no panic text.
    let unreadable = |name: &str, cell: &str, message: &str| {
        let sheet =
            format!(r#"{rows}<row r="20"><c r="{cell}" t="inlineStr"><is><t>x</t></is></c></row>"#);
        let b = bundle(d, name, &[("bundle.xlsx", &workbook(&sheet))]);
        let out = casework(d, &["validate", b.to_str().unwrap()]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(all.contains(message), "{all}");
        assert!(!all.contains("panicked"), "{all}");
    };
    unreadable(
        "impossible",
        "AAAAAAAAAAAA20",
        "a cell reference is out of range (the workbook is malformed)",
    );
    // A reference past Excel's last column that calamine reads without overflow.
    unreadable(
        "past",
        "XFE20",
        "a cell at row 20, column 16385 is beyond Excel's last cell (XFD1048576)",
    );
}
