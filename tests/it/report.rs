//! The report: `casework run` on a clean folder, its files, publication, committee
//! comparisons, and the HTML in a real browser.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::Value;

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
        "figures/funnel-delay.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let html = fs::read_to_string(dir.join("index.html")).unwrap();
    // A contents list first, linking every section; each section can be folded (open).
    let contents = html
        .split("<nav class=\"contents\"")
        .nth(1)
        .and_then(|c| c.split("</nav>").next())
        .unwrap_or_else(|| panic!("no contents list"));
    for anchor in [
        "#summary",
        "#theme-unreported_finding",
        "#theme-unfollowed_alert",
        "#theme-delay",
        "#theme-unlearned_lesson",
        "#tables",
        "#methods",
        "#provenance",
    ] {
        assert!(
            contents.contains(&format!("href=\"{anchor}\"")),
            "{anchor}: {contents}"
        );
        let id = &anchor[1..];
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.matches("<details class=\"section\" open>").count() >= 7);
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    // The headline of the issue: 6 of 14 cases, 43%, 95% CI 21% to 67%, nearly half.
    assert!(
        html.contains("In 6 of 14 cases (43%, 95% CI 21% to 67%), nearly half"),
        "headline"
    );
    // Every theme's figures, as summary.json gives them, stand in the HTML in that
    // theme's own sentence (not merely somewhere in the page).
    let themes = summary["themes"].as_array().unwrap();
    assert_eq!(themes.len(), 4);
    for t in themes {
        let sentence = t["sentence"].as_str().unwrap();
        for key in [
            "cases_with_theme",
            "cases",
            "percent",
            "ci95_low",
            "ci95_high",
        ] {
            // Counts are numbers in summary.json; the other figures are text.
            let figure = match &t[key] {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap().to_string(),
            };
            assert!(
                sentence.contains(&figure),
                "{key} {figure} not in: {sentence}"
            );
        }
        assert!(
            html.contains(&html_escape(sentence)),
            "not in the HTML: {sentence}"
        );
    }
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("In 6 of 14 cases (43%, 95% CI 21% to 67%), nearly half"));
    assert!(md.contains("![Cases with each theme](figures/prevalence.png)"));
    // Self-contained: inline SVG and CSS, no script, nothing fetched.
    // Six general figures and four funnels; the example's months are too sparse for SPC
    // charts, which the page says.
    assert!(html.matches("<svg").count() >= 10, "inline figures");
    assert!(
        html.contains("too sparse"),
        "the SPC charts left out, and why"
    );
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
    // Every table as CSV and as a sheet: the scorecard, the eleven measures, the
    // agreement table and the disagreements (the example has a second coding).
    assert_eq!(fs::read_dir(dir.join("tables")).unwrap().count(), 14);
    let wb = fs::read(dir.join("workbook.xlsx")).unwrap();
    assert_eq!(&wb[..2], b"PK");
}

#[test]
fn the_same_data_gives_the_same_report() {
    // One ingest, two reports: the warehouse (and so the date of its data) is the same,
    // and the report date is fixed, so the runs may straddle midnight.
    let tmp = tempfile::tempdir().unwrap();
    let o = casework(tmp.path(), &["ingest", EXAMPLE, "--warehouse", "wh", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for out in ["a", "b"] {
        let o = casework(
            tmp.path(),
            &[
                "report",
                "--warehouse",
                "wh",
                "--out",
                out,
                "--as-of",
                "2021-07-07",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let a = all_files(&tmp.path().join("a"));
    assert!(a.len() > 30);
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
    for f in fs::read_dir(dir.join("tables")).unwrap() {
        let path = f.unwrap().path();
        let mut r = csv::Reader::from_path(&path).unwrap();
        let headers = r.headers().unwrap().clone();
        for rec in r.records() {
            let rec = rec.unwrap();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if COUNT_COLUMNS.contains(&h) {
                    let ok = v == "*"
                        || v == "0"
                        || v.parse::<u64>().is_ok_and(|n| n >= 10 && n % 5 == 0);
                    assert!(ok, "{}: {h} = {v}", path.display());
                }
            }
        }
    }
    let html = fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        html.contains(
            "NHS statistical disclosure control: the published figures are one fixed set"
        ),
        "the rule stated"
    );
    assert!(!html.contains("In 6 of 14"), "unpublished headline");
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for t in summary["themes"].as_array().unwrap() {
        assert_eq!(t["cases"], 15);
        assert_eq!(t["cases_with_theme"], Value::Null);
        assert_eq!(t["suppressed"], true);
        assert_eq!(t["proportion"], Value::Null);
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
    // A period that is not FROM..TO is a usage error (exit code 1), not a crash.
    let out = casework(
        tmp.path(),
        &[
            "report",
            "--baseline",
            "2016-01-01",
            "--current",
            "2019-01-01..2021-12-31",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("2016-01-01"), "{}", stderr(&out));
}

#[test]
fn the_report_loads_in_a_real_browser_without_errors_or_requests() {
    // Debian's chromium, on PATH. A developer without it opts out explicitly with
    // CASEWORK_SKIP_BROWSER=1; otherwise (and always in CI, where .ci/run installs it)
    // a missing browser fails the test.
    let Some(browser) = browser() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(casework(tmp.path(), &["run", "-q"]).status.code(), Some(0));
    let index = tmp.path().join("reports/phso-imaging-2021/index.html");
    let shot = tmp.path().join("screenshot.png");
    let profile = tmp.path().join("profile");
    let netlog = tmp.path().join("netlog.json");
    let log = screenshot(
        &browser,
        &format!("file://{}", index.display()),
        &profile,
        &netlog,
        &shot,
    );
    // Console errors are logged as CONSOLE lines with an error level or "Uncaught".
    for line in log.lines().filter(|l| l.contains("CONSOLE")) {
        assert!(
            !line.contains("Uncaught") && !line.to_lowercase().contains("error"),
            "console: {line}"
        );
    }
    // The page makes no network request: no request in the network log was started by
    // the page (Chromium's own background requests have no origin as initiator; a
    // file:// page's have the opaque origin "null").
    let requests = page_requests(&netlog);
    assert!(
        requests.is_empty(),
        "the page made network requests: {requests:?}"
    );
    // The detector itself finds a request a page does make.
    let planted = tmp.path().join("planted.html");
    fs::write(&planted, "<img src=\"http://127.0.0.1:9/x.png\">").unwrap();
    let planted_log = tmp.path().join("planted-netlog.json");
    let child = Command::new(&browser)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            &format!("--user-data-dir={}", tmp.path().join("profile2").display()),
            &format!("--log-net-log={}", planted_log.display()),
            &format!("--screenshot={}", tmp.path().join("planted.png").display()),
            &format!("file://{}", planted.display()),
        ])
        .spawn()
        .unwrap();
    wait_at_most(child, std::time::Duration::from_secs(120));
    assert_eq!(page_requests(&planted_log), ["http://127.0.0.1:9/x.png"]);
    // Nor does the browser's own log.
    for line in log.lines() {
        let requested =
            (line.contains("http://") || line.contains("https://")) && !line.contains("www.w3.org");
        assert!(
            !(requested && line.contains("url_loader")),
            "network request: {line}"
        );
    }
    keep(&shot, "report-screenshot.png");
    // At a phone's width and a desktop's, nothing is wider than the screen.
    for width in [1400, 390] {
        let shot = tmp.path().join(format!("report-{width}.png"));
        let url = format!("file://{}", index.display());
        let measured = fits(&browser, &url, width, &shot);
        assert!(
            measured.is_empty(),
            "the report is wider than {width} px: {measured}"
        );
        keep(&shot, &format!("report-{width}.png"));
    }
    // The measure itself finds a page that is wider than a phone.
    let wide = tmp.path().join("wide.html");
    fs::write(
        &wide,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <p>x</p><div style=\"width:900px\">wide</div>",
    )
    .unwrap();
    let found = fits(
        &browser,
        &format!("file://{}", wide.display()),
        390,
        &tmp.path().join("wide.png"),
    );
    assert!(found.contains("DIV. w=900"), "{found}");
}

/// Text that looks like a number stays text in the workbook (an organisation code
/// "0012" is not the number 12); the measures' numbers are numbers.
#[test]
fn the_workbook_keeps_number_like_text_as_text() {
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let tmp = tempfile::tempdir().unwrap();
    let cases = "case_id,source,organisation_code,organisation_name,opened_date\n\
                 c1,ombudsman_complaint,0012,nan,2020-01-31\n\
                 c2,ombudsman_complaint,0012,nan,2020-02-29\n";
    let b = bundle(tmp.path(), "b", &[("cases.csv", cases.as_bytes())]);
    let o = casework(
        tmp.path(),
        &["ingest", b.to_str().unwrap(), "--warehouse", "wh", "-q"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = casework(
        tmp.path(),
        &[
            "report",
            "--warehouse",
            "wh",
            "--out",
            "r",
            "--as-of",
            "2021-01-01",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut wb: Xlsx<_> = open_workbook(tmp.path().join("r/workbook.xlsx")).unwrap();
    let sheet = wb.worksheet_range("organisation_profile").unwrap();
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = sheet.rows().nth(1).unwrap();
    assert_eq!(row[at("organisation_code")], Data::String("0012".into()));
    assert_eq!(row[at("organisation_name")], Data::String("nan".into()));
    assert_eq!(row[at("cases")], Data::Float(2.0));
}

/// A report over a scope with no cases, and over data where no theme has a case, is
/// written (every chart drawn or its absence explained), never a crash; a warehouse of
/// another format is refused with a clear message.
#[test]
fn reports_over_zero_cases_and_themes_with_no_case() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases = "case_id,source,organisation_code,opened_date\n\
                 c1,ombudsman_complaint,R1,2020-01-31\n";
    let b = bundle(d, "b", &[("cases.csv", cases.as_bytes())]);
    let o = casework(
        d,
        &["ingest", b.to_str().unwrap(), "--warehouse", "wh", "-q"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (out, scope) in [("themes-empty", None), ("no-cases", Some("2030-01-01"))] {
        let mut args = vec![
            "report",
            "--warehouse",
            "wh",
            "--out",
            out,
            "--as-of",
            "2021-01-01",
        ];
        if let Some(from) = scope {
            args.extend(["--from", from]);
        }
        let o = casework(d, &args);
        assert_eq!(o.status.code(), Some(0), "{out}: {}", stderr(&o));
        let summary: Value =
            serde_json::from_str(&fs::read_to_string(d.join(out).join("summary.json")).unwrap())
                .unwrap();
        let want = if scope.is_some() { 0 } else { 1 };
        for t in summary["themes"].as_array().unwrap() {
            assert_eq!(t["cases"], want, "{out}: {t}");
            assert_eq!(t["cases_with_theme"], 0, "{out}: {t}");
        }
        let o = casework(d, &["measure", "--warehouse", "wh", "--format", "json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = casework(
        d,
        &[
            "chart",
            "prevalence",
            "--warehouse",
            "wh",
            "--from",
            "2030-01-01",
            "--out",
            "p",
        ],
    );
    // No empty chart: it is refused with the reason (exit code 1).
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no case in scope"), "{}", stderr(&o));
    // And the report over no cases says which charts it left out and why.
    let md = fs::read_to_string(d.join("no-cases/report.md")).unwrap();
    assert!(
        md.contains("Charts not drawn") && md.contains("Prevalence chart: no case in scope"),
        "{md}"
    );
    // Another format version is refused, naming what was found.
    let manifest = d.join("wh/manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replace("casework-warehouse/1", "casework-warehouse/0"),
    )
    .unwrap();
    let o = casework(d, &["measure", "--warehouse", "wh"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("casework-warehouse/0"),
        "{}",
        stderr(&o)
    );
}

/// A recommendations tracker saved by Excel ("CSV UTF-8": byte-order mark, CRLF) reads
/// as plain UTF-8: its first column is still `number`, and every row is shown.
#[test]
fn a_tracker_saved_by_excel_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(d, &["ingest", EXAMPLE, "--warehouse", "wh", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    fs::write(
        d.join("tracker.csv"),
        "\u{feff}number,text,owner,due_date,status,evidence\r\n\
         1,Report every scan within the standard,Trust boards,2026-03-31,open,\r\n\
         2,\"Act on alerts, same day\",Radiology,2026-06-30,met,audit 2025\r\n",
    )
    .unwrap();
    let o = casework(
        d,
        &[
            "report",
            "--warehouse",
            "wh",
            "--out",
            "r",
            "--as-of",
            "2026-01-01",
            "--tracker",
            "tracker.csv",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = fs::read_to_string(d.join("r/report.md")).unwrap();
    assert!(
        md.contains(
            "| 1 | Report every scan within the standard | Trust boards | 2026-03-31 | open |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| 2 | Act on alerts, same day | Radiology | 2026-06-30 | met | audit 2025 |"),
        "{md}"
    );
}
