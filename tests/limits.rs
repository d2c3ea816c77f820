//! Resource limits: a hostile file is refused or its rows rejected with a clear message,
//! never read whole into memory. Each test lowers the cap so a small file exceeds it.

mod common;

use std::fs;

use common::*;

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
    let out = casework(d, &["ingest", EXAMPLE, "--max-rows", "35", "-q"]);
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
    assert!(text.contains("the workbook expands to"), "{text}");
    assert!(
        text.contains("more than the --max-xlsx-bytes limit of 20000"),
        "{text}"
    );
    let out = casework(d, &["validate", "b", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
