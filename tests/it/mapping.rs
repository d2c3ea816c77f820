//! Bring your own export: the shipped mappings ingest the real public datasets in
//! `../shared/datasets`, and the results match counts computed here from the raw files
//! with the csv crate alone. Each kind of malformed mapping gives its message and line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;
use chrono::NaiveDate;
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A real public dataset: the copy in `tests/data/` (from `../shared/datasets/`, with
/// its SOURCE.txt), or `None` when neither is there (the test then skips, saying so).
fn dataset(name: &str) -> Option<PathBuf> {
    for dir in [
        Path::new(ROOT).join("tests/data").join(name),
        Path::new(ROOT).join("../shared/datasets").join(name),
    ] {
        if dir.is_dir() {
            return Some(dir);
        }
    }
    // The tests carry their own copies (tests/data): a missing one is a broken checkout,
    // not a reason to skip.
    panic!("dataset {name} is in neither tests/data nor ../shared/datasets");
}

fn mapping(name: &str) -> String {
    format!("{ROOT}/data/mappings/{name}")
}

fn records(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.deserialize().map(|x| x.unwrap()).collect()
}

fn ingest_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["ingest"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json", "-q"]);
    let out = casework(dir, &all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `validate --mapping m.toml export.csv --format json` in `dir`: its summary, after
/// checking the exit code.
fn validate_json(dir: &Path, code: i32) -> Value {
    let out = casework(
        dir,
        &[
            "validate",
            "--mapping",
            "m.toml",
            "export.csv",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Validates `export.csv` in `dir` with `mapping_text` as `m2.toml`, which must be
/// refused as a mapping problem (exit code 1): its stderr.
fn refused(dir: &Path, mapping_text: &str) -> String {
    fs::write(dir.join("m2.toml"), mapping_text).unwrap();
    let out = casework(dir, &["validate", "--mapping", "m2.toml", "export.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    stderr(&out)
}

/// The summary's notes.
fn notes(summary: &Value) -> Vec<&str> {
    summary["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes: {summary}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

fn count(summary: &Value, t: &str, what: &str) -> u64 {
    summary["counts"][t][what].as_u64().unwrap()
}

fn row<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}"))
}

fn iso(d: &str, format: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(d, format).ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn cfpb_complaints_ingest_through_the_shipped_mapping() {
    let Some(dir) = dataset("cfpb-complaints-sample") else {
        return;
    };
    let export = dir.join("complaints_sample.csv");
    let rows = records(&export);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let s = ingest_json(
        d,
        &[
            "--mapping",
            &mapping("cfpb-complaints.toml"),
            export.to_str().unwrap(),
        ],
    );
    // Independent counts from the raw file.
    let untimely = rows
        .iter()
        .filter(|r| r["Timely response?"] == "No")
        .count() as u64;
    let sent = rows
        .iter()
        .filter(|r| !r["Date sent to company"].is_empty())
        .count() as u64;
    let late = rows
        .iter()
        .filter(|r| {
            let a = iso(&r["Date received"], "%Y-%m-%d").unwrap();
            iso(&r["Date sent to company"], "%Y-%m-%d").is_some_and(|b| (b - a).num_days() > 14)
        })
        .count() as u64;
    assert_eq!(rows.len(), 6623);
    assert_eq!(untimely, 94);
    assert_eq!(count(&s, "cases", "stored"), rows.len() as u64);
    assert_eq!(
        count(&s, "findings", "stored"),
        rows.len() as u64 + untimely
    );
    assert_eq!(count(&s, "events", "stored"), rows.len() as u64 + sent);
    assert_eq!(s["rejected_rows"], 0);
    assert_eq!(
        s["code_list"],
        fs::canonicalize(format!("{ROOT}/data/codes/cfpb-complaint-themes.csv"))
            .unwrap()
            .display()
            .to_string()
    );

    // Measures read the warehouse with the code list it was ingested with.
    let v = measure_json(d, &["theme_prevalence"]);
    assert_eq!(
        row(&v["rows"], "theme", "untimely_response")["cases_with_theme"],
        untimely
    );
    let themes: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["theme"].as_str().unwrap())
        .collect();
    assert_eq!(
        themes,
        [
            "credit_report_errors",
            "debt_collection_conduct",
            "account_and_payment_handling",
            "lending_and_hardship",
            "untimely_response",
            "other"
        ]
    );
    // Every complaint has exactly one Issue finding: the themes other than
    // untimely_response partition the cases.
    let issue_cases: u64 = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["theme"] != "untimely_response")
        .map(|r| r["cases_with_theme"].as_u64().unwrap())
        .sum();
    assert_eq!(issue_cases, rows.len() as u64);
    // Received to sent to company, against the mapping's 14-day threshold.
    let v = measure_json(d, &["delay_intervals"]);
    let r = row(&v["rows"], "to_event", "reviewed");
    assert_eq!(r["episodes"], sent);
    assert_eq!(r["over_threshold"], late);
    assert_eq!(late, 139);
}

#[test]
fn fda_maude_reports_ingest_through_the_shipped_mapping() {
    let Some(dir) = dataset("fda-maude-aiml-devices") else {
        return;
    };
    let export = dir.join("mdr_reports_943.csv");
    let rows = records(&export);
    let devices: BTreeMap<String, BTreeMap<String, String>> =
        records(&dir.join("aiml_devices_823.csv"))
            .into_iter()
            .map(|r| (r["idnumber"].clone(), r))
            .collect();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let s = ingest_json(
        d,
        &[
            "--mapping",
            &mapping("fda-maude.toml"),
            export.to_str().unwrap(),
        ],
    );
    let present = |c: &str| rows.iter().filter(|r| !r[c].is_empty()).count() as u64;
    let dates = [
        "date_of_event",
        "date_manufacturer_received",
        "date_report",
        "date_received",
    ];
    assert_eq!(count(&s, "cases", "stored"), 943);
    assert_eq!(
        count(&s, "events", "stored"),
        dates.iter().map(|c| present(c)).sum::<u64>()
    );
    let flags = rows
        .iter()
        .filter(|r| r["product_problem_flag"] == "Y")
        .count()
        + rows
            .iter()
            .filter(|r| r["adverse_event_flag"] == "Y")
            .count()
        + rows
            .iter()
            .filter(|r| !r["remedial_action"].is_empty())
            .count();
    assert_eq!(count(&s, "findings", "stored"), flags as u64);
    assert_eq!(s["rejected_rows"], 0);
    // Missing dates make no event, and the summary says how many for each.
    let not_mapped = s["not_mapped"].as_object().unwrap();
    for (n, c) in dates.iter().enumerate() {
        let label = format!("events[{}]: no row where {c} is empty", n + 1);
        let missing = rows.len() as u64 - present(c);
        assert_eq!(
            not_mapped.get(&label).and_then(Value::as_u64).unwrap_or(0),
            missing,
            "{label}"
        );
    }
    assert_eq!(rows.len() as u64 - present("date_of_event"), 298);

    // Radiology devices, through the device file.
    let radiology = rows
        .iter()
        .filter(|r| devices[&r["idnumber"]]["classadvisecomm"] == "RA")
        .count();
    assert_eq!(radiology, 118);
    let out = casework(
        d,
        &[
            "query",
            "--format",
            "json",
            "SELECT COUNT(*) AS n FROM cases WHERE service = 'radiology'",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"][0]["n"], radiology as u64);

    // Days from the event to FDA's receipt: the median over reports with both dates in
    // order, and the reports whose manufacturer-aware date falls after FDA's receipt.
    let mdy = |s: &str| iso(s, "%m/%d/%Y");
    let days: Vec<f64> = rows
        .iter()
        .filter_map(|r| {
            Some((mdy(&r["date_received"])? - mdy(&r["date_of_event"])?).num_days() as f64)
        })
        .filter(|d| *d >= 0.0)
        .collect();
    let out_of_order = rows
        .iter()
        .filter(|r| matches!((mdy(&r["date_manufacturer_received"]), mdy(&r["date_received"])), (Some(a), Some(b)) if b < a))
        .count() as u64;
    assert!(out_of_order > 0, "the dataset has out-of-order dates");
    let v = measure_json(d, &["delay_intervals"]);
    let event_to_fda = row(&v["rows"], "from_event", "performed");
    assert_eq!(event_to_fda["episodes"], days.len() as u64);
    assert!((event_to_fda["median_days"].as_f64().unwrap() - median(days.clone())).abs() < 1e-9);
    assert_eq!(median(days), 29.0);
    let aware_to_fda = row(&v["rows"], "from_event", "alert_raised");
    assert_eq!(aware_to_fda["out_of_order"], out_of_order);
}

/// A Datix-style export: a line before the header, day-first dates, Y/N, local codes,
/// one row per finding with the case columns repeated, and two code columns.
const LOCAL_EXPORT: &str = "\
Exported from the incident system on 01/03/2024
Ref,Trust,Opened,Status,Died,Code A,Code B,Scan date,Report date
INC-1,RX1,03/02/2023,Closed - upheld,N,missed finding,,01/02/2023,20/02/2023
INC-1,RX1,03/02/2023,Closed - upheld,N,late report,,01/02/2023,20/02/2023
INC-2,RX2,15/03/2023,Open,Y,alert ignored,no learning,10/03/2023,
";

const LOCAL_MAPPING: &str = r#"[export]
skip_rows = 1

[all]
case_id = "Ref"

[cases]
source = { value = "patient_safety_incident" }
organisation_code = "Trust"
opened_date = { column = "Opened", date = "%d/%m/%Y" }
decision = { column = "Status", map = { "Closed - upheld" = "upheld", "Open" = "open" } }
avoidable_death = { column = "Died", map = { "Y" = "true", "N" = "false" } }

[findings]
code = { columns = ["Code A", "Code B"], map = "local_codes" }

[[events]]
episode = { value = "1" }
event = { value = "performed" }
occurred_at = { column = "Scan date", date = "%d/%m/%Y" }
require = "occurred_at"

[[events]]
episode = { value = "1" }
event = { value = "reported" }
occurred_at = { column = "Report date", date = "%d/%m/%Y" }
require = "occurred_at"

[maps.local_codes]
"missed finding" = "UF1"
"late report" = "DL3"
"alert ignored" = "FA1"
"no learning" = "LL1"
"#;

fn write_local(d: &Path, mapping_text: &str, export_text: &str) -> (String, String) {
    fs::write(d.join("local.toml"), mapping_text).unwrap();
    fs::write(d.join("export.csv"), export_text).unwrap();
    (
        d.join("local.toml").display().to_string(),
        d.join("export.csv").display().to_string(),
    )
}

#[test]
fn a_local_export_maps_rows_codes_dates_and_repeated_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (m, e) = write_local(d, LOCAL_MAPPING, LOCAL_EXPORT);
    let s = ingest_json(d, &["--mapping", &m, &e]);
    assert_eq!(count(&s, "cases", "stored"), 2);
    assert_eq!(count(&s, "findings", "stored"), 4);
    assert_eq!(count(&s, "events", "stored"), 5);
    let wh = d.join("warehouse");
    let cases = table_rows(&wh, "cases");
    assert!(
        cases[0].contains("case_id=INC-1")
            && cases[0].contains("opened_date=2023-02-03")
            && cases[0].contains("decision=upheld")
            && cases[0].contains("avoidable_death=false"),
        "{cases:?}"
    );
    assert!(cases[1].contains("avoidable_death=true") && cases[1].contains("decision=open"));
    let findings: Vec<String> = table_rows(&wh, "findings")
        .iter()
        .map(|r| r.split('|').take(2).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(
        findings,
        [
            "case_id=INC-1|code=DL3",
            "case_id=INC-1|code=UF1",
            "case_id=INC-2|code=FA1",
            "case_id=INC-2|code=LL1"
        ]
    );
    let events = table_rows(&wh, "events");
    assert!(events.iter().any(|r| r.contains("case_id=INC-1")
        && r.contains("event=reported")
        && r.contains("2023-02-20")));
    // One row per finding repeats the case: the later row gives no second case.
    let nm = s["not_mapped"].as_object().unwrap();
    assert_eq!(
        nm["cases: later export rows of a case already given (their case columns are not compared)"],
        1
    );
    assert_eq!(nm["events[2]: no row where Report date is empty"], 1);
}

/// Runs validate with a mapping; returns (exit code, stdout + stderr).
fn validate(d: &Path, mapping_text: &str, export_text: &str) -> (Option<i32>, String) {
    let (m, e) = write_local(d, mapping_text, export_text);
    let out = casework(d, &["validate", "--mapping", &m, &e]);
    (
        out.status.code(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn a_malformed_mapping_is_named_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;

    // Unknown column: the export has no "Opened on".
    let m = LOCAL_MAPPING.replace("column = \"Opened\"", "column = \"Opened on\"");
    let (code, msg) = validate(d, &m, LOCAL_EXPORT);
    assert_eq!(code, Some(2), "{msg}");
    let line = line_of(&m, "Opened on");
    assert!(
        msg.contains(&format!(
            "unknown column \"Opened on\": the mapping ({}/local.toml line {line}) reads it",
            d.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("export.csv line 2"), "{msg}");

    // Unknown target field.
    let m = LOCAL_MAPPING.replace(
        "organisation_code = \"Trust\"",
        "organisation_code = \"Trust\"\ntrust_name = \"Trust\"",
    );
    let (code, msg) = validate(d, &m, LOCAL_EXPORT);
    assert_eq!(code, Some(1), "{msg}");
    let line = line_of(&m, "trust_name");
    assert!(
        msg.contains(&format!(
            "line {line}: unknown target field \"trust_name\" for cases"
        )),
        "{msg}"
    );

    // Unmapped value: a local code the map does not cover rejects its row, at the
    // export's line and column, naming the map's line.
    let export = LOCAL_EXPORT.replace("no learning", "wrong patient");
    let (code, msg) = validate(d, LOCAL_MAPPING, &export);
    assert_eq!(code, Some(2), "{msg}");
    let line = line_of(LOCAL_MAPPING, "[maps.local_codes]");
    assert!(msg.contains("unmapped_value (1)"), "{msg}");
    assert!(msg.contains(&format!("export.csv line 5, column Code B: value \"wrong patient\" is not in the value map local_codes ({}/local.toml line {line})", d.display())), "{msg}");

    // Bad date format string.
    let m = LOCAL_MAPPING.replace(
        "date = \"%d/%m/%Y\" }\ndecision",
        "date = \"%d/%m/%Y %\" }\ndecision",
    );
    assert_ne!(m, LOCAL_MAPPING);
    let (code, msg) = validate(d, &m, LOCAL_EXPORT);
    assert_eq!(code, Some(1), "{msg}");
    let line = line_of(&m, "%Y %");
    assert!(
        msg.contains(&format!(
            "line {line}: date format \"%d/%m/%Y %\" is not a usable strftime pattern"
        )),
        "{msg}"
    );

    // A lookup file's path that names a folder is refused at its line.
    let m = format!(
        "{LOCAL_MAPPING}\n[lookups.trusts]\nfile = \"lookups/\"\nkey = \"code\"\non = \"Trust\"\n"
    );
    let (code, msg) = validate(d, &m, LOCAL_EXPORT);
    assert_eq!(code, Some(1), "{msg}");
    let line = line_of(&m, "lookups/");
    assert!(
        msg.contains(&format!(
            "line {line}: lookup file \"lookups/\" must name a file (a path relative to the mapping's folder)"
        )),
        "{msg}"
    );

    // A value that does not match a good format is a row reject at the export's column.
    let export = LOCAL_EXPORT.replace("15/03/2023", "2023/03/15");
    let (code, msg) = validate(d, LOCAL_MAPPING, &export);
    assert_eq!(code, Some(2), "{msg}");
    assert!(msg.contains("export.csv line 5, column Opened: \"2023/03/15\" does not match the date format \"%d/%m/%Y\""), "{msg}");
}

#[test]
fn the_report_renders_on_a_custom_code_list() {
    let Some(dir) = dataset("cfpb-complaints-sample") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let export = dir.join("complaints_sample.csv");
    ingest_json(
        d,
        &[
            "--mapping",
            &mapping("cfpb-complaints.toml"),
            export.to_str().unwrap(),
        ],
    );
    let out = casework(
        d,
        &[
            "report",
            "--out",
            "r",
            "--as-of",
            "2020-06-30",
            "--title",
            "Consumer complaints",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = fs::read_to_string(d.join("r/index.html")).unwrap();
    assert!(
        html.contains("cfpb-complaint-themes.csv"),
        "the report names its code list"
    );
    for theme in [
        "credit_report_errors",
        "debt_collection_conduct",
        "untimely_response",
    ] {
        assert!(html.contains(theme), "{theme} in the report");
    }
    for imaging in ["unreported_finding", "unfollowed_alert", "unlearned_lesson"] {
        assert!(
            !html.contains(imaging),
            "{imaging} is not a theme of this code list"
        );
    }
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(d.join("r/summary.json")).unwrap()).unwrap();
    let text = summary.to_string();
    assert!(text.contains("untimely_response"));
}

const LOOKUP_MAPPING: &str = r#"[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = { lookup = "trusts", column = "code" }
opened_date = { column = "Opened", date = "%d/%m/%Y" }

[lookups.trusts]
file = "trusts.csv"
key = "name"
on = "Trust"
"#;

/// Files as Excel saves them ("CSV UTF-8": a byte-order mark and CRLF line ends), for
/// the export and its lookup file, with dates on the 29th to 31st: read as plain UTF-8.
#[test]
fn an_export_and_lookup_saved_by_excel_read_as_plain_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), LOOKUP_MAPPING).unwrap();
    fs::write(
        d.join("export.csv"),
        "\u{feff}Ref, Trust ,Opened\r\nR1,Alpha Trust,31/01/2024\r\nR2,Beta Trust,29/02/2024\r\nR3,Alpha Trust,30/04/2024\r\n",
    )
    .unwrap();
    fs::write(
        d.join("trusts.csv"),
        "\u{feff}name,code\r\nAlpha Trust,RA1\r\nBeta Trust,RB2\r\n",
    )
    .unwrap();
    let out = casework(d, &["ingest", "--mapping", "m.toml", "export.csv", "-q"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let cases: Vec<String> = table_rows(&d.join("warehouse"), "cases")
        .iter()
        .map(|r| {
            r.split('|')
                .filter(|f| {
                    f.starts_with("case_id=")
                        || f.starts_with("organisation_code=")
                        || f.starts_with("opened_date=")
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    assert_eq!(
        cases,
        [
            "case_id=R1|organisation_code=RA1|opened_date=2024-01-31",
            "case_id=R2|organisation_code=RB2|opened_date=2024-02-29",
            "case_id=R3|organisation_code=RA1|opened_date=2024-04-30",
        ]
    );
}

/// `--max-line-bytes` applies to a mapping's lookup files as to the export.
#[test]
fn lookup_files_are_read_under_the_line_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), LOOKUP_MAPPING).unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Trust,Opened\nR1,Alpha Trust,31/01/2024\n",
    )
    .unwrap();
    let long = "x".repeat(300);
    fs::write(
        d.join("trusts.csv"),
        format!("name,code\nAlpha Trust,RA1\n{long},RB2\n"),
    )
    .unwrap();
    let ok = casework(d, &["validate", "--mapping", "m.toml", "export.csv"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let out = casework(
        d,
        &[
            "validate",
            "--mapping",
            "m.toml",
            "export.csv",
            "--max-line-bytes",
            "200",
        ],
    );
    // A configuration problem (the mapping's lookup), exit code 1, naming the lookup,
    // the file's line and the limit.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lookup trusts") && err.contains("200"),
        "{err}"
    );
}

const SKIP_MAPPING: &str = r#"[export]
skip_if = [{ column = "Status", values = [""] }]

[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = "Opened"
"#;

/// `skip_if` with `""` skips rows whose cell is empty (it used to skip nothing, silently),
/// and says how many; `values = []` would skip nothing, so it is refused with its line.
#[test]
fn skip_if_empty_skips_empty_cells_and_an_empty_list_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), SKIP_MAPPING).unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Status\nR1,O1,2024-01-01,closed\nR2,O1,2024-01-02,\nR3,O2,2024-01-03,  \nR4,O2,2024-01-04,open\n",
    )
    .unwrap();
    let s = validate_json(d, 0);
    // Hand count: R2 and R3 have no Status; R1 and R4 are stored.
    assert_eq!(s["counts"]["cases"]["stored"], 2, "{s}");
    let skipped: u64 = s["not_mapped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(skipped, 2, "{s}");
    let err = refused(d, &SKIP_MAPPING.replace("values = [\"\"]", "values = []"));
    assert!(
        err.contains("line 2") && err.contains("skips nothing"),
        "{err}"
    );
}

/// A dry run: `validate --show N` prints the first N rows of each record type as the
/// mapping makes them, before any ingest.
#[test]
fn a_dry_run_shows_the_mapped_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (m, e) = write_local(d, LOCAL_MAPPING, LOCAL_EXPORT);
    let out = casework(d, &["validate", "--mapping", &m, &e, "--show", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("cases: the first 2 rows as read"), "{text}");
    assert!(
        text.contains("findings: the first 2 rows as read"),
        "{text}"
    );
    // The first case as mapped: its id, its date in ISO form, its mapped decision.
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("INC-1 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        first.contains("2023-02-03") && first.contains("upheld"),
        "{first}"
    );
    assert!(!text.contains("patient_ref"), "{text}");
    assert!(
        !d.join("warehouse").exists(),
        "a dry run writes no warehouse"
    );
}

const ELSE_MAPPING: &str = r#"[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = { column = "Opened", date = "%Y-%m-%d", else = [{ column = "Received", date = "%d %B %Y" }] }
"#;

/// `else`: when a field's column is empty, its fallback columns are read in order, each
/// with its own date format; a row with none of them given is still rejected by name.
#[test]
fn else_columns_fill_an_empty_column_in_their_own_format() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), ELSE_MAPPING).unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Received\n\
         R1,O1,2024-01-05,13 January 2022\n\
         R2,O1,,13 January 2022\n\
         R3,O2,2024-03-01,\n\
         R4,O2,,2 March 2023\n",
    )
    .unwrap();
    let s = ingest_json(d, &["--mapping", "m.toml", "export.csv"]);
    assert_eq!(count(&s, "cases", "stored"), 4, "{s}");
    // Hand-written: R1 and R3 keep Opened; R2 and R4 take Received in its own format.
    let dates: Vec<String> = table_rows(&d.join("warehouse"), "cases")
        .iter()
        .map(|r| {
            let id = r.split('|').find(|p| p.starts_with("case_id=")).unwrap();
            let date = r
                .split('|')
                .find(|p| p.starts_with("opened_date="))
                .unwrap();
            format!("{id} {date}")
        })
        .collect();
    assert_eq!(
        dates,
        [
            "case_id=R1 opened_date=2024-01-05",
            "case_id=R2 opened_date=2022-01-13",
            "case_id=R3 opened_date=2024-03-01",
            "case_id=R4 opened_date=2023-03-02"
        ]
    );
    // A fallback value in neither its format nor ISO form is named with the fallback's
    // column and format.
    fs::write(
        d.join("bad.csv"),
        "Ref,Org,Opened,Received\nR1,O1,,13/01/2022\n",
    )
    .unwrap();
    let out = casework(d, &["validate", "--mapping", "m.toml", "bad.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("Received") && text.contains("%d %B %Y"),
        "{text}"
    );
    // An empty else list would do nothing: refused with its line.
    let err = refused(
        d,
        &ELSE_MAPPING.replace(
            "else = [{ column = \"Received\", date = \"%d %B %Y\" }]",
            "else = []",
        ),
    );
    assert!(err.contains("line 5") && err.contains("else"), "{err}");
}

const TEMPLATE_MAPPING: &str = r#"[all]
case_id = "Ref"

[cases]
source = { value = "ombudsman_complaint" }
organisation_code = "Landlord"
opened_date = "Decided"

[findings]
code = { template = "{Category}|{Determination}", map = "combined" }

[maps.combined]
"complaint handling|maladministration" = "UF1"
"complaint handling|service failure" = "DL3"
"repairs|maladministration" = "FA1"
"#;

/// A combined code: `template` joins two columns, then a value map names the code, so
/// "complaint handling found as maladministration" is one code. A row missing either
/// part has no code (and is rejected, as a finding needs one); a template naming a
/// column the export lacks, or a brace left open, is refused with the mapping's line.
#[test]
fn a_template_combines_two_columns_into_one_code() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), TEMPLATE_MAPPING).unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Landlord,Decided,Category,Determination\n\
         H1,L1,2024-01-05,complaint handling,maladministration\n\
         H1,L1,2024-01-05,repairs,maladministration\n\
         H2,L2,2024-02-01,complaint handling,service failure\n\
         H3,L2,2024-02-03,complaint handling,maladministration\n\
         H3,L2,2024-02-03,repairs,\n",
    )
    .unwrap();
    let s = validate_json(d, 2);
    // Hand count: five finding rows; H3's "repairs" has no determination, so no code.
    assert_eq!(s["counts"]["findings"]["stored"], 4, "{s}");
    assert_eq!(s["counts"]["findings"]["rejected"], 1, "{s}");
    fs::write(
        d.join("export.csv"),
        "Ref,Landlord,Decided,Category,Determination\n\
         H1,L1,2024-01-05,complaint handling,maladministration\n\
         H1,L1,2024-01-05,repairs,maladministration\n\
         H2,L2,2024-02-01,complaint handling,service failure\n\
         H3,L2,2024-02-03,complaint handling,maladministration\n",
    )
    .unwrap();
    let s = ingest_json(d, &["--mapping", "m.toml", "export.csv"]);
    assert_eq!(count(&s, "findings", "stored"), 4, "{s}");
    let codes: Vec<String> = table_rows(&d.join("warehouse"), "findings")
        .iter()
        .map(|r| r.split('|').take(2).collect::<Vec<_>>().join("|"))
        .collect();
    assert_eq!(
        codes,
        [
            "case_id=H1|code=FA1",
            "case_id=H1|code=UF1",
            "case_id=H2|code=DL3",
            "case_id=H3|code=UF1"
        ]
    );
    // A column the export lacks is a problem of the export (exit 2, like any column the
    // mapping reads); a malformed template is one of the mapping (exit 1).
    for (template, code, wanted) in [
        ("{Category}|{Outcome}", 2, "unknown column \"Outcome\""),
        ("{Category|{Determination}", 1, "no }"),
        ("complaint handling", 1, "names no {column}"),
    ] {
        fs::write(
            d.join("m2.toml"),
            TEMPLATE_MAPPING.replace("{Category}|{Determination}", template),
        )
        .unwrap();
        let out = casework(d, &["validate", "--mapping", "m2.toml", "export.csv"]);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{template}: {}",
            stderr(&out)
        );
        let err = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            err.contains("line 10") && err.contains(wanted),
            "{template}: {err}"
        );
    }
}

const ALIAS_MAPPING: &str = r#"[lookups.landlords]
file = "landlords.csv"
key = "name"
on = "Landlord"
match = "normalised"

[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = { lookup = "landlords", column = "code" }
opened_date = "Decided"
"#;

/// Clean names: an alias file (name → code) read with `match = "normalised"` merges
/// spellings that differ only in case, spaces and punctuation, and gives several names
/// one code; the summary names every merge and every name left unmatched; an alias file
/// giving one name twice is refused.
#[test]
fn an_alias_file_merges_spellings_of_one_organisation_and_reports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), ALIAS_MAPPING).unwrap();
    fs::write(
        d.join("landlords.csv"),
        "name,code\n54 North,L054\nA2Dominion Housing Group,L002\nA2 Domination Housing,L002\n",
    )
    .unwrap();
    let export = "Ref,Landlord,Decided\n\
         H1,54 North,2024-01-05\n\
         H2,54North,2024-01-06\n\
         H3,A2 Domination Housing,2024-01-07\n\
         H4,a2dominion housing group,2024-01-08\n\
         H5,Unknown Homes,2024-01-09\n";
    fs::write(d.join("export.csv"), export).unwrap();
    // H5's landlord is in no alias: no organisation code, so the case is rejected.
    let s = validate_json(d, 2);
    assert_eq!(s["counts"]["cases"]["stored"], 4, "{s}");
    assert_eq!(s["counts"]["cases"]["rejected"], 1, "{s}");
    let notes = notes(&s);
    // Hand-listed: two spellings merged, one name unmatched; exact matches say nothing.
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("\"54North\" read as \"54 North\""))
    );
    assert!(
        notes.iter().any(
            |n| n.contains("\"a2dominion housing group\" read as \"A2Dominion Housing Group\"")
        )
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("\"Unknown Homes\" matches no name"))
    );
    // Without H5, every case is stored under two codes, two cases each.
    fs::write(
        d.join("export.csv"),
        export.replace("H5,Unknown Homes,2024-01-09\n", ""),
    )
    .unwrap();
    let s = ingest_json(d, &["--mapping", "m.toml", "export.csv"]);
    assert_eq!(count(&s, "cases", "stored"), 4, "{s}");
    let orgs: Vec<String> = table_rows(&d.join("warehouse"), "cases")
        .iter()
        .map(|r| {
            r.split('|')
                .find(|p| p.starts_with("organisation_code="))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        orgs,
        [
            "organisation_code=L054",
            "organisation_code=L054",
            "organisation_code=L002",
            "organisation_code=L002"
        ]
    );
    // One name given twice (once normalised) is refused, naming both spellings.
    fs::write(
        d.join("landlords.csv"),
        "name,code\n54 North,L054\n54north,L055\n",
    )
    .unwrap();
    let out = casework(d, &["validate", "--mapping", "m.toml", "export.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"54north\" and \"54 North\""),
        "{}",
        stderr(&out)
    );
    // match takes "exact" or "normalised" only.
    let err = refused(
        d,
        &ALIAS_MAPPING.replace("match = \"normalised\"", "match = \"fuzzy\""),
    );
    assert!(err.contains("line 5"), "{err}");
    // An exact lookup names the values it did not find too (here "54North" and
    // "a2dominion housing group", whose cases are then rejected for want of a code).
    fs::write(
        d.join("landlords.csv"),
        "name,code\n54 North,L054\nA2Dominion Housing Group,L002\nA2 Domination Housing,L002\n",
    )
    .unwrap();
    fs::write(
        d.join("m.toml"),
        ALIAS_MAPPING.replace("match = \"normalised\"", "match = \"exact\""),
    )
    .unwrap();
    let s = validate_json(d, 2);
    assert_eq!(s["counts"]["cases"]["rejected"], 2, "{s}");
    let notes = s["notes"].to_string();
    assert!(
        notes.contains("\\\"54North\\\" matches no name in landlords.csv: its fields are empty")
            && notes.contains("\\\"a2dominion housing group\\\" matches no name"),
        "{notes}"
    );
}

const PER_CASE_MAPPING: &str = r#"[all]
case_id = "Ref"

[cases]
source = { value = "ombudsman_complaint" }
organisation_code = "Landlord"
opened_date = { column = "Received", date = "%d/%m/%Y" }
decision = { column = "Determination", per_case = "worst", order = ["severe maladministration", "maladministration", "service failure", "reasonable redress", "no maladministration"], map = { "severe maladministration" = "upheld", "maladministration" = "upheld", "service failure" = "partly_upheld", "reasonable redress" = "not_upheld", "no maladministration" = "not_upheld" } }
closed_date = { column = "Closed", date = "%d/%m/%Y", per_case = "max" }
avoidable_death = { column = "Died", map = { "Y" = "true", "N" = "false" }, per_case = "any" }

[findings]
code = { column = "Category", map = { "complaint handling" = "UF1", "repairs" = "DL3" } }
"#;

/// Case-level rules: a case's decision is its worst finding's determination (by a stated
/// order), its closed date the latest of its rows, its avoidable death true when any row
/// says so, whatever order the rows come in; misused, per_case is refused by line.
#[test]
fn per_case_fields_are_taken_over_all_rows_of_the_case() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), PER_CASE_MAPPING).unwrap();
    // One row per finding, the cases' rows interleaved.
    let export = "Ref,Landlord,Received,Closed,Died,Category,Determination\n\
         H1,L1,05/01/2024,28/02/2024,N,complaint handling,service failure\n\
         H2,L2,06/01/2024,10/04/2024,N,repairs,no maladministration\n\
         H1,L1,05/01/2024,01/03/2024,N,repairs,severe maladministration\n\
         H2,L2,06/01/2024,02/04/2024,Y,complaint handling,service failure\n\
         H3,L3,01/02/2024,15/03/2024,N,repairs,no maladministration\n";
    fs::write(d.join("export.csv"), export).unwrap();
    let s = ingest_json(d, &["--mapping", "m.toml", "export.csv"]);
    assert_eq!(count(&s, "cases", "stored"), 3, "{s}");
    assert_eq!(count(&s, "findings", "stored"), 5, "{s}");
    let cases: Vec<String> = table_rows(&d.join("warehouse"), "cases")
        .iter()
        .map(|r| {
            r.split('|')
                .filter(|p| {
                    ["case_id=", "decision=", "closed_date=", "avoidable_death="]
                        .iter()
                        .any(|k| p.starts_with(k))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    // Worked by hand: H1 worst is severe maladministration (upheld), latest close
    // 2024-03-01 (its second row; "28/02/2024" sorts later only as text); H2 worst is
    // service failure (partly upheld), latest close its first row, a Y in its second row;
    // H3 has one row.
    assert_eq!(
        cases,
        [
            "case_id=H1 closed_date=2024-03-01 decision=upheld avoidable_death=false",
            "case_id=H2 closed_date=2024-04-10 decision=partly_upheld avoidable_death=true",
            "case_id=H3 closed_date=2024-03-15 decision=not_upheld avoidable_death=false"
        ]
    );
    // A determination missing from the order rejects its row, naming the column.
    fs::write(
        d.join("export.csv"),
        export.replace(
            "H3,L3,01/02/2024,15/03/2024,N,repairs,no maladministration",
            "H3,L3,01/02/2024,15/03/2024,N,repairs,premature",
        ),
    )
    .unwrap();
    fs::write(
        d.join("m3.toml"),
        PER_CASE_MAPPING.replace(
            "\"no maladministration\" = \"not_upheld\"",
            "\"no maladministration\" = \"not_upheld\", \"premature\" = \"not_upheld\"",
        ),
    )
    .unwrap();
    let out = casework(d, &["validate", "--mapping", "m3.toml", "export.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("line 6, column Determination")
            && text.contains("\"premature\" is not in the order"),
        "{text}"
    );
    for (from, to, wanted) in [
        (", order = [", ", orders = [", "line 8"),
        ("per_case = \"max\"", "per_case = \"latest\"", "line 9"),
        ("per_case = \"any\"", "per_case = \"worst\"", "needs order"),
        (
            "\"repairs\" = \"DL3\" } }",
            "\"repairs\" = \"DL3\" }, per_case = \"first\" }",
            "per_case is for a case field",
        ),
    ] {
        let err = refused(d, &PER_CASE_MAPPING.replace(from, to));
        assert!(err.contains(wanted), "{to}: {err}");
    }
}

/// A mapping option that changes no row says so: a skip_if that skipped nothing, an
/// else list never read and value-map entries no value took are each named in the notes.
#[test]
fn options_that_change_no_row_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("m.toml"),
        r#"[export]
skip_if = [{ column = "Status", values = ["withdrawn"] }]

[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = { column = "Opened", else = [{ column = "Received" }] }
decision = { column = "Status", map = { "closed" = "upheld", "open" = "open", "partly" = "partly_upheld" } }
"#,
    )
    .unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Received,Status\nR1,O1,2024-01-01,2024-01-01,closed\nR2,O1,2024-01-02,,open\n",
    )
    .unwrap();
    let s = validate_json(d, 0);
    let notes = notes(&s);
    // Hand-listed: no row is withdrawn, Opened is never empty, no row is "partly".
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("skip_if on \"Status\" (mapping line 2) skipped no row"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("cases.opened_date: its else columns filled no row"))
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("no value of this export took \"partly\""))
    );
    // The same mapping on an export where each option acts: no notes.
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Received,Status\nR1,O1,2024-01-01,2024-01-01,closed\nR2,O1,,2024-01-02,open\nR3,O1,2024-01-03,,partly\nR4,O1,2024-01-03,,withdrawn\n",
    )
    .unwrap();
    let s = validate_json(d, 0);
    assert!(s.get("notes").is_none(), "{s}");
    assert_eq!(s["counts"]["cases"]["stored"], 3, "{s}");
}

/// Export lines reconcile: every data line is used, skipped by skip_if, made no row
/// of its own, or has a rejected row.
#[test]
fn export_lines_reconcile() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("m.toml"),
        r#"[export]
skip_if = [{ column = "Status", values = ["withdrawn"] }]

[all]
case_id = "Ref"

[cases]
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = "Opened"

[findings]
code = "Code"
require = "code"
"#,
    )
    .unwrap();
    // By hand: line 2 used; line 3 repeats R1 with no code (no row of its own); line 4
    // withdrawn (skipped); line 5's case has a bad date and line 6's code is in no code
    // list (both rejected).
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Status,Code\n\
         R1,O1,2024-01-01,closed,UF1\n\
         R1,O1,2024-01-01,closed,\n\
         R2,O1,2024-01-02,withdrawn,UF1\n\
         R3,O1,not a date,closed,UF1\n\
         R4,O2,2024-01-04,closed,ZZZ\n",
    )
    .unwrap();
    let s = validate_json(d, 2);
    let l = &s["export_lines"];
    assert_eq!(
        (
            &l["read"],
            &l["used"],
            &l["skipped_by_skip_if"],
            &l["made_no_row"],
            &l["rejected"]
        ),
        (&5.into(), &1.into(), &1.into(), &1.into(), &2.into()),
        "{s}"
    );
    let out = casework(d, &["validate", "--mapping", "m.toml", "export.csv"]);
    assert!(
        stdout(&out).contains(
            "export lines: 5 read = 1 used + 1 skipped by skip_if + 1 made no row + 2 with a rejected row"
        ),
        "{}",
        stdout(&out)
    );
}

const PARTIAL_MAPPING: &str = r#"[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = { column = "Opened", date = "%Y-%m-%d", else = [{ column = "Decided", date = ["%d %B %Y", "%B %Y", "%Y"] }] }
closed_date = { column = "Closed", date = ["%d/%m/%Y", "%B %Y"] }

[[events]]
case_id = "Ref"
episode = { value = "1" }
event = { value = "requested" }
occurred_at = { column = "Opened", date = "%Y-%m-%d", else = [{ column = "Decided", date = ["%d %B %Y", "%B %Y", "%Y"] }] }
require = "occurred_at"

[[events]]
case_id = "Ref"
episode = { value = "1" }
event = { value = "performed" }
occurred_at = { column = "Done", date = ["%d/%m/%Y", "%m/%Y"] }
require = "occurred_at"

[[events]]
case_id = "Ref"
episode = { value = "1" }
event = { value = "learning_review" }
occurred_at = { column = "Review", date = "%d/%m/%Y" }
require = "occurred_at"
"#;

/// Month-only and year-only dates ("October 2025", "2023") are stored at their first
/// day with their precision; a date's list of formats is tried in order; measures that
/// need a day leave such dates out and count them; a date order is judged on the whole
/// month.
#[test]
fn month_only_and_year_only_dates_keep_their_precision_and_delays_leave_them_out() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("m.toml"), PARTIAL_MAPPING).unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Decided,Closed,Done,Review\n\
         H1,O1,2024-01-05,,15/01/2024,10/01/2024,25/01/2024\n\
         H2,O1,,13 January 2022,January 2022,20/01/2022,01/03/2022\n\
         H3,O2,,October 2025,,03/11/2025,\n\
         H4,O2,,2023,,05/06/2023,\n\
         H5,O3,2024-02-01,,,02/2024,\n\
         H6,O3,2024-03-10,,February 2024,,\n",
    )
    .unwrap();
    let s = ingest_json(
        d,
        &["--mapping", "m.toml", "export.csv", "--accept-partial"],
    );
    // H6 closed in February 2024, every day of which is before it opened (10 March):
    // rejected. H2 closed "January 2022" after opening on 13 January: the month holds
    // days after the opening, so it stands.
    assert_eq!(count(&s, "cases", "stored"), 5, "{s}");
    assert_eq!(count(&s, "cases", "rejected"), 1, "{s}");
    assert_eq!(s["rules"][0]["rule"], "date_order", "{s}");
    let cases = table_rows(&d.join("warehouse"), "cases");
    let case = |id: &str| {
        cases
            .iter()
            .find(|r| r.contains(&format!("case_id={id}|")))
            .unwrap_or_else(|| panic!("{id}: {cases:?}"))
            .clone()
    };
    for (id, wanted) in [
        ("H1", "opened_date=2024-01-05|opened_date_precision=day"),
        ("H2", "opened_date=2022-01-13|opened_date_precision=day"),
        ("H3", "opened_date=2025-10-01|opened_date_precision=month"),
        ("H4", "opened_date=2023-01-01|opened_date_precision=year"),
        ("H2", "closed_date=2022-01-01|closed_date_precision=month"),
    ] {
        assert!(case(id).contains(wanted), "{id}: {}", case(id));
    }
    // Counted by hand from the export above (H6 and its events rejected).
    let notes = s["notes"].to_string();
    assert!(
        notes.contains(
            "cases.closed_date: 1 known only to the month, cases.opened_date: 1 known only to the month, cases.opened_date: 1 known only to the year, events.occurred_at: 2 known only to the month, events.occurred_at: 1 known only to the year"
        ),
        "{notes}"
    );

    // Requested -> performed (threshold 42 days, no urgency): H1 5 days, H2 7 days; H3
    // (requested in a month), H4 (in a year) and H5 (performed in a month) cannot be
    // measured to the day.
    let delays = measure_json(d, &["delay_intervals"]);
    let rp = row(&delays["rows"], "to_event", "performed");
    assert_eq!(rp["episodes"], 2, "{rp}");
    assert_eq!(rp["median_days"], 6.0, "{rp}");
    assert_eq!(rp["max_days"], 7.0, "{rp}");
    assert_eq!(rp["not_to_the_day"], 3, "{rp}");
    assert_eq!(rp["out_of_order"], 0, "{rp}");

    // Decision to learning review: H1 closed 15/01/2024, reviewed 25/01/2024 (10 days);
    // H2's decision is known only to the month.
    let learning = measure_json(d, &["learning"]);
    let value = |m: &str| {
        row(&learning["rows"], "measure", m)["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(value("cases_with_learning_review"), 2.0);
    assert_eq!(value("median_days_decision_to_review"), 10.0);
    assert_eq!(value("cases_decision_to_review_not_to_the_day"), 1.0);

    // Monthly series by opening: H4 is known only to its year, so it has no month; the
    // others are in 2022-01, 2024-01, 2024-02 and 2025-10.
    let series = measure_json(d, &["monthly_series"]);
    let mut months: BTreeMap<String, u64> = BTreeMap::new();
    for r in series["rows"].as_array().unwrap() {
        months.insert(
            r["month"].as_str().unwrap().to_string(),
            r["cases"].as_u64().unwrap(),
        );
    }
    let nonzero: Vec<(&str, u64)> = months
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(m, n)| (m.as_str(), *n))
        .collect();
    assert_eq!(
        nonzero,
        [
            ("2022-01-01", 1),
            ("2024-01-01", 1),
            ("2024-02-01", 1),
            ("2025-10-01", 1)
        ]
    );

    // A format with no day is refused for a column that needs one, and an empty list
    // of formats is refused.
    let err = refused(
        d,
        &format!(
            "{PARTIAL_MAPPING}\n[[recommendations]]\ncase_id = \"Ref\"\nkind = {{ value = \"apology\" }}\nstatus = {{ value = \"pending\" }}\nmade_date = {{ column = \"Done\", date = \"%m/%Y\" }}\n"
        ),
    );
    assert!(err.contains("needs a day"), "{err}");
    let err = refused(
        d,
        &PARTIAL_MAPPING.replace("date = [\"%d/%m/%Y\", \"%B %Y\"]", "date = []"),
    );
    assert!(err.contains("date = [] names no format"), "{err}");
}

/// A mapping's `[exposure]` reads each organisation's exposure from a file beside the
/// export, in the export's own column names; its values replace the study's lookup and
/// are named in the summary. Beds per trust for 2023: RX1 200, RX2 50; the funnel of a
/// theme read per 100 beds gives each trust its exposure and its expected count by hand.
#[test]
fn an_export_brings_its_exposure_through_the_mapping() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::create_dir_all(d.join("s")).unwrap();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/codes/imaging-themes.csv"),
        d.join("s/codes.csv"),
    )
    .unwrap();
    fs::write(
        d.join("s/study.toml"),
        "title = \"Beds\"\ncodes = \"codes.csv\"\n\n[exposure]\nunit = \"beds\"\nper = 100\n",
    )
    .unwrap();
    fs::write(
        d.join("beds.csv"),
        "Trust code,Beds,Year\nRX1,200,2023\nRX2,50,2023\n",
    )
    .unwrap();
    let mapping = format!(
        "{LOCAL_MAPPING}\n[exposure]\nfile = \"beds.csv\"\norganisation_code = \"Trust code\"\nexposure = \"Beds\"\nperiod = \"Year\"\n"
    );
    let (m, e) = write_local(d, &mapping, LOCAL_EXPORT);
    let s = ingest_json(d, &["--mapping", &m, &e, "--study", "s"]);
    let notes = notes(&s);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("exposure: 2 values for 2 organisations")),
        "{notes:?}"
    );
    // Unreported finding: INC-1 (RX1) has UF1, INC-2 (RX2) has none: O = 1 and 0, the
    // overall rate 1/250 beds, so E = 0.8 for RX1 and 0.2 for RX2.
    let f = measure_json(d, &["funnel", "--theme", "unreported_finding"]);
    let rows = f["rows"].as_array().unwrap();
    let rx = |code: &str| rows.iter().find(|r| r["label"] == code).unwrap().clone();
    assert_eq!(rx("RX1")["exposure"], 200.0);
    assert!((rx("RX1")["expected"].as_f64().unwrap() - 0.8).abs() < 1e-12);
    assert!((rx("RX2")["expected"].as_f64().unwrap() - 0.2).abs() < 1e-12);
    assert!((rx("RX1")["rate"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    // A named column the file lacks is an error naming the file and the column.
    fs::write(d.join("beds.csv"), "Trust code,Beds\nRX1,200\n").unwrap();
    let o = casework(d, &["validate", "--mapping", &m, &e, "--study", "s"]);
    assert_eq!(o.status.code(), Some(1));
    let msg = stderr(&o);
    assert!(
        msg.contains("beds.csv") && msg.contains("\"Year\""),
        "{msg}"
    );
    // A study that reads per exposure with values from nowhere is refused.
    let (m, e) = write_local(d, LOCAL_MAPPING, LOCAL_EXPORT);
    let o = casework(d, &["validate", "--mapping", &m, &e, "--study", "s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("has no values"), "{}", stderr(&o));
}

/// A per-row export whose rows of a case are scattered: a case whose first row (in file
/// order) has a date the mapping cannot read is rejected once, and its later rows are
/// its rows (a stated rule), never new cases rejected again; rows naming it say it was
/// rejected. Planted: 60 cases of 1 to 4 rows each; cases 0, 9, …, 54 (7) have a bad
/// date, cases 0, 18 and 36 on their first row only (their later rows read well).
#[test]
fn a_case_rejected_on_its_first_row_is_rejected_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("m.toml"),
        r#"[all]
case_id = "Ref"

[cases]
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = { column = "Decided", date = "%d/%m/%Y" }

[findings]
code = "Code"
require = "code"
"#,
    )
    .unwrap();
    // Rows (case, its row number), scattered by a fixed permutation.
    let mut rows: Vec<(u32, u32)> = (0..60u32)
        .flat_map(|c| (0..1 + c % 4).map(move |k| (c, k)))
        .collect();
    let n = rows.len();
    let mut state = 7u64;
    for i in (1..n).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        rows.swap(i, (state >> 33) as usize % (i + 1));
    }
    let mut first_seen = std::collections::HashSet::new();
    let mut text = String::from("Ref,Org,Decided,Code\n");
    for (c, k) in &rows {
        let first = first_seen.insert(*c);
        let bad = c % 9 == 0 && (c % 18 != 0 || first);
        let date = if bad {
            "31/02/2024".to_string()
        } else {
            format!("{:02}/03/2024", 1 + c % 28)
        };
        let code = ["UF1", "FA1", "LL1", "DL3"][*k as usize];
        text.push_str(&format!("C{c},O{},{date},{code}\n", c % 5));
    }
    fs::write(d.join("export.csv"), text).unwrap();
    let s = validate_json(d, 2);
    // By hand: 60 cases, 7 rejected, 53 stored; 150 rows (15 cases each of 1, 2, 3 and
    // 4 rows), each a finding; the rejected cases' findings are 1+2+3+4+1+2+3 = 16.
    assert_eq!(n, 150);
    assert_eq!(
        (
            count(&s, "cases", "read"),
            count(&s, "cases", "rejected"),
            count(&s, "cases", "stored")
        ),
        (60, 7, 53),
        "{s}"
    );
    assert_eq!(
        (
            count(&s, "findings", "rejected"),
            count(&s, "findings", "stored")
        ),
        (16, 134),
        "{s}"
    );
    let nm = s["not_mapped"].as_object().unwrap();
    assert_eq!(
        nm["cases: later export rows of a rejected case (its rows, not a case rejected again)"],
        16 - 7,
        "{s}"
    );
    assert_eq!(
        nm["cases: later export rows of a case already given (their case columns are not compared)"],
        150 - 60 - 9,
        "{s}"
    );
    // The findings of a rejected case name it as rejected, at the line of its first row.
    let rejects = fs::read_to_string(d.join("casework-rejects.csv")).unwrap();
    let unknown: Vec<&str> = rejects
        .lines()
        .filter(|l| l.contains("unknown_case"))
        .collect();
    assert_eq!(unknown.len(), 16, "{rejects}");
    assert!(
        unknown
            .iter()
            .all(|l| l.contains("which was rejected (cases, line")),
        "{rejects}"
    );
}

/// Every path in a mapping resolves against the mapping's folder, so a mapping kept in a
/// repository carries its study, lookup (alias) file and exposure file, and the export
/// can be anywhere. Planted: the mapping in `repo/mappings/`, its alias file in
/// `repo/mappings/lookups/`, its exposure file in `repo/exposure/`, its study in
/// `repo/studies/homes/`, the export in `downloads/`; H1 and H2 are two spellings of
/// landlord L054, H3 is L002.
#[test]
fn every_path_in_a_mapping_resolves_from_the_mapping_s_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for dir in [
        "repo/mappings/lookups",
        "repo/exposure",
        "repo/studies/homes",
        "downloads",
    ] {
        fs::create_dir_all(d.join(dir)).unwrap();
    }
    fs::copy(
        Path::new(ROOT).join("data/codes/imaging-themes.csv"),
        d.join("repo/studies/homes/codes.csv"),
    )
    .unwrap();
    fs::write(
        d.join("repo/studies/homes/study.toml"),
        "title = \"Homes\"\ncodes = \"codes.csv\"\n\n[exposure]\nunit = \"homes\"\nper = 1000\n",
    )
    .unwrap();
    let mapping = format!(
        "[export]\nstudy = \"../studies/homes\"\n\n{}\n[exposure]\nfile = \"../exposure/homes.csv\"\norganisation_code = \"code\"\nexposure = \"homes\"\n",
        ALIAS_MAPPING.replace(
            "file = \"landlords.csv\"",
            "file = \"lookups/landlords.csv\""
        )
    );
    fs::write(d.join("repo/mappings/m.toml"), &mapping).unwrap();
    fs::write(
        d.join("repo/mappings/lookups/landlords.csv"),
        "name,code\n54 North,L054\nA2 Dominion,L002\n",
    )
    .unwrap();
    fs::write(
        d.join("repo/exposure/homes.csv"),
        "code,homes\nL054,1200\nL002,800\n",
    )
    .unwrap();
    let export = "Ref,Landlord,Decided\nH1,54 North,2024-01-05\nH2,54north,2024-01-06\nH3,A2 Dominion,2024-01-07\n";
    fs::write(d.join("downloads/export.csv"), export).unwrap();
    // Run from an unrelated folder: nothing resolves against the working folder either.
    let elsewhere = d.join("downloads");
    let s = ingest_json(
        &elsewhere,
        &[
            "--mapping",
            &d.join("repo/mappings/m.toml").display().to_string(),
            &d.join("downloads/export.csv").display().to_string(),
            "--warehouse",
            &d.join("wh").display().to_string(),
        ],
    );
    assert_eq!(s["counts"]["cases"]["stored"], 3, "{s}");
    let notes = notes(&s);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("exposure: 2 values for 2 organisations")),
        "{notes:?}"
    );
    let cases = table_rows(&d.join("wh"), "cases");
    let orgs: Vec<&str> = cases
        .iter()
        .map(|r| {
            r.split('|')
                .find_map(|f| f.strip_prefix("organisation_code="))
                .unwrap()
        })
        .collect();
    assert_eq!(orgs, ["L054", "L054", "L002"], "{cases:?}");

    // A lookup file left beside the export (where one was once looked for) is not read:
    // the error names the path it resolved to and where the file of that name is.
    fs::rename(
        d.join("repo/mappings/lookups/landlords.csv"),
        d.join("downloads/landlords.csv"),
    )
    .unwrap();
    let o = casework(
        &elsewhere,
        &[
            "validate",
            "--mapping",
            &d.join("repo/mappings/m.toml").display().to_string(),
            "export.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let msg = stderr(&o);
    assert!(
        msg.contains("m.toml")
            && msg.contains("lookups/landlords.csv")
            && msg.contains("a file of that name is beside the export")
            && msg.contains("relative to the mapping's folder"),
        "{msg}"
    );
}

/// An export of one row per allegation restates each case's events and
/// recommendations (remedies) on every row. Planted, in no order: 40 cases, case i with
/// 1 + i % 4 allegation rows; each row carries the case's two dates (received, decided:
/// two events) and its remedy (an apology, a recommendation). Distinct: 80 events and 40
/// recommendations, where the rows give 2 × 100 = 200 and 100. With `repeats_case_rows = true` the distinct rows are stored
/// once and the dropped ones counted under their stated rule; without it every row is
/// stored and a note says how many repeat and names the option. A case whose two
/// allegation rows give genuinely different decision dates keeps both.
#[test]
fn an_export_of_one_row_per_allegation_stores_case_rows_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut lines = Vec::new();
    for i in 0..40u32 {
        for a in 0..=(i % 4) {
            let decided = if i == 7 && a == 1 {
                "2024-03-30"
            } else {
                "2024-03-01"
            };
            lines.push(format!(
                "C{i:03},ORG{},2024-01-{:02},{decided},Allegation {a},apology",
                i % 5,
                1 + i % 28
            ));
        }
    }
    // No particular order: a fixed shuffle (rows of a case scattered).
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for k in (1..lines.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lines.swap(k, (state % (k as u64 + 1)) as usize);
    }
    assert_eq!(lines.len(), 100);
    let export = format!(
        "Ref,Org,Received,Decided,Allegation,Remedy\n{}\n",
        lines.join("\n")
    );
    fs::write(d.join("export.csv"), export).unwrap();
    let mapping = |repeats: &str| {
        format!(
            r#"[export]
{repeats}
[all]
case_id = "Ref"

[cases]
source = {{ value = "ombudsman_complaint" }}
organisation_code = "Org"
opened_date = "Received"

[[events]]
episode = {{ value = "1" }}
event = {{ value = "requested" }}
occurred_at = "Received"

[[events]]
episode = {{ value = "1" }}
event = {{ value = "reported" }}
occurred_at = "Decided"

[recommendations]
kind = "Remedy"
made_date = "Received"
status = {{ value = "complied" }}
"#
        )
    };
    fs::write(d.join("m.toml"), mapping("repeats_case_rows = true")).unwrap();
    let s = validate_json(d, 0);
    // 40 cases × 2 events, and case C007's second decision date: 81.
    assert_eq!(count(&s, "events", "stored"), 81, "{s}");
    assert_eq!(count(&s, "recommendations", "stored"), 40, "{s}");
    let nm = s["not_mapped"].as_object().unwrap();
    let dropped = |t: &str| {
        nm[&format!(
            "{t}: rows equal to one already made (repeats_case_rows: the export restates them on each of a case's rows), stored once"
        )]
            .as_u64()
            .unwrap()
    };
    assert_eq!(dropped("events"), 200 - 81);
    assert_eq!(dropped("recommendations"), 100 - 40);
    // Without the option: every row stored, and a note with the counts and the option.
    fs::write(d.join("m.toml"), mapping("")).unwrap();
    let s = validate_json(d, 0);
    assert_eq!(count(&s, "events", "stored"), 200, "{s}");
    assert_eq!(count(&s, "recommendations", "stored"), 100, "{s}");
    let notes = notes(&s);
    assert!(
        notes.iter().any(
            |n| n.starts_with("119 events, 60 recommendations rows repeat")
                && n.contains("repeats_case_rows = true")
        ),
        "{notes:?}"
    );
}
