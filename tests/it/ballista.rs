//! `--engine ballista` (cargo feature `ballista`): the same measures on Apache DataFusion
//! Ballista, standalone (scheduler and executor in this process), give the same answers
//! as the local engine, and the planted truth of a generated bundle.
//!
//! Not in the default build: `bench/ballista.sh` builds the feature and runs this file.
#![cfg(feature = "ballista")]

use crate::common::*;
use serde_json::Value;

/// The shipped measures (`casework measure --list`).
const MEASURES: [&str; 10] = [
    "theme_prevalence",
    "theme_cooccurrence",
    "theme_breakdown",
    "delay_intervals",
    "delay_coded_vs_measured",
    "recommendations",
    "financial_remedies",
    "learning",
    "organisation_profile",
    "monthly_series",
];

/// A measure's rows on one engine. A plan Ballista never finishes fails the test after
/// five minutes (a debug build), rather than hanging it.
fn rows(d: &std::path::Path, measure: &str, engine: &str) -> Value {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_casework"))
        .args([
            "measure",
            measure,
            "--as-of",
            "2024-01-01",
            "--engine",
            engine,
            "--format",
            "json",
        ])
        .current_dir(d)
        .env_remove("CASEWORK_WAREHOUSE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_at_most(child, std::time::Duration::from_secs(300));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{measure} {engine}: {}",
        stderr(&out)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["rows"].clone()
}

/// Every measure's rows under both engines, over the same warehouse.
fn both(d: &std::path::Path, measure: &str) -> (Value, Value) {
    (rows(d, measure, "local"), rows(d, measure, "ballista"))
}

#[test]
fn ballista_standalone_gives_the_local_answers_and_the_planted_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &["generate", "--cases", "3000", "--seed", "11", "--out", "g"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = casework(d, &["ingest", "g", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("g/truth.json")).unwrap()).unwrap();

    // Every measure, row for row.
    for measure in MEASURES {
        let (local, ballista) = both(d, measure);
        assert_eq!(local, ballista, "{measure}");
    }
    // And the planted counts, from Ballista alone.
    let v = measure_json(d, &["theme_prevalence", "--engine", "ballista"]);
    for r in v["rows"].as_array().unwrap() {
        let theme = r["theme"].as_str().unwrap();
        assert_eq!(r["cases"], truth["cases"]);
        assert_eq!(r["cases_with_theme"], truth["themes"][theme], "{theme}");
    }
    // A scope is applied on Ballista too (typed filters in the shipped plan).
    let scoped = |engine: &str| {
        measure_json(
            d,
            &[
                "theme_prevalence",
                "--from",
                "2022-01-01",
                "--to",
                "2022-12-31",
                "--engine",
                engine,
            ],
        )["rows"]
            .clone()
    };
    assert_eq!(scoped("local"), scoped("ballista"));
}

/// The example: small, and some inputs empty (no learning reviews), which is where
/// Ballista once hung (see queries/learning.sql).
#[test]
fn every_measure_runs_on_ballista_with_the_local_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    example_warehouse(d);
    for measure in MEASURES {
        let (local, ballista) = both(d, measure);
        assert_eq!(local, ballista, "{measure}");
    }
}

/// A warehouse with no events (a study of complaints without them): the delay
/// measures' intervals are empty, and `delay_intervals` takes its percentiles through a
/// window over them, which Ballista 55 never finishes over an empty shuffled input
/// (casework answers it without running the query; pipeline/measures/mod.rs). Both
/// delay measures finish, with the local answers (no intervals).
#[test]
fn the_delay_measures_finish_on_ballista_without_events() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = copy_example(d, "no-events");
    let events = std::fs::read_to_string(b.join("events.csv")).unwrap();
    let header = events.lines().next().unwrap();
    std::fs::write(b.join("events.csv"), format!("{header}\n")).unwrap();
    let o = casework(d, &["ingest", "no-events", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for measure in ["delay_intervals", "delay_coded_vs_measured"] {
        let (local, ballista) = both(d, measure);
        assert_eq!(local, ballista, "{measure}");
        if measure == "delay_intervals" {
            assert_eq!(local, Value::Array(vec![]), "no events, no intervals");
        }
    }
}
