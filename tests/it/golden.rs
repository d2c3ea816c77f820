//! Golden outputs (issue 14): what casework writes for fixed inputs, byte for byte, so
//! that a change meant to change no output (a refactor) is seen to change none.
//!
//! For the example bundle and a generated bundle (fixed seed): every measure's JSON,
//! funnel and SPC outputs, the report's `summary.json`, `report.md` and `tables/*.csv`,
//! each also as published (`--publish`); for a generated bundle
//! with every kind of bad row: the rejects file and the validation summary (JSON). The
//! expected files are in `tests/golden/`. Only what changes from run to run is masked:
//! the temporary folder, today's date and casework's version.
//!
//! When an output is meant to change, write the new expectation with
//! `CASEWORK_GOLDEN=update cargo test --locked --test it golden` and review the diff of
//! `tests/golden/` before committing it: the test then still fails once, saying that it
//! wrote the files, so that an update never passes by itself.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

const AS_OF: &str = "2025-06-30";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Masks what differs between runs: the temporary folder, today's date (the date when
/// the capture started and now, should it have crossed midnight), the version.
fn mask(text: &str, tmp: &Path, started: &str) -> String {
    let today = chrono::Utc::now().date_naive().to_string();
    let tmp = tmp.display().to_string();
    let masked = mask_dates(text, &tmp, started, &today);
    // The time of day after a masked date (a rejects file's run: `<today>T04:02:11Z`).
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    while let Some(at) = rest.find("<today>T") {
        let (head, tail) = rest.split_at(at + "<today>T".len());
        out.push_str(head);
        let time = tail.get(..9).unwrap_or("");
        let is_time = time.len() == 9
            && time.ends_with('Z')
            && time[..8].char_indices().all(|(i, c)| {
                if i % 3 == 2 {
                    c == ':'
                } else {
                    c.is_ascii_digit()
                }
            });
        if is_time {
            out.push_str("<time>Z");
            rest = &tail[9..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn mask_dates(text: &str, tmp: &str, started: &str, today: &str) -> String {
    text.replace(tmp, "<tmp>")
        .replace(started, "<today>")
        .replace(today, "<today>")
        .replace(
            concat!("casework ", env!("CARGO_PKG_VERSION")),
            "casework <version>",
        )
        .replace(
            concat!("\"casework_version\": \"", env!("CARGO_PKG_VERSION"), "\""),
            "\"casework_version\": \"<version>\"",
        )
}

fn ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = casework(dir, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "casework {args:?}: {}",
        stderr(&out)
    );
    out
}

/// Ingests `bundle` and captures the measures and the report as (name, text) pairs.
fn capture_bundle(dir: &Path, bundle: &str) -> Vec<(String, String)> {
    let wh = dir.join("warehouse");
    let wh = wh.to_str().unwrap();
    ok(dir, &["ingest", bundle, "--warehouse", wh, "-q"]);
    let mut files = Vec::new();
    let m = ok(
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
    );
    files.push(("measures.json".to_string(), stdout(&m)));
    let m = ok(
        dir,
        &[
            "measure",
            "--warehouse",
            wh,
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--publish",
        ],
    );
    files.push(("published/measures.json".to_string(), stdout(&m)));
    for (theme, publish) in [
        ("delay", false),
        ("delay", true),
        ("unfollowed_alert", false),
    ] {
        for what in ["funnel", "spc"] {
            let mut args = vec![
                "measure",
                what,
                "--theme",
                theme,
                "--warehouse",
                wh,
                "--as-of",
                AS_OF,
                "--format",
                "json",
            ];
            if publish {
                args.push("--publish");
            }
            let out = casework(dir, &args);
            let stem = if publish { "published/" } else { "" };
            let text = match out.status.code() {
                Some(0) => stdout(&out),
                code => format!("exit {code:?}: {}", stderr(&out)),
            };
            files.push((format!("{stem}{what}-{theme}.json"), text));
        }
    }
    for (folder, publish) in [("", false), ("published/", true)] {
        let report = dir.join(format!("report{}", folder.trim_end_matches('/')));
        let mut args = vec![
            "report",
            "--warehouse",
            wh,
            "--as-of",
            AS_OF,
            "--out",
            report.to_str().unwrap(),
            "--format",
            "json",
        ];
        if publish {
            args.push("--publish");
        }
        ok(dir, &args);
        for name in ["summary.json", "report.md"] {
            let text = fs::read_to_string(report.join(name)).unwrap();
            files.push((format!("{folder}{name}"), text));
        }
        let mut tables: Vec<PathBuf> = fs::read_dir(report.join("tables"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        tables.sort();
        for t in tables {
            let name = format!(
                "{folder}tables/{}",
                t.file_name().unwrap().to_string_lossy()
            );
            files.push((name, fs::read_to_string(&t).unwrap()));
        }
    }
    files
}

fn capture_rejects(dir: &Path) -> Vec<(String, String)> {
    ok(
        dir,
        &[
            "generate", "--cases", "300", "--seed", "3", "--bad", "2", "--out", "bad",
        ],
    );
    let out = casework(
        dir,
        &[
            "validate",
            "bad",
            "--rejects",
            "rejects.csv",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    vec![
        ("validate.json".to_string(), stdout(&out)),
        (
            "rejects.csv".to_string(),
            fs::read_to_string(dir.join("rejects.csv")).unwrap(),
        ),
    ]
}

#[test]
fn outputs_equal_the_golden_capture() {
    let update = std::env::var("CASEWORK_GOLDEN").is_ok_and(|v| v == "update");
    let mut captured: Vec<(String, String)> = Vec::new();
    let started = chrono::Utc::now().date_naive().to_string();
    for (case, how) in [
        ("example", "example"),
        ("generated", "generated"),
        ("rejects", "rejects"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let files = match how {
            "example" => capture_bundle(dir, EXAMPLE),
            "generated" => {
                ok(
                    dir,
                    &["generate", "--cases", "2000", "--seed", "5", "--out", "gen"],
                );
                capture_bundle(dir, "gen")
            }
            _ => capture_rejects(dir),
        };
        for (name, text) in files {
            captured.push((format!("{case}/{name}"), mask(&text, dir, &started)));
        }
    }
    let root = golden_dir();
    if update {
        let _ = fs::remove_dir_all(&root);
        for (name, text) in &captured {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
        }
        panic!(
            "CASEWORK_GOLDEN=update: wrote {} files under tests/golden/; review the diff, \
             then run the test again without it",
            captured.len()
        );
    }
    let mut differ = Vec::new();
    for (name, text) in &captured {
        match fs::read_to_string(root.join(name)) {
            Ok(want) if &want == text => {}
            Ok(want) => {
                let line = want
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| want.lines().count().min(text.lines().count()));
                differ.push(format!(
                    "{name}: differs from line {}\n  golden: {}\n  now:    {}",
                    line + 1,
                    want.lines().nth(line).unwrap_or("(end)"),
                    text.lines().nth(line).unwrap_or("(end)")
                ));
            }
            Err(_) => differ.push(format!("{name}: no golden file")),
        }
    }
    let expected = walk(&root);
    for name in expected {
        if !captured.iter().any(|(n, _)| *n == name) {
            differ.push(format!("{name}: golden file no longer produced"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} outputs differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

/// Files under `root`, relative, with `/`.
fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}
