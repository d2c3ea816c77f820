//! Property tests (proptest): any valid bundle round-trips through the warehouse to the
//! same values, and any byte-level corruption of a valid CSV is either read or rejected
//! with counts that reconcile, never a panic.

use std::fs;

use crate::common::*;
use casework::ingest::{self, Options};
use casework::spec::reject::Rule;
use proptest::prelude::*;

const SOURCES: &[&str] = &[
    "ombudsman_complaint",
    "local_complaint",
    "patient_safety_incident",
    "serious_incident",
];
const HARMS: &[&str] = &["none", "low", "moderate", "severe", "death"];
const CODES: &[&str] = &["UF1", "UF2", "FA1", "DL1", "DL3", "LL1", "LL4"];

#[derive(Debug, Clone)]
struct Case {
    org: String,
    region: Option<String>,
    source: &'static str,
    opened: (i32, u32, u32),
    harm: Option<&'static str>,
    death: Option<bool>,
    codes: Vec<&'static str>,
    /// Free text with line breaks, commas and quotes, as real narratives have.
    narrative: Option<String>,
}

fn text() -> impl Strategy<Value = String> {
    // Commas, quotes, spaces inside, non-ASCII: what CSV quoting must carry.
    "[A-Za-z0-9 ,\"'éß&()-]{1,20}"
        .prop_map(|s| s.trim().to_string())
        .prop_filter("not blank", |s| !s.is_empty())
}

fn case() -> impl Strategy<Value = Case> {
    (
        text(),
        proptest::option::of(text()),
        proptest::sample::select(SOURCES),
        // Every real day of a month, 29 to 31 included (leap years too).
        (2000i32..2030, 1u32..13, 1u32..32).prop_filter("a real date", |(y, m, d)| {
            chrono::NaiveDate::from_ymd_opt(*y, *m, *d).is_some()
        }),
        proptest::option::of(proptest::sample::select(HARMS)),
        proptest::option::of(any::<bool>()),
        proptest::collection::vec(proptest::sample::select(CODES), 0..4),
        proptest::option::of(
            "[A-Za-z0-9 ,\"'éß&()\n.-]{1,60}"
                .prop_map(|s| s.trim().to_string())
                .prop_filter("not blank", |s| !s.is_empty()),
        ),
    )
        .prop_map(
            |(org, region, source, opened, harm, death, codes, narrative)| Case {
                org,
                region,
                source,
                opened,
                harm,
                death,
                codes,
                narrative,
            },
        )
}

fn write_bundle(dir: &std::path::Path, cases: &[Case]) {
    fs::create_dir_all(dir).unwrap();
    let mut c = csv::Writer::from_path(dir.join("cases.csv")).unwrap();
    c.write_record([
        "case_id",
        "source",
        "organisation_code",
        "region",
        "opened_date",
        "harm",
        "avoidable_death",
        "narrative",
    ])
    .unwrap();
    let mut f = csv::Writer::from_path(dir.join("findings.csv")).unwrap();
    f.write_record(["case_id", "code"]).unwrap();
    for (i, k) in cases.iter().enumerate() {
        let id = format!("p-{i}");
        let (y, m, d) = k.opened;
        c.write_record([
            id.as_str(),
            k.source,
            &k.org,
            k.region.as_deref().unwrap_or(""),
            &format!("{y:04}-{m:02}-{d:02}"),
            k.harm.unwrap_or(""),
            &k.death.map(|b| b.to_string()).unwrap_or_default(),
            k.narrative.as_deref().unwrap_or(""),
        ])
        .unwrap();
        for code in &k.codes {
            f.write_record([id.as_str(), code]).unwrap();
        }
    }
    c.flush().unwrap();
    f.flush().unwrap();
}

/// The cases table as `table_rows` formats it, computed from the generated values.
fn expected_cases(cases: &[Case]) -> Vec<String> {
    let none = "∅".to_string();
    let mut rows: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let (y, m, d) = k.opened;
            [
                format!("case_id=p-{i}"),
                format!("source={}", k.source),
                format!("organisation_code={}", k.org),
                format!("organisation_name={none}"),
                format!("organisation_type={none}"),
                format!("region={}", k.region.clone().unwrap_or(none.clone())),
                format!("opened_date={y:04}-{m:02}-{d:02}"),
                "opened_date_precision=day".to_string(),
                format!("closed_date={none}"),
                format!("closed_date_precision={none}"),
                format!("decision={none}"),
                format!("service={none}"),
                format!("modality={none}"),
                format!("condition_group={none}"),
                format!("harm={}", k.harm.unwrap_or("∅")),
                format!(
                    "avoidable_death={}",
                    k.death.map(|b| b.to_string()).unwrap_or(none.clone())
                ),
                format!("patient_ref={none}"),
                format!("narrative={}", k.narrative.clone().unwrap_or(none.clone())),
                format!("opened_year={y}"),
            ]
            .join("|")
        })
        .collect();
    rows.sort();
    rows
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_valid_bundle_round_trips_to_the_same_values(cases in proptest::collection::vec(case(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path().join("b");
        write_bundle(&b, &cases);
        let wh = tmp.path().join("wh");
        let summary = ingest::run(&b, Options::new(Some(wh.clone()))).unwrap();
        prop_assert!(summary.committed, "{:?}", summary.rules);
        prop_assert_eq!(table_rows(&wh, "cases"), expected_cases(&cases));
        let mut findings: Vec<String> = cases
            .iter()
            .enumerate()
            .flat_map(|(i, k)| k.codes.iter().map(move |c| format!("case_id=p-{i}|code={c}|stage=∅|service=∅|note=∅")))
            .collect();
        findings.sort();
        prop_assert_eq!(table_rows(&wh, "findings"), findings);
    }

    #[test]
    fn a_corrupted_csv_is_read_or_rejected_never_a_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..6)
    ) {
        let original = fs::read(format!("{EXAMPLE}/cases.csv")).unwrap();
        let mut bytes = original.clone();
        for (at, kind, byte) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let b = tmp.path().join("b");
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("cases.csv"), &bytes).unwrap();
        match ingest::run(&b, Options::new(None)) {
            // A whole-file problem (for example a header made unreadable) is an error,
            // not a panic.
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(s) => {
                for c in s.counts.values() {
                    prop_assert_eq!(c.read, c.stored + c.rejected);
                }
                let cases = &s.counts[&casework::spec::RecordType::Cases];
                let rejects: u64 = s.rules.iter().filter(|r| !r.rule.is_file_rule()).map(|r| r.count).sum();
                prop_assert!(rejects >= s.rejected_rows, "every rejected row has a reason");
                if s.file_problems.is_empty() {
                    // Every data line is accounted for: 14 cases, give or take the lines
                    // an edit split or joined. A stray quote joins every line up to the
                    // next quote into one record (CSV's rule), which is then rejected for
                    // its field count or as an unbalanced quote, never stored quietly.
                    prop_assert!(cases.read <= 16, "{}", cases.read);
                    if cases.read < 14 {
                        let joined = s.rules.iter().any(|r| {
                            matches!(r.rule, Rule::FieldCount | Rule::UnbalancedQuote)
                        });
                        prop_assert!(joined && cases.rejected >= 1, "{} read: {:?}", cases.read, s.rules);
                    }
                }
            }
        }
    }
}
