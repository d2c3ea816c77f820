//! Funnel plots, SPC charts and disclosure control through the real binary, on bundles
//! with planted outliers and a planted step change.

use std::fs;
use std::path::Path;

use crate::common::*;
use serde_json::Value;

/// A small deterministic generator (64-bit LCG, Knuth's constants), so that the planted
/// data is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 40 organisations of 200 cases over 36 months (2019-01 to 2021-12). Delay is planted
/// at 20% everywhere except ORG-HI1 and ORG-HI2 (45%) and ORG-LO (2%). A step is
/// planted in unfollowed_alert: 10% of cases before July 2020, 30% from then on.
fn planted_bundle(dir: &Path) -> std::path::PathBuf {
    let b = dir.join("planted");
    fs::create_dir_all(&b).unwrap();
    let mut rng = Lcg(20261127);
    let mut cases = String::from("case_id,source,organisation_code,region,opened_date\n");
    let mut findings = String::from("case_id,code\n");
    let mut i = 0;
    for org in 0..40 {
        let (code, rate) = match org {
            0 => ("ORG-HI1".to_string(), 0.45),
            1 => ("ORG-HI2".to_string(), 0.45),
            2 => ("ORG-LO".to_string(), 0.02),
            n => (format!("ORG-{n:02}"), 0.20),
        };
        for k in 0..200 {
            let month = (k * 36 / 200) as u32; // 0..36, spread evenly
            let (year, m) = (2019 + month / 12, 1 + month % 12);
            let region = ["North", "South", "East", "West"][org % 4];
            cases.push_str(&format!(
                "c{i},ombudsman_complaint,{code},{region},{year}-{m:02}-10\n"
            ));
            if rng.next() < rate {
                findings.push_str(&format!("c{i},DL3\n"));
            }
            let alert_rate = if month < 18 { 0.10 } else { 0.30 };
            if rng.next() < alert_rate {
                findings.push_str(&format!("c{i},FA1\n"));
            }
            i += 1;
        }
    }
    fs::write(b.join("cases.csv"), cases).unwrap();
    fs::write(b.join("findings.csv"), findings).unwrap();
    b
}

#[test]
fn funnel_flags_the_planted_organisations_and_spc_the_planted_step() {
    let tmp = tempfile::tempdir().unwrap();
    let b = planted_bundle(tmp.path());
    assert_eq!(
        casework(tmp.path(), &["ingest", b.to_str().unwrap(), "-q"])
            .status
            .code(),
        Some(0)
    );

    let f = measure_json(tmp.path(), &["funnel", "--theme", "delay"]);
    assert_eq!(f["rows"].as_array().unwrap().len(), 40);
    let sig = |org: &str| {
        f["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["label"] == org)
            .unwrap()["significance"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Planted at 45% and 2% against about 21%, with 200 cases each: far outside the
    // 99.8% limits (about ±0.09 at n = 200).
    assert_eq!(sig("ORG-HI1"), "high (0.001)");
    assert_eq!(sig("ORG-HI2"), "high (0.001)");
    assert_eq!(sig("ORG-LO"), "low (0.001)");
    // Tolerance: an organisation planted at the average falls outside the 99.8% limits
    // with probability 0.002, so of 37 at most one is allowed there by chance.
    let false_alarms = f["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !["ORG-HI1", "ORG-HI2", "ORG-LO"].contains(&r["label"].as_str().unwrap()))
        .filter(|r| r["significance"].as_str().unwrap().ends_with("(0.001)"))
        .count();
    assert!(
        false_alarms <= 1,
        "{false_alarms} unplanted organisations beyond 99.8%"
    );
    let curve = f["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 101);
    let av = f["average"].as_f64().unwrap();
    assert!((0.19..0.25).contains(&av), "{av}");
    // By region: four regions of ten organisations.
    let r = measure_json(
        tmp.path(),
        &["funnel", "--theme", "delay", "--by", "region"],
    );
    assert_eq!(r["rows"].as_array().unwrap().len(), 4);
    assert_eq!(r["rows"][0]["denominator"], 2000);

    // The step: unfollowed alerts in about 10% of each month's 222 cases, then 30%.
    let s = measure_json(tmp.path(), &["spc", "--theme", "unfollowed_alert"]);
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 36);
    assert_eq!(s["improvement"], "decrease");
    let concern: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r["variation"] == "special cause concern")
        .map(|(i, _)| i)
        .collect();
    // Tolerance: every month after the step is above the mean (counts near 67 against a
    // mean near 44, with a standard deviation near 6), so all 18 are flagged as a shift;
    // none before it is a concern.
    assert_eq!(concern, (18..36).collect::<Vec<_>>());
    assert!(
        rows[..18]
            .iter()
            .all(|r| r["variation"] == "special cause improvement")
    );
    // Rebased at the step, each half is in control.
    let s = measure_json(
        tmp.path(),
        &[
            "spc",
            "--theme",
            "unfollowed_alert",
            "--rebase",
            "2020-07-01",
        ],
    );
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows[17]["segment"], 0);
    assert_eq!(rows[18]["segment"], 1);
    let special = rows
        .iter()
        .filter(|r| r["variation"] != "common cause")
        .count();
    assert!(
        special <= 3,
        "{special} special-cause points after rebasing"
    );
    // Quarters and proportions.
    let q = measure_json(
        tmp.path(),
        &[
            "spc",
            "--theme",
            "unfollowed_alert",
            "--per",
            "quarter",
            "--value",
            "proportion",
        ],
    );
    assert_eq!(q["rows"].as_array().unwrap().len(), 12);
    assert_eq!(q["rows"][0]["period"], "2019-01-01");
}

#[test]
fn publish_applies_disclosure_control_to_every_count() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let v = measure_json(tmp.path(), &["theme_prevalence", "--publish"]);
    assert!(
        v["disclosure"]
            .as_str()
            .unwrap()
            .contains("rounded to the nearest 5")
    );
    for r in v["rows"].as_array().unwrap() {
        // 14 cases publish as 15; 5 and 6 cases with a theme are suppressed.
        assert_eq!(r["cases"], 15);
        assert_eq!(r["cases_with_theme"], "*");
        for k in [
            "proportion",
            "ci95_low",
            "ci95_high",
            "ci998_low",
            "ci998_high",
            "phrase",
        ] {
            assert_eq!(r[k], "*", "{k}");
        }
    }
    // The planted bundle: 8,000 cases publish as 8000; rounded numerators give the
    // proportion from the rounded figures.
    let b = planted_bundle(tmp.path());
    assert_eq!(
        casework(
            tmp.path(),
            &["ingest", b.to_str().unwrap(), "--warehouse", "p", "-q"]
        )
        .status
        .code(),
        Some(0)
    );
    let v = measure_json(
        tmp.path(),
        &["theme_prevalence", "--publish", "--warehouse", "p"],
    );
    let delay = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["theme"] == "delay")
        .unwrap();
    let x = delay["cases_with_theme"].as_u64().unwrap();
    assert_eq!(x % 5, 0);
    assert_eq!(delay["proportion"].as_f64().unwrap(), x as f64 / 8000.0);
    let f = measure_json(
        tmp.path(),
        &[
            "funnel",
            "--theme",
            "delay",
            "--publish",
            "--warehouse",
            "p",
        ],
    );
    assert!(
        f["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["denominator"] == 200)
    );
    // The table output states the rule too.
    let out = casework(tmp.path(), &["measure", "recommendations", "--publish"]);
    assert!(
        stdout(&out).contains(
            "NHS statistical disclosure control: the published figures are one fixed set"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn spc_and_funnel_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    example_warehouse(tmp.path());
    let out = casework(
        tmp.path(),
        &["measure", "spc", "--theme", "delay", "--from", "2019-01-01"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("an SPC chart needs at least 12 points; this series has 1"),
        "{}",
        stderr(&out)
    );
    let out = casework(tmp.path(), &["measure", "funnel", "--theme", "delays"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown theme \"delays\"; the code list's themes are: unreported_finding, unfollowed_alert, delay, unlearned_lesson"));
    let out = casework(tmp.path(), &["measure", "funnel"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("funnel and spc need --theme THEME"));
}

/// Keeps one case in twenty of the last two months of a generated bundle (and only
/// their rows in every file): an export cut short, as the last months of a real one are.
fn thin_the_last_two_months(dir: &std::path::Path) {
    use std::collections::HashSet;
    let cases = fs::read_to_string(dir.join("cases.csv")).unwrap();
    let mut lines = cases.lines();
    let header = lines.next().unwrap().to_string();
    let opened = header.split(',').position(|h| h == "opened_date").unwrap();
    let rows: Vec<&str> = lines.collect();
    let month = |r: &str| r.split(',').nth(opened).unwrap()[..7].to_string();
    let mut months: Vec<String> = rows.iter().map(|r| month(r)).collect();
    months.sort();
    months.dedup();
    let last_two: Vec<String> = months[months.len() - 2..].to_vec();
    let mut dropped: HashSet<String> = HashSet::new();
    for (i, r) in rows.iter().enumerate() {
        if last_two.contains(&month(r)) && i % 20 != 0 {
            dropped.insert(r.split(',').next().unwrap().to_string());
        }
    }
    for f in [
        "cases.csv",
        "findings.csv",
        "events.csv",
        "recommendations.csv",
        "codings.csv",
    ] {
        let text = fs::read_to_string(dir.join(f)).unwrap();
        let mut out = String::new();
        for (n, line) in text.lines().enumerate() {
            if n == 0 || !dropped.contains(line.split(',').next().unwrap()) {
                out.push_str(line);
                out.push('\n');
            }
        }
        fs::write(dir.join(f), out).unwrap();
    }
}

/// An export whose last two months hold 5% of the usual volume: those months are
/// incomplete (hollow, outside the rules) and flag no special cause, though their counts
/// lie far below the lower limit. An outcome theme whose rate rises, in a study that says
/// higher is better, is coloured as improvement.
#[test]
fn spc_leaves_incomplete_months_out_and_follows_the_study_direction() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &["generate", "--cases", "6000", "--seed", "4", "--out", "g"],
    );
    assert_eq!(o.status.code(), Some(0));
    thin_the_last_two_months(&d.join("g"));
    let o = casework(d, &["ingest", "g", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spc = measure_json(d, &["spc", "--theme", "unreported_finding"]);
    let rows = spc["rows"].as_array().unwrap();
    let (body, tail) = rows.split_at(rows.len() - 2);
    for r in tail {
        assert_eq!(r["complete"], false, "{r}");
        assert_eq!(r["variation"], "common cause", "{r}");
        assert!(
            r["value"].as_f64().unwrap() < r["lower_limit"].as_f64().unwrap(),
            "{r}"
        );
    }
    assert!(body.iter().all(|r| r["complete"] == true));
    assert!(
        spc["incomplete_rule"]
            .as_str()
            .unwrap()
            .contains("half the median")
    );

    // The planted step doubles unfollowed alerts from January 2022: a rise.
    let rising = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["spc", "--theme", "unfollowed_alert"];
        args.extend_from_slice(extra);
        let spc = measure_json(d, &args);
        spc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["period"].as_str().unwrap() >= "2022-06-01" && r["complete"] == true)
            .map(|r| r["variation"].as_str().unwrap().to_string())
            .collect()
    };
    let failing = rising(&[]);
    assert!(
        failing.iter().any(|v| v == "special cause concern"),
        "{failing:?}"
    );
    assert!(
        !failing.iter().any(|v| v == "special cause improvement"),
        "{failing:?}"
    );
    let study = d.join("study");
    fs::create_dir(&study).unwrap();
    fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/codes/imaging-themes.csv"),
        study.join("codes.csv"),
    )
    .unwrap();
    fs::write(
        study.join("study.toml"),
        "title = \"T\"\ncodes = \"codes.csv\"\n\n[[theme]]\ntheme = \"unfollowed_alert\"\nlabel = \"Alerts followed up\"\nkind = \"outcome\"\nbetter = \"higher\"\n",
    )
    .unwrap();
    let outcome = rising(&["--study", study.to_str().unwrap()]);
    assert!(
        outcome.iter().any(|v| v == "special cause improvement"),
        "{outcome:?}"
    );
    assert!(
        !outcome.iter().any(|v| v == "special cause concern"),
        "{outcome:?}"
    );
}

/// The funnel states its overdispersion and judges by the adjusted limits when the units
/// are overdispersed (issue 31); `--limits unadjusted` judges without, and the counts of
/// flagged units each way agree with the rows of each. The method's numbers themselves
/// are tested against FunnelPlotR (stats::overdispersion).
#[test]
fn the_funnel_states_its_overdispersion_and_both_sets_of_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &["generate", "--cases", "6000", "--seed", "4", "--out", "g"],
    );
    assert_eq!(o.status.code(), Some(0));
    let o = casework(d, &["ingest", "g", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let count = |v: &Value, side: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["significance"] == side)
            .count() as u64
    };
    let auto = measure_json(d, &["funnel", "--theme", "delay"]);
    let phi = auto["phi"].as_f64().unwrap();
    assert!(auto["tau2"].as_f64().unwrap() >= 0.0);
    assert!(auto["method"].as_str().unwrap().contains("arcsine"));
    assert_eq!(auto["trimming"], "winsorisation");
    assert_eq!(
        auto["limits"],
        if phi > 1.0 { "adjusted" } else { "unadjusted" }
    );
    let key = if phi > 1.0 {
        "flagged_adjusted"
    } else {
        "flagged_unadjusted"
    };
    assert_eq!(
        auto[key]["high"].as_u64().unwrap(),
        count(&auto, "high (0.001)")
    );
    assert_eq!(
        auto[key]["low"].as_u64().unwrap(),
        count(&auto, "low (0.001)")
    );
    let un = measure_json(d, &["funnel", "--theme", "delay", "--limits", "unadjusted"]);
    assert_eq!(un["limits"], "unadjusted");
    assert_eq!(
        un["flagged_unadjusted"]["high"].as_u64().unwrap(),
        count(&un, "high (0.001)")
    );
    assert_eq!(un["flagged_unadjusted"], auto["flagged_unadjusted"]);
    // The planted organisations (delay at 45% against 20%) are flagged either way.
    for v in [&auto, &un] {
        for org in ["G001", "G003", "G005"] {
            let row = v["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["label"] == org)
                .unwrap();
            assert_eq!(row["significance"], "high (0.001)", "{org}");
        }
    }
    // An option that would do nothing is refused.
    let o = casework(d, &["measure", "theme_prevalence", "--limits", "adjusted"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--limits is for the funnel"),
        "{}",
        stderr(&o)
    );
}

/// Making Data Count's summary (issue 31): a study's target and rebase reach the SPC
/// chart; the variation and assurance icons follow the latest point and the latest
/// process; the report leads with the scorecard, in the page, the Markdown, the workbook
/// and summary.json. The planted step (unfollowed alerts double from January 2022, lower
/// better) is a special cause of concern, high; a target below the new process fails, one
/// above it passes, one inside it is hit and miss.
#[test]
fn targets_icons_and_the_scorecard() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &["generate", "--cases", "12000", "--seed", "5", "--out", "g"],
    );
    assert_eq!(o.status.code(), Some(0));
    let study = r#"title = "Imaging with targets"
codes = "codes.csv"

[[theme]]
theme = "unfollowed_alert"
label = "Unfollowed alert"
target = 0.05

[[theme]]
theme = "delay"
label = "Delay"
target = 0.9
[[theme.rebase]]
from = "2021-01"
reason = "New reporting system"
"#;
    fs::create_dir_all(d.join("s")).unwrap();
    fs::write(d.join("s/study.toml"), study).unwrap();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/codes/imaging-themes.csv"),
        d.join("s/codes.csv"),
    )
    .unwrap();
    let o = casework(d, &["ingest", "g", "--study", "s", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let spc = |theme: &str, extra: &[&str]| {
        let mut args = vec!["spc", "--theme", theme, "--value", "proportion"];
        args.extend_from_slice(extra);
        measure_json(d, &args)
    };
    let alert = spc("unfollowed_alert", &[]);
    assert_eq!(
        alert["variation_icon"], "concern_high",
        "{}",
        alert["variation_icon"]
    );
    assert_eq!(alert["target"], 0.05);
    assert_eq!(alert["assurance"], "fail");
    assert_eq!(
        spc("unfollowed_alert", &["--target", "0.9"])["assurance"],
        "pass"
    );
    let last = alert["rows"].as_array().unwrap().last().unwrap().clone();
    let inside = format!("{}", last["mean"].as_f64().unwrap());
    assert_eq!(
        spc("unfollowed_alert", &["--target", &inside])["assurance"],
        "hit_and_miss"
    );
    // The study's rebase, with its reason; a command line rebase beside it.
    let delay = spc("delay", &[]);
    assert_eq!(delay["rebases"][0]["from"], "2021-01-01");
    assert_eq!(delay["rebases"][0]["reason"], "New reporting system");
    let two = spc(
        "delay",
        &["--rebase", "2022-06-01", "--rebase-reason", "Merger"],
    );
    assert_eq!(two["rebases"].as_array().unwrap().len(), 2);
    assert_eq!(two["rebases"][1]["reason"], "Merger");
    // A run of 6 and a baseline are options of the chart; options that do nothing are
    // refused.
    assert_eq!(spc("delay", &["--run-length", "6"])["run_length"], 6);
    assert_eq!(spc("delay", &["--fix-after", "12"])["baseline_points"], 12);
    let o = casework(d, &["measure", "theme_prevalence", "--target", "0.5"]);
    assert_eq!(o.status.code(), Some(1));
    // The report leads with the scorecard.
    let o = casework(d, &["report", "--out", "rep"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = fs::read_to_string(d.join("rep/index.html")).unwrap();
    let summary = html.find("id=\"summary\"").unwrap();
    let card = html.find("class=\"scorecard\"").unwrap();
    let first_headline = html.find("class=\"headline\"").unwrap();
    assert!(
        summary < card && card < first_headline,
        "the scorecard leads the summary"
    );
    assert!(html.contains("<title>special cause of concern, high</title>"));
    assert!(html.contains("consistently misses the target"));
    let md = fs::read_to_string(d.join("rep/report.md")).unwrap();
    assert!(md.contains("| Unfollowed alert"), "{md}");
    assert!(d.join("rep/tables/scorecard.csv").exists());
    let s: Value =
        serde_json::from_str(&fs::read_to_string(d.join("rep/summary.json")).unwrap()).unwrap();
    let row = s["scorecard"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["theme"] == "unfollowed_alert")
        .unwrap();
    assert_eq!(row["assurance"], "fail");
    assert!(row["latest"].as_f64().unwrap() > 0.0);
}
