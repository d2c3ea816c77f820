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
    generated_warehouse(d, 6000, 4);
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
    // The CSV says how it judged on every row: the limits, φ, τ² and the method.
    let o = casework(
        d,
        &["measure", "funnel", "--theme", "delay", "--format", "csv"],
    );
    let csv = stdout(&o);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let first = lines.next().unwrap();
    let cells: Vec<&str> = first.split(',').collect();
    assert_eq!(cells[at("limits")], auto["limits"].as_str().unwrap());
    // (serde_json's parser, without float_roundtrip, may be an ulp off)
    assert!((cells[at("phi")].parse::<f64>().unwrap() - phi).abs() < 1e-12);
    assert!(csv.contains("arcsine square-root"), "{csv}");
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

/// Rates per exposure (issue 31): a study reads a theme per 1,000 homes from a lookup
/// beside it. Planted: every organisation's homes are ten times its cases but for the
/// busiest (a quarter of that: four times its expected rate) and the second (four times:
/// a quarter); one organisation of the export is missing from the lookup and one of the
/// lookup has no case. The funnel is of indirectly standardised ratios, E = X·ΣO/ΣX,
/// checked here from the lookup's own values; the SPC chart of the rate divides each
/// month's count by the month's share of the year's homes (days/365), checked by hand.
#[test]
fn themes_read_per_exposure() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &["generate", "--cases", "12000", "--seed", "5", "--out", "g"],
    );
    assert_eq!(o.status.code(), Some(0));
    // Cases per organisation, from the export itself.
    let text = fs::read_to_string(d.join("g/cases.csv")).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == "organisation_code")
        .unwrap();
    let mut cases: std::collections::BTreeMap<String, u64> = Default::default();
    for line in rows {
        *cases
            .entry(line.split(',').nth(at).unwrap().to_string())
            .or_default() += 1;
    }
    let mut by_size: Vec<(&String, &u64)> = cases.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let (busiest, second, missing) = (
        by_size[0].0.clone(),
        by_size[1].0.clone(),
        by_size.last().unwrap().0.clone(),
    );
    // Homes per year, 2019 to 2023 (the generated years).
    let mut yearly: std::collections::BTreeMap<String, f64> = Default::default();
    let mut csv = String::from("organisation_code,period,exposure\n");
    for (code, n) in &cases {
        if *code == missing {
            continue;
        }
        let mut x = *n as f64 * 10.0 / 5.0;
        if *code == busiest {
            x /= 4.0;
        } else if *code == second {
            x *= 4.0;
        }
        yearly.insert(code.clone(), x);
        for y in 2019..=2023 {
            csv.push_str(&format!("{code},{y},{x}\n"));
        }
    }
    csv.push_str("Z999,,500\n");
    fs::create_dir_all(d.join("s")).unwrap();
    fs::write(d.join("s/homes.csv"), &csv).unwrap();
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/codes/imaging-themes.csv"),
        d.join("s/codes.csv"),
    )
    .unwrap();
    let study = |extra: &str| {
        format!(
            "title = \"Per home\"\ncodes = \"codes.csv\"\n\n[[theme]]\ntheme = \"delay\"\nlabel = \"Delay\"\ntarget = 20\n\n[exposure]\nunit = \"homes\"\nper = 1000\nfile = \"homes.csv\"\nthemes = [\"delay\"]\n{extra}"
        )
    };
    fs::write(d.join("s/study.toml"), study("")).unwrap();
    let o = casework(d, &["ingest", "g", "--study", "s", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let f = measure_json(d, &["funnel", "--theme", "delay"]);
    assert_eq!(f["per_exposure"]["unit"], "homes");
    assert_eq!(f["without_exposure"]["count"], 1);
    assert_eq!(f["without_exposure"]["first"][0], missing.as_str());
    assert!(
        f["method"]
            .as_str()
            .unwrap()
            .contains("standardised ratios")
    );
    let units = f["rows"].as_array().unwrap();
    // Every organisation of the lookup: the 299 with cases and Z999 with none.
    assert_eq!(units.len(), cases.len());
    let x_of = |label: &str| -> f64 {
        if label == "Z999" {
            500.0
        } else {
            yearly[label] * 5.0
        }
    };
    let observed: f64 = units.iter().map(|u| u["numerator"].as_f64().unwrap()).sum();
    let exposed: f64 = units
        .iter()
        .map(|u| x_of(u["label"].as_str().unwrap()))
        .sum();
    for u in units {
        let label = u["label"].as_str().unwrap();
        let o = u["numerator"].as_f64().unwrap();
        let x = x_of(label);
        let e = x * observed / exposed;
        assert!(
            (u["exposure"].as_f64().unwrap() - x).abs() < 1e-9,
            "{label}"
        );
        assert!(
            (u["expected"].as_f64().unwrap() - e).abs() < 1e-9,
            "{label}"
        );
        assert!(
            (u["ratio"].as_f64().unwrap() - o / e).abs() < 1e-9,
            "{label}"
        );
        assert!((u["rate"].as_f64().unwrap() - o / x * 1000.0).abs() < 1e-9);
        if label != "Z999" {
            assert_eq!(u["denominator"].as_u64().unwrap(), cases[label], "{label}");
        }
    }
    let significance = |label: &str| {
        units.iter().find(|u| u["label"] == label).unwrap()["significance"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(significance(&busiest), "high (0.001)");
    assert_eq!(significance(&second), "low (0.001)");
    let z = units.iter().find(|u| u["label"] == "Z999").unwrap();
    assert_eq!(z["numerator"], 0);
    // A theme the study does not read per exposure stays a proportion of cases.
    let p = measure_json(d, &["funnel", "--theme", "unfollowed_alert"]);
    assert!(p.get("per_exposure").is_none());
    assert!(p["rows"][0].get("expected").is_none());
    // Across regions the lookup does not apply, and the output says so.
    let r = measure_json(d, &["funnel", "--theme", "delay", "--by", "region"]);
    assert!(
        r["per_exposure"]
            .as_str()
            .unwrap()
            .starts_with("not across regions")
    );
    // A period takes the lookup's values for its days: 2021 is one year's homes.
    let y = measure_json(d, &["funnel", "--theme", "delay", "--period", "2021"]);
    let b = y["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["label"] == busiest.as_str())
        .unwrap()
        .clone();
    assert!((b["exposure"].as_f64().unwrap() - yearly[&busiest]).abs() < 1e-9);

    // SPC of the rate for one organisation: March 2021 by hand.
    let s = measure_json(
        d,
        &[
            "spc",
            "--theme",
            "delay",
            "--value",
            "rate",
            "--organisation",
            &busiest,
        ],
    );
    assert_eq!(s["value"], "rate");
    assert_eq!(s["target"], 20.0);
    let march = s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["period"] == "2021-03-01")
        .unwrap()
        .clone();
    let count = march["cases_with_theme"].as_f64().unwrap();
    let by_hand = count / (yearly[&busiest] * 31.0 / 365.0) * 1000.0;
    assert!(
        (march["value"].as_f64().unwrap() - by_hand).abs() < 1e-9,
        "{march}"
    );
    // A rate needs the study to read the theme per exposure, and a view with an exposure.
    let o = casework(
        d,
        &[
            "measure",
            "spc",
            "--theme",
            "unfollowed_alert",
            "--value",
            "rate",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("per exposure"), "{}", stderr(&o));
    let o = casework(
        d,
        &[
            "measure", "spc", "--theme", "delay", "--value", "rate", "--region", "London",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("region"), "{}", stderr(&o));
    let o = casework(d, &["measure", "spc", "--theme", "delay", "--target", "20"]);
    assert_eq!(o.status.code(), Some(1), "a chart of counts has no target");

    // Published: the funnel's counts are the publication's, none from 1 to 7.
    let pf = measure_json(d, &["funnel", "--theme", "delay", "--publish"]);
    for u in pf["rows"].as_array().unwrap() {
        let o = u["numerator"].as_u64().unwrap();
        assert!(o == 0 || o > 7, "{u}");
        let x = x_of(u["label"].as_str().unwrap());
        assert!((u["rate"].as_f64().unwrap() - o as f64 / x * 1000.0).abs() < 1e-9);
    }

    // The report: the funnel and the SPC chart read per 1,000 homes, the flagged table
    // gives the rate, the scorecard the rate and its target.
    let o = casework(d, &["report", "--out", "rep"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = fs::read_to_string(d.join("rep/index.html")).unwrap();
    assert!(html.contains("<th>Rate per 1,000 homes</th>"));
    assert!(html.contains("Read per 1,000 homes against each organisation"));
    let svg = fs::read_to_string(d.join("rep/figures/funnel-delay.svg")).unwrap();
    assert!(svg.contains("Observed / expected"));
    let s: Value =
        serde_json::from_str(&fs::read_to_string(d.join("rep/summary.json")).unwrap()).unwrap();
    let row = s["scorecard"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["theme"] == "delay")
        .unwrap()
        .clone();
    assert_eq!(row["rate_per"], "per 1,000 homes");
    assert_eq!(row["target"], 20.0);

    // A bad lookup names its file, line and column; overlapping periods are refused.
    let refused = |lookup: &str| {
        fs::write(d.join("s/homes.csv"), lookup).unwrap();
        let o = casework(
            d,
            &["ingest", "g", "--study", "s", "--warehouse", "w2", "-q"],
        );
        assert_eq!(o.status.code(), Some(1));
        stderr(&o)
    };
    let e = refused("organisation_code,exposure\nG000,12\nG001,lots\n");
    assert!(
        e.contains("homes.csv") && e.contains("line 3") && e.contains("column exposure"),
        "{e}"
    );
    let e = refused("organisation_code,period,exposure\nG000,2021,12\nG000,2021-Q2,3\n");
    assert!(e.contains("overlap"), "{e}");

    // The bundle may bring the values (exposure.csv): they replace the study's lookup,
    // here a study that names none.
    fs::write(d.join("g/exposure.csv"), &csv).unwrap();
    fs::write(
        d.join("s/study.toml"),
        study("").replace("file = \"homes.csv\"\n", ""),
    )
    .unwrap();
    let o = casework(
        d,
        &["ingest", "g", "--study", "s", "--warehouse", "w3", "-q"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let f3 = measure_json(d, &["funnel", "--theme", "delay", "--warehouse", "w3"]);
    assert_eq!(
        f3["rows"], f["rows"],
        "the same funnel from the bundle's values"
    );
}

/// A funnel across the second grouping counts each case where its own value puts it,
/// even where one organisation's cases carry several values: each region's numerator and
/// denominator equal the count of the export's rows by region (counted here from the
/// export alone) and the per-case figures of `--region`. Planted: 40 organisations, the
/// first ten with cases spread over all four regions, in no order.
#[test]
fn a_funnel_by_region_counts_each_case_in_its_own_region() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(
        d.join("m.toml"),
        r#"[cases]
case_id = "Ref"
source = { value = "ombudsman_complaint" }
organisation_code = "Org"
region = "Region"
opened_date = { column = "Decided", date = "%Y-%m-%d" }

[findings]
case_id = "Ref"
code = "Code"
require = "code"
"#,
    )
    .unwrap();
    let regions = ["North", "South", "East", "West"];
    let mut text = String::from("Ref,Org,Region,Decided,Code\n");
    // Expected per region: (cases with an unreported finding, cases).
    let mut expected: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    let mut state = 11u64;
    for c in 0..3000u64 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (state >> 33) as usize;
        let org = (c * 7) % 40;
        let region = if org < 10 {
            regions[r % 4]
        } else {
            regions[org as usize % 4]
        };
        let code = ["UF1", "FA1", "LL1", "DL3", ""][(r / 4) % 5];
        let e = expected.entry(region).or_default();
        e.1 += 1;
        e.0 += u64::from(code == "UF1");
        text.push_str(&format!(
            "C{c},O{org},{region},2024-{:02}-{:02},{code}\n",
            1 + c % 12,
            1 + c % 28
        ));
    }
    fs::write(d.join("export.csv"), text).unwrap();
    let out = casework(d, &["ingest", "--mapping", "m.toml", "export.csv", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let f = measure_json(
        d,
        &["funnel", "--theme", "unreported_finding", "--by", "region"],
    );
    let rows = f["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{f}");
    for row in rows {
        let label = row["label"].as_str().unwrap();
        let (x, n) = expected[label];
        assert_eq!(
            (
                row["numerator"].as_u64().unwrap(),
                row["denominator"].as_u64().unwrap()
            ),
            (x, n),
            "{label}"
        );
        let p = measure_json(d, &["theme_prevalence", "--region", label]);
        let unreported = p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["theme"] == "unreported_finding")
            .unwrap();
        assert_eq!(
            (
                unreported["cases_with_theme"].as_u64().unwrap(),
                unreported["cases"].as_u64().unwrap()
            ),
            (x, n),
            "{label}"
        );
    }
}
