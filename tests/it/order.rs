//! Adversarial row order (issue 13): every measure must give the same rows whatever order
//! the input is in, however the warehouse cuts it into files and row groups.
//!
//! A generated bundle (planted truth in `truth.json`) is split into three bundles by case
//! and each is fed in a hostile order: reversed, shuffled, or each record type in a
//! different order. They are ingested one after another into one warehouse with small row
//! groups (the test-only `CASEWORK_TEST_ROW_GROUP_ROWS`), so every table has several
//! files and each file many row groups whose `case_id` ranges overlap. Then every measure
//! must equal, row for row, DuckDB running the same SQL over the same Parquet files
//! (`tests/reference/duckdb_measures.py`), and the planted counts.
//!
//! Before the fix the warehouse declared `sorting_columns = case_id` on row groups that
//! were sorted only within themselves; DataFusion took that as the whole file's order,
//! aggregated in streaming mode, and counted some cases twice.
//!
//! Needs Python with `duckdb` (`.ci/run` installs it from `.ci/tools.txt`); the test fails,
//! and says so, when it is missing. `CASEWORK_PYTHON` names another interpreter.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

const AS_OF: &str = "2025-06-30";
const ROW_GROUP_ROWS: &str = "700";

/// xorshift64*, for a fixed shuffle that does not depend on any crate's version.
struct Shuffler(u64);

impl Shuffler {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Order {
    Reversed,
    Shuffled(u64),
    AsGenerated,
}

const TABLES: [&str; 5] = ["cases", "findings", "events", "recommendations", "codings"];

/// Splits the generated bundle into `parts` bundles by case (the generator writes
/// `case_id` first and unquoted), each file's rows in the order given for its table.
fn split(generated: &Path, out: &Path, parts: usize, orders: [Order; 5]) -> Vec<PathBuf> {
    let count = parts;
    let parts: Vec<PathBuf> = (0..count).map(|k| out.join(format!("part{k}"))).collect();
    for p in &parts {
        fs::create_dir_all(p).unwrap();
    }
    for (table, order) in TABLES.iter().zip(orders) {
        let text = fs::read_to_string(generated.join(format!("{table}.csv"))).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let mut per_part: Vec<Vec<&str>> = vec![Vec::new(); count];
        for line in lines {
            let id = line.split(',').next().unwrap();
            let n: usize = id.trim_start_matches('g').parse().unwrap();
            per_part[n % count].push(line);
        }
        for (k, rows) in per_part.iter_mut().enumerate() {
            match order {
                Order::Reversed => rows.reverse(),
                Order::Shuffled(seed) => Shuffler(seed + k as u64).shuffle(rows),
                Order::AsGenerated => {}
            }
            let mut body = String::from(header);
            body.push('\n');
            for r in rows.iter() {
                body.push_str(r);
                body.push('\n');
            }
            fs::write(parts[k].join(format!("{table}.csv")), body).unwrap();
        }
    }
    parts
}

fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let out = casework_with_env(dir, args, envs);
    assert_eq!(
        out.status.code(),
        Some(0),
        "casework {args:?}: {}",
        stderr(&out)
    );
    out
}

/// DuckDB's answers for every query in queries/, over the files the manifest names.
fn duckdb_answers(dir: &Path, warehouse: &Path) -> BTreeMap<String, (Vec<String>, Vec<Value>)> {
    let aux = dir.join("aux");
    fs::create_dir_all(&aux).unwrap();
    let wh = warehouse.to_str().unwrap();
    for t in ["codes", "thresholds", "parameters", "study", "repeat_codes"] {
        let sql = format!("SELECT * FROM {t}");
        let args = [
            "query",
            "--warehouse",
            wh,
            "--as-of",
            AS_OF,
            "--format",
            "csv",
            &sql,
        ];
        let out = run(dir, &args, &[]);
        fs::write(aux.join(format!("{t}.csv")), &out.stdout).unwrap();
    }
    let python = std::env::var("CASEWORK_PYTHON").unwrap_or_else(|_| "python3".into());
    let answers = dir.join("duckdb.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/duckdb_measures.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([env!("CARGO_MANIFEST_DIR"), wh, aux.to_str().unwrap()])
        .arg(&answers)
        .output()
        .unwrap_or_else(|e| panic!("{python} does not run ({e}): this test needs Python 3"));
    assert!(
        out.status.success(),
        "the DuckDB reference failed; it needs Python's duckdb \
         (pip install --require-hashes -r .ci/tools.txt, or set CASEWORK_PYTHON):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&fs::read_to_string(&answers).unwrap()).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(name, r)| {
            let columns = r["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            let rows = r["rows"].as_array().unwrap().clone();
            (name.clone(), (columns, rows))
        })
        .collect()
}

/// One value in a form in which the two engines' answers compare: numbers to ten
/// significant digits (DataFusion and DuckDB may sum floats in another order), text as
/// it is, null as ∅.
fn canon(v: &Value) -> String {
    match v {
        Value::Null => "∅".into(),
        Value::Number(n) => number(n.as_f64().unwrap()),
        Value::String(s) => match s.parse::<f64>() {
            Ok(x) if s.chars().all(|c| c.is_ascii_digit() || ".-eE+".contains(c)) => number(x),
            _ => s.clone(),
        },
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn number(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else {
        format!("{x:.9e}")
    }
}

/// A row as text over the given columns.
fn row_key(values: impl Iterator<Item = String>) -> String {
    values.collect::<Vec<_>>().join(" | ")
}

/// Compares casework's measure rows with DuckDB's, as multisets over DuckDB's columns.
/// casework adds rows to two measures after the SQL (the all-themes combination of
/// `theme_cooccurrence` and the empty months of `monthly_series`): such extra rows must
/// have every count zero. Returns the differences found, for one message.
fn compare(name: &str, mine: &Value, columns: &[String], theirs: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for r in theirs {
        let key = row_key(r.as_array().unwrap().iter().map(canon));
        *want.entry(key).or_default() += 1;
    }
    let mut extra = Vec::new();
    for r in mine["rows"].as_array().unwrap() {
        let obj = r.as_object().unwrap();
        for c in columns {
            if !obj.contains_key(c) {
                problems.push(format!("{name}: casework has no column {c}"));
                return problems;
            }
        }
        let key = row_key(columns.iter().map(|c| canon(&obj[c])));
        match want.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => extra.push((key, obj.clone())),
        }
    }
    let added_rows_allowed = matches!(name, "theme_cooccurrence" | "monthly_series");
    for (key, obj) in extra {
        let zero = obj
            .iter()
            .filter(|(k, _)| k.starts_with("cases") || k.as_str() == "count")
            .all(|(_, v)| v.as_f64() == Some(0.0));
        if !(added_rows_allowed && zero) {
            problems.push(format!(
                "{name}: casework row not in DuckDB's answer: {key}"
            ));
        }
    }
    for (key, n) in want {
        if n > 0 {
            problems.push(format!(
                "{name}: DuckDB row missing from casework ({n}×): {key}"
            ));
        }
    }
    problems
}

/// Runs every measure with casework and with DuckDB over the same warehouse; returns
/// casework's outputs by measure and the differences found.
fn measures_and_differences(
    dir: &Path,
    warehouse: &Path,
) -> (BTreeMap<String, Value>, Vec<String>, String) {
    let wh = warehouse.to_str().unwrap();
    let out = run(
        dir,
        &[
            "measure",
            "--warehouse",
            wh,
            "--as-of",
            AS_OF,
            "--format",
            "json",
        ],
        &[],
    );
    let outputs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mine: BTreeMap<String, Value> = outputs
        .into_iter()
        .map(|o| (o["measure"].as_str().unwrap().to_string(), o))
        .collect();
    let duck = duckdb_answers(dir, warehouse);
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        duck.keys().collect::<Vec<_>>(),
        "the same measures"
    );
    let mut problems = Vec::new();
    // A warehouse written before codings existed has none: its agreement is empty.
    let has_codings = manifest(warehouse)["tables"].get("codings").is_some();
    for (name, (columns, theirs)) in &duck {
        assert!(
            !theirs.is_empty() || (name == "coding_agreement" && !has_codings),
            "DuckDB gives no rows for {name}"
        );
        problems.extend(compare(name, &mine[name], columns, theirs));
    }
    (mine, problems, stderr(&out))
}

fn rows<'a>(all: &'a BTreeMap<String, Value>, name: &str) -> &'a Vec<Value> {
    all[name]["rows"].as_array().unwrap()
}

/// Checks the counts planted by the generator (truth.json).
fn check_truth(all: &BTreeMap<String, Value>, truth: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let cases = truth["cases"].as_u64().unwrap();
    for r in rows(all, "theme_prevalence") {
        let theme = r["theme"].as_str().unwrap();
        let want = truth["themes"][theme].as_u64().unwrap();
        if r["cases_with_theme"].as_u64() != Some(want) || r["cases"].as_u64() != Some(cases) {
            problems.push(format!(
                "theme_prevalence {theme}: {r} (planted {want} of {cases})"
            ));
        }
    }
    // Cases with each theme, summed over the months: the same planted counts; and the
    // planted step in unfollowed alerts.
    let step = truth["step_month"].as_str().unwrap();
    let mut by_theme: BTreeMap<String, u64> = BTreeMap::new();
    let (mut before, mut from) = (0, 0);
    for r in rows(all, "monthly_series") {
        let theme = r["theme"].as_str().unwrap().to_string();
        let n = r["cases_with_theme"].as_u64().unwrap();
        *by_theme.entry(theme.clone()).or_default() += n;
        if theme == "unfollowed_alert" {
            if r["month"].as_str().unwrap() < step {
                before += n;
            } else {
                from += n;
            }
        }
    }
    for (theme, n) in &by_theme {
        if Some(*n) != truth["themes"][theme].as_u64() {
            problems.push(format!("monthly_series {theme}: {n} cases over the months"));
        }
    }
    if before != truth["unfollowed_alert_before_step"].as_u64().unwrap()
        || from != truth["unfollowed_alert_from_step"].as_u64().unwrap()
    {
        problems.push(format!(
            "monthly_series: unfollowed_alert {before} before and {from} from {step}"
        ));
    }
    // Every case, finding and recommendation is in the organisation profile and the
    // remedies; the all-themes row of the co-occurrence counts the cases with none.
    let profile_cases: u64 = rows(all, "organisation_profile")
        .iter()
        .filter(|r| r["theme"] == rows(all, "theme_prevalence")[0]["theme"])
        .map(|r| r["cases"].as_u64().unwrap())
        .sum();
    if profile_cases != cases {
        problems.push(format!(
            "organisation_profile: {profile_cases} cases, planted {cases}"
        ));
    }
    // The double-coded sample: per theme, the two coders' table as planted.
    let mut tables: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for r in rows(all, "coding_agreement") {
        if r["level"] != "theme" {
            continue;
        }
        let cell = match (r["yes"].as_u64(), r["first_yes"].as_u64()) {
            (Some(2), _) => 0,
            (Some(1), Some(1)) => 1,
            (Some(1), _) => 2,
            _ => 3,
        };
        tables
            .entry(r["item"].as_str().unwrap().to_string())
            .or_insert([0; 4])[cell] += r["cases"].as_u64().unwrap();
    }
    // (A warehouse written before codings existed plants none.)
    let planted: BTreeMap<String, [u64; 4]> =
        serde_json::from_value(truth["coding_tables"].clone()).unwrap_or_default();
    if tables != planted {
        problems.push(format!(
            "coding_agreement: {tables:?} (planted {planted:?})"
        ));
    }
    problems
}

#[test]
fn every_measure_agrees_with_duckdb_and_the_planted_truth_whatever_the_row_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let generated = dir.join("generated");
    run(
        dir,
        &[
            "generate",
            "--cases",
            "24000",
            "--seed",
            "13",
            "--out",
            generated.to_str().unwrap(),
        ],
        &[],
    );
    let truth: Value =
        serde_json::from_str(&fs::read_to_string(generated.join("truth.json")).unwrap()).unwrap();
    // (label, ingests, order of cases, findings, events, recommendations, codings). One ingest
    // gives one findings file of many overlapping row groups, the layout of the issue;
    // three give several files per table, each with its own overlapping row groups.
    let variants: [(&str, usize, [Order; 5]); 4] = [
        ("reversed", 1, [Order::Reversed; 5]),
        (
            "shuffled",
            1,
            [
                Order::Shuffled(1),
                Order::Shuffled(2),
                Order::Shuffled(3),
                Order::Shuffled(4),
                Order::Shuffled(10),
            ],
        ),
        (
            "mixed",
            1,
            [
                Order::Shuffled(5),
                Order::Reversed,
                Order::Shuffled(6),
                Order::AsGenerated,
                Order::Reversed,
            ],
        ),
        (
            "three ingests",
            3,
            [
                Order::Shuffled(7),
                Order::Shuffled(8),
                Order::Reversed,
                Order::Shuffled(9),
                Order::Shuffled(11),
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (label, ingests, orders) in variants {
        let vdir = dir.join(label.replace(' ', "-"));
        let parts = split(&generated, &vdir, ingests, orders);
        let warehouse = vdir.join("warehouse");
        let wh = warehouse.to_str().unwrap();
        for p in &parts {
            run(
                &vdir,
                &["ingest", p.to_str().unwrap(), "--warehouse", wh, "-q"],
                &[("CASEWORK_TEST_ROW_GROUP_ROWS", ROW_GROUP_ROWS)],
            );
        }
        // The layout the test is about: several files per table, many row groups each,
        // and no file claiming an order.
        let findings = table_files(&warehouse, "findings");
        assert_eq!(
            findings.len(),
            ingests,
            "{label}: one findings file per ingest"
        );
        for f in table_files(&warehouse, "findings")
            .iter()
            .chain(&table_files(&warehouse, "events"))
        {
            let reader = SerializedFileReader::new(fs::File::open(f).unwrap()).unwrap();
            let groups = reader.metadata().row_groups();
            assert!(
                groups.len() >= 4,
                "{label}: {} has {} row groups",
                f.display(),
                groups.len()
            );
            if groups.iter().any(|g| g.sorting_columns().is_some()) {
                problems.push(format!(
                    "{label}: sorting_columns: {} declares an order",
                    f.display()
                ));
            }
        }
        let (mine, differences, _) = measures_and_differences(&vdir, &warehouse);
        for p in differences {
            problems.push(format!("{label}: {p}"));
        }
        for p in check_truth(&mine, &truth) {
            problems.push(format!("{label}: {p}"));
        }
    }
    // Differences per variant and measure first, then the first rows themselves.
    let mut summary: BTreeMap<String, usize> = BTreeMap::new();
    for p in &problems {
        let mut words = p.splitn(3, ": ");
        let variant = words.next().unwrap_or_default();
        let what = words
            .next()
            .unwrap_or_default()
            .split(' ')
            .next()
            .unwrap_or_default();
        *summary.entry(format!("{variant}: {what}")).or_default() += 1;
    }
    assert!(
        problems.is_empty(),
        "{} differences\n{}\n\n{}",
        problems.len(),
        summary
            .iter()
            .map(|(k, n)| format!("{n:6}  {k}"))
            .collect::<Vec<_>>()
            .join("\n"),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn declares_order(file: &Path) -> bool {
    let reader = SerializedFileReader::new(fs::File::open(file).unwrap()).unwrap();
    reader
        .metadata()
        .row_groups()
        .iter()
        .any(|g| g.sorting_columns().is_some())
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A warehouse written by casework 0.1.0, before the fix (tests/data/
/// warehouse-0.1-order-claims/README.md: the old code gets 15 rows of `delay_intervals`
/// wrong on it), reads correctly; the next ingest rewrites its files without the claim.
#[test]
fn a_warehouse_written_before_the_fix_reads_correctly_and_the_next_ingest_migrates_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/warehouse-0.1-order-claims");
    let warehouse = dir.join("warehouse");
    copy_dir(&fixture, &warehouse);
    let before = manifest(&warehouse);
    assert!(
        before.get("files_may_claim_order").is_none(),
        "an old manifest"
    );
    let events = table_files(&warehouse, "events");
    assert!(
        declares_order(&events[0]),
        "the fixture's files claim an order"
    );

    let (mine, differences, note) = measures_and_differences(dir, &warehouse);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let truth: Value =
        serde_json::from_str(&fs::read_to_string(fixture.join("truth.json")).unwrap()).unwrap();
    let planted = check_truth(&mine, &truth);
    assert!(planted.is_empty(), "{}", planted.join("\n"));
    assert!(
        note.contains("older casework"),
        "the reader says why it is slower: {note}"
    );
    // The fixture's answer that the old code got wrong (README): critical episodes
    // measured from request to scan.
    let critical = rows(&mine, "delay_intervals")
        .iter()
        .find(|r| r["interval_no"] == 1 && r["urgency"] == "critical")
        .expect("a critical request-to-scan row");
    assert_eq!(critical["episodes"], 1654, "{critical}");

    // The next ingest (the example bundle: other cases) migrates every file. The
    // example's own rows, from a warehouse of its own.
    let wh = warehouse.to_str().unwrap();
    let alone = dir.join("example-alone");
    run(
        dir,
        &[
            "ingest",
            EXAMPLE,
            "--warehouse",
            alone.to_str().unwrap(),
            "-q",
        ],
        &[],
    );
    let example = manifest(&alone);
    run(dir, &["ingest", EXAMPLE, "--warehouse", wh, "-q"], &[]);
    let after = manifest(&warehouse);
    assert_eq!(after["files_may_claim_order"], false);
    // Its files had no integer case key (read with case_id standing in for it, above):
    // the carried cases are keyed now, every row with its case's key.
    assert!(before.get("case_keys").is_none(), "an old manifest");
    assert_eq!(after["case_keys"], true);
    assert_case_keys(&warehouse);
    for table in TABLES {
        for f in table_files(&warehouse, table) {
            assert!(!declares_order(&f), "{} still claims an order", f.display());
        }
        assert_eq!(
            after["tables"][table]["rows"].as_u64().unwrap(),
            // (The old warehouse has no codings: 0.)
            before["tables"][table]["rows"].as_u64().unwrap_or(0)
                + example["tables"][table]["rows"].as_u64().unwrap(),
            "{table}: every old row kept and the example's added"
        );
    }
    let (_, differences, note) = measures_and_differences(dir, &warehouse);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(!note.contains("older casework"), "{note}");
}
