//! Studies (issue 15): the delay theme and the repeat codes come from the study, not from
//! literals in the SQL. On a code list with no delay theme the delay comparison is absent
//! (not zero); a study's own delay theme and repeat codes are counted; the study kept in
//! the warehouse is used when none is named.

use std::fs;

use crate::common::*;
use serde_json::Value;

const CODES: &str = "code,theme,meaning\nL1,late,decided late\nL2,late,told late\nR1,rude,rude\nR2,rude,rude again to the same person\n";

/// Cases c1..c5 with findings: c1 L1; c2 L1 and L2; c3 R2; c4 R1 twice; c5 none.
const FINDINGS: &str = "case_id,code\nc1,L1\nc2,L1\nc2,L2\nc3,R2\nc4,R1\nc4,R1\n";

fn cases() -> String {
    let mut s = String::from("case_id,source,organisation_code,opened_date\n");
    for i in 1..=5 {
        s.push_str(&format!("c{i},ombudsman_complaint,R1,2024-01-0{i}\n"));
    }
    s
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().unwrap()
}

fn value(v: &Value, measure: &str, column: &str) -> Option<u64> {
    rows(v)
        .iter()
        .find(|r| r["measure"] == measure)
        .map(|r| r[column].as_f64().unwrap() as u64)
}

#[test]
fn the_delay_theme_and_repeat_codes_come_from_the_study() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases().as_bytes()),
            ("findings.csv", FINDINGS.as_bytes()),
        ],
    );
    let study = d.join("study");
    fs::create_dir(&study).unwrap();
    fs::write(study.join("codes.csv"), CODES).unwrap();
    fs::write(
        study.join("study.toml"),
        "title = \"Housing decisions\"\ncase_noun = \"decision\"\ncodes = \"codes.csv\"\n\
         delay_theme = \"late\"\nrepeat_codes = [\"R2\"]\n",
    )
    .unwrap();
    let s = study.to_str().unwrap();
    let o = casework(d, &["ingest", b.to_str().unwrap(), "--study", s, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // Without --study: the study kept in the warehouse.
    let coded = measure_json(d, &["delay_coded_vs_measured"]);
    // Hand count: the theme "late" is in c1 and c2.
    assert_eq!(
        value(&coded, "cases_coded_delay", "cases"),
        Some(2),
        "{coded}"
    );
    assert_eq!(value(&coded, "cases_in_scope", "cases"), Some(5));
    let learning = measure_json(d, &["learning"]);
    // Hand count: R2 is in c3 only; c4's R1 twice is not a repeat in this study.
    assert_eq!(
        value(&learning, "repeat_failures", "value"),
        Some(1),
        "{learning}"
    );

    // The same data read as a study that counts a recurring code: c3 and c4.
    fs::write(
        study.join("study.toml"),
        "title = \"Housing decisions\"\ncodes = \"codes.csv\"\ndelay_theme = \"late\"\n\
         repeat_codes = [\"R2\"]\nrepeat_when_a_code_recurs = true\n",
    )
    .unwrap();
    let learning = measure_json(d, &["learning", "--study", s]);
    assert_eq!(
        value(&learning, "repeat_failures", "value"),
        Some(2),
        "{learning}"
    );

    // A study with no delay theme and no repeat rule: those figures are absent, not 0.
    fs::write(
        study.join("study.toml"),
        "title = \"Housing decisions\"\ncodes = \"codes.csv\"\n",
    )
    .unwrap();
    let coded = measure_json(d, &["delay_coded_vs_measured", "--study", s]);
    assert!(rows(&coded).is_empty(), "{coded}");
    let learning = measure_json(d, &["learning", "--study", s]);
    assert_eq!(
        value(&learning, "repeat_failures", "value"),
        None,
        "{learning}"
    );
    assert_eq!(
        value(&learning, "cases_in_scope", "value"),
        Some(5),
        "{learning}"
    );

    // A study naming a theme its code list lacks is refused, naming the line.
    fs::write(
        study.join("study.toml"),
        "title = \"T\"\ncodes = \"codes.csv\"\ndelay_theme = \"delay\"\n",
    )
    .unwrap();
    let o = casework(d, &["study", "check", s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("line 3") && stderr(&o).contains("late, rude"),
        "{}",
        stderr(&o)
    );
}

/// A code list of its own, with no study: no imaging theme is assumed.
#[test]
fn a_code_list_without_a_study_has_no_delay_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("codes.csv"), CODES).unwrap();
    let b = bundle(
        d,
        "b",
        &[
            ("cases.csv", cases().as_bytes()),
            ("findings.csv", FINDINGS.as_bytes()),
        ],
    );
    let o = casework(
        d,
        &["ingest", b.to_str().unwrap(), "--codes", "codes.csv", "-q"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let coded = measure_json(d, &["delay_coded_vs_measured"]);
    assert!(rows(&coded).is_empty(), "{coded}");
    let learning = measure_json(d, &["learning"]);
    assert_eq!(
        value(&learning, "repeat_failures", "value"),
        None,
        "{learning}"
    );
    for shipped in ["phso-imaging-2021", "cfpb-complaints", "fda-maude"] {
        let o = casework(d, &["study", "check", shipped]);
        assert_eq!(o.status.code(), Some(0), "{shipped}: {}", stderr(&o));
    }
}

/// No founding-report literal in the code or the SQL (issue 15): theme names, codes,
/// titles and wording come from the study. The embedded default files are named (the
/// bundle spec's default code list, the default study), and the demo generator and
/// unit tests plant the imaging themes on purpose: those are left out of the search.
#[test]
fn no_founding_report_words_in_the_code_or_the_sql() {
    const WORDS: &[&str] = &[
        "imaging",
        "failure theme",
        "unreported_finding",
        "unfollowed_alert",
        "unlearned_lesson",
        "'delay'",
        "\"delay\"",
        "LL4",
        "radiolog",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut stack = vec![
        root.join("pipeline"),
        root.join("queries"),
        root.join("cli"),
    ];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("demo") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs" || x == "sql") {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 30, "{files:?}");
    let mut found = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, line) in code.lines().enumerate() {
            let named_file = ["imaging-themes.csv", "phso-imaging-2021", "spec_default"]
                .iter()
                .any(|n| line.contains(n));
            let lower = line.to_lowercase();
            for w in WORDS {
                if !named_file && lower.contains(&w.to_lowercase()) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// A shipped study on its sample export: the report tells the study's story (its title
/// and theme labels and noun, no tracker it does not have, no imaging words), says which
/// charts it left out and why, and stays small.
fn report_on_shipped_study(
    export: &str,
    mapping: &str,
    study: &str,
    title: &str,
    label: &str,
    noun: &str,
) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let export = root.join("tests/data").join(export);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mapping = root.join("data/mappings").join(mapping);
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
    // The shipped mapping names its study (`[export] study`): no --study was needed.
    let stored = fs::read_to_string(d.join("warehouse/current/study.toml")).unwrap();
    assert!(stored.contains(title), "{study}: {stored}");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = casework(d, &["report", "--out", "r", "--as-of", "2025-06-30"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = fs::read_to_string(d.join("r/report.md")).unwrap();
    let html = fs::read_to_string(d.join("r/index.html")).unwrap();
    assert!(md.starts_with(&format!("# {title}")), "{}", &md[..200]);
    assert!(md.contains(label), "labels from the study");
    assert!(
        md.contains(&format!(" {noun} (")),
        "the study's noun in the headlines"
    );
    assert!(
        !md.contains("Recommendations tracker"),
        "no tracker the study does not have"
    );
    // The founding report's wording (the data itself may speak of radiology devices).
    for words in [
        "failings in imaging",
        "imaging journey",
        "failure theme",
        "unreported finding",
        "unfollowed alert",
        "unlearned lesson",
    ] {
        assert!(!md.to_lowercase().contains(words), "{words} in report.md");
    }
    assert!(html.len() < 2_000_000, "index.html is {} bytes", html.len());
    assert!(md.contains("Charts not drawn"), "{md}");
    // Every theme's label is a text element inside the prevalence chart.
    let svg = fs::read_to_string(d.join("r/figures/prevalence.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let root = doc.root_element();
    let dim = |a: &str| root.attribute(a).unwrap().parse::<f64>().unwrap();
    let (w, h) = (dim("width"), dim("height"));
    let studied = casework(
        d,
        &[
            "query",
            "--format",
            "csv",
            "SELECT DISTINCT theme FROM codes",
        ],
    );
    for theme in stdout(&studied).lines().skip(1) {
        let label = {
            let words = fs::read_to_string(
                root_dir()
                    .join("data/studies")
                    .join(study)
                    .join("study.toml"),
            )
            .unwrap();
            // The study's label where it gives one.
            words
                .split("[[theme]]")
                .find(|t| t.contains(&format!("theme = \"{theme}\"")))
                .and_then(|t| t.lines().find(|l| l.starts_with("label")))
                .map(|l| l.split('"').nth(1).unwrap().to_string())
                .unwrap()
        };
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some(label.as_str()))
            .unwrap_or_else(|| panic!("{label} is not drawn"));
        let at = |a: &str| node.attribute(a).unwrap().parse::<f64>().unwrap();
        assert!(
            at("x") > 0.0 && at("x") < w && at("y") > 0.0 && at("y") < h,
            "{label}"
        );
    }
}

fn root_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_cfpb_report_names_its_second_grouping() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let export = root.join("tests/data/cfpb-complaints-sample/complaints_sample.csv");
    let mapping = root.join("data/mappings/cfpb-complaints.toml");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
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
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = casework(d, &["report", "--out", "r", "--as-of", "2025-06-30"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = fs::read_to_string(d.join("r/report.md")).unwrap();
    // The page says State where the data says region; the CSV keeps the data's name.
    assert!(
        md.contains("| Company code | Company name | State |"),
        "{md}"
    );
    assert!(md.contains("| State | "), "the breakdown's dimension");
    let csv = fs::read_to_string(d.join("r/tables/organisation_profile.csv")).unwrap();
    assert!(
        csv.starts_with("organisation_code,organisation_name,region,"),
        "{csv}"
    );
}

#[test]
fn the_cfpb_report_reads_as_its_own_study() {
    report_on_shipped_study(
        "cfpb-complaints-sample/complaints_sample.csv",
        "cfpb-complaints.toml",
        "cfpb-complaints",
        "Consumer complaints: what the complaint data shows",
        "Credit report errors",
        "complaints",
    );
}

#[test]
fn the_maude_report_reads_as_its_own_study() {
    report_on_shipped_study(
        "fda-maude-aiml-devices/mdr_reports_943.csv",
        "fda-maude.toml",
        "fda-maude",
        "Device reports: what the report data shows",
        "Product problem",
        "reports",
    );
}

/// A study of thirty themes and six hundred organisations (the generator's wide mode):
/// every theme is labelled in the prevalence chart as a text element inside the drawing;
/// each funnel draws at most ten labels, all inside its drawing, and the report lists
/// every organisation outside the 99.8% limits; the page stays under 2 MB.
#[test]
fn charts_and_the_page_hold_at_thirty_themes_and_six_hundred_organisations() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = casework(
        d,
        &[
            "generate",
            "--cases",
            "12000",
            "--seed",
            "8",
            "--themes",
            "30",
            "--organisations",
            "600",
            "--out",
            "g",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = casework(d, &["ingest", "g", "--study", "g", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = casework(d, &["report", "--out", "r", "--as-of", "2025-06-30"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let texts = |name: &str| -> (f64, f64, Vec<(f64, f64, String)>) {
        let svg = fs::read_to_string(d.join("r/figures").join(name)).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let root = doc.root_element();
        let dim = |a: &str| root.attribute(a).unwrap().parse::<f64>().unwrap();
        let list = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                let num = |a: &str| n.attribute(a).unwrap_or("0").parse::<f64>().unwrap();
                (
                    num("x"),
                    num("y"),
                    n.text().unwrap_or("").trim().to_string(),
                )
            })
            .collect();
        (dim("width"), dim("height"), list)
    };
    let (w, h, list) = texts("prevalence.svg");
    for i in 1..=30 {
        let label = format!("Theme {i:02}");
        let t = list
            .iter()
            .find(|t| t.2 == label)
            .unwrap_or_else(|| panic!("{label} not drawn"));
        assert!(
            t.0 > 0.0 && t.0 < w && t.1 > 0.0 && t.1 < h,
            "{label} at {t:?}"
        );
    }
    let md = fs::read_to_string(d.join("r/report.md")).unwrap();
    for i in 1..=30 {
        let theme = format!("theme_{i:02}");
        let (w, h, list) = texts(&format!("funnel-{theme}.svg"));
        let labels: Vec<_> = list
            .iter()
            .filter(|t| t.2.starts_with('G') && t.2.len() <= 4)
            .collect();
        assert!(labels.len() <= 10, "{theme}: {} labels", labels.len());
        for t in &labels {
            assert!(
                t.0 > 0.0 && t.0 < w && t.1 > 0.0 && t.1 < h,
                "{theme}: {t:?}"
            );
        }
        let f = measure_json(d, &["funnel", "--theme", &theme]);
        let flagged: Vec<&str> = f["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["significance"].as_str().unwrap().ends_with("(0.001)"))
            .map(|r| r["label"].as_str().unwrap())
            .collect();
        for org in flagged {
            assert!(
                md.contains(&format!("| {org} |")),
                "{theme}: {org} is not listed"
            );
        }
    }
    // One self-contained page: every figure inline (the later ones in their lighter
    // form), none linked, and still a page a browser opens quickly.
    let page = fs::read_to_string(d.join("r/index.html")).unwrap();
    assert!(!page.contains("src=\"figures/"), "a linked figure");
    assert_eq!(
        page.matches("<figure").count(),
        page.matches("<svg").count() - icons(&page)
    );
    let html = page.len();
    assert!(html < 4_000_000, "index.html is {html} bytes");
    for words in ["failings in imaging", "imaging journey", "failure theme"] {
        assert!(!md.to_lowercase().contains(words), "{words} in report.md");
    }
}

/// The scorecard's summary icons, inline SVGs that are not figures.
fn icons(page: &str) -> usize {
    page.matches("<svg class=\"icon\"").count()
}

/// A study names its own organisation types (a housing study's landlords): those are
/// accepted, the NHS ones are not; without a study the bundle spec's NHS list holds.
#[test]
fn organisation_types_come_from_the_study() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cases = "case_id,source,organisation_code,organisation_type,opened_date\n\
                 c1,ombudsman_complaint,L1,housing_association,2024-01-01\n\
                 c2,ombudsman_complaint,L2,local_authority,2024-01-02\n\
                 c3,ombudsman_complaint,L3,acute_trust,2024-01-03\n";
    let b = bundle(d, "b", &[("cases.csv", cases.as_bytes())]);
    let study = d.join("housing");
    fs::create_dir(&study).unwrap();
    fs::write(study.join("codes.csv"), CODES).unwrap();
    fs::write(
        study.join("study.toml"),
        "title = \"Housing\"\ncodes = \"codes.csv\"\norganisation_types = [\"housing_association\", \"local_authority\"]\n",
    )
    .unwrap();
    let out = casework(
        d,
        &[
            "validate",
            b.to_str().unwrap(),
            "--study",
            study.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["cases"]["stored"], 2, "{s}");
    assert!(
        s.to_string()
            .contains("must be one of the study's: housing_association, local_authority"),
        "{s}"
    );
    // Without the study: the NHS list, so the two landlord types are the rejects.
    let out = casework(d, &["validate", b.to_str().unwrap(), "--format", "json"]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["counts"]["cases"]["stored"], 1, "{s}");
}
