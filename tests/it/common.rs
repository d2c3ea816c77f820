//! Helpers shared by the integration tests: run the real `casework` binary in a temporary
//! folder, write bundles, and read the warehouse back with the parquet crate alone.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

pub const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/examples/phso-imaging-2021"
);

/// Runs `casework ARGS` in `dir`, with a clean environment for casework's own variables.
pub fn casework(dir: &Path, args: &[&str]) -> Output {
    casework_with_env(dir, args, &[])
}

/// [`casework`], with these environment variables set.
pub fn casework_with_env(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    // CASEWORK_TEST_BIN runs the tests against another build (an older binary, to see
    // a test fail before its fix); by default the one cargo built for them.
    let bin = std::env::var_os("CASEWORK_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_casework").into());
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env_remove("CASEWORK_WAREHOUSE")
        .env_remove("CASEWORK_CRASH_AT")
        .envs(envs.iter().copied())
        .output()
        .expect("casework runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Writes files into a new bundle folder `dir/name`.
pub fn bundle(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let b = dir.join(name);
    fs::create_dir_all(&b).unwrap();
    for (file, content) in files {
        fs::write(b.join(file), content).unwrap();
    }
    b
}

/// Copies the example bundle's CSV files into `dir/name`.
pub fn copy_example(dir: &Path, name: &str) -> PathBuf {
    let b = dir.join(name);
    fs::create_dir_all(&b).unwrap();
    for t in ["cases", "findings", "events", "recommendations"] {
        fs::copy(
            Path::new(EXAMPLE).join(format!("{t}.csv")),
            b.join(format!("{t}.csv")),
        )
        .unwrap();
    }
    b
}

pub fn manifest(warehouse: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(warehouse.join("manifest.json")).unwrap()).unwrap()
}

/// The files the manifest names for a table.
pub fn table_files(warehouse: &Path, table: &str) -> Vec<PathBuf> {
    let m = manifest(warehouse);
    m["tables"][table]["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| warehouse.join(f.as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Every row of a table as text (`col=value|…`), with the partition folder's
/// `opened_year=` added, sorted: a form in which two warehouses' contents compare.
pub fn table_rows(warehouse: &Path, table: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for path in table_files(warehouse, table) {
        let partition = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().to_string())
            .filter(|n| n.contains('='));
        for batch in read_parquet(&path) {
            let schema = batch.schema();
            let options = FormatOptions::default().with_null("∅");
            let formatters: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for i in 0..batch.num_rows() {
                // The integer case key differs between ingests of the same rows: it is
                // checked apart (`contents`), not compared.
                let mut fields: Vec<String> = schema
                    .fields()
                    .iter()
                    .zip(&formatters)
                    .filter(|(f, _)| f.name() != "case_key")
                    .map(|(f, fmt)| format!("{}={}", f.name(), fmt.value(i)))
                    .collect();
                if let Some(p) = &partition {
                    fields.push(p.clone());
                }
                rows.push(fields.join("|"));
            }
        }
    }
    rows.sort();
    rows
}

/// Contents of all four record tables.
pub fn contents(warehouse: &Path) -> BTreeMap<&'static str, Vec<String>> {
    assert_case_keys(warehouse);
    ["cases", "findings", "events", "recommendations"]
        .into_iter()
        .map(|t| (t, table_rows(warehouse, t)))
        .collect()
}

/// Every row of every table carries its case's key; no two cases share one.
pub fn assert_case_keys(warehouse: &Path) {
    use arrow::array::AsArray;
    let pairs = |table: &str| -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for path in table_files(warehouse, table) {
            for batch in read_parquet(&path) {
                let ids = batch.column_by_name("case_id").unwrap();
                let ids = arrow::compute::cast(ids, &arrow::datatypes::DataType::Utf8).unwrap();
                let keys = batch.column_by_name("case_key").expect("a case_key column");
                let keys = keys.as_primitive::<arrow::datatypes::Int64Type>();
                for i in 0..batch.num_rows() {
                    out.push((ids.as_string::<i32>().value(i).to_string(), keys.value(i)));
                }
            }
        }
        out
    };
    let mut of_case = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (id, key) in pairs("cases") {
        assert!(seen.insert(key), "case key {key} given twice");
        assert!(of_case.insert(id.clone(), key).is_none(), "case {id} twice");
    }
    for table in ["findings", "events", "recommendations", "codings"] {
        for (id, key) in pairs(table) {
            assert_eq!(of_case.get(&id), Some(&key), "{table}: a row of {id}");
        }
    }
}

/// Lines of a CSV file that hold data (header and blank lines excluded), counted with
/// the csv crate.
pub fn csv_records(path: &Path) -> usize {
    csv::Reader::from_path(path).unwrap().records().count()
}

/// Every file below `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Reads a rejects CSV into (rule, file, line, column) tuples plus messages.
pub fn rejects(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Runs `casework measure ARGS --format json` in `dir`, expecting success.
/// Fails, listing the first 40, when any problem was found; `what` names them.
pub fn assert_no_problems(problems: &[String], what: &str) {
    assert!(
        problems.is_empty(),
        "{} {what}:\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

pub fn measure_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["measure"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = casework(dir, &all);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `casework generate --cases N --seed S --out g`, then `ingest g` into
/// `dir/warehouse`, each expecting success.
pub fn generated_warehouse(dir: &Path, cases: u64, seed: u64) {
    generated_warehouse_with(dir, cases, seed, &[]);
}

/// [`generated_warehouse`] with more of `casework generate`'s options.
pub fn generated_warehouse_with(dir: &Path, cases: u64, seed: u64, options: &[&str]) {
    let (cases, seed) = (cases.to_string(), seed.to_string());
    let mut args = vec!["generate", "--cases", &cases, "--seed", &seed, "--out", "g"];
    args.extend_from_slice(options);
    let out = casework(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = casework(dir, &["ingest", "g", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Ingests the example bundle into `dir/warehouse`, expecting success.
pub fn example_warehouse(dir: &Path) {
    let out = casework(dir, &["ingest", EXAMPLE, "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The count columns of the measures' rows, listed by hand from the SQL headers
/// (independent of the code's own row types): what disclosure control must publish.
pub const COUNT_COLUMNS: &[&str] = &[
    "cases",
    "cases_with_theme",
    "episodes",
    "over_threshold",
    "out_of_order",
    "not_to_the_day",
    "cases_given",
    "cases_split",
    "alpha_cases",
    "recommendations",
    "complied",
    "not_complied",
    "pending",
    "overdue",
    "remedies",
    "numerator",
    "denominator",
];

/// Runs casework and checks it refuses the arguments as a usage error (exit 1) whose
/// message holds `words`.
pub fn refused(dir: &Path, args: &[&str], words: &str) {
    let out = casework(dir, args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    assert!(stderr(&out).contains(words), "{}", stderr(&out));
}

/// Debian's chromium, on PATH. A developer without it opts out explicitly with
/// CASEWORK_SKIP_BROWSER=1 (then `None`); otherwise (and always in CI, where .ci/run
/// installs it) a missing browser fails the test.
pub fn browser() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CASEWORK_SKIP_BROWSER").is_ok_and(|v| v == "1") {
            eprintln!("browser test skipped: CASEWORK_SKIP_BROWSER=1");
            return None;
        }
        panic!(
            "no chromium on PATH: install Debian's chromium (.ci/run does), or set \
             CASEWORK_SKIP_BROWSER=1 to skip this test knowingly"
        );
    }
    found
}

/// A page at `width` CSS pixels in the browser (tests/tools/phone.py: the device emulated
/// through the DevTools protocol, since a headless window is never narrower than 500),
/// its screenshot written to `shot`: what is wider than the screen (empty when the page
/// fits).
pub fn fits(browser: &Path, url: &str, width: u32, shot: &Path) -> String {
    let python = std::env::var("CASEWORK_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/phone.py"))
        .arg(browser)
        .arg(url)
        .arg(width.to_string())
        .arg(shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let measured: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(measured["client_width"], width, "{measured}");
    if measured["scroll_width"].as_u64() <= Some(u64::from(width))
        && measured["overflowing"]
            .as_array()
            .is_some_and(Vec::is_empty)
    {
        String::new()
    } else {
        measured.to_string()
    }
}

/// Keeps a screenshot beside the test binary (`NAME`), to be looked at.
pub fn keep(shot: &Path, name: &str) {
    fs::copy(shot, Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)).unwrap();
}

/// Waits for a child at most `limit` (reading its output meanwhile, so that a full pipe
/// cannot stall it), then kills it and fails the test.
pub fn wait_at_most(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> std::process::Output {
    use std::io::Read;
    let mut err_pipe = child.stderr.take().unwrap();
    let mut out_pipe = child.stdout.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!(
                "the child process did not finish within {} s (killed)",
                limit.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The http(s) and ws(s) requests a page started, from a Chromium network log.
pub fn page_requests(netlog: &Path) -> Vec<String> {
    let log: Value = serde_json::from_str(&fs::read_to_string(netlog).expect("a network log"))
        .expect("the network log is JSON");
    let start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the log names its event types");
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"].as_u64() == Some(start))
        .filter(|e| e["params"]["initiator"] != "not an origin")
        .filter_map(|e| e["params"]["url"].as_str())
        .filter(|u| {
            ["http:", "https:", "ws:", "wss:"]
                .iter()
                .any(|s| u.starts_with(s))
        })
        .map(str::to_string)
        .collect();
    urls.dedup();
    urls
}

/// Opens `url` in headless Chromium (a fresh profile, a network log, a 1200×2400
/// screenshot), at most two minutes; checks the screenshot is not blank and returns the
/// browser's log (console lines included).
pub fn screenshot(browser: &Path, url: &str, profile: &Path, netlog: &Path, shot: &Path) -> String {
    screenshot_at(browser, url, profile, netlog, shot, (1200, 2400))
}

/// [`screenshot`] at a window size of (width, height).
pub fn screenshot_at(
    browser: &Path,
    url: &str,
    profile: &Path,
    netlog: &Path,
    shot: &Path,
    (width, height): (u32, u32),
) -> String {
    let child = Command::new(browser)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=1",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--log-net-log={}", netlog.display()),
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", shot.display()),
            url,
        ])
        .spawn()
        .unwrap();
    let out = wait_at_most(child, std::time::Duration::from_secs(120));
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(shot.is_file(), "no screenshot: {log}");
    assert!(
        fs::metadata(shot).unwrap().len() > 20_000,
        "the screenshot is blank"
    );
    log
}

/// Text as minijinja's HTML auto-escaping writes it.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}
