//! The report: `casework run` on a clean folder, its files, publication, committee
//! comparisons, and the HTML in a real browser.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

/// Every number in a JSON value, as the text the report shows ("43%", "14", "-71").
fn numbers(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Number(n) => out.push(n.to_string()),
        Value::String(s) if s.chars().any(|c| c.is_ascii_digit()) && s.len() < 12 => {
            out.push(s.clone())
        }
        Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        Value::Object(o) => o
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "source" | "sentence" | "title"))
            .for_each(|(_, x)| numbers(x, out)),
        _ => {}
    }
}

#[test]
fn run_writes_the_whole_report_from_the_built_in_example() {
    let tmp = tempfile::tempdir().unwrap();
    let out = casework(tmp.path(), &["run", "--as-of", "2021-07-07"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let dir = tmp.path().join("reports/phso-imaging-2021");
    assert!(stdout(&out).contains("Report written: reports/phso-imaging-2021/index.html"));
    for f in [
        "index.html",
        "report.md",
        "summary.json",
        "workbook.xlsx",
        "tables/theme_prevalence.csv",
        "figures/prevalence.svg",
        "figures/spc-delay.png",
        "figures/funnel-delay.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let html = fs::read_to_string(dir.join("index.html")).unwrap();
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    // The headline of the issue: 6 of 14 cases, 43%, 95% CI 21% to 67%, nearly half.
    assert!(
        html.contains("In 6 of 14 cases (43%, 95% CI 21% to 67%), nearly half"),
        "headline"
    );
    let mut all = Vec::new();
    numbers(&summary, &mut all);
    assert!(all.len() >= 20, "{all:?}");
    for n in &all {
        assert!(
            html.contains(n.as_str()),
            "summary.json number {n} is not in the HTML"
        );
    }
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("In 6 of 14 cases (43%, 95% CI 21% to 67%), nearly half"));
    assert!(md.contains("![Cases with each theme](figures/prevalence.png)"));
    // Self-contained: inline SVG and CSS, no script, nothing fetched.
    assert!(html.matches("<svg").count() >= 14, "inline figures");
    assert!(!html.contains("<script"));
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(attr), "{attr}");
    }
    // The tracker ships the founding report's seven recommendations, due March 2022.
    assert_eq!(html.matches("<td>2022-03-31</td>").count(), 7);
    // Methods, thresholds, code list and provenance.
    assert!(
        html.contains("Wilson score intervals")
            && html.contains("six-week diagnostic waiting standard")
    );
    assert!(html.contains("<td>FA4</td>") && html.contains("SHA-256"));
    // Every table as CSV and as a sheet.
    assert_eq!(fs::read_dir(dir.join("tables")).unwrap().count(), 10);
    let wb = fs::read(dir.join("workbook.xlsx")).unwrap();
    assert_eq!(&wb[..2], b"PK");
}

#[test]
fn the_same_data_gives_the_same_report() {
    let tmp = tempfile::tempdir().unwrap();
    for out in ["a", "b"] {
        let o = casework(
            tmp.path(),
            &["run", "--out", out, "--as-of", "2021-07-07", "-q"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let a = all_files(&tmp.path().join("a"));
    assert!(a.len() > 40);
    for f in a {
        let rel = f.strip_prefix(tmp.path().join("a")).unwrap();
        let other = tmp.path().join("b").join(rel);
        assert!(
            fs::read(&f).unwrap() == fs::read(&other).unwrap(),
            "{} differs",
            rel.display()
        );
    }
}

#[test]
fn published_reports_hold_no_small_count_and_nothing_identifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let out = casework(tmp.path(), &["run", "--publish", "--out", "pub", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = tmp.path().join("pub");
    // Count columns of every table: 0, *, or a multiple of 5 of at least 10.
    const COUNTS: &[&str] = &[
        "cases",
        "cases_with_theme",
        "episodes",
        "over_threshold",
        "out_of_order",
        "recommendations",
        "complied",
        "not_complied",
        "pending",
        "overdue",
        "remedies",
        "numerator",
        "denominator",
    ];
    for f in fs::read_dir(dir.join("tables")).unwrap() {
        let path = f.unwrap().path();
        let mut r = csv::Reader::from_path(&path).unwrap();
        let headers = r.headers().unwrap().clone();
        for rec in r.records() {
            let rec = rec.unwrap();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if COUNTS.contains(&h) {
                    let ok = v == "*"
                        || v == "0"
                        || v.parse::<u64>().is_ok_and(|n| n >= 10 && n % 5 == 0);
                    assert!(ok, "{}: {h} = {v}", path.display());
                }
            }
        }
    }
    let html = fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("Counts follow NHS statistical disclosure control"));
    assert!(!html.contains("In 6 of 14"), "unpublished headline");
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for t in summary["themes"].as_array().unwrap() {
        assert_eq!(t["cases"], "15");
        assert_eq!(t["cases_with_theme"], "*");
    }
    // No patient_ref and no finding note in any output file.
    let notes: Vec<String> = {
        let mut r = csv::Reader::from_path(Path::new(EXAMPLE).join("findings.csv")).unwrap();
        r.records().map(|x| x.unwrap()[4].to_string()).collect()
    };
    for f in all_files(&dir) {
        let bytes = fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("EX-PT-"),
            "{} holds a patient_ref",
            f.display()
        );
        for n in &notes {
            assert!(!text.contains(n.as_str()), "{} holds a note", f.display());
        }
    }
}

#[test]
fn committee_comparison_states_the_change_with_newcombe_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let out = casework(
        tmp.path(),
        &[
            "report",
            "--out",
            "r",
            "--baseline",
            "2016-01-01..2017-12-31",
            "--current",
            "2018-01-01..2019-12-31",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = fs::read_to_string(tmp.path().join("r/index.html")).unwrap();
    // Opened 2016-17: 01 02 05 08 09 12, unreported finding in 01 02 08 12 (4 of 6).
    // Opened 2018-19: 03 04 06 07 10 11 13 14, in 03 04 (2 of 8). Newcombe's interval for
    // 2/8 − 4/6, from statsmodels: (−0.7130, 0.0839).
    assert!(
        html.contains("Unreported finding fell from 67% to 25%, a fall of 42 percentage points (95% CI -71 to 8 percentage points)"),
        "{}",
        html.lines().filter(|l| l.contains("percentage points")).collect::<Vec<_>>().join("\n")
    );
    let out = casework(tmp.path(), &["report", "--baseline", "2016-01-01"]);
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn the_report_loads_in_a_real_browser_without_errors_or_requests() {
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(browser) = browser else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have Chromium (.ci/run installs Debian's chromium)"
        );
        eprintln!(
            "SKIPPED: no Chromium at /usr/bin/chromium; install Debian's chromium package to run this test"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(casework(tmp.path(), &["run", "-q"]).status.code(), Some(0));
    let index = tmp.path().join("reports/phso-imaging-2021/index.html");
    let shot = tmp.path().join("screenshot.png");
    let profile = tmp.path().join("profile");
    let netlog = tmp.path().join("netlog.json");
    let out = Command::new(browser)
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
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", index.display()),
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(shot.is_file(), "no screenshot: {log}");
    assert!(
        fs::metadata(&shot).unwrap().len() > 20_000,
        "the screenshot is blank"
    );
    // Console errors are logged as CONSOLE lines with an error level or "Uncaught".
    for line in log.lines().filter(|l| l.contains("CONSOLE")) {
        assert!(
            !line.contains("Uncaught") && !line.to_lowercase().contains("error"),
            "console: {line}"
        );
    }
    // The page makes no network request: no http(s) URL is requested in the log.
    for line in log.lines() {
        let requested =
            (line.contains("http://") || line.contains("https://")) && !line.contains("www.w3.org");
        assert!(
            !(requested && line.contains("url_loader")),
            "network request: {line}"
        );
    }
    fs::copy(
        &shot,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png"),
    )
    .unwrap();
}
