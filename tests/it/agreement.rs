//! Coding reliability (`codings`, `casework agreement`, the report's section): against
//! hand counts of the example's second coding, planted samples whose coefficients are
//! published or package-computed vectors (see pipeline/stats/agreement.rs), and the
//! disclosure rule.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::common::*;

fn agreement_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["agreement", "--format", "json"];
    args.extend_from_slice(extra);
    let out = casework(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn item<'a>(v: &'a Value, level: &str, name: &str) -> &'a Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["level"] == level && r["item"] == name)
        .unwrap_or_else(|| panic!("no {level} {name}"))
}

fn close(v: &Value, want: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

/// Cases `ids` with the bundle's required columns.
fn cases_csv(ids: &[String]) -> String {
    let mut s = String::from("case_id,source,organisation_code,opened_date\n");
    for id in ids {
        s.push_str(&format!("{id},ombudsman_complaint,ORG-1,2024-01-15\n"));
    }
    s
}

/// The example's second coding against hand counts (data/examples/phso-imaging-2021,
/// README "The second coding"): ten cases, coder_a and coder_b.
#[test]
fn the_example_agreement_equals_the_hand_count() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    example_warehouse(d);
    let v = agreement_json(d, &["--disagreements", "dis.csv"]);
    // Themes: unreported finding a {01,02,03,04,08}, b the same; unfollowed alert a and
    // b {05,06,07,08}; delay a {05,07,09,10}, b adds 06; unlearned lesson a {04,08}, b
    // adds 03.
    for (theme, split, observed, kappa) in [
        ("unreported_finding", 0, 1.0, 1.0),
        ("unfollowed_alert", 0, 1.0, 1.0),
        // 2×2 [[4, 0], [1, 5]]: po 0.9, pe 0.4·0.5 + 0.6·0.5 = 0.5, kappa 0.8.
        ("delay", 1, 0.9, 0.8),
        // [[2, 0], [1, 7]]: po 0.9, pe 0.2·0.3 + 0.8·0.7 = 0.62, kappa 0.28/0.38 = 14/19.
        ("unlearned_lesson", 1, 0.9, 14.0 / 19.0),
    ] {
        let r = item(&v, "theme", theme);
        assert_eq!(r["cases"], 10, "{theme}");
        assert_eq!(r["coders"], 2, "{theme}");
        assert_eq!(r["cases_split"], split, "{theme}");
        close(&r["observed"], observed);
        close(&r["kappa"], kappa);
        assert_eq!(r["kappa_method"], "cohen");
    }
    // Codes: DL4 a {07}, b {05,06,07}: [[1, 0], [2, 7]], po 0.8, pe 0.1·0.3 + 0.9·0.7 =
    // 0.66, kappa 0.14/0.34 = 7/17, moderate. DL2: given by nobody.
    let dl4 = item(&v, "code", "DL4");
    close(&dl4["kappa"], 7.0 / 17.0);
    assert_eq!(dl4["kappa_band"], "moderate");
    assert_eq!(dl4["theme"], "delay");
    let dl2 = item(&v, "code", "DL2");
    assert_eq!(dl2["kappa"], Value::Null);
    assert_eq!(dl2["alpha"], Value::Null);
    close(&dl2["observed"], 1.0);
    assert!(
        dl2["note"]
            .as_str()
            .unwrap()
            .starts_with("no coder gave it"),
        "{dl2}"
    );
    // The disagreements, listed by hand from the two codings.
    assert_eq!(
        fs::read_to_string(d.join("dis.csv")).unwrap(),
        "case_id,code,theme,coder_a,coder_b\n\
         phso-02,UF2,unreported_finding,yes,no\n\
         phso-03,LL4,unlearned_lesson,no,yes\n\
         phso-04,LL4,unlearned_lesson,no,yes\n\
         phso-05,DL1,delay,yes,no\n\
         phso-05,DL4,delay,no,yes\n\
         phso-06,DL4,delay,no,yes\n\
         phso-08,FA3,unfollowed_alert,no,yes\n"
    );
}

/// Three coders, every case coded by all three: the F1 data set of the statistics'
/// tests (Fleiss' kappa 4/9 by statsmodels, AC1 19/39 by irrCAC, alpha 25/54 by
/// krippendorff), put through ingest and SQL, with the validation of codings rows.
#[test]
fn three_coders_give_the_reference_values_and_bad_codings_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ids: Vec<String> = (1..=11).map(|i| format!("k{i:02}")).collect();
    let mut codings = String::from("case_id,coder,code,stage\n");
    // F1 on UF1: how many of x, y, z gave it on k01..k10 (a row with no code: the coder
    // coded the case and gave nothing).
    for (i, yes) in [0, 1, 2, 3, 0, 0, 2, 3, 0, 1].iter().enumerate() {
        for (j, coder) in ["x", "y", "z"].iter().enumerate() {
            let code = if j < *yes { "UF1" } else { "" };
            codings.push_str(&format!("k{:02},{coder},{code},\n", i + 1));
        }
    }
    // k11 is coded by one coder only; then three rows that are rejected: an unknown
    // case, an unknown code and a repeated row (k02's y gave UF1 above).
    codings.push_str("k11,x,UF1,\nk99,x,UF1,\nk01,x,ZZ9,\nk02,x,UF1,\n");
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases_csv(&ids).as_bytes()),
            ("codings.csv", codings.as_bytes()),
        ],
    );
    let out = casework(
        d,
        &[
            "ingest",
            b.to_str().unwrap(),
            "--accept-partial",
            "--format",
            "json",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["codings"]["rejected"], 3, "{s}");
    assert_eq!(s["counts"]["codings"]["stored"], 31, "{s}");
    let rules: Vec<&str> = s["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    for rule in ["unknown_case", "unknown_code", "duplicate_coding"] {
        assert!(rules.contains(&rule), "{rules:?}");
    }
    let notes = s["notes"].to_string();
    assert!(
        notes.contains("1 cases in codings were coded by one coder only (k11)"),
        "{notes}"
    );

    let v = agreement_json(d, &[]);
    let uf1 = item(&v, "code", "UF1");
    assert_eq!(uf1["coders"], 3);
    assert_eq!(uf1["cases"], 10);
    assert_eq!(uf1["kappa_method"], "fleiss");
    close(&uf1["kappa"], 4.0 / 9.0);
    close(&uf1["ac1"], 19.0 / 39.0);
    close(&uf1["alpha"], 25.0 / 54.0);
    close(&uf1["observed"], 11.0 / 15.0);
    assert_eq!(
        uf1["kappa_low"],
        Value::Null,
        "Fleiss' kappa has no interval here"
    );
    assert_eq!(uf1["kappa_band"], "moderate");

    // The report carries a caveat on the theme coders agreed on only moderately (UF1
    // is the only code given: unreported finding).
    let out = casework(d, &["report", "--out", "rep"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = fs::read_to_string(d.join("rep/report.md")).unwrap();
    assert!(md.contains("## Coding reliability"), "{md}");
    assert!(
        md.contains(
            "Coders agreed moderately on this theme (kappa 0.44): treat the figure as approximate."
        ),
        "{md}"
    );
}

/// Missing codings: data set M of the statistics' tests (3 coders × 8 cases, a coder
/// absent from some cases; alpha 29/48 by krippendorff 0.9.0). Over the four cases all
/// three coded ([no, yes] = [1,2], [3,0], [2,1], [0,3]), by hand: P̄ = (1/3 + 1 +
/// 1/3 + 1)/4 = 2/3, p_yes = 1/2, Pe = 1/2, Fleiss' kappa = 1/3; AC1: pe =
/// 2·(1/2)(1/2) = 1/2, AC1 = 1/3.
#[test]
fn missing_codings_count_for_alpha_and_not_for_kappa() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ids: Vec<String> = (1..=8).map(|i| format!("m{i:02}")).collect();
    // 1 given, 0 coded without it, - not coded; coders x, y, z.
    let m = [
        ["1", "1", "-"],
        ["1", "0", "1"],
        ["0", "0", "0"],
        ["0", "0", "1"],
        ["1", "1", "1"],
        ["-", "1", "1"],
        ["0", "-", "0"],
        ["1", "1", "-"],
    ];
    let mut codings = String::from("case_id,coder,code,stage\n");
    for (id, unit) in ids.iter().zip(m) {
        for (coder, v) in ["x", "y", "z"].iter().zip(unit) {
            match v {
                "1" => codings.push_str(&format!("{id},{coder},FA1,\n")),
                "0" => codings.push_str(&format!("{id},{coder},,\n")),
                _ => {}
            }
        }
    }
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases_csv(&ids).as_bytes()),
            ("codings.csv", codings.as_bytes()),
        ],
    );
    let out = casework(d, &["ingest", b.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = agreement_json(d, &[]);
    let fa1 = item(&v, "code", "FA1");
    assert_eq!(fa1["alpha_cases"], 8);
    assert_eq!(fa1["cases"], 4);
    close(&fa1["alpha"], 29.0 / 48.0);
    close(&fa1["kappa"], 1.0 / 3.0);
    close(&fa1["ac1"], 1.0 / 3.0);
    let theme = item(&v, "theme", "unfollowed_alert");
    close(&theme["alpha"], 29.0 / 48.0);
    // A code nobody gave: agreement 100%, no kappa or alpha, said in words.
    let uf1 = item(&v, "code", "UF1");
    assert_eq!(uf1["kappa"], Value::Null);
    assert!(
        uf1["note"]
            .as_str()
            .unwrap()
            .starts_with("no coder gave it")
    );
}

/// The report shows the section with double coding and nothing without it; under
/// --publish every count in it follows the disclosure rule, coefficients resting on a
/// cell of 1 to 7 cases are withheld, and the disagreements are never written.
#[test]
fn the_report_section_is_there_only_with_double_coding_and_publishes_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let plain = copy_example(d, "plain");
    let out = casework(d, &["ingest", plain.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = casework(d, &["report", "--out", "rep"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = fs::read_to_string(d.join("rep/report.md")).unwrap();
    let html = fs::read_to_string(d.join("rep/index.html")).unwrap();
    assert!(!md.contains("Coding reliability"), "{md}");
    assert!(!html.contains("Coding reliability"));
    assert!(!md.contains("agreement.png") && !d.join("rep/figures/agreement.png").exists());
    assert!(
        !md.contains("agreement:"),
        "not listed as a chart not drawn: {md}"
    );
    // `casework agreement` says there is nothing to measure, and gives no rows.
    let out = casework(d, &["agreement", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no case in scope was coded by two or more coders"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rows"], serde_json::json!([]));

    // The example with its second coding.
    let e = tempfile::tempdir().unwrap();
    let d = e.path();
    example_warehouse(d);
    let out = casework(d, &["report", "--out", "rep"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = fs::read_to_string(d.join("rep/report.md")).unwrap();
    assert!(md.contains("## Coding reliability"), "{md}");
    assert!(
        md.contains("| Delay | 10 | 1 | 90% | 0.80 (0.44 to 1.00) | substantial |"),
        "{md}"
    );
    assert!(d.join("rep/figures/agreement.png").exists());
    assert!(d.join("rep/tables/coding_disagreements.csv").exists());
    // No theme is below substantial in the example: no caveat.
    assert!(!md.contains("treat the figure as approximate"), "{md}");

    let out = casework(d, &["report", "--out", "pub", "--publish"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = fs::read_to_string(d.join("pub/report.md")).unwrap();
    // Every theme's table has a cell of 1 to 7 cases (delay: 4, 1, 5): withheld; the
    // ten cases are shown, the one case where coders differ is not.
    assert!(
        md.contains("| Delay | 10 | * | * | * | * | * | * | not shown: a cell of its agreement table is suppressed |"),
        "{md}"
    );
    assert!(!md.contains("0.80"), "{md}");
    assert!(!d.join("pub/tables/coding_disagreements.csv").exists());
    assert!(!md.contains("coding_disagreements"), "{md}");
    let v = agreement_json(d, &["--publish"]);
    let delay = item(&v, "theme", "delay");
    assert_eq!(delay["cases_split"], "*");
    assert_eq!(delay["kappa"], "*");
    let out = casework(d, &["agreement", "--publish", "--disagreements", "x.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!d.join("x.csv").exists());
}

/// A sample whose every cell holds 8 or more cases publishes its coefficients: two
/// coders on 53 cases, FA1 given by both on 20, by ann only on 8, by bob only on 10,
/// by neither on 15. By hand: po = 35/53, pe = (28·30 + 25·23)/53² = 1415/2809,
/// kappa = (35·53 − 1415)/(2809 − 1415) = 440/1394 = 220/697.
#[test]
fn a_sample_with_no_small_cell_publishes_its_kappa() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ids: Vec<String> = (1..=53).map(|i| format!("c{i:03}")).collect();
    let mut codings = String::from("case_id,coder,code,stage\n");
    for (i, id) in ids.iter().enumerate() {
        let (ann, bob) = match i {
            0..20 => (true, true),
            20..28 => (true, false),
            28..38 => (false, true),
            _ => (false, false),
        };
        for (coder, gave) in [("ann", ann), ("bob", bob)] {
            let code = if gave { "FA1" } else { "" };
            codings.push_str(&format!("{id},{coder},{code},\n"));
            // Both coders give DL1 on every case.
            codings.push_str(&format!("{id},{coder},DL1,\n"));
        }
    }
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases_csv(&ids).as_bytes()),
            ("codings.csv", codings.as_bytes()),
        ],
    );
    let out = casework(d, &["ingest", b.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Unpublished: the exact table.
    let v = agreement_json(d, &[]);
    let r = item(&v, "theme", "unfollowed_alert");
    assert_eq!(r["cases"], 53);
    assert_eq!(r["cases_split"], 18);
    close(&r["kappa"], 220.0 / 697.0);
    assert_eq!(r["kappa_band"], "fair");
    // Prevalence and bias indices by hand: (20 − 15)/53 and (8 − 10)/53.
    close(&r["prevalence_index"], 5.0 / 53.0);
    close(&r["bias_index"], -2.0 / 53.0);
    // Published: every count rounded to 5 (53 → 55; cells 20, 8 → 10, 10, 15), and the
    // coefficients computed from the published cells, so that they give back no exact
    // count: [[20, 10], [10, 15]], n 55, po 35/55, pe (30·30 + 25·25)/55² = 1525/3025,
    // kappa (1925 − 1525)/(3025 − 1525) = 4/15; indices (20 − 15)/55 = 1/11 and 0.
    let v = agreement_json(d, &["--publish"]);
    let r = item(&v, "theme", "unfollowed_alert");
    assert_eq!(r["cases"], 55);
    assert_eq!(r["cases_split"], 20);
    close(&r["kappa"], 4.0 / 15.0);
    close(&r["prevalence_index"], 1.0 / 11.0);
    close(&r["bias_index"], 0.0);
    // A code every coder gave on every case: agreement 100%, kappa undefined, said.
    let dl1 = item(&v, "code", "DL1");
    assert_eq!(dl1["kappa"], Value::Null);
    close(&dl1["observed"], 1.0);
    assert!(
        dl1["note"]
            .as_str()
            .unwrap()
            .starts_with("every coder gave it on every case"),
        "{dl1}"
    );
    // A code nobody gave has one cell (53 cases where neither did): shown, with its
    // degenerate result stated.
    let uf1 = item(&v, "code", "UF1");
    assert_eq!(uf1["kappa"], Value::Null);
    assert!(
        uf1["note"]
            .as_str()
            .unwrap()
            .starts_with("no coder gave it")
    );
}

/// A mapping fills `codings` like any other record type: an export of one row per
/// case and coder, with the coder's codes in one cell.
#[test]
fn a_mapping_fills_codings() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("m.toml"),
        r#"[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
opened_date = "Opened"

[codings]
case_id = "Ref"
coder = "Coder"
code = { split = ";", column = "Codes" }
"#,
    )
    .unwrap();
    fs::write(
        d.join("export.csv"),
        "Ref,Org,Opened,Coder,Codes\n\
         R1,O1,2024-01-05,ann,UF1;DL1\n\
         R1,O1,2024-01-05,bob,UF1\n\
         R2,O1,2024-02-05,ann,FA1\n\
         R2,O1,2024-02-05,bob,FA1\n",
    )
    .unwrap();
    let out = casework(d, &["ingest", "--mapping", "m.toml", "export.csv", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // By hand: two cases, both coded by ann and bob; they differ on DL1 in R1 only.
    let v = agreement_json(d, &["--disagreements", "dis.csv"]);
    assert_eq!(item(&v, "code", "DL1")["cases_split"], 1);
    assert_eq!(item(&v, "code", "UF1")["cases_split"], 0);
    assert_eq!(
        fs::read_to_string(d.join("dis.csv")).unwrap(),
        "case_id,code,theme,ann,bob\nR1,DL1,delay,yes,no\n"
    );
}
