//! Ingest: the example bundle, every rule of the spec, malformed files, partial commits,
//! re-ingest, pseudonymisation. Expected values are hand counts of the input files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;
use arrow::datatypes::{DataType, TimeUnit};
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};

#[test]
fn example_bundle_is_stored_whole_with_the_spec_types() {
    let tmp = tempfile::tempdir().unwrap();
    let out = casework(tmp.path(), &["ingest", EXAMPLE, "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let wh = tmp.path().join("warehouse");
    let m = manifest(&wh);
    // Hand counts of the example's files (data/examples/phso-imaging-2021/README.md).
    for (table, rows) in [
        ("cases", 14),
        ("findings", 34),
        ("events", 35),
        ("recommendations", 12),
    ] {
        assert_eq!(m["tables"][table]["rows"], rows, "{table}");
        let c = &m["ingests"][0]["counts"][table];
        assert_eq!(
            (
                c["read"].as_u64(),
                c["stored"].as_u64(),
                c["rejected"].as_u64()
            ),
            (Some(rows), Some(rows), Some(0))
        );
        let stored: usize = table_files(&wh, table)
            .iter()
            .flat_map(|f| read_parquet(f))
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(stored as u64, rows, "{table} rows in the Parquet files");
    }
    // Cases are partitioned by opened year, hive style: 2016 ×2, 2017 ×4, 2018 ×7, 2019 ×1.
    let mut years: Vec<(String, usize)> = table_files(&wh, "cases")
        .iter()
        .map(|f| {
            let dir = f
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            (dir, read_parquet(f).iter().map(|b| b.num_rows()).sum())
        })
        .collect();
    years.sort();
    assert_eq!(
        years,
        [
            ("opened_year=2016".to_string(), 2),
            ("opened_year=2017".into(), 4),
            ("opened_year=2018".into(), 7),
            ("opened_year=2019".into(), 1)
        ]
    );

    let cases = &read_parquet(&table_files(&wh, "cases")[0])[0];
    let schema = cases.schema();
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(
        schema.field_with_name("case_id").unwrap().data_type(),
        &DataType::Utf8
    );
    assert!(!schema.field_with_name("case_id").unwrap().is_nullable());
    assert_eq!(schema.field_with_name("source").unwrap().data_type(), &dict);
    assert_eq!(
        schema.field_with_name("opened_date").unwrap().data_type(),
        &DataType::Date32
    );
    assert_eq!(
        schema
            .field_with_name("avoidable_death")
            .unwrap()
            .data_type(),
        &DataType::Boolean
    );
    assert!(
        schema.field_with_name("opened_year").is_err(),
        "the partition is the folder"
    );
    let events = &read_parquet(&table_files(&wh, "events")[0])[0];
    assert_eq!(
        events
            .schema()
            .field_with_name("occurred_at")
            .unwrap()
            .data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    let recs = &read_parquet(&table_files(&wh, "recommendations")[0])[0];
    assert_eq!(
        recs.schema()
            .field_with_name("amount_gbp")
            .unwrap()
            .data_type(),
        &DataType::Decimal128(12, 2)
    );
    assert_eq!(
        recs.schema().field_with_name("kind").unwrap().data_type(),
        &dict
    );

    // zstd and column statistics on every column chunk.
    let reader =
        SerializedFileReader::new(fs::File::open(&table_files(&wh, "findings")[0]).unwrap())
            .unwrap();
    // The writer named in the form parquet-mr parses ("<application> version <x>"), or
    // Spark and Hive ignore the text columns' statistics.
    assert_eq!(
        reader.metadata().file_metadata().created_by(),
        Some(concat!("casework version ", env!("CARGO_PKG_VERSION")))
    );
    let rg = reader.metadata().row_group(0);
    for col in rg.columns() {
        assert!(
            matches!(col.compression(), Compression::ZSTD(_)),
            "{:?}",
            col.column_path()
        );
        assert!(col.statistics().is_some(), "{:?}", col.column_path());
    }

    // The amounts are the report's (£2,500, £950, £10,000), in pence.
    let rows = table_rows(&wh, "recommendations");
    let amounts: Vec<&str> = rows
        .iter()
        .filter_map(|r| {
            r.split('|')
                .find(|f| f.starts_with("amount_gbp=") && !f.ends_with('∅'))
        })
        .collect();
    let mut amounts = amounts;
    amounts.sort();
    assert_eq!(
        amounts,
        [
            "amount_gbp=10000.00",
            "amount_gbp=2500.00",
            "amount_gbp=950.00"
        ]
    );

    // The manifest records inputs with their SHA-256 and the configuration used.
    let ingest = &m["ingests"][0];
    assert_eq!(ingest["inputs"].as_array().unwrap().len(), 5);
    // Each equal to coreutils' sha256sum of the file, and its size (the CSV files are
    // hashed by the thread that reads them).
    for input in ingest["inputs"].as_array().unwrap() {
        let path = Path::new(EXAMPLE).join(input["file"].as_str().unwrap());
        let sum = std::process::Command::new("sha256sum")
            .arg(&path)
            .output()
            .expect("sha256sum (coreutils) runs");
        let sum = String::from_utf8(sum.stdout).unwrap();
        assert_eq!(
            input["sha256"].as_str(),
            sum.split_whitespace().next(),
            "{}",
            path.display()
        );
        assert_eq!(
            input["bytes"].as_u64(),
            Some(fs::metadata(&path).unwrap().len())
        );
    }
    assert_eq!(
        ingest["code_list"]["name"],
        "embedded:data/codes/imaging-themes.csv"
    );
    assert_eq!(ingest["casework_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(ingest["pseudonymised"], false);
    assert!(
        stdout(&out).contains("patient_ref: not stored (14 values dropped"),
        "{}",
        stdout(&out)
    );
}

/// A bundle with at least one instance of every rule in the spec, at known lines.
fn rules_bundle(dir: &Path) -> std::path::PathBuf {
    let long_note = "x".repeat(2001);
    let findings = format!(
        "case_id,code,stage,note\n\
         c1,UF1,reporting,fine\n\
         c1,ZZ9,,\n\
         c9,UF1,,\n\
         c3,UF1,,\n\
         c2,FA1,dreaming,\n\
         c2,DL1,,{long_note}\n"
    );
    bundle(
        dir,
        "rules",
        &[
            (
                "cases.csv",
                b"case_id,source,organisation_code,opened_date,closed_date,decision,avoidable_death,patient_ref\n\
                  c1,ombudsman_complaint,RJ1,2019-01-10,2019-06-01,upheld,false,PT-SECRET-1\n\
                  c2,ombudsman_complaint,RJ1,2019-02-01,,,,\n\
                  c1,local_complaint,RJ2,2019-03-01,,,,\n\
                  c3,,RJ1,2019-03-01,,,,\n\
                  c4,tweet,RJ1,2019-03-01,,,,\n\
                  c5,ombudsman_complaint,RJ1,2019-13-01,,,,\n\
                  c6,ombudsman_complaint,RJ1,2019-05-01,2019-04-01,,,\n\
                  bad id!,ombudsman_complaint,RJ1,2019-05-01,,,,\n\
                  c7,ombudsman_complaint,RJ1,2019-05-01,,,maybe,\n" as &[u8],
            ),
            ("findings.csv", findings.as_bytes()),
            (
                "events.csv",
                b"case_id,episode,event,occurred_at,urgency\n\
                  c1,1,performed,2019-01-01T09:00,urgent\n\
                  c1,1,reported,2019-01-02T09:00Z,urgent\n\
                  c1,,reported,2019-01-02,\n\
                  c1,1,teleported,2019-01-02,\n\
                  c1,1,reported,yesterday,\n",
            ),
            (
                "recommendations.csv",
                b"case_id,kind,amount_gbp,made_date,due_date,completed_date,status\n\
                  c1,financial_remedy,500.00,2019-06-01,2019-07-01,2019-06-20,complied\n\
                  c1,financial_remedy,,2019-06-01,,,pending\n\
                  c1,apology,10,2019-06-01,,,pending\n\
                  c1,apology,,2019-06-01,2019-05-01,,pending\n\
                  c1,apology,,2019-06-01,,2019-05-31,complied\n\
                  c1,training,,2019-06-01,,,done\n\
                  c1,financial_remedy,12.345,2019-06-01,,,pending\n",
            ),
        ],
    )
}

/// (file, line, column, rule) of every problem in the rules bundle, in file order.
const RULES_EXPECTED: &[(&str, &str, &str, &str)] = &[
    ("cases.csv", "4", "case_id", "duplicate_case_id"),
    ("cases.csv", "5", "source", "required"),
    ("cases.csv", "6", "source", "allowed_values"),
    ("cases.csv", "7", "opened_date", "format"),
    ("cases.csv", "8", "closed_date", "date_order"),
    ("cases.csv", "9", "case_id", "format"),
    ("cases.csv", "10", "avoidable_death", "format"),
    ("findings.csv", "3", "code", "unknown_code"),
    ("findings.csv", "4", "case_id", "unknown_case"),
    ("findings.csv", "5", "case_id", "unknown_case"),
    ("findings.csv", "6", "stage", "allowed_values"),
    ("findings.csv", "7", "note", "too_long"),
    ("events.csv", "4", "episode", "required"),
    ("events.csv", "5", "event", "allowed_values"),
    ("events.csv", "6", "occurred_at", "format"),
    ("recommendations.csv", "3", "amount_gbp", "amount_kind"),
    ("recommendations.csv", "4", "amount_gbp", "amount_kind"),
    ("recommendations.csv", "5", "due_date", "date_order"),
    ("recommendations.csv", "6", "completed_date", "date_order"),
    ("recommendations.csv", "7", "status", "allowed_values"),
    ("recommendations.csv", "8", "amount_gbp", "format"),
];

#[test]
fn every_rule_is_reported_with_its_place_and_nothing_is_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let b = rules_bundle(tmp.path());
    let out = casework(
        tmp.path(),
        &["ingest", b.to_str().unwrap(), "--format", "json", "-q"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
    assert!(
        !tmp.path().join("warehouse/manifest.json").exists(),
        "nothing committed"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["committed"], false);
    // read = stored + rejected, per type, by hand count of the bundle above.
    for (t, read, stored, rejected) in [
        ("cases", 9, 2, 7),
        ("findings", 6, 1, 5),
        ("events", 5, 2, 3),
        ("recommendations", 7, 1, 6),
    ] {
        let c = &summary["counts"][t];
        assert_eq!(
            (
                c["read"].as_u64(),
                c["stored"].as_u64(),
                c["rejected"].as_u64()
            ),
            (Some(read), Some(stored), Some(rejected)),
            "{t}"
        );
    }
    let got: Vec<(String, String, String, String)> =
        rejects(&tmp.path().join("casework-rejects.csv"))
            .into_iter()
            .map(|r| {
                (
                    r["file"].clone(),
                    r["line"].clone(),
                    r["column"].clone(),
                    r["rule"].clone(),
                )
            })
            .collect();
    let want: Vec<(String, String, String, String)> = RULES_EXPECTED
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, want);
    let all = rejects(&tmp.path().join("casework-rejects.csv"));
    let message = |line: &str, file: &str| {
        all.iter()
            .find(|r| r["line"] == line && r["file"] == file)
            .unwrap()["message"]
            .clone()
    };
    assert_eq!(
        message("4", "cases.csv"),
        "case_id c1 is already used at line 2; case_id must be unique"
    );
    assert_eq!(
        message("8", "cases.csv"),
        "closed_date 2019-04-01 is before opened_date 2019-05-01"
    );
    assert_eq!(
        message("4", "findings.csv"),
        "names case c9, which is not in the bundle's cases"
    );
    assert_eq!(
        message("5", "findings.csv"),
        "names case c3, which was rejected (cases, line 5); fix that case first"
    );
    assert_eq!(
        message("7", "findings.csv"),
        "note is 2001 characters long; at most 2000 are allowed"
    );
    assert_eq!(
        message("3", "recommendations.csv"),
        "amount_gbp is required when kind is financial_remedy"
    );
    assert_eq!(
        message("4", "recommendations.csv"),
        "amount_gbp is only for kind financial_remedy, not apology"
    );
    // The note's text is never copied into the rejects.
    assert!(
        !fs::read_to_string(tmp.path().join("casework-rejects.csv"))
            .unwrap()
            .contains("xxxxxxxx")
    );
    // The printed summary groups by rule, with counts.
    let text = casework(tmp.path(), &["validate", b.to_str().unwrap()]);
    assert_eq!(text.status.code(), Some(2));
    let s = stdout(&text);
    assert!(s.contains("Rejected rows: 21."), "{s}");
    assert!(s.contains("  allowed_values (4)"), "{s}");
    assert!(s.contains("  date_order (3)"), "{s}");
}

#[test]
fn accept_partial_commits_the_valid_rows_and_keeps_the_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let b = rules_bundle(tmp.path());
    let out = casework(
        tmp.path(),
        &["ingest", b.to_str().unwrap(), "--accept-partial", "-q"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let wh = tmp.path().join("warehouse");
    let m = manifest(&wh);
    assert_eq!(m["tables"]["cases"]["rows"], 2);
    assert_eq!(m["tables"]["findings"]["rows"], 1);
    assert_eq!(m["tables"]["events"]["rows"], 2);
    assert_eq!(m["tables"]["recommendations"]["rows"], 1);
    assert_eq!(m["tables"]["rejects"]["rows"], RULES_EXPECTED.len());
    assert_eq!(m["ingests"][0]["policy"], "accept_partial");
    let rejected = table_rows(&wh, "rejects");
    assert!(
        rejected
            .iter()
            .any(|r| r.contains("rule=duplicate_case_id") && r.contains("line=4"))
    );
    for f in all_files(&wh) {
        let bytes = fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, b"PT-SECRET-1"),
            "{} holds a patient_ref",
            f.display()
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// (file, line, column, rule, message) of one reported problem.
type Problem = (String, String, String, String, String);

const CASES_HEADER: &str = "case_id,source,organisation_code,opened_date\n";
const CASE_OK: &str = "c1,ombudsman_complaint,RJ1,2019-01-01\n";

/// Runs ingest on a bundle and returns (exit code, rejects as (file, line, column, rule, message)).
fn ingest_rejects(dir: &Path, b: &Path) -> (Option<i32>, Vec<Problem>) {
    let out = casework(dir, &["ingest", b.to_str().unwrap(), "-q"]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let path = dir.join("casework-rejects.csv");
    let list = if path.exists() {
        rejects(&path)
            .into_iter()
            .map(|r| {
                (
                    r["file"].clone(),
                    r["line"].clone(),
                    r["column"].clone(),
                    r["rule"].clone(),
                    r["message"].clone(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    (out.status.code(), list)
}

fn one(file: &str, line: &str, column: &str, rule: &str, message: &str) -> Vec<Problem> {
    vec![(
        file.into(),
        line.into(),
        column.into(),
        rule.into(),
        message.into(),
    )]
}

#[test]
fn malformed_csv_rows_are_rejected_at_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "quote",
            format!("{CASES_HEADER}{CASE_OK}c2,\"ombudsman_complaint,RJ1,2019-01-01\nc3,ombudsman_complaint,RJ1,2019-01-01\n").into_bytes(),
            one("cases.csv", "3", "", "unbalanced_quote", "expected 4 fields as in the header, found 2; a quoted field opened here runs to the end of the file: check for an unbalanced quote"),
        ),
        (
            // A stray quote joins lines up to the next quote in the same column: the
            // record has the right field count, but its field holds a whole row (c3).
            "swallowed",
            format!("{CASES_HEADER}{CASE_OK}c2,ombudsman_complaint,\"RJ1,2019-01-01\nc3,ombudsman_complaint,RJ1,2019-01-01\nc4,ombudsman_complaint,\"RJ1\",2019-01-01\n").into_bytes(),
            one("cases.csv", "3", "organisation_code", "unbalanced_quote", "a quoted field here runs over 3 lines and holds the commas of a whole row: check for an unbalanced quote"),
        ),
        (
            "fields",
            format!("{CASES_HEADER}{CASE_OK}c2,ombudsman_complaint,RJ1\n").into_bytes(),
            one("cases.csv", "3", "", "field_count", "expected 4 fields as in the header, found 3"),
        ),
    ];
    for (name, content, want) in cases {
        let dir = tmp.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        let b = bundle(&dir, "b", &[("cases.csv", &content)]);
        let (code, got) = ingest_rejects(&dir, &b);
        assert_eq!(code, Some(2), "{name}");
        assert_eq!(got, want, "{name}");
        // The summary still reconciles: 2 read, 1 valid, 1 rejected.
        let out = casework(&dir, &["validate", b.to_str().unwrap(), "--format", "json"]);
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let c = &s["counts"]["cases"];
        assert_eq!(
            (
                c["read"].as_u64(),
                c["stored"].as_u64(),
                c["rejected"].as_u64()
            ),
            (Some(2), Some(1), Some(1)),
            "{name}"
        );
    }
}

/// A reject names the line its row is on in the file as an editor numbers it, whatever
/// ends the lines: Excel's "CSV UTF-8" writes CRLF, and exports hold blank lines. Planted
/// (counted by hand): bad dates on lines 3, 5 (just after the blank line 4) and 9; line
/// 6 is a good case, lines 7-8 one record (a quoted field over two lines).
#[test]
fn rejects_name_their_line_with_crlf_and_blank_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = [
        "case_id,source,organisation_code,opened_date",
        "c1,ombudsman_complaint,RJ1,2019-01-01",
        "c2,ombudsman_complaint,RJ1,2019-13-01",
        "",
        "c3,ombudsman_complaint,RJ1,2019-02-30",
        "c4,ombudsman_complaint,RJ1,2019-01-02",
        "c5,ombudsman_complaint,\"RJ",
        "1\",2019-01-03",
        "c6,ombudsman_complaint,RJ1,20190104",
    ];
    for (name, end) in [("lf", "\n"), ("crlf", "\r\n")] {
        let dir = tmp.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        let text = lines.join(end) + end;
        let b = bundle(&dir, "b", &[("cases.csv", text.as_bytes())]);
        let (code, got) = ingest_rejects(&dir, &b);
        assert_eq!(code, Some(2), "{name}");
        let at: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|p| (p.1.as_str(), p.2.as_str(), p.3.as_str()))
            .collect();
        assert_eq!(
            at,
            [
                ("3", "opened_date", "format"),
                ("5", "opened_date", "format"),
                ("9", "opened_date", "format"),
            ],
            "{name}: {got:?}"
        );
    }
}

#[test]
fn malformed_files_are_reported_as_file_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let findings_header = b"case_id,code\n" as &[u8];
    let cases_ok = format!("{CASES_HEADER}{CASE_OK}");
    type Files = Vec<(&'static str, Vec<u8>)>;
    let cases: Vec<(&str, Files, Vec<Problem>)> = vec![
        (
            "empty",
            vec![("cases.csv", Vec::new())],
            one("cases.csv", "1", "", "empty_file", "the file is empty: expected a header line naming the columns"),
        ),
        (
            "header-only-cases",
            vec![("cases.csv", CASES_HEADER.as_bytes().to_vec())],
            one("cases.csv", "", "", "empty_file", "cases.csv has a header but no rows: a bundle needs at least one case"),
        ),
        (
            "missing-column",
            vec![("cases.csv", b"case_id,source,organisation_code\nc1,ombudsman_complaint,RJ1\n".to_vec())],
            one("cases.csv", "1", "opened_date", "missing_column", "required column \"opened_date\" is missing (the header has: case_id, source, organisation_code)"),
        ),
        (
            "duplicate-column",
            vec![("cases.csv", b"case_id,source,source,organisation_code,opened_date\nc1,ombudsman_complaint,ombudsman_complaint,RJ1,2019-01-01\n".to_vec())],
            one("cases.csv", "1", "source", "duplicate_column", "column \"source\" appears more than once in the header"),
        ),
        (
            "two-files",
            vec![("cases.csv", cases_ok.clone().into_bytes()), ("cases.ndjson", b"{}\n".to_vec())],
            one("cases.ndjson", "", "", "duplicate_file", "two inputs for cases: cases.csv and cases.ndjson; keep one encoding per record type"),
        ),
        (
            "no-cases",
            vec![("findings.csv", findings_header.to_vec())],
            one("cases.csv", "", "", "missing_file", "the bundle has no cases: expected cases.csv, cases.ndjson or sheet cases of bundle.xlsx"),
        ),
    ];
    for (name, files, want) in cases {
        let dir = tmp.path().join(name);
        fs::create_dir_all(&dir).unwrap();
        let refs: Vec<(&str, &[u8])> = files.iter().map(|(f, c)| (*f, c.as_slice())).collect();
        let b = bundle(&dir, "b", &refs);
        let (code, got) = ingest_rejects(&dir, &b);
        assert_eq!(code, Some(2), "{name}");
        assert_eq!(got, want, "{name}");
        assert!(
            !dir.join("warehouse/manifest.json").exists(),
            "{name}: nothing committed"
        );
    }
    // A header-only findings file is a bundle without findings: it ingests.
    let dir = tmp.path().join("header-only-findings");
    fs::create_dir_all(&dir).unwrap();
    let b = bundle(
        &dir,
        "b",
        &[
            ("cases.csv", cases_ok.as_bytes()),
            ("findings.csv", findings_header),
        ],
    );
    let (code, got) = ingest_rejects(&dir, &b);
    assert_eq!((code, got.len()), (Some(0), 0));
    assert_eq!(
        manifest(&dir.join("warehouse"))["ingests"][0]["counts"]["findings"]["read"],
        0
    );
}

#[test]
fn malformed_ndjson_and_xlsx_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    // NDJSON: a line that is not an object, a line that is not JSON, a nested value.
    let dir = tmp.path().join("ndjson");
    fs::create_dir_all(&dir).unwrap();
    let b = bundle(
        &dir,
        "b",
        &[(
            "cases.ndjson",
            b"{\"case_id\":\"c1\",\"source\":\"ombudsman_complaint\",\"organisation_code\":\"RJ1\",\"opened_date\":\"2019-01-01\",\"region\":null}\n\
              [1,2]\n\
              \n\
              {\"case_id\": \"c2\",\n\
              {\"case_id\":\"c3\",\"source\":\"ombudsman_complaint\",\"organisation_code\":{\"x\":1},\"opened_date\":\"2019-01-01\"}\n",
        )],
    );
    let (code, got) = ingest_rejects(&dir, &b);
    assert_eq!(code, Some(2));
    let rules: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|r| (r.1.as_str(), r.2.as_str(), r.3.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("2", "", "not_an_object"),
            ("4", "", "malformed_json"),
            ("5", "organisation_code", "format")
        ]
    );
    assert_eq!(
        got[0].4,
        "expected a JSON object such as {\"case_id\": ...}, found an array"
    );
    assert_eq!(
        got[1].4,
        "not valid JSON at column 17: EOF while parsing a value"
    );

    // XLSX: a sheet that is not a record type.
    let dir = tmp.path().join("xlsx");
    fs::create_dir_all(dir.join("b")).unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("cases").unwrap();
    for (c, v) in ["case_id", "source", "organisation_code", "opened_date"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *v).unwrap();
    }
    for (c, v) in ["c1", "ombudsman_complaint", "RJ1", "2019-01-01"]
        .iter()
        .enumerate()
    {
        ws.write_string(1, c as u16, *v).unwrap();
    }
    wb.add_worksheet().set_name("Sheet2").unwrap();
    wb.save(dir.join("b/bundle.xlsx")).unwrap();
    let (code, got) = ingest_rejects(&dir, &dir.join("b"));
    assert_eq!(code, Some(2));
    assert_eq!(
        got,
        one(
            "bundle.xlsx",
            "",
            "",
            "unknown_sheet",
            "sheet \"Sheet2\" is not a record type: name the sheets cases, findings, events, recommendations or codings"
        )
    );
}

#[test]
fn reingesting_replaces_cases_with_all_their_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let w = wh.to_str().unwrap();
    let out = casework(tmp.path(), &["ingest", EXAMPLE, "--warehouse", w, "-q"]);
    assert_eq!(out.status.code(), Some(0));
    let first = contents(&wh);
    // The same bundle again: the same contents, every case replaced.
    let out = casework(
        tmp.path(),
        &[
            "ingest",
            EXAMPLE,
            "--warehouse",
            w,
            "-q",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["replaced_cases"], 14);
    assert_eq!(contents(&wh), first);
    let m = manifest(&wh);
    assert_eq!(m["ingests"].as_array().unwrap().len(), 2);
    assert_eq!(m["tables"]["findings"]["rows"], 34);
    // Only the committed version is left on disk.
    let versions: Vec<String> = fs::read_dir(&wh)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('v'))
        .collect();
    assert_eq!(versions, ["v000002"]);

    // A bundle that recodes phso-13 with one finding and adds a new case: phso-13's six
    // findings and its events and recommendations go, the others stay.
    let b = bundle(
        tmp.path(),
        "update",
        &[
            ("cases.csv", b"case_id,source,organisation_code,opened_date\nphso-13,ombudsman_complaint,ORG-13,2018-03-01\nnew-1,local_complaint,RJ1,2021-05-05\n"),
            ("findings.csv", b"case_id,code\nphso-13,FA3\nnew-1,DL2\n"),
        ],
    );
    let out = casework(
        tmp.path(),
        &["ingest", b.to_str().unwrap(), "--warehouse", w, "-q"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let m = manifest(&wh);
    assert_eq!(m["tables"]["cases"]["rows"], 15);
    assert_eq!(m["tables"]["findings"]["rows"], 34 - 6 + 2);
    assert_eq!(m["tables"]["events"]["rows"], 35 - 7);
    assert_eq!(m["tables"]["recommendations"]["rows"], 12 - 3);
    assert_eq!(m["ingests"][2]["replaced_cases"], 1);
    let findings = table_rows(&wh, "findings");
    assert_eq!(
        findings
            .iter()
            .filter(|r| r.starts_with("case_id=phso-13|"))
            .count(),
        1
    );
    assert_eq!(
        findings
            .iter()
            .filter(|r| r.starts_with("case_id=phso-12|"))
            .count(),
        4
    );
    assert!(
        table_files(&wh, "cases")
            .iter()
            .any(|f| f.to_string_lossy().contains("opened_year=2021"))
    );
}

#[test]
fn validate_writes_no_warehouse() {
    let tmp = tempfile::tempdir().unwrap();
    let out = casework(tmp.path(), &["validate", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("Valid: every row can be stored."));
    assert!(!tmp.path().join("warehouse").exists());
    assert!(!tmp.path().join("casework-rejects.csv").exists());
}

#[test]
fn patient_ref_is_never_stored_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    // Without a key: not stored at all.
    let out = casework(
        tmp.path(),
        &["ingest", EXAMPLE, "--warehouse", "plain", "-q"],
    );
    assert_eq!(out.status.code(), Some(0));
    let refs: Vec<String> = table_rows(&tmp.path().join("plain"), "cases")
        .iter()
        .map(|r| {
            r.split('|')
                .find(|f| f.starts_with("patient_ref="))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(refs.iter().all(|r| r == "patient_ref=∅"), "{refs:?}");
    // With a key: the HMAC-SHA-256, computed here with the hmac crate.
    let key = b"0123456789abcdef0123456789abcdef-test-key";
    fs::write(tmp.path().join("key"), key).unwrap();
    // A key others can read is refused, naming its mode; made private, it is used.
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path().join("key"), fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = casework(
        tmp.path(),
        &[
            "ingest",
            EXAMPLE,
            "--warehouse",
            "keyed",
            "--key-file",
            "key",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the key file can be read or written by others (mode 644); make it private with chmod 600"),
        "{}",
        stderr(&out)
    );
    assert!(!tmp.path().join("keyed/manifest.json").exists());
    private(&tmp.path().join("key"));
    let out = casework(
        tmp.path(),
        &[
            "ingest",
            EXAMPLE,
            "--warehouse",
            "keyed",
            "--key-file",
            "key",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(b"EX-PT-01");
    let want = format!("patient_ref={}", hex::encode(mac.finalize().into_bytes()));
    let rows = table_rows(&tmp.path().join("keyed"), "cases");
    let phso01 = rows
        .iter()
        .find(|r| r.starts_with("case_id=phso-01|"))
        .unwrap();
    assert!(phso01.contains(&want), "{phso01}");
    assert_eq!(
        manifest(&tmp.path().join("keyed"))["ingests"][0]["pseudonymised"],
        true
    );
    // No stored byte anywhere holds a patient_ref in clear.
    for wh in ["plain", "keyed"] {
        for f in all_files(&tmp.path().join(wh)) {
            let bytes = fs::read(&f).unwrap();
            assert!(
                !contains(&bytes, b"EX-PT-"),
                "{} holds a patient_ref",
                f.display()
            );
        }
    }
    // A short key is refused.
    fs::write(tmp.path().join("short"), b"too short").unwrap();
    private(&tmp.path().join("short"));
    let out = casework(
        tmp.path(),
        &["ingest", EXAMPLE, "--key-file", "short", "-q"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("the key is 9 bytes long; a pseudonymisation key must be at least 32 bytes"),
        "{}",
        stderr(&out)
    );
}

/// Makes a file readable and writable by its owner only (mode 600).
fn private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

/// A file in another encoding is refused once, naming the file, the first place and what
/// the encoding probably is, not rejected row by row (issue 17).
#[test]
fn a_file_that_is_not_utf8_is_refused_once_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    // Windows-1252, as Excel's plain "CSV" writes: é is the byte 0xE9.
    let cp1252 = [
        CASES_HEADER.as_bytes(),
        b"c1,ombudsman_complaint,Caf\xe9,2019-01-01\n",
        b"c2,ombudsman_complaint,Caf\xe9,2019-01-01\n",
        b"c3,ombudsman_complaint,Caf\xe9,2019-01-01\n",
    ]
    .concat();
    let b = bundle(tmp.path(), "cp1252", &[("cases.csv", &cp1252)]);
    let out = casework(tmp.path(), &["validate", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("not valid UTF-8").count(), 1, "{err}");
    for words in [
        "cases.csv line 2, column organisation_code",
        "Windows-1252",
        "CSV UTF-8",
    ] {
        assert!(err.contains(words), "{words}: {err}");
    }
    // UTF-16 with its byte-order mark, as Excel's "Unicode Text" writes.
    let text = format!("{CASES_HEADER}{CASE_OK}");
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let b = bundle(tmp.path(), "utf16", &[("cases.csv", &utf16)]);
    let out = casework(tmp.path(), &["validate", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("UTF-16") && said.contains("cases.csv line 1"),
        "{said}"
    );
    assert_eq!(said.matches("invalid_utf8").count(), 1, "{said}");
}

/// Events across the change of the clocks (31 March 2024, 01:00 GMT) against the one-hour
/// critical-alert threshold: an alert raised at 00:30 and acknowledged at 02:10 local time
/// took 40 minutes. Read as local times of Europe/London, both episodes (one written
/// with offsets, one without) are within the hour; without --time-zone the local one is
/// read as UTC (100 minutes, a delay) and the summary says that times with and without an
/// offset were mixed. A local time the clocks skipped is rejected.
#[test]
fn intervals_across_a_change_of_the_clocks_follow_the_time_zone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases = "case_id,source,organisation_code,opened_date\n\
                 c1,ombudsman_complaint,R1,2024-04-01\n\
                 c2,ombudsman_complaint,R1,2024-04-01\n";
    let events = "case_id,episode,event,occurred_at,urgency\n\
                  c1,1,alert_raised,2024-03-31T00:30,critical\n\
                  c1,1,alert_acknowledged,2024-03-31T02:10,critical\n\
                  c2,1,alert_raised,2024-03-31T00:30Z,critical\n\
                  c2,1,alert_acknowledged,2024-03-31T02:10+01:00,critical\n";
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases.as_bytes()),
            ("events.csv", events.as_bytes()),
        ],
    );
    let over = |wh: &str, extra: &[&str]| -> (u64, u64, String) {
        let mut args = vec!["ingest", b.to_str().unwrap(), "--warehouse", wh];
        args.extend_from_slice(extra);
        let o = casework(d, &args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let m = measure_json(d, &["delay_intervals", "--warehouse", wh]);
        let row = m["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["from_event"] == "alert_raised" && r["urgency"] == "critical")
            .unwrap()
            .clone();
        (
            row["episodes"].as_u64().unwrap(),
            row["over_threshold"].as_u64().unwrap(),
            stdout(&o),
        )
    };
    let (episodes, delayed, said) = over("wh-london", &["--time-zone", "Europe/London"]);
    assert_eq!((episodes, delayed), (2, 0), "{said}");
    assert!(said.contains("local times of Europe/London"), "{said}");
    assert!(!said.contains("note:"), "{said}");
    let (episodes, delayed, said) = over("wh-utc", &[]);
    assert_eq!((episodes, delayed), (2, 1), "{said}");
    assert!(
        said.contains("2 times have an offset") && said.contains("--time-zone"),
        "{said}"
    );
    // 01:30 on that day did not happen in London.
    let skipped = "case_id,episode,event,occurred_at,urgency\n\
                   c1,1,alert_raised,2024-03-31T01:30,critical\n";
    let b2 = bundle(
        d,
        "b2",
        &[
            ("cases.csv", cases.as_bytes()),
            ("events.csv", skipped.as_bytes()),
        ],
    );
    let (code, got) = {
        let o = casework(
            d,
            &[
                "validate",
                b2.to_str().unwrap(),
                "--time-zone",
                "Europe/London",
                "--rejects",
                "r.csv",
            ],
        );
        (
            o.status.code(),
            fs::read_to_string(d.join("r.csv")).unwrap(),
        )
    };
    assert_eq!(code, Some(2));
    assert!(got.contains("did not happen in Europe/London"), "{got}");
    let bad = casework(
        d,
        &[
            "validate",
            b.to_str().unwrap(),
            "--time-zone",
            "Mars/Olympus",
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
}

/// A character whose bytes fall on both sides of a comma is invalid in each field, though
/// the record's bytes run together are valid UTF-8: the file is still refused, at the
/// first field (the reader checks a record's bytes at once, then field boundaries).
#[test]
fn a_character_split_by_a_comma_is_not_valid_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    // é is C3 A9: C3 ends organisation_code, A9 starts opened_date.
    let text = [
        CASES_HEADER.as_bytes(),
        CASE_OK.as_bytes(),
        b"c2,ombudsman_complaint,Caf\xc3,\xa92019-01-01\n",
    ]
    .concat();
    let b = bundle(tmp.path(), "split", &[("cases.csv", &text)]);
    let out = casework(tmp.path(), &["validate", b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "cases.csv line 3, column organisation_code: not valid UTF-8 (byte 4 of the field)"
        ),
        "{err}"
    );
}

/// A file of many chunks (the reader hands rows over `CHUNK_ROWS` (8,192) at a time,
/// and sooner when a chunk's text passes 4 MiB): rejects keep their line numbers across
/// chunk boundaries, and every row is counted once. Planted, with n = `CHUNK_ROWS`:
/// 2n + 1,000 cases, a bad date on lines n + 1 and n + 2 (the last row of the first chunk
/// and the first of the second) and 2n + 2, a row with a field too few on line 2n + 1; in
/// findings 40 rows, the odd ones with a 250,000-byte note (over the note's 2,000
/// characters: 5 MB of text, so several chunks by size), the 20th naming an unknown case.
#[test]
fn rejects_keep_their_lines_across_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let n = casework::input::CHUNK_ROWS;
    let total = 2 * n + 1000;
    let mut cases = String::from(CASES_HEADER);
    for i in 1..=total {
        let line = i + 1;
        if [n + 1, n + 2, 2 * n + 2].contains(&line) {
            cases.push_str(&format!("c{i},ombudsman_complaint,RJ1,2019-02-30\n"))
        } else if line == 2 * n + 1 {
            cases.push_str(&format!("c{i},ombudsman_complaint,RJ1\n"))
        } else {
            cases.push_str(&format!("c{i},ombudsman_complaint,RJ1,2019-01-01\n"))
        }
    }
    let mut findings = String::from("case_id,code,note\n");
    for i in 1..=40u32 {
        let case = if i == 20 {
            "nope".to_string()
        } else {
            format!("c{i}")
        };
        let note = if i % 2 == 1 { 250_000 } else { 10 };
        findings.push_str(&format!("{case},UF1,{}\n", "n".repeat(note)));
    }
    let b = bundle(
        d,
        "many",
        &[
            ("cases.csv", cases.as_bytes()),
            ("findings.csv", findings.as_bytes()),
        ],
    );
    let out = casework(
        d,
        &[
            "validate",
            b.to_str().unwrap(),
            "--max-field-bytes",
            "300000",
            "--rejects",
            "r.csv",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["cases"]["read"], total);
    assert_eq!(s["counts"]["cases"]["stored"], total - 4);
    assert_eq!(s["counts"]["cases"]["rejected"], 4);
    assert_eq!(s["counts"]["findings"]["read"], 40);
    assert_eq!(s["counts"]["findings"]["stored"], 19);
    let got: Vec<(String, String, String)> = rejects(&d.join("r.csv"))
        .into_iter()
        .map(|r| (r["file"].clone(), r["line"].clone(), r["rule"].clone()))
        .collect();
    let mut want: Vec<(String, String, String)> = [
        (n + 1, "format"),
        (n + 2, "format"),
        (2 * n + 1, "field_count"),
        (2 * n + 2, "format"),
    ]
    .iter()
    .map(|(l, r)| ("cases.csv".to_string(), l.to_string(), r.to_string()))
    .collect();
    for i in 1..=40u32 {
        let rule = match i {
            20 => "unknown_case",
            _ if i % 2 == 1 => "too_long",
            _ => continue,
        };
        want.push(("findings.csv".into(), (i + 1).to_string(), rule.into()));
    }
    assert_eq!(got, want);
}

/// Every file under `dir` with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// `--show N` is a dry run on `ingest` as on `validate`: on an export with no rejects it
/// prints the rows and writes nothing, neither a warehouse (none made; an existing one
/// byte for byte the same, its manifest listing no new ingest) nor a rejects file.
/// Options that would act only on a commit are refused beside it.
#[test]
fn ingest_show_is_a_dry_run_that_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let out = casework(d, &["ingest", EXAMPLE, "--show", "3"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("cases: the first 3 rows as read"), "{text}");
    assert!(text.contains("dry run, nothing written"), "{text}");
    assert!(!d.join("warehouse").exists(), "{text}");
    assert!(all_files(d).is_empty(), "{:?}", all_files(d));

    // Over a warehouse that exists: untouched, its manifest still one ingest.
    let out = casework(d, &["ingest", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let before = snapshot(d);
    let out = casework(d, &["ingest", EXAMPLE, "--show", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(snapshot(d), before, "--show changed the folder");
    assert_eq!(
        manifest(&d.join("warehouse"))["ingests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for extra in [&["--accept-partial"][..], &["--wait", "5"]] {
        let mut args = vec!["ingest", EXAMPLE, "--show", "2"];
        args.extend_from_slice(extra);
        let out = casework(d, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("has no effect with --show"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(snapshot(d), before);
}

/// A rejects file always belongs to the run that wrote it: each row names its run, and
/// a later run that rejects nothing removes the earlier file (and says so), so a stale
/// file never reads as current. A file at that path that is not a rejects file is
/// refused and left as it was.
#[test]
fn a_rejects_file_belongs_to_the_run_that_wrote_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_example(d, "good");
    let bad = copy_example(d, "bad");
    let mut cases = std::fs::read_to_string(bad.join("cases.csv")).unwrap();
    cases.push_str("bad-1,ombudsman_complaint,ORG-01,,acute_trust,,2017-13-45,,,,,,,,\n");
    std::fs::write(bad.join("cases.csv"), cases).unwrap();
    let rejects_path = d.join("casework-rejects.csv");

    let out = casework(d, &["ingest", "bad"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let rows = rejects(&rejects_path);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let run = &rows[0]["run"];
    assert!(
        run.starts_with("ingest 1 ")
            && run.ends_with('Z')
            && run.len() == "ingest 1 2026-12-07T04:00:00Z".len(),
        "{run}"
    );
    let out = casework(d, &["validate", "bad"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(rejects(&rejects_path)[0]["run"].starts_with("validate "));

    // A clean run: the earlier file is gone, and the summary says it removed it.
    let out = casework(d, &["ingest", "good"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(!rejects_path.exists(), "a stale rejects file was left");
    assert!(
        stdout(&out).contains("the rejects file of an earlier run"),
        "{}",
        stdout(&out)
    );

    // Not a rejects file: refused, untouched.
    std::fs::write(&rejects_path, "my,own,notes\n1,2,3\n").unwrap();
    let out = casework(d, &["validate", "bad"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not a casework rejects file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&rejects_path).unwrap(),
        "my,own,notes\n1,2,3\n"
    );
}
