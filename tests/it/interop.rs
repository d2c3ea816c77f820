//! The warehouse files are what users keep for years and read with other tools. Every
//! column chunk of an enumerated column and of `case_id` is written by casework's own
//! encoder (pipeline/warehouse/parquet_file/): these tests write a warehouse of many row
//! groups and pages of messy values and check it with readers that share no code with it.
//!
//! - Three independent readers (pyarrow, Polars, DuckDB: tests/interop/readers.py) read
//!   every file row for row and agree, and every chunk's statistics match its rows.
//! - Every page's statistics (the column index) match the rows the offset index puts in
//!   the page, read back here with the parquet crate.
//! - Filters on every hand-encoded column (`--source`, `--decision`, `case_id` ranges),
//!   where statistics and page indexes decide what DataFusion reads, give the counts of a
//!   full read.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use serde_json::Value;

use crate::common::*;

const SOURCES: [&str; 4] = [
    "ombudsman_complaint",
    "local_complaint",
    "patient_safety_incident",
    "serious_incident",
];
const DECISIONS: [&str; 5] = ["upheld", "partly_upheld", "not_upheld", "resolved", "open"];
const CODES: [&str; 6] = ["UF1", "UF2", "FA1", "FA2", "DL3", "LL1"];
const STAGES: [&str; 3] = ["review", "reporting", "action"];
/// Cases; findings are 0 to 3 a case (about 1.5).
const CASES: usize = 70_000;
/// Row groups of about this many rows (the staging gathers this and at most one batch),
/// so each chunk has two or three pages of 20,000 rows.
const ROW_GROUP_ROWS: &str = "45000";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Ids (1 to 64 of A-Z a-z 0-9 . _ -): mostly `C` and six digits, some as long as
/// allowed, some with lower case, dots and underscores after the number (so that ids
/// keep the order of their numbers, as a case system's do); unique per case.
fn case_id(i: usize, rng: &mut Rng) -> String {
    match rng.below(50) {
        0 => format!("C{i:06}_z"),
        1 => format!("C{i:06}.b.a"),
        2 => format!("C{i:06}-{}", "x".repeat(40 + i % 17)),
        _ => format!("C{i:06}"),
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The planted bundle: its cases as (case_id, source, decision), and its findings' case
/// ids.
type Planted = (Vec<(String, String, Option<String>)>, Vec<String>);

/// The messy bundle, written to `dir/bundle`.
fn messy_bundle(dir: &Path) -> Planted {
    let mut rng = Rng(0x5eed_0f1d_2026);
    let names = [
        "Trust of the North",
        "مؤسسة الصحة الوطنية",
        "בית החולים המרכזי",
        "Ysbyty Gwynedd, \"Bangor\"",
        "Établissement de santé — région Île-de-France, a name long enough to pass any width the reports give it",
    ];
    let mut cases = Vec::with_capacity(CASES);
    let mut case_lines = Vec::with_capacity(CASES);
    for i in 0..CASES {
        let id = case_id(i, &mut rng);
        let source = SOURCES[rng.below(SOURCES.len())].to_string();
        let decision =
            (rng.below(5) != 0).then(|| DECISIONS[rng.below(DECISIONS.len())].to_string());
        let org = rng.below(600);
        let name = if rng.below(7) == 0 {
            String::new()
        } else {
            quoted(names[org % names.len()])
        };
        let region = if rng.below(3) == 0 {
            ""
        } else {
            ["north", "south", "london"][org % 3]
        };
        // Mostly 2023, some 2022: two partitions.
        let year = if rng.below(10) == 0 { 2022 } else { 2023 };
        let opened = format!("{year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28));
        case_lines.push(format!(
            "{},{source},ORG{org:03},{name},acute_trust,{region},{opened},,{},,,,,,",
            quoted(&id),
            decision.as_deref().unwrap_or("")
        ));
        cases.push((id, source, decision));
    }
    // Rows in no particular order within blocks of 700 (blocks in id order, so that a
    // page's ids span a narrow range and statistics can exclude pages).
    let mut order: Vec<usize> = (0..CASES).collect();
    for block in order.chunks_mut(700) {
        for k in (1..block.len()).rev() {
            block.swap(k, rng.below(k + 1));
        }
    }
    let mut findings = Vec::new();
    let mut finding_lines = Vec::new();
    for &i in &order {
        let id = &cases[i].0;
        for _ in 0..rng.below(4) {
            let stage = if rng.below(4) == 0 {
                ""
            } else {
                STAGES[rng.below(3)]
            };
            let note = match rng.below(6) {
                0 => String::new(),
                1 => quoted(&"Délai très long; « rapport » non lu. ".repeat(1 + rng.below(30))),
                _ => "short note".to_string(),
            };
            finding_lines.push(format!(
                "{},{},{stage},,{note}",
                quoted(id),
                CODES[rng.below(CODES.len())]
            ));
            findings.push(id.clone());
        }
    }
    let b = dir.join("bundle");
    fs::create_dir_all(&b).unwrap();
    let header = "case_id,source,organisation_code,organisation_name,organisation_type,region,opened_date,closed_date,decision,service,modality,condition_group,harm,avoidable_death,patient_ref\n";
    let body: Vec<&str> = order.iter().map(|&i| case_lines[i].as_str()).collect();
    fs::write(
        b.join("cases.csv"),
        format!("{header}{}\n", body.join("\n")),
    )
    .unwrap();
    fs::write(
        b.join("findings.csv"),
        format!(
            "case_id,code,stage,service,note\n{}\n",
            finding_lines.join("\n")
        ),
    )
    .unwrap();
    (cases, findings)
}

/// The committed version's Parquet files.
fn parquet_files(warehouse: &Path) -> Vec<PathBuf> {
    let version = manifest(warehouse)["version"].as_str().unwrap().to_string();
    let mut files: Vec<PathBuf> = all_files(&warehouse.join(version))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

fn ingest_messy(d: &Path) -> Planted {
    let planted = messy_bundle(d);
    let out = casework_with_env(
        d,
        &[
            "ingest",
            "bundle",
            "--warehouse",
            "wh",
            "-q",
            "--format",
            "json",
        ],
        &[("CASEWORK_TEST_ROW_GROUP_ROWS", ROW_GROUP_ROWS)],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["cases"]["stored"], CASES as u64);
    assert_eq!(s["counts"]["findings"]["stored"], planted.1.len() as u64);
    (planted.0, planted.1)
}

/// Three independent readers agree with each other, row for row, on every file, and
/// every chunk's statistics match its rows (tests/interop/readers.py). The files name
/// casework's version and the encoder's revision, and so does the manifest.
#[test]
fn pyarrow_polars_and_duckdb_read_every_file_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ingest_messy(d);
    let wh = d.join("wh");
    let python = std::env::var("CASEWORK_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/readers.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&wh)
        .output()
        .unwrap_or_else(|e| panic!("{python} does not run ({e}): this test needs Python 3"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("ModuleNotFoundError"),
        "this test needs pyarrow, polars and duckdb: run the README's test command (.ci/test), which installs them from .ci/tools.txt, or set CASEWORK_PYTHON to a Python that has them\n{text}"
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let summary = text
        .lines()
        .find(|l| l.starts_with("files="))
        .unwrap_or_else(|| panic!("{text}"));
    let field = |k: &str| -> u64 {
        summary
            .split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{summary}"))
    };
    let files = parquet_files(&wh);
    assert_eq!(field("files"), files.len() as u64, "{text}");
    assert!(field("row_groups") > files.len() as u64, "{text}");
    assert_eq!(field("mismatches"), 0, "{text}");

    let m = manifest(&wh);
    assert_eq!(m["encoder_revision"], 2, "{m}");
    for f in &files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(f).unwrap()).unwrap();
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap();
        let value = |k: &str| {
            kv.iter()
                .find(|e| e.key == k)
                .and_then(|e| e.value.clone())
                .unwrap_or_else(|| panic!("{} has no {k}", f.display()))
        };
        assert_eq!(value("casework.version"), env!("CARGO_PKG_VERSION"));
        assert_eq!(value("casework.encoder_revision"), "2");
    }
}

/// A value of a page's statistics, as the column index keeps it.
#[derive(Debug, PartialEq, PartialOrd, Clone)]
enum Stat {
    Bytes(Vec<u8>),
    Int(i64),
    Bool(bool),
}

/// A column's values as the column index compares them (text by its UTF-8 bytes, dates
/// and times by their stored integers); `None` for a type this check leaves out.
fn values(column: &ArrayRef) -> Option<Vec<Option<Stat>>> {
    let n = column.len();
    Some(match column.data_type() {
        DataType::Utf8 | DataType::Dictionary(..) | DataType::Utf8View => {
            let text = arrow::compute::cast(column, &DataType::Utf8).unwrap();
            let text = text.as_string::<i32>();
            (0..n)
                .map(|i| {
                    text.is_valid(i)
                        .then(|| Stat::Bytes(text.value(i).as_bytes().to_vec()))
                })
                .collect()
        }
        DataType::Boolean => {
            let b = column.as_boolean();
            (0..n)
                .map(|i| b.is_valid(i).then(|| Stat::Bool(b.value(i))))
                .collect()
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt32
        | DataType::Date32
        | DataType::Int64
        | DataType::Timestamp(..) => {
            let v = arrow::compute::cast(column, &DataType::Int64).unwrap();
            let v = v.as_primitive::<arrow::datatypes::Int64Type>();
            (0..n)
                .map(|i| v.is_valid(i).then(|| Stat::Int(v.value(i))))
                .collect()
        }
        _ => return None,
    })
}

/// Every page of every column chunk of every file: its column-index entry (null count,
/// least and greatest value) against the rows the offset index puts in it, read back
/// whole. Many chunks have several pages.
#[test]
fn every_page_statistic_matches_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ingest_messy(d);
    let (mut pages, mut multi_page_chunks, mut checked_columns) = (0, 0, BTreeMap::new());
    for f in parquet_files(&d.join("wh")) {
        let bytes = Bytes::from(fs::read(&f).unwrap());
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).unwrap();
        let metadata = builder.metadata().clone();
        let schema = builder.schema().clone();
        let batches: Vec<_> = builder.build().unwrap().map(|b| b.unwrap()).collect();
        let all = arrow::compute::concat_batches(&schema, &batches).unwrap();
        let column_index = metadata.column_index().expect("a column index");
        let offset_index = metadata.offset_index().expect("an offset index");
        let mut group_start = 0;
        for g in 0..metadata.num_row_groups() {
            let group_rows = metadata.row_group(g).num_rows() as usize;
            for (c, field) in schema.fields().iter().enumerate() {
                let Some(vals) = values(all.column(c)) else {
                    continue;
                };
                let locations = offset_index[g][c].page_locations();
                if locations.len() > 1 {
                    multi_page_chunks += 1;
                }
                for (p, location) in locations.iter().enumerate() {
                    let first = group_start + location.first_row_index as usize;
                    let end = locations.get(p + 1).map_or(group_start + group_rows, |l| {
                        group_start + l.first_row_index as usize
                    });
                    let rows = &vals[first..end];
                    let present: Vec<&Stat> = rows.iter().flatten().collect();
                    let nulls = (rows.len() - present.len()) as i64;
                    let (min, max) = (
                        present
                            .iter()
                            .copied()
                            .fold(None, |m: Option<&Stat>, v| match m {
                                Some(m) if m <= v => Some(m),
                                _ => Some(v),
                            }),
                        present
                            .iter()
                            .copied()
                            .fold(None, |m: Option<&Stat>, v| match m {
                                Some(m) if m >= v => Some(m),
                                _ => Some(v),
                            }),
                    );
                    let at = format!("{} group {g} column {} page {p}", f.display(), field.name());
                    let (got_nulls, got_min, got_max) = match &column_index[g][c] {
                        ColumnIndexMetaData::BYTE_ARRAY(i) => (
                            i.null_count(p),
                            i.min_value(p).map(|v| Stat::Bytes(v.to_vec())),
                            i.max_value(p).map(|v| Stat::Bytes(v.to_vec())),
                        ),
                        ColumnIndexMetaData::INT32(i) => (
                            i.null_count(p),
                            i.min_value(p).map(|v| Stat::Int(i64::from(*v))),
                            i.max_value(p).map(|v| Stat::Int(i64::from(*v))),
                        ),
                        ColumnIndexMetaData::INT64(i) => (
                            i.null_count(p),
                            i.min_value(p).map(|v| Stat::Int(*v)),
                            i.max_value(p).map(|v| Stat::Int(*v)),
                        ),
                        ColumnIndexMetaData::BOOLEAN(i) => (
                            i.null_count(p),
                            i.min_value(p).map(|v| Stat::Bool(*v)),
                            i.max_value(p).map(|v| Stat::Bool(*v)),
                        ),
                        other => panic!("{at}: a column index of {other:?}"),
                    };
                    assert_eq!(got_nulls, Some(nulls), "{at}: null count");
                    assert_eq!(got_min.as_ref(), min, "{at}: min");
                    assert_eq!(got_max.as_ref(), max, "{at}: max");
                    pages += 1;
                    *checked_columns.entry(field.name().clone()).or_insert(0) += 1;
                }
            }
            group_start += group_rows;
        }
    }
    assert!(
        multi_page_chunks >= 10,
        "{multi_page_chunks} chunks of several pages"
    );
    for hand_encoded in ["case_id", "source", "decision", "code", "stage"] {
        assert!(
            checked_columns.get(hand_encoded).copied().unwrap_or(0) > 2,
            "{hand_encoded}: {checked_columns:?}"
        );
    }
    assert!(pages > 100, "{pages} pages");
}

/// `casework query` with `--format json`: the first row's `n`.
fn count(d: &Path, sql: &str, scope: &[&str]) -> u64 {
    let mut args = vec!["query", sql, "--warehouse", "wh", "--format", "json"];
    args.extend_from_slice(scope);
    let out = casework(d, &args);
    assert_eq!(out.status.code(), Some(0), "{sql}: {}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v
        .as_array()
        .or_else(|| v["rows"].as_array())
        .unwrap()
        .clone();
    rows[0]["n"].as_u64().unwrap_or_else(|| panic!("{v}"))
}

/// Filters on every hand-encoded column, where row-group statistics and page indexes
/// decide what is read, against counts from the planted rows (the full read): each
/// source and decision through the scope options and in SQL, a decision that is null,
/// and `case_id` ranges inside one page, across page and row-group boundaries, and at
/// the two ends of the byte order, on cases and on findings (ids repeated).
#[test]
fn filters_on_hand_encoded_columns_count_what_a_full_read_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (cases, findings) = ingest_messy(d);
    for s in SOURCES {
        let want = cases.iter().filter(|c| c.1 == s).count() as u64;
        assert_eq!(
            count(d, "SELECT count(*) AS n FROM cases", &["--source", s]),
            want,
            "{s}"
        );
        assert_eq!(
            count(
                d,
                &format!("SELECT count(*) AS n FROM cases WHERE source = '{s}'"),
                &[]
            ),
            want,
            "{s}"
        );
    }
    for dec in DECISIONS {
        let want = cases.iter().filter(|c| c.2.as_deref() == Some(dec)).count() as u64;
        assert_eq!(
            count(d, "SELECT count(*) AS n FROM cases", &["--decision", dec]),
            want,
            "{dec}"
        );
    }
    let undecided = cases.iter().filter(|c| c.2.is_none()).count() as u64;
    assert!(undecided > 0);
    assert_eq!(
        count(
            d,
            "SELECT count(*) AS n FROM cases WHERE decision IS NULL",
            &[]
        ),
        undecided
    );
    let ranges = [
        ("C000100", "C000150"),
        ("C019990", "C020010"),
        ("C044000", "C047000"),
        ("C069990", "C07"),
        ("C012345", "C012346"),
        ("C012345.", "C012345a"),
        ("C", "D"),
    ];
    for (lo, hi) in ranges {
        let within = |id: &str| id >= lo && id < hi;
        let want_cases = cases.iter().filter(|c| within(&c.0)).count() as u64;
        let want_findings = findings.iter().filter(|id| within(id)).count() as u64;
        assert!(want_cases > 0 || lo == "C012345.", "{lo}..{hi}");
        let cond = format!("case_id >= '{lo}' AND case_id < '{hi}'");
        assert_eq!(
            count(
                d,
                &format!("SELECT count(*) AS n FROM cases WHERE {cond}"),
                &[]
            ),
            want_cases,
            "{lo}..{hi}"
        );
        assert_eq!(
            count(
                d,
                &format!("SELECT count(*) AS n FROM findings WHERE {cond}"),
                &[]
            ),
            want_findings,
            "{lo}..{hi}"
        );
    }
    // The statistics did decide what was read: a narrow range of ids skipped row groups
    // by their chunk statistics and pages by the column index (DataFusion's metrics).
    let out = casework(
        d,
        &[
            "query",
            "EXPLAIN ANALYZE SELECT count(*) AS n FROM findings WHERE case_id >= 'C030000' AND case_id < 'C030100'",
            "--warehouse",
            "wh",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    let metric = |name: &str| -> (f64, f64) {
        let at = plan
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("no {name}: {plan}"));
        let text = &plan[at + name.len() + 1..];
        let text = &text[..text.find([',', ']', '"']).unwrap_or(text.len())];
        let number = |t: &str| -> f64 {
            let t = t.trim();
            let (n, scale) = match t.strip_suffix(" K") {
                Some(n) => (n, 1e3),
                None => (t, 1.0),
            };
            n.split_whitespace().next().unwrap().parse::<f64>().unwrap() * scale
        };
        let (total, matched) = text
            .split_once("total →")
            .unwrap_or_else(|| panic!("{name}: {text}"));
        (number(total), number(matched.trim_end_matches("matched")))
    };
    let (groups, groups_read) = metric("row_groups_pruned_statistics");
    let (rows, rows_read) = metric("page_index_rows_pruned");
    assert!(
        groups_read < groups,
        "row groups {groups_read} of {groups}: {plan}"
    );
    assert!(
        rows_read < rows,
        "page index rows {rows_read} of {rows}: {plan}"
    );

    // One exact id, and one absent, through the pages of every row group.
    let (id, _, _) = &cases[CASES / 2];
    let want = findings.iter().filter(|f| *f == id).count() as u64;
    assert_eq!(
        count(
            d,
            &format!("SELECT count(*) AS n FROM findings WHERE case_id = '{id}'"),
            &[]
        ),
        want
    );
    assert_eq!(
        count(
            d,
            "SELECT count(*) AS n FROM findings WHERE case_id = 'C0500000'",
            &[]
        ),
        0
    );
}
