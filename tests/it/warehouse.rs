//! The warehouse: the three encodings of a bundle give the same contents, and an ingest
//! interrupted at any moment leaves the previous warehouse whole and readable.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

const DATE_COLUMNS: &[&str] = &[
    "opened_date",
    "closed_date",
    "made_date",
    "due_date",
    "completed_date",
    "occurred_at",
];

/// Reads an example CSV as (header, rows) with the csv crate.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Writes the example bundle as NDJSON (booleans and amounts as JSON values) and as one
/// workbook (dates as Excel date cells, amounts as numbers, booleans as booleans).
fn convert_example(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let nd = dir.join("ndjson");
    let xl = dir.join("xlsx");
    fs::create_dir_all(&nd).unwrap();
    fs::create_dir_all(&xl).unwrap();
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for t in ["cases", "findings", "events", "recommendations"] {
        let (header, rows) = read_csv(&Path::new(EXAMPLE).join(format!("{t}.csv")));
        let mut lines = String::new();
        let ws = wb.add_worksheet();
        ws.set_name(t).unwrap();
        for (c, h) in header.iter().enumerate() {
            ws.write_string(0, c as u16, h).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            let mut obj = serde_json::Map::new();
            for (c, (h, v)) in header.iter().zip(row).enumerate() {
                if v.is_empty() {
                    continue;
                }
                let (xr, xc) = (r as u32 + 1, c as u16);
                if h == "avoidable_death" {
                    obj.insert(h.clone(), serde_json::Value::Bool(v == "true"));
                    ws.write_boolean(xr, xc, v == "true").unwrap();
                } else if h == "amount_gbp" {
                    let n: f64 = v.parse().unwrap();
                    obj.insert(h.clone(), serde_json::json!(n));
                    ws.write_number(xr, xc, n).unwrap();
                } else if DATE_COLUMNS.contains(&h.as_str()) {
                    obj.insert(h.clone(), serde_json::Value::String(v.clone()));
                    if v.len() == 10 {
                        let d = ExcelDateTime::parse_from_str(v).unwrap();
                        ws.write_datetime_with_format(xr, xc, &d, &date).unwrap();
                    } else {
                        let d =
                            ExcelDateTime::parse_from_str(&format!("{}:00", v.replace('T', " ")))
                                .unwrap();
                        ws.write_datetime_with_format(xr, xc, &d, &datetime)
                            .unwrap();
                    }
                } else {
                    obj.insert(h.clone(), serde_json::Value::String(v.clone()));
                    ws.write_string(xr, xc, v).unwrap();
                }
            }
            lines.push_str(&serde_json::Value::Object(obj).to_string());
            lines.push('\n');
        }
        fs::write(nd.join(format!("{t}.ndjson")), lines).unwrap();
    }
    wb.save(xl.join("bundle.xlsx")).unwrap();
    (nd, xl)
}

#[test]
fn csv_ndjson_and_xlsx_forms_give_identical_warehouses() {
    let tmp = tempfile::tempdir().unwrap();
    let (nd, xl) = convert_example(tmp.path());
    let mut all = Vec::new();
    for (name, b) in [
        ("csv", Path::new(EXAMPLE).to_path_buf()),
        ("ndjson", nd),
        ("xlsx", xl),
    ] {
        let out = casework(
            tmp.path(),
            &["ingest", b.to_str().unwrap(), "--warehouse", name, "-q"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let c = contents(&tmp.path().join(name));
        assert_eq!(c["cases"].len(), 14, "{name}");
        assert_eq!(c["events"].len(), 35, "{name}");
        all.push((name, c));
    }
    assert_eq!(all[0].1, all[1].1, "csv and ndjson differ");
    assert_eq!(all[0].1, all[2].1, "csv and xlsx differ");
}

/// The manifest text and the contents of a warehouse, and a check that the manifest's
/// row counts match its files.
fn state(
    wh: &Path,
) -> (
    String,
    std::collections::BTreeMap<&'static str, Vec<String>>,
) {
    let text = fs::read_to_string(wh.join("manifest.json")).unwrap();
    let c = contents(wh);
    let m = manifest(wh);
    // The manifest names exactly the files of its version. (`current` is moved just after
    // the commit, so a kill between the two leaves it one version behind: the manifest
    // is the truth.)
    let version = m["version"].as_str().unwrap();
    let mut named: Vec<std::path::PathBuf> = Vec::new();
    for t in [
        "cases",
        "findings",
        "events",
        "recommendations",
        "codings",
        "rejects",
    ] {
        named.extend(table_files(wh, t));
    }
    let mut on_disk: Vec<std::path::PathBuf> = all_files(&wh.join(version))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    named.sort();
    on_disk.sort();
    assert_eq!(
        named, on_disk,
        "the manifest names the version's Parquet files"
    );
    for (t, rows) in &c {
        assert_eq!(
            m["tables"][*t]["rows"].as_u64().unwrap_or(0),
            rows.len() as u64,
            "{t}: manifest rows match files"
        );
    }
    (text, c)
}

fn crash_run(dir: &Path, bundle: &Path, point: &str) -> std::process::ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_casework"))
        .args([
            "ingest",
            bundle.to_str().unwrap(),
            "--warehouse",
            "wh",
            "-q",
        ])
        .current_dir(dir)
        .env("CASEWORK_CRASH_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn an_ingest_stopped_before_its_commit_leaves_the_old_warehouse() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    assert_eq!(
        casework(tmp.path(), &["ingest", EXAMPLE, "--warehouse", "wh", "-q"])
            .status
            .code(),
        Some(0)
    );
    let before = state(&wh);
    let update = bundle(
        tmp.path(),
        "update",
        &[(
            "cases.csv",
            b"case_id,source,organisation_code,opened_date\nphso-01,local_complaint,X,2020-01-01\n",
        )],
    );
    for point in ["file-opened", "before-commit"] {
        let status = crash_run(tmp.path(), &update, point);
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(6),
            "{point}: the process was stopped by its abort (SIGABRT)"
        );
        assert_eq!(
            state(&wh),
            before,
            "{point}: the previous warehouse is unchanged"
        );
    }
    // Stopped just after the commit: the new state is complete.
    let status = crash_run(tmp.path(), &update, "after-commit");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(6)
    );
    let (_, after) = state(&wh);
    assert_eq!(after["cases"].len(), 14);
    assert!(
        after["cases"]
            .iter()
            .any(|r| r.starts_with("case_id=phso-01|source=local_complaint"))
    );
    assert_eq!(after["findings"].len(), 34 - 1);
    // The next ingest clears what the stopped ones left behind.
    assert_eq!(
        casework(tmp.path(), &["ingest", EXAMPLE, "--warehouse", "wh", "-q"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(state(&wh).1, before.1);
    let left: Vec<String> = fs::read_dir(&wh)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, [".lock", "current", "manifest.json", "v000003"]);
}

/// Writes a bundle of `n` cases with two findings and three events each.
fn big_bundle(dir: &Path, name: &str, n: usize, source: &str) -> std::path::PathBuf {
    let b = dir.join(name);
    fs::create_dir_all(&b).unwrap();
    let mut cases = String::from("case_id,source,organisation_code,opened_date,closed_date\n");
    let mut findings = String::from("case_id,code,stage\n");
    let mut events = String::from("case_id,episode,event,occurred_at,urgency\n");
    for i in 0..n {
        let year = 2015 + i % 6;
        cases.push_str(&format!(
            "k{i},{source},ORG{},{year}-03-01,{year}-09-30\n",
            i % 97
        ));
        findings.push_str(&format!("k{i},UF1,reporting\nk{i},DL3,reporting\n"));
        events.push_str(&format!("k{i},1,requested,{year}-01-05,urgent\nk{i},1,performed,{year}-01-09,urgent\nk{i},1,reported,{year}-02-01,urgent\n"));
    }
    fs::write(b.join("cases.csv"), cases).unwrap();
    fs::write(b.join("findings.csv"), findings).unwrap();
    fs::write(b.join("events.csv"), events).unwrap();
    b
}

#[test]
fn an_ingest_killed_at_any_moment_leaves_the_old_or_the_new_warehouse() {
    // CI: 30 kills across a 20,000-case ingest. The full check of the hardening issue is
    // CASEWORK_KILL_CASES=100000 (and CASEWORK_KILL_POINTS to change the 30).
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("CASEWORK_KILL_CASES", 20_000);
    let kills = env("CASEWORK_KILL_POINTS", 30);
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let old_bundle = big_bundle(tmp.path(), "old", n, "local_complaint");
    let new_bundle = big_bundle(tmp.path(), "new", n, "serious_incident");
    assert_eq!(
        casework(
            tmp.path(),
            &[
                "ingest",
                old_bundle.to_str().unwrap(),
                "--warehouse",
                "wh",
                "-q"
            ]
        )
        .status
        .code(),
        Some(0)
    );
    let old = state(&wh).1;
    // Time one uninterrupted ingest, then kill others at points spread across that time.
    let mut reference = tmp.path().to_path_buf();
    reference.push("reference");
    fs::create_dir_all(&reference).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(
        casework(
            &reference,
            &[
                "ingest",
                new_bundle.to_str().unwrap(),
                "--warehouse",
                "wh",
                "-q"
            ]
        )
        .status
        .code(),
        Some(0)
    );
    let full = start.elapsed();
    let new = state(&reference.join("wh")).1;
    assert_ne!(old, new);
    let (mut saw_old, mut saw_new) = (0, 0);
    for k in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casework"))
            .args([
                "ingest",
                new_bundle.to_str().unwrap(),
                "--warehouse",
                "wh",
                "-q",
            ])
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(k as f64 / kills as f64));
        let _ = child.kill();
        let _ = child.wait();
        let now = state(&wh).1;
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
            // Put the old state back for the next kill.
            assert_eq!(
                casework(
                    tmp.path(),
                    &[
                        "ingest",
                        old_bundle.to_str().unwrap(),
                        "--warehouse",
                        "wh",
                        "-q"
                    ]
                )
                .status
                .code(),
                Some(0)
            );
        } else {
            panic!("kill {k}: the warehouse is neither the old nor the new state");
        }
    }
    assert_eq!(saw_old + saw_new, kills);
    assert!(saw_old > 0, "at least one kill landed before the commit");
}

/// Rows arrive in any order; every stored row group is sorted by case_key, declares no
/// order in its metadata (a row group's order is not the file's: issue 13, tests/it/order.rs),
/// and holds the same rows as an ingest of the rows in their generated order.
#[test]
fn row_groups_are_sorted_by_case_key_whatever_the_input_order() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &["generate", "--cases", "3000", "--seed", "11", "--out", "g"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A copy with the data rows of every file reversed.
    fs::create_dir(d.join("r")).unwrap();
    for f in [
        "cases.csv",
        "findings.csv",
        "events.csv",
        "recommendations.csv",
    ] {
        let text = fs::read_to_string(d.join("g").join(f)).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1..].reverse();
        fs::write(d.join("r").join(f), lines.join("\n") + "\n").unwrap();
    }
    for (bundle, wh) in [("g", "wg"), ("r", "wr")] {
        let o = casework(d, &["ingest", bundle, "--warehouse", wh, "-q"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert_eq!(contents(&d.join("wg")), contents(&d.join("wr")));
    let mut groups = 0;
    for table in ["cases", "findings", "events", "recommendations"] {
        for path in table_files(&d.join("wr"), table) {
            let reader = SerializedFileReader::new(fs::File::open(&path).unwrap()).unwrap();
            for rg in reader.metadata().row_groups() {
                assert!(rg.sorting_columns().is_none(), "{path:?} declares an order");
                groups += 1;
            }
            let mut last = i64::MIN;
            for batch in read_parquet(&path) {
                let keys = batch
                    .column_by_name("case_key")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap();
                for key in keys.values().iter().copied() {
                    // One row group per file at this size, so the file is sorted.
                    assert!(last <= key, "{path:?}: {last} before {key}");
                    last = key;
                }
            }
        }
    }
    assert!(groups >= 4);
    // The reversed input really was out of order: its first case is the last one.
    let first = fs::read_to_string(d.join("r/cases.csv")).unwrap();
    let generated = fs::read_to_string(d.join("g/cases.csv")).unwrap();
    assert_ne!(first.lines().nth(1), generated.lines().nth(1));
}

/// A warehouse given as a `file://` URL is read through object_store (manifest, kept
/// code list, Parquet) with the same answers as its folder; a URL is read only; a store
/// this build does not have is named in the error.
#[test]
fn a_warehouse_url_is_read_through_object_store() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    example_warehouse(d);
    let url = format!("file://{}", d.join("warehouse").display());
    let by_path = measure_json(d, &["--as-of", "2024-01-01"]);
    let by_url = measure_json(d, &["--as-of", "2024-01-01", "--warehouse", &url]);
    assert!(
        by_path.as_array().is_some_and(|a| a.len() == 11),
        "{by_path}"
    );
    assert_eq!(by_path, by_url);

    let out = casework(d, &["ingest", EXAMPLE, "--warehouse", &url, "-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a warehouse URL is read only; ingest writes to a local folder"),
        "{}",
        stderr(&out)
    );
    let out = casework(d, &["measure", "--warehouse", "s3://bucket/warehouse"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s3:// and az:// need a build with --features cloud"),
        "{}",
        stderr(&out)
    );
}

fn one_case_bundle(dir: &Path, name: &str, case_id: &str) -> std::path::PathBuf {
    bundle(
        dir,
        name,
        &[(
            "cases.csv",
            format!(
                "case_id,source,organisation_code,opened_date\n{case_id},ombudsman_complaint,RXX,2020-01-01\n"
            )
            .as_bytes(),
        )],
    )
}

fn spawn_ingest(dir: &Path, bundle: &Path, extra: &[&str], pause: bool) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_casework"));
    cmd.args([
        "ingest",
        bundle.to_str().unwrap(),
        "--warehouse",
        "wh",
        "-q",
    ])
    .args(extra)
    .current_dir(dir)
    .env_remove("CASEWORK_WAREHOUSE")
    .env_remove("CASEWORK_CRASH_AT")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    if pause {
        cmd.env("CASEWORK_TEST_PAUSE_AT", "locked")
            .env("CASEWORK_TEST_PAUSE_MS", "2500");
    }
    cmd.spawn().expect("casework starts")
}

/// Two ingests at the dangerous moment: one holds the lock, paused just after taking it
/// (where it reads the committed state). The other is refused cleanly without --wait, and
/// with --wait builds on the first one's commit: both ingests' cases are there, in two
/// versions, and nothing is truncated or lost.
#[test]
fn a_second_writer_is_refused_or_waits_and_builds_on_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let a = one_case_bundle(d, "a", "A001");
    let b = one_case_bundle(d, "b", "B001");
    let first = spawn_ingest(d, &a, &[], true);
    // The first holds the lock for 2.5 s from its start; 0.8 s in, it surely has it.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let refused = casework(
        d,
        &["ingest", b.to_str().unwrap(), "--warehouse", "wh", "-q"],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("another casework process is writing"),
        "{}",
        stderr(&refused)
    );
    let waited = casework(
        d,
        &[
            "ingest",
            b.to_str().unwrap(),
            "--warehouse",
            "wh",
            "-q",
            "--wait",
            "60",
        ],
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(waited.status.code(), Some(0), "{}", stderr(&waited));
    let m = manifest(&d.join("wh"));
    assert_eq!(m["ingests"].as_array().unwrap().len(), 2, "{m}");
    assert_eq!(m["version"], "v000002");
    let ids: Vec<String> = table_rows(&d.join("wh"), "cases")
        .iter()
        .map(|r| r.split('|').next().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["case_id=A001", "case_id=B001"]);
}

/// `--wait` with a limit gives up with a clear error when the lock stays held.
#[test]
fn waiting_has_a_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let a = one_case_bundle(d, "a", "A001");
    let b = one_case_bundle(d, "b", "B001");
    let first = spawn_ingest(d, &a, &[], true);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let gave_up = casework(
        d,
        &[
            "ingest",
            b.to_str().unwrap(),
            "--warehouse",
            "wh",
            "-q",
            "--wait",
            "0",
        ],
    );
    assert_eq!(gave_up.status.code(), Some(3), "{}", stderr(&gave_up));
    assert!(
        stderr(&gave_up).contains("after waiting 0 s"),
        "{}",
        stderr(&gave_up)
    );
    let bad = casework(
        d,
        &[
            "ingest",
            b.to_str().unwrap(),
            "--warehouse",
            "wh",
            "--wait",
            "soon",
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert_eq!(first.wait_with_output().unwrap().status.code(), Some(0));
}

/// Fifty ingests of one case each, started together with --wait: every one commits, in
/// some order, and every case is in the warehouse.
#[test]
fn fifty_concurrent_ingests_with_wait_all_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let bundles: Vec<_> = (0..50)
        .map(|i| one_case_bundle(d, &format!("b{i:02}"), &format!("C{i:03}")))
        .collect();
    let children: Vec<_> = bundles
        .iter()
        .map(|b| spawn_ingest(d, b, &["--wait", "300"], false))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let m = manifest(&d.join("wh"));
    assert_eq!(m["ingests"].as_array().unwrap().len(), 50);
    assert_eq!(m["tables"]["cases"]["rows"], 50);
    let mut ids: Vec<String> = table_rows(&d.join("wh"), "cases")
        .iter()
        .map(|r| r.split('|').next().unwrap().to_string())
        .collect();
    ids.sort();
    let want: Vec<String> = (0..50).map(|i| format!("case_id=C{i:03}")).collect();
    assert_eq!(ids, want);
}

/// A damaged warehouse file is named, with what to do, wherever it is met: by a measure
/// (DataFusion's own Parquet error names no file) and by an ingest that carries the file
/// over. Two kinds of damage: a file cut short, and one overwritten with text.
#[test]
fn a_damaged_parquet_file_is_named() {
    for damage in ["cut", "text"] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        example_warehouse(d);
        let file = table_files(&d.join("warehouse"), "findings")
            .into_iter()
            .next()
            .unwrap();
        let bytes = fs::read(&file).unwrap();
        let damaged = match damage {
            "cut" => [
                &bytes[..bytes.len() / 2],
                &[0u8; 64][..],
                &bytes[bytes.len() - 8..],
            ]
            .concat(),
            _ => b"not parquet".to_vec(),
        };
        fs::write(&file, damaged).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for args in [
            &["measure", "theme_prevalence"][..],
            &["ingest", EXAMPLE, "-q"],
        ] {
            let out = casework(d, args);
            assert_ne!(out.status.code(), Some(0), "{damage} {args:?}");
            let err = stderr(&out);
            assert!(
                err.contains("findings/")
                    && err.contains(&name)
                    && err.contains("not a readable Parquet file"),
                "{damage} {args:?}: {err}"
            );
        }
    }
}
