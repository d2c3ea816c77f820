//! Assisted coding (issue 35): `casework suggest` on a bundle whose text carries planted
//! codes. Its model is deterministic for a seed; its codes go to `codings` as one more
//! coder and never into `findings` or any figure; its agreement with a person equals
//! Cohen's kappa computed here from the codings themselves; `ingest --no-text` stores
//! no text; a mapping reads a text column, and an export without one still ingests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

/// The words that carry each code, and words every text may hold.
const SIGNALS: [(&str, &[&str]); 3] = [
    ("DL3", &["delayed", "report", "weeks", "waiting", "backlog"]),
    ("FA1", &["alert", "ignored", "flagged", "nobody", "acted"]),
    ("UF1", &["missed", "mass", "scan", "overlooked", "shadow"]),
];
const NOISE: [&str; 12] = [
    "the", "patient", "hospital", "was", "told", "my", "mother", "doctor", "after", "visit",
    "ward", "nurse",
];

/// 180 coded cases (each with one or two of the three codes, its text holding three of
/// each code's words among noise), 40 uncoded cases with text, 10 coded cases without
/// text; the first 60 coded cases double-coded by alice (who agrees with the findings)
/// and bob (who drops the second code of a case and adds FA1 to every seventh).
/// Deterministic; rows in a shuffled order.
fn planted(dir: &Path) -> PathBuf {
    let mut state = 7u64;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut cases = vec!["case_id,source,organisation_code,opened_date,narrative".to_string()];
    let mut findings = vec!["case_id,code".to_string()];
    let mut codings = vec!["case_id,coder,code".to_string()];
    for i in 0..230u64 {
        let id = format!("c{:03}", (i * 37) % 230);
        let coded = !(180..220).contains(&i);
        let mut codes: Vec<&str> = Vec::new();
        if coded {
            codes.push(SIGNALS[(i % 3) as usize].0);
            if i % 4 == 0 {
                codes.push(SIGNALS[((i + 1) % 3) as usize].0);
            }
        }
        let mut words: Vec<String> = (0..8)
            .map(|_| NOISE[next(12) as usize].to_string())
            .collect();
        let shown: Vec<&str> = if coded {
            codes.clone()
        } else {
            vec![SIGNALS[(i % 3) as usize].0]
        };
        for code in &shown {
            let signal = SIGNALS.iter().find(|s| s.0 == *code).unwrap().1;
            for _ in 0..3 {
                words.push(signal[next(5) as usize].to_string());
            }
        }
        // Punctuation, quotes, and a line break with a row's worth of commas (as real
        // narratives have); the text never names its code.
        let text = format!(
            "\"{}.\nNothing, then, \"\"more\"\", and, so, on.\"",
            words.join(" ")
        );
        let text = if i >= 220 { String::new() } else { text };
        cases.push(format!(
            "{id},ombudsman_complaint,ORG{},2023-0{}-15,{text}",
            i % 4,
            1 + i % 9
        ));
        for code in &codes {
            findings.push(format!("{id},{code}"));
        }
        if coded && i < 60 {
            for code in &codes {
                codings.push(format!("{id},alice,{code}"));
            }
            codings.push(format!("{id},bob,{}", codes[0]));
            if i % 7 == 0 && !codes.contains(&"FA1") {
                codings.push(format!("{id},bob,FA1"));
            }
        }
    }
    let shuffle = |rows: &mut Vec<String>| {
        let head = rows.remove(0);
        rows.reverse();
        let third = rows.len() / 3;
        rows.rotate_left(third);
        rows.insert(0, head);
    };
    shuffle(&mut cases);
    shuffle(&mut findings);
    shuffle(&mut codings);
    let b = dir.join("planted");
    fs::create_dir_all(&b).unwrap();
    fs::write(b.join("cases.csv"), cases.join("\n") + "\n").unwrap();
    fs::write(b.join("findings.csv"), findings.join("\n") + "\n").unwrap();
    fs::write(b.join("codings.csv"), codings.join("\n") + "\n").unwrap();
    b
}

fn ingest(d: &Path, extra: &[&str]) {
    let b = planted(d);
    let mut args = vec!["ingest", b.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    let out = casework(d, &args);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn query_rows(d: &Path, sql: &str) -> Vec<BTreeMap<String, String>> {
    let out = casework(d, &["query", "--format", "csv", sql]);
    assert!(out.status.success(), "{sql}: {}", stderr(&out));
    let mut r = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn model_name(out: &Path) -> String {
    let files: Vec<String> = fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|f| f.starts_with("model-") && f.ends_with(".cwm"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0]["model-".len()..files[0].len() - 4].to_string()
}

#[test]
fn training_is_deterministic_for_a_seed_and_finds_the_planted_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ingest(d, &[]);
    for out in ["one", "two"] {
        let o = casework(d, &["suggest", "--out", out, "--folds", "3"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = casework(
        d,
        &["suggest", "--out", "three", "--folds", "3", "--seed", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (one, two) = (model_name(&d.join("one")), model_name(&d.join("two")));
    assert_eq!(one, two, "the same seed and data gave two models");
    for f in [
        "validation.csv",
        "calibration.csv",
        "folds.csv",
        "queue.csv",
        "suggestions.csv",
    ] {
        assert_eq!(
            fs::read(d.join("one").join(f)).unwrap(),
            fs::read(d.join("two").join(f)).unwrap(),
            "{f} differs between two runs of one seed"
        );
    }
    assert_ne!(
        fs::read(d.join("one/folds.csv")).unwrap(),
        fs::read(d.join("three/folds.csv")).unwrap(),
        "another seed gave the same folds"
    );
    // The validation against the hand count: positives per code among the 180 coded
    // cases with text (i < 180: i % 3 picks the first code, i % 4 == 0 adds the next).
    let mut positives: BTreeMap<&str, u64> = BTreeMap::new();
    for i in 0..180u64 {
        *positives.entry(SIGNALS[(i % 3) as usize].0).or_default() += 1;
        if i % 4 == 0 {
            *positives
                .entry(SIGNALS[((i + 1) % 3) as usize].0)
                .or_default() += 1;
        }
    }
    let mut r = csv::Reader::from_path(d.join("one/validation.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut seen = 0;
    let mut themes_seen = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        let label = rec.get(col("label")).unwrap().to_string();
        // Each theme's row follows the codes: its cases are those with one of its codes
        // (here one code each: DL3 delay, FA1 unfollowed_alert, UF1 unreported_finding).
        if rec.get(col("level")) == Some("theme") {
            let code = match label.as_str() {
                "delay" => "DL3",
                "unfollowed_alert" => "FA1",
                "unreported_finding" => "UF1",
                _ => {
                    assert_eq!(rec.get(col("positives")), Some("0"), "{label}");
                    continue;
                }
            };
            assert_eq!(
                rec.get(col("positives")).unwrap(),
                positives[code].to_string(),
                "{label}"
            );
            assert_eq!(
                rec.get(col("threshold")),
                Some(""),
                "{label}: a theme has no threshold"
            );
            themes_seen += 1;
            continue;
        }
        if let Some(&n) = positives.get(label.as_str()) {
            assert_eq!(rec.get(col("positives")).unwrap(), n.to_string(), "{label}");
            assert_eq!(rec.get(col("cases")).unwrap(), "180", "{label}");
            let f1: f64 = rec.get(col("f1")).unwrap().parse().unwrap();
            assert!(
                f1 > 0.85,
                "{label}: cross-validated F1 {f1} on planted words"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
    assert_eq!(themes_seen, 3);
    // The 40 uncoded cases with text are suggested for and queued; no coded case is.
    let queue = fs::read_to_string(d.join("one/queue.csv")).unwrap();
    assert_eq!(queue.lines().count(), 41, "{queue}");
    for line in queue.lines().skip(1) {
        let id = line.split(',').nth(1).unwrap();
        let n: u64 = id[1..].parse().unwrap();
        let i = (0..230u64).find(|i| (i * 37) % 230 == n).unwrap();
        assert!((180..220).contains(&i), "coded case {id} in the queue");
    }
}

/// Cohen's kappa of two coders on one code, over the cases both coded: yes when the
/// coder gave the code to the case.
fn kappa(a: &BTreeSet<String>, b: &BTreeSet<String>, cases: &BTreeSet<String>) -> f64 {
    let n = cases.len() as f64;
    let (mut both, mut only_a, mut only_b) = (0.0, 0.0, 0.0);
    for c in cases {
        match (a.contains(c), b.contains(c)) {
            (true, true) => both += 1.0,
            (true, false) => only_a += 1.0,
            (false, true) => only_b += 1.0,
            _ => {}
        }
    }
    let neither = n - both - only_a - only_b;
    let po = (both + neither) / n;
    let (ya, yb) = ((both + only_a) / n, (both + only_b) / n);
    let pe = ya * yb + (1.0 - ya) * (1.0 - yb);
    (po - pe) / (1.0 - pe)
}

#[test]
fn model_codes_are_one_more_coder_and_never_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ingest(d, &[]);
    let before = measure_json(d, &["theme_prevalence", "organisation_profile"]);
    let findings_before = query_rows(d, "SELECT count(*) AS n FROM findings");
    let o = casework(d, &["suggest", "--out", "s", "--folds", "3", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let coder = format!("model:{}", model_name(&d.join("s")));
    // Not a finding: the findings and every figure are as before.
    assert_eq!(
        query_rows(d, "SELECT count(*) AS n FROM findings"),
        findings_before
    );
    assert_eq!(
        measure_json(d, &["theme_prevalence", "organisation_profile"]),
        before
    );
    // One more coder: a row for every case with text (coded or not), none for the ten
    // coded cases without text.
    let rows = query_rows(
        d,
        &format!("SELECT DISTINCT case_id FROM codings WHERE coder = '{coder}'"),
    );
    assert_eq!(rows.len(), 220);
    // Writing the same model twice is refused.
    let file = d
        .join("s")
        .join(format!("model-{}.cwm", &coder["model:".len()..]));
    let again = casework(
        d,
        &[
            "suggest",
            "--out",
            "s2",
            "--model",
            file.to_str().unwrap(),
            "--write",
        ],
    );
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already hold"),
        "{}",
        stderr(&again)
    );
    // Its agreement with alice, as `casework agreement` gives it, against kappa computed
    // here from the codings.
    let all = query_rows(
        d,
        "SELECT case_id, coder, CAST(code AS VARCHAR) AS code FROM codings",
    );
    let cases_of = |who: &str| -> BTreeSet<String> {
        all.iter()
            .filter(|r| r["coder"] == who)
            .map(|r| r["case_id"].clone())
            .collect()
    };
    let both: BTreeSet<String> = cases_of("alice")
        .intersection(&cases_of(&coder))
        .cloned()
        .collect();
    assert_eq!(both.len(), 60);
    let out = casework(
        d,
        &[
            "agreement",
            "--coder",
            &coder,
            "--coder",
            "alice",
            "--level",
            "code",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json["rows"].as_array().expect("rows");
    let mut checked = 0;
    for (code, _) in SIGNALS {
        let given = |who: &str| -> BTreeSet<String> {
            all.iter()
                .filter(|r| r["coder"] == who && r["code"] == code)
                .map(|r| r["case_id"].clone())
                .collect()
        };
        let expect = kappa(&given(&coder), &given("alice"), &both);
        let row = rows.iter().find(|r| r["item"] == code).expect(code);
        assert_eq!(row["cases"].as_u64(), Some(60), "{row}");
        let got = row["kappa"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (got - expect).abs() < 5e-3,
            "{code}: casework {got}, here {expect}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
    // The report names the model among the coders, says how it was trained and that no
    // figure counts its codes; its figures are the findings' (as before).
    let o = casework(d, &["report", "--out", "rep"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = fs::read_to_string(d.join("rep/report.md")).unwrap();
    for expect in [
        coder.as_str(),
        "a model, not a person",
        "no figure in this report counts them as findings",
        "How it was trained and validated",
        "3-fold cross-validation by case",
    ] {
        assert!(md.contains(expect), "report.md lacks {expect:?}");
    }
    refused(
        d,
        &["agreement", "--coder", "carol", "--coder", "alice"],
        "no such coder",
    );
    // A stage would make a coded case look uncoded: refused.
    refused(
        d,
        &["suggest", "--stage", "reporting"],
        "--stage has no place in suggest",
    );
}

#[test]
fn no_text_stores_no_text_and_suggest_says_why_it_cannot_train() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ingest(d, &["--no-text"]);
    let n = query_rows(
        d,
        "SELECT count(narrative) AS n, count(*) AS cases FROM cases",
    );
    assert_eq!(n[0]["n"], "0");
    assert_eq!(n[0]["cases"], "230");
    let o = casework(d, &["suggest"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only 0 coded cases have text"),
        "{}",
        stderr(&o)
    );
    // No text anywhere in the warehouse's files.
    for f in all_files(&d.join("warehouse")) {
        assert!(
            !contains(&fs::read(&f).unwrap(), b"overlooked"),
            "{} holds text",
            f.display()
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The CFPB sample the tests carry (tests/data, a copy of ../shared/datasets' with its
/// SOURCE.txt).
fn cfpb() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cfpb-complaints-sample/complaints_sample.csv")
}

#[test]
fn a_mapping_reads_the_text_column_and_an_export_without_it_still_ingests() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mappings/cfpb-complaints.toml");
    let export = cfpb();
    assert!(export.is_file(), "{} is missing", export.display());
    let o = casework(
        d,
        &[
            "ingest",
            "--mapping",
            mapping.to_str().unwrap(),
            export.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // SOURCE.txt: "1,532 rows have a narrative".
    let n = query_rows(d, "SELECT count(narrative) AS n FROM cases");
    assert_eq!(n[0]["n"], "1532");
    // The same export without the narrative column.
    let mut r = csv::Reader::from_path(&export).unwrap();
    let header = r.headers().unwrap().clone();
    let drop = header
        .iter()
        .position(|h| h == "Consumer complaint narrative")
        .unwrap();
    let cut = d.join("no-narrative.csv");
    let mut w = csv::Writer::from_path(&cut).unwrap();
    w.write_record(
        header
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, h)| h),
    )
    .unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        w.write_record(
            rec.iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, v)| v),
        )
        .unwrap();
    }
    w.flush().unwrap();
    let o = casework(
        d,
        &[
            "ingest",
            "--mapping",
            mapping.to_str().unwrap(),
            cut.to_str().unwrap(),
            "--warehouse",
            "cut",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = casework(
        d,
        &[
            "query",
            "--warehouse",
            "cut",
            "--format",
            "csv",
            "SELECT count(narrative) AS n, count(*) AS c FROM cases",
        ],
    );
    assert_eq!(
        stdout(&out).lines().nth(1),
        Some("0,6623"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn serve_shows_a_case_s_suggestions_beside_its_codes_but_never_its_text_or_under_publish() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ingest(d, &[]);
    let o = casework(d, &["suggest", "--out", "s", "--folds", "3", "--write"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let coder = format!("model:{}", model_name(&d.join("s")));
    let server = crate::serve::Server::start(d, &[]);
    // c000 is case i = 0: coded DL3 and FA1 (i % 4 == 0), double-coded by alice and bob.
    let (status, _, body) = server.get("/case/c000", &[]);
    let page = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 200, "{page}");
    for expect in [coder.as_str(), "(model)", "alice", "bob", "DL3", "FA1"] {
        assert!(
            page.contains(expect),
            "the case page lacks {expect:?}: {page}"
        );
    }
    for word in ["Nothing, then", "overlooked", "backlog", "ignored"] {
        assert!(
            !page.contains(word),
            "the case page shows the case's text ({word:?})"
        );
    }
    let (status, _, _) = server.get("/case/no-such-case", &[]);
    assert_eq!(status, 404);
    drop(server);
    let published = crate::serve::Server::start(d, &["--publish"]);
    let (status, _, body) = published.get("/case/c000", &[]);
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
}
