//! Measures over the warehouse. Expected values on the example bundle are hand counts
//! from the report's passages (data/examples/phso-imaging-2021/README.md); on the
//! generated bundle they are the planted counts.

use std::fs;
use std::path::Path;

use crate::common::*;
use serde_json::Value;

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().unwrap()
}

fn find<'a>(v: &'a Value, key: &str, value: &str) -> &'a Value {
    rows(v)
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}"))
}

#[test]
fn theme_prevalence_on_the_example_equals_the_hand_count() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let v = measure_json(tmp.path(), &["theme_prevalence"]);
    assert_eq!(v["measure"], "theme_prevalence");
    assert!(v["scope"].is_object());
    // Hand count: UF 01 02 03 04 08 12; FA 05 06 07 08 12 13; DL 05 07 09 10 11 12;
    // LL 04 08 12 13 14.
    let want = [
        ("unreported_finding", 6, "nearly half"),
        ("unfollowed_alert", 6, "nearly half"),
        ("delay", 6, "nearly half"),
        ("unlearned_lesson", 5, "more than a third"),
    ];
    assert_eq!(rows(&v).len(), 4);
    for (row, (theme, x, phrase)) in rows(&v).iter().zip(want) {
        assert_eq!(row["theme"], theme);
        assert_eq!(row["cases"], 14);
        assert_eq!(row["cases_with_theme"], x);
        assert_eq!(row["phrase"], phrase);
        let p = row["proportion"].as_f64().unwrap();
        assert!((p - x as f64 / 14.0).abs() < 1e-12);
    }
    // 6/14, Wilson 95%, from statsmodels: (0.2138079890, 0.6740935542).
    let uf = &rows(&v)[0];
    assert!(
        (uf["ci95_low"].as_f64().unwrap() - 0.2138079890).abs() < 1e-9,
        "{uf}"
    );
    assert!(
        (uf["ci95_high"].as_f64().unwrap() - 0.6740935542).abs() < 1e-9,
        "{uf}"
    );
    assert!(uf["ci998_low"].as_f64().unwrap() < uf["ci95_low"].as_f64().unwrap());
}

/// `--stage` selects findings (every case stays in the denominator), `--service` cases,
/// on the example (data/examples/phso-imaging-2021/findings.csv and cases.csv).
#[test]
fn a_stage_counts_only_its_findings_and_a_service_only_its_cases() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let counts = |args: &[&str]| -> Vec<(String, u64, u64)> {
        let mut all = vec!["theme_prevalence"];
        all.extend_from_slice(args);
        let v = measure_json(tmp.path(), &all);
        rows(&v)
            .iter()
            .map(|r| {
                (
                    r["theme"].as_str().unwrap().to_string(),
                    r["cases_with_theme"].as_u64().unwrap(),
                    r["cases"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let want = |w: [u64; 4], cases: u64| -> Vec<(String, u64, u64)> {
        [
            "unreported_finding",
            "unfollowed_alert",
            "delay",
            "unlearned_lesson",
        ]
        .into_iter()
        .zip(w)
        .map(|(t, n)| (t.to_string(), n, cases))
        .collect()
    };
    // Findings at the review stage by hand: phso-02 UF2, phso-11 DL2, phso-12 FA1,
    // phso-13 FA3 and LL4; the 14 cases stay.
    assert_eq!(counts(&["--stage", "review"]), want([1, 2, 1, 1], 14));
    // Service urology: phso-02 (UF1, UF2) and phso-12 (UF1, DL3, FA1, LL1).
    assert_eq!(counts(&["--service", "urology"]), want([2, 1, 1, 1], 2));
    // Both: phso-02's UF2 and phso-12's FA1.
    assert_eq!(
        counts(&["--service", "urology", "--stage", "review"]),
        want([1, 1, 0, 0], 2)
    );
    // A stage no finding has: no theme, every case.
    assert_eq!(counts(&["--stage", "acquisition"]), want([0, 0, 0, 0], 14));
    // A value that is no stage is refused, naming the stages.
    refused(
        tmp.path(),
        &["measure", "theme_prevalence", "--stage", "Review"],
        "\"Review\" is not a stage of the bundle; its stages are: request,",
    );
}

#[test]
fn cooccurrence_breakdowns_delays_and_remedies_equal_the_hand_count() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let d = tmp.path();

    let v = measure_json(d, &["theme_cooccurrence"]);
    let combos: Vec<(String, u64)> = rows(&v)
        .iter()
        .map(|r| {
            (
                r["combination"].as_str().unwrap().to_string(),
                r["cases"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut combos = combos;
    combos.sort();
    let mut want = vec![
        ("delay", 3),
        ("unfollowed_alert", 1),
        ("unfollowed_alert + delay", 2),
        ("unfollowed_alert + unlearned_lesson", 1),
        ("unlearned_lesson", 1),
        ("unreported_finding", 3),
        (
            "unreported_finding + unfollowed_alert + delay + unlearned_lesson",
            1,
        ),
        (
            "unreported_finding + unfollowed_alert + unlearned_lesson",
            1,
        ),
        ("unreported_finding + unlearned_lesson", 1),
    ];
    want.sort();
    let want: Vec<(String, u64)> = want.into_iter().map(|(a, b)| (a.to_string(), b)).collect();
    assert_eq!(combos, want);

    let v = measure_json(d, &["theme_breakdown"]);
    let cell = |dim: &str, value: &str, theme: &str| {
        let r = rows(&v)
            .iter()
            .find(|r| r["dimension"] == dim && r["value"] == value && r["theme"] == theme)
            .unwrap_or_else(|| panic!("{dim} {value} {theme}"));
        (
            r["cases"].as_u64().unwrap(),
            r["cases_with_theme"].as_u64().unwrap(),
        )
    };
    // harm = death: 02 05 08 12 13.
    assert_eq!(cell("harm", "death", "unreported_finding"), (5, 3));
    assert_eq!(cell("harm", "death", "unfollowed_alert"), (5, 4));
    assert_eq!(cell("harm", "death", "delay"), (5, 2));
    // Closed in 2019: 02 03 05 06 07 10; with delay 05 07 10.
    assert_eq!(cell("closing_year", "2019", "delay"), (6, 3));
    assert_eq!(cell("closing_year", "2018", "delay"), (3, 2));
    assert_eq!(cell("region", "(missing)", "unlearned_lesson"), (14, 5));
    // Findings at the reporting stage: 01 02 03 04 08 09 10 12.
    assert_eq!(cell("stage", "reporting", "unreported_finding"), (8, 6));
    assert_eq!(cell("stage", "reporting", "delay"), (8, 3));
    assert_eq!(cell("stage", "learning", "unlearned_lesson"), (5, 5));
    // Radiology findings in every case but 05, 07.
    assert_eq!(cell("service", "radiology", "unreported_finding").0, 12);
    assert_eq!(cell("modality", "mri", "delay"), (1, 1));
    assert_eq!(
        cell("source", "ombudsman_complaint", "unfollowed_alert"),
        (14, 6)
    );

    // Delays measured from the events.
    let v = measure_json(d, &["delay_intervals"]);
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 9);
    let row = |no: u64, urgency: &str| {
        rows(&v)
            .iter()
            .find(|r| r["interval_no"] == no && r["urgency"] == urgency)
            .unwrap_or_else(|| panic!("interval {no} {urgency}"))
            .clone()
    };
    // performed -> reported, urgent (threshold 1 day): phso-07 0 days, phso-09 16 days.
    let r = row(2, "urgent");
    assert_eq!(
        (r["episodes"].as_u64(), r["over_threshold"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(r["max_days"].as_f64(), Some(16.0));
    assert_eq!(r["median_days"].as_f64(), Some(8.0));
    // performed -> reported, no urgency (28 days): 7, 7, 63, 91, 1 days.
    let r = row(3, "missing");
    assert_eq!(
        (r["episodes"].as_u64(), r["over_threshold"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(r["median_days"].as_f64(), Some(7.0));
    assert_eq!(r["max_days"].as_f64(), Some(91.0));
    assert!((r["p90_days"].as_f64().unwrap() - 79.8).abs() < 1e-9, "{r}");
    // alert raised -> acknowledged, critical (1 hour): phso-06, 24 hours.
    let r = row(5, "critical");
    assert_eq!(
        (r["episodes"].as_u64(), r["over_threshold"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["max_days"].as_f64(), Some(1.0));

    let v = measure_json(d, &["delay_coded_vs_measured"]);
    let n = |m: &str| find(&v, "measure", m)["cases"].as_u64().unwrap();
    assert_eq!(n("cases_in_scope"), 14);
    assert_eq!(n("cases_with_measured_delay"), 7); // 04 06 07 09 10 11 12
    assert_eq!(n("cases_coded_delay"), 6); // 05 07 09 10 11 12
    assert_eq!(n("measured_not_coded"), 2); // 04 06
    assert_eq!(n("coded_not_measurable"), 1); // 05
    assert_eq!(n("episodes_performed_not_reported"), 4); // 11, 12 (2015), 13 (2014, 2015)

    // Recommendations as of 1 May 2020: due before then and not complied: 08 ×2, 12 ×3, 13 ×2.
    let v = measure_json(d, &["recommendations", "--as-of", "2020-05-01"]);
    assert_eq!(v["as_of"], "2020-05-01");
    let all = find(&v, "kind", "all");
    assert_eq!(all["recommendations"], 12);
    assert_eq!(all["not_complied"], 1);
    assert_eq!(all["pending"], 11);
    assert_eq!(all["overdue"], 7);
    assert_eq!(find(&v, "kind", "financial_remedy")["recommendations"], 3);

    let v = measure_json(d, &["financial_remedies"]);
    let r = &rows(&v)[0];
    assert_eq!(r["remedies"], 3);
    assert_eq!(r["cases"], 3);
    // £2,500 + £950 + £10,000.
    assert_eq!(
        r["total_gbp"]
            .to_string()
            .trim_matches('"')
            .parse::<f64>()
            .unwrap(),
        13450.0
    );
    assert_eq!(
        r["median_gbp"]
            .to_string()
            .trim_matches('"')
            .parse::<f64>()
            .unwrap(),
        2500.0
    );

    let v = measure_json(d, &["learning"]);
    assert_eq!(find(&v, "measure", "repeat_failures")["value"], 1.0); // phso-13, LL4
    assert_eq!(
        find(&v, "measure", "cases_with_learning_review")["value"],
        0.0
    );

    let v = measure_json(d, &["organisation_profile"]);
    assert_eq!(rows(&v).len(), 14 * 4);
    let org12: Vec<&Value> = rows(&v)
        .iter()
        .filter(|r| r["organisation_code"] == "ORG-12")
        .collect();
    assert!(
        org12
            .iter()
            .all(|r| r["cases"] == 1 && r["cases_with_theme"] == 1)
    );

    // Opened March 2016 to June 2019: 40 months, gaps filled with zeros.
    let v = measure_json(d, &["monthly_series"]);
    assert_eq!(rows(&v).len(), 40 * 4);
    assert_eq!(rows(&v)[0]["month"], "2016-03-01");
    let cases: u64 = rows(&v)
        .iter()
        .filter(|r| r["theme"] == "delay")
        .map(|r| r["cases"].as_u64().unwrap())
        .sum();
    assert_eq!(cases, 14);
}

/// A bundle of `n` cases with planted themes: case i has unreported_finding when i % 3
/// == 0 (two UF findings when i % 6 == 0), unfollowed_alert when i % 5 == 0, delay when
/// i % 7 == 0, unlearned_lesson when i % 11 == 0; organisation ORG(i % 50).
fn planted(dir: &Path, n: u64) -> std::path::PathBuf {
    let b = dir.join("planted");
    fs::create_dir_all(&b).unwrap();
    let mut cases =
        String::from("case_id,source,organisation_code,region,opened_date,closed_date\n");
    let mut findings = String::from("case_id,code\n");
    for i in 0..n {
        let year = 2015 + i % 5;
        let region = if i % 2 == 0 { "North" } else { "South" };
        cases.push_str(&format!(
            "p{i},ombudsman_complaint,ORG{},{region},{year}-0{}-15,\n",
            i % 50,
            1 + i % 9
        ));
        if i % 3 == 0 {
            findings.push_str(&format!("p{i},UF1\n"));
        }
        if i % 6 == 0 {
            findings.push_str(&format!("p{i},UF3\n"));
        }
        if i % 5 == 0 {
            findings.push_str(&format!("p{i},FA{}\n", 1 + i % 5));
        }
        if i % 7 == 0 {
            findings.push_str(&format!("p{i},DL2\n"));
        }
        if i % 11 == 0 {
            findings.push_str(&format!("p{i},LL1\n"));
        }
    }
    fs::write(b.join("cases.csv"), cases).unwrap();
    fs::write(b.join("findings.csv"), findings).unwrap();
    b
}

#[test]
fn planted_theme_counts_are_found_exactly_and_scope_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 10_000u64;
    let b = planted(tmp.path(), n);
    assert_eq!(
        casework(tmp.path(), &["ingest", b.to_str().unwrap(), "-q"])
            .status
            .code(),
        Some(0)
    );
    let planted_count = |pred: &dyn Fn(u64) -> bool, m: u64| {
        (0..n).filter(|i| pred(*i) && i % m == 0).count() as u64
    };
    let check = |v: &Value, pred: &dyn Fn(u64) -> bool| {
        let cases = (0..n).filter(|i| pred(*i)).count() as u64;
        for (theme, m) in [
            ("unreported_finding", 3),
            ("unfollowed_alert", 5),
            ("delay", 7),
            ("unlearned_lesson", 11),
        ] {
            let r = find(v, "theme", theme);
            assert_eq!(r["cases"].as_u64(), Some(cases), "{theme}");
            assert_eq!(
                r["cases_with_theme"].as_u64(),
                Some(planted_count(pred, m)),
                "{theme}"
            );
        }
    };
    check(&measure_json(tmp.path(), &["theme_prevalence"]), &|_| true);
    check(
        &measure_json(tmp.path(), &["theme_prevalence", "--organisation", "ORG7"]),
        &|i| i % 50 == 7,
    );
    check(
        &measure_json(tmp.path(), &["theme_prevalence", "--region", "North"]),
        &|i| i % 2 == 0,
    );
    // Opened in 2016 or 2017 (year = 2015 + i % 5).
    check(
        &measure_json(
            tmp.path(),
            &[
                "theme_prevalence",
                "--from",
                "2016-01-01",
                "--to",
                "2017-12-31",
            ],
        ),
        &|i| matches!(i % 5, 1 | 2),
    );
    // No case is closed: a closed-date scope holds none.
    check(
        &measure_json(
            tmp.path(),
            &[
                "theme_prevalence",
                "--date-field",
                "closed_date",
                "--from",
                "2000-01-01",
            ],
        ),
        &|_| false,
    );
    // Organisation profile: ORG7's delay count.
    let v = measure_json(tmp.path(), &["organisation_profile"]);
    let r = rows(&v)
        .iter()
        .find(|r| r["organisation_code"] == "ORG7" && r["theme"] == "delay")
        .unwrap();
    assert_eq!(
        r["cases"].as_u64(),
        Some((0..n).filter(|i| i % 50 == 7).count() as u64)
    );
    assert_eq!(
        r["cases_with_theme"].as_u64(),
        Some((0..n).filter(|i| i % 50 == 7 && i % 7 == 0).count() as u64)
    );
}

#[test]
fn scope_values_are_literals_never_sql() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let injection = "' OR 1=1 --";
    let v = measure_json(
        tmp.path(),
        &["theme_prevalence", "--organisation", injection],
    );
    assert!(
        rows(&v)
            .iter()
            .all(|r| r["cases"] == 0 && r["cases_with_theme"] == 0),
        "{v}"
    );
    assert_eq!(v["scope"]["organisation"], injection);
    let out = casework(
        tmp.path(),
        &[
            "query",
            "SELECT COUNT(*) AS n FROM cases WHERE organisation_code = $org",
            "--param",
            &format!("org={injection}"),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows(&v)[0]["n"], 0);
    let out = casework(
        tmp.path(),
        &[
            "query",
            "SELECT COUNT(*) AS n FROM cases WHERE organisation_code = $org",
            "--param",
            "org=ORG-03",
            "--format",
            "json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows(&v)[0]["n"], 1);
}

#[test]
fn every_query_file_runs_unchanged_through_casework_query() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 11);
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("-- "),
            "{} opens with a comment",
            f.display()
        );
        assert!(
            text.contains("Parameters"),
            "{} names its parameters",
            f.display()
        );
        let out = casework(
            tmp.path(),
            &["query", "-f", f.to_str().unwrap(), "--format", "csv"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            f.display(),
            stderr(&out)
        );
        assert!(
            stdout(&out).lines().count() >= 2,
            "{} gives rows",
            f.display()
        );
    }
    // The table and CSV outputs, and --out.
    let out = casework(tmp.path(), &["measure", "--out", "tables"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("theme_prevalence\n  theme "),
        "{}",
        stdout(&out)
    );
    assert_eq!(fs::read_dir(tmp.path().join("tables")).unwrap().count(), 11);
    let csv = fs::read_to_string(tmp.path().join("tables/theme_prevalence.csv")).unwrap();
    assert!(csv.starts_with("theme,cases,cases_with_theme,proportion,ci95_low,ci95_high,ci998_low,ci998_high,phrase\n"), "{csv}");
    assert!(csv.contains("\nunreported_finding,14,6,"), "{csv}");
}

#[test]
fn measure_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let out = casework(tmp.path(), &["measure", "theme_prevalence"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("holds no data yet: run `casework ingest BUNDLE` first"),
        "{}",
        stderr(&out)
    );
    example_warehouse(tmp.path());
    let out = casework(tmp.path(), &["measure", "theme_prevalance"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("unknown measure \"theme_prevalance\"; the measures are: theme_prevalence, "),
        "{}",
        stderr(&out)
    );
    fs::write(
        tmp.path().join("bad.sql"),
        "SELECT no_such_column FROM cases",
    )
    .unwrap();
    let out = casework(tmp.path(), &["query", "-f", "bad.sql"]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("bad.sql: ") && e.contains("no_such_column"),
        "{e}"
    );
}

#[test]
fn the_episodes_view_is_kept_in_memory_or_past_its_share_of_the_pool_in_files_that_go_with_the_session()
 {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let private_tmp = tempfile::tempdir().unwrap();
    let tmpdir = private_tmp.path().to_str().unwrap();
    let run = |dir: &Path, args: &[&str]| casework_with_env(dir, args, &[("TMPDIR", tmpdir)]);
    let views = || {
        std::fs::read_dir(private_tmp.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("casework-view-")
            })
            .count()
    };
    // A query's CSV under a memory limit.
    let query = |dir: &Path, sql: &str, limit: &str| {
        let out = run(
            dir,
            &["query", sql, "--memory-limit", limit, "--format", "csv"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let plan =
        |dir: &Path, limit: &str| query(dir, "EXPLAIN SELECT SUM(flags) FROM episodes", limit);
    // The example's episodes fit in a quarter of the pool: read from memory.
    let kept = plan(tmp.path(), "1GiB");
    assert!(kept.contains("partition_sizes="), "{kept}");
    assert!(!kept.contains(".parquet"), "{kept}");
    // The same rows as the view's SQL run as it is (the example's 25 cases' episodes).
    let sql = include_str!("../../queries/shared/episodes.sql");
    let out = run(
        tmp.path(),
        &[
            "query",
            &format!(
                "SELECT (SELECT COUNT(*) FROM episodes) AS kept, \
                        (SELECT COUNT(*) FROM ({sql}) v) AS computed, \
                        (SELECT COUNT(*) FROM (SELECT * FROM episodes EXCEPT SELECT * FROM ({sql}) w)) AS differ"
            ),
            "--format",
            "csv",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let values: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(values[0], values[1], "{text}");
    assert_ne!(values[0], "0", "{text}");
    assert_eq!(values[2], "0", "{text}");
    // 20,000 generated cases (about 40,000 episodes, several MB) under an 8 MiB pool:
    // past a quarter of it, the view is written to Parquet in a casework-view- folder
    // of the temporary folder, and read from there with the same rows.
    let big = tempfile::tempdir().unwrap();
    generated_warehouse(big.path(), 20_000, 3);
    let written = plan(big.path(), "8MiB");
    assert!(written.contains("casework-view-"), "{written}");
    assert!(written.contains("part-0.parquet"), "{written}");
    let totals = |limit: &str| {
        query(
            big.path(),
            "SELECT COUNT(*) AS n, SUM(flags) AS f, SUM(urgency_rank) AS u, \
                    COUNT(requested_at) AS r, MAX(reported_at) AS m FROM episodes",
            limit,
        )
    };
    assert_eq!(totals("8MiB"), totals("1GiB"));
    assert!(totals("1GiB").lines().nth(1).unwrap().starts_with("39"));
    // The measures that read it, then nothing left behind.
    let out = run(
        tmp.path(),
        &["measure", "delay_intervals", "delay_coded_vs_measured"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        views(),
        0,
        "temporary views left in {:?}",
        private_tmp.path()
    );
}

#[test]
fn the_text_table_prints_a_cell_longer_than_a_format_width_can_be() {
    // A width in a Rust format string must fit in 16 bits: an EXPLAIN ANALYZE plan of
    // a long query made one cell longer than that, and the table printer panicked.
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let out = casework(
        tmp.path(),
        &["query", "SELECT repeat('x', 70000) AS long, 'y' AS short"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.contains("xxx"))
        .unwrap_or_else(|| panic!("no row in {}", &text[..text.len().min(300)]));
    assert_eq!(row.trim(), format!("{}  y", "x".repeat(70000)));
    let header = text.lines().find(|l| l.contains("long")).unwrap();
    assert_eq!(
        header.trim(),
        format!("long{}  short", " ".repeat(70000 - 4))
    );
}

#[test]
fn scoped_queries_push_the_filter_and_projection_into_the_parquet_scan() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let out = casework(
        tmp.path(),
        &[
            "query",
            "EXPLAIN SELECT COUNT(*) AS n FROM findings",
            "--organisation",
            "ORG-03",
            "--format",
            "csv",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    // The cases scan reads two columns and prunes by organisation_code statistics.
    assert!(
        plan.contains("projection=[organisation_code, case_key]"),
        "{plan}"
    );
    assert!(
        plan.contains("predicate=organisation_code@2 = ORG-03"),
        "{plan}"
    );
    assert!(plan.contains("pruning_predicate="), "{plan}");
    refused(
        tmp.path(),
        &["measure", "learning", "--memory-limit", "lots"],
        "write a size such as 512MiB or 2GiB",
    );
    let out = casework(
        tmp.path(),
        &["measure", "learning", "--memory-limit", "64MiB"],
    );
    assert_eq!(out.status.code(), Some(0));
}

/// A code list of seventy themes: the measures that carry a case's themes as the bits of
/// one integer (62 to an integer) count every theme, those past the 62nd too. Expected
/// values are counted here from the planted findings, row by row.
#[test]
fn seventy_themes_are_each_counted_past_the_bits_of_one_integer() {
    use std::collections::{BTreeMap, BTreeSet};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut codes = String::from("code,theme,meaning\n");
    for n in 1..=70 {
        codes.push_str(&format!("K{n},t{n:02},theme {n}\n"));
    }
    fs::write(d.join("codes.csv"), codes).unwrap();
    // Case i: organisation O(i % 3), region r(i % 2), opened and closed in month 1 + i % 4
    // of 2024;
    // findings K(3i % 70 + 1) and K(11i % 70 + 1) at service s(i % 2), stage reporting;
    // every fifth case also K63 and K70 at service x, stage learning.
    let mut cases =
        String::from("case_id,source,organisation_code,region,opened_date,closed_date\n");
    let mut findings = String::from("case_id,code,stage,service\n");
    // (case, organisation, region, month) and its findings (theme, service, stage).
    let mut planted = Vec::new();
    for i in 1..=50u32 {
        let month = 1 + i % 4;
        cases.push_str(&format!(
            "c{i},ombudsman_complaint,O{},r{},2024-{month:02}-01,2024-{month:02}-15\n",
            i % 3,
            i % 2
        ));
        let mut f = vec![
            (3 * i % 70 + 1, format!("s{}", i % 2), "reporting"),
            (11 * i % 70 + 1, format!("s{}", i % 2), "reporting"),
        ];
        if i % 5 == 0 {
            f.push((63, "x".into(), "learning"));
            f.push((70, "x".into(), "learning"));
        }
        for (n, service, stage) in &f {
            findings.push_str(&format!("c{i},K{n},{stage},{service}\n"));
        }
        planted.push((format!("O{}", i % 3), format!("r{}", i % 2), month, f));
    }
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases.as_bytes()),
            ("findings.csv", findings.as_bytes()),
        ],
    );
    let o = casework(
        d,
        &["ingest", b.to_str().unwrap(), "--codes", "codes.csv", "-q"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let themes_of =
        |f: &Vec<(u32, String, &str)>| -> BTreeSet<u32> { f.iter().map(|(n, _, _)| *n).collect() };
    let count = |v: &Value, keys: &[&str]| -> BTreeMap<Vec<String>, (u64, u64)> {
        rows(v)
            .iter()
            .map(|r| {
                let key = keys
                    .iter()
                    .map(|k| match &r[*k] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let cases = r["cases"].as_u64().unwrap();
                (key, (cases, r["cases_with_theme"].as_u64().unwrap()))
            })
            .collect()
    };
    let theme = |n: u32| format!("t{n:02}");

    // theme_breakdown: region (a case dimension) and service (a finding dimension).
    let got = count(
        &measure_json(d, &["theme_breakdown"]),
        &["dimension", "value", "theme"],
    );
    let mut want = BTreeMap::new();
    for n in 1..=70 {
        for r in ["r0", "r1"] {
            let at: Vec<_> = planted.iter().filter(|p| p.1 == r).collect();
            let with = at.iter().filter(|p| themes_of(&p.3).contains(&n)).count();
            want.insert(
                vec!["region".to_string(), r.to_string(), theme(n)],
                (at.len() as u64, with as u64),
            );
        }
        for s in ["s0", "s1", "x"] {
            let at = |p: &&(String, String, u32, Vec<(u32, String, &str)>), n: Option<u32>| {
                p.3.iter()
                    .any(|(m, service, _)| service == s && n.is_none_or(|n| *m == n))
            };
            let cases = planted.iter().filter(|p| at(p, None)).count();
            let with = planted.iter().filter(|p| at(p, Some(n))).count();
            want.insert(
                vec!["service".to_string(), s.to_string(), theme(n)],
                (cases as u64, with as u64),
            );
        }
    }
    for (key, value) in &want {
        assert_eq!(got.get(key), Some(value), "theme_breakdown {key:?}");
    }
    // Themes 63 and 70 are planted in cases 5, 10, … 50: ten cases, five per region.
    assert_eq!(
        got[&vec!["region".to_string(), "r0".to_string(), theme(70)]],
        (25, 5)
    );
    assert_eq!(
        got[&vec!["service".to_string(), "x".to_string(), theme(63)]],
        (10, 10)
    );

    // organisation_profile: per organisation and theme.
    let got = count(
        &measure_json(d, &["organisation_profile"]),
        &["organisation_code", "theme"],
    );
    assert_eq!(got.len(), 3 * 70);
    for org in ["O0", "O1", "O2"] {
        let at: Vec<_> = planted.iter().filter(|p| p.0 == org).collect();
        for n in 1..=70 {
            let with = at.iter().filter(|p| themes_of(&p.3).contains(&n)).count();
            assert_eq!(
                got[&vec![org.to_string(), theme(n)]],
                (at.len() as u64, with as u64),
                "organisation_profile {org} {n}"
            );
        }
    }

    // monthly_series: per month and theme.
    let got = count(&measure_json(d, &["monthly_series"]), &["month", "theme"]);
    assert_eq!(got.len(), 4 * 70);
    for month in 1..=4 {
        let at: Vec<_> = planted.iter().filter(|p| p.2 == month).collect();
        for n in 1..=70 {
            let with = at.iter().filter(|p| themes_of(&p.3).contains(&n)).count();
            assert_eq!(
                got[&vec![format!("2024-{month:02}-01"), theme(n)]],
                (at.len() as u64, with as u64),
                "monthly_series {month} {n}"
            );
        }
    }

    // theme_cooccurrence: each case's combination of themes, named in theme order.
    let v = measure_json(d, &["theme_cooccurrence"]);
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for p in &planted {
        let name: Vec<String> = themes_of(&p.3).into_iter().map(theme).collect();
        *want.entry(name.join(" + ")).or_default() += 1;
    }
    // The row for all themes together, added when no case has them all.
    let all: Vec<String> = (1..=70).map(theme).collect();
    want.insert(all.join(" + "), 0);
    let got: BTreeMap<String, u64> = rows(&v)
        .iter()
        .map(|r| {
            (
                r["combination"].as_str().unwrap().to_string(),
                r["cases"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
}
