//! The generator: deterministic per seed, and what it plants is what casework finds.

use std::fs;

use crate::common::*;
use serde_json::Value;

#[test]
fn generated_bundles_are_deterministic_and_their_planted_truth_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for out in ["a", "b"] {
        let o = casework(
            d,
            &[
                "generate", "--cases", "12000", "--seed", "7", "--out", out, "--bad", "2",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for f in [
        "cases.csv",
        "findings.csv",
        "events.csv",
        "recommendations.csv",
        "truth.json",
    ] {
        assert!(
            fs::read(d.join("a").join(f)).unwrap() == fs::read(d.join("b").join(f)).unwrap(),
            "{f} differs"
        );
    }
    let truth: Value =
        serde_json::from_str(&fs::read_to_string(d.join("a/truth.json")).unwrap()).unwrap();

    // All or nothing: every malformed row is rejected, by its rule.
    let out = casework(d, &["validate", "a", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut by_rule = std::collections::BTreeMap::new();
    for r in summary["rules"].as_array().unwrap() {
        by_rule.insert(
            r["rule"].as_str().unwrap().to_string(),
            r["count"].as_u64().unwrap(),
        );
    }
    for (rule, n) in truth["bad_rows"].as_object().unwrap() {
        assert_eq!(by_rule.get(rule), n.as_u64().as_ref(), "{rule}");
    }
    // Accepting the valid part stores exactly the planted rows.
    let out = casework(d, &["ingest", "a", "--accept-partial", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m = manifest(&d.join("warehouse"));
    for t in ["cases", "findings", "events", "recommendations"] {
        assert_eq!(m["tables"][t]["rows"], truth["rows"][t], "{t}");
    }
    // Theme counts equal the planted counts exactly.
    let v = measure_json(d, &["theme_prevalence"]);
    for r in v["rows"].as_array().unwrap() {
        let theme = r["theme"].as_str().unwrap();
        assert_eq!(r["cases"], truth["cases"]);
        assert_eq!(r["cases_with_theme"], truth["themes"][theme], "{theme}");
    }
    // The planted outliers (delay at 45% against about 20%) are flagged high.
    let f = measure_json(d, &["funnel", "--theme", "delay"]);
    for org in truth["outlier_organisations"].as_array().unwrap() {
        let row = f["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| &r["label"] == org)
            .unwrap();
        assert!(
            row["significance"].as_str().unwrap().starts_with("high"),
            "{org}: {row}"
        );
    }
    // The planted step: unfollowed alerts double from January 2022, so the months after
    // it are special cause concern (tolerance: at least 20 of the 24 months).
    let s = measure_json(d, &["spc", "--theme", "unfollowed_alert"]);
    let after: Vec<&Value> = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["period"].as_str().unwrap() >= "2022-01-01")
        .collect();
    let concern = after
        .iter()
        .filter(|r| r["variation"] == "special cause concern")
        .count();
    assert!(
        after.len() >= 24 && concern >= 20,
        "{concern} of {} months flagged",
        after.len()
    );
}

/// More bad rows than cases: every bad row is still exactly one reject of its kind, and
/// the valid cases are exactly the planted ones (duplicates repeat existing cases).
#[test]
fn more_bad_rows_than_cases_still_match_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &[
            "generate", "--cases", "3", "--seed", "2", "--bad", "5", "--out", "g",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("g/truth.json")).unwrap()).unwrap();
    assert_eq!(truth["bad_rows"]["duplicate_case_id"], 5);
    let out = casework(d, &["validate", "g", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["cases"]["stored"], 3, "{s}");
    let rules = s["rules"].as_array().unwrap();
    for (rule, n) in truth["bad_rows"].as_object().unwrap() {
        let got = rules
            .iter()
            .find(|r| r["rule"] == rule.as_str())
            .map(|r| &r["count"]);
        assert_eq!(got, Some(n), "{rule}: {s}");
    }
    let none = casework(d, &["generate", "--cases", "0", "--bad", "1", "--out", "h"]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
}
