//! Synthetic case bundles with planted truth: organisations of Zipf-like sizes, one to
//! three imaging episodes per case with event timelines, planted theme rates, planted
//! outlier organisations (funnel plots), a planted step change (SPC) and, on request,
//! malformed rows of the reject kinds. Deterministic per seed; `truth.json` records
//! every planted count.
//!
//! The random numbers come from SplitMix64, written here rather than taken from a crate
//! so that a seed gives the same bundle whatever crate versions are in use.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use crate::error::{Error, Result};

use crate::stats::random::SplitMix64 as Rng;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cases: u64,
    pub seed: u64,
    /// Malformed rows of each kind to add.
    pub bad: u64,
    /// Themes: 0 for the founding report's four (the imaging code list); more for a
    /// study of that many themes, `theme_01`… with codes `T01A`, `T01B`…, whose
    /// `codes.csv` and `study.toml` are written beside the bundle (for charts at real size).
    pub themes: usize,
    /// Organisations (Zipf-like sizes).
    pub organisations: u64,
    /// Years of opened dates from January 2019 (5: 2019 to 2023).
    pub years: u32,
    /// Months instead of years (the span is then exactly that many calendar months).
    pub months: Option<u32>,
}

impl Plan {
    pub fn new(cases: u64, seed: u64) -> Plan {
        Plan {
            cases,
            seed,
            bad: 0,
            themes: 0,
            organisations: ORGANISATIONS,
            years: 5,
            months: None,
        }
    }
}

/// (theme, planted rate, codes) for every theme of the plan, in code-list order. In the
/// founding report's set the second theme is the one with the planted step and the
/// third the one with the planted outliers; likewise in a wide set.
fn theme_table(plan: &Plan) -> Vec<(String, f64, Vec<String>)> {
    if plan.themes == 0 {
        return CODES
            .iter()
            .map(|(theme, codes)| {
                let rate = RATES.iter().find(|r| r.0 == *theme).map_or(0.0, |r| r.1);
                (
                    theme.to_string(),
                    rate,
                    codes.iter().map(|c| c.to_string()).collect(),
                )
            })
            .collect();
    }
    (1..=plan.themes)
        .map(|i| {
            (
                format!("theme_{i:02}"),
                0.3 / (1.0 + 0.2 * (i - 1) as f64),
                vec![format!("T{i:02}A"), format!("T{i:02}B")],
            )
        })
        .collect()
}

/// Planted theme rates (share of cases).
pub const RATES: [(&str, f64); 4] = [
    ("unreported_finding", 0.30),
    ("unfollowed_alert", 0.20),
    ("delay", 0.20),
    ("unlearned_lesson", 0.15),
];
/// Delay rate of the planted outlier organisations.
pub const OUTLIER_DELAY_RATE: f64 = 0.45;
/// From this month on, unfollowed alerts are planted at twice their rate.
pub const STEP_MONTH: (i32, u32) = (2022, 1);
const ORGANISATIONS: u64 = 300;
const REGIONS: [&str; 7] = [
    "London",
    "South East",
    "South West",
    "Midlands",
    "East of England",
    "North West",
    "North East and Yorkshire",
];
const CODES: [(&str, [&str; 2]); 4] = [
    ("unreported_finding", ["UF1", "UF2"]),
    ("unfollowed_alert", ["FA1", "FA3"]),
    ("delay", ["DL2", "DL3"]),
    ("unlearned_lesson", ["LL1", "LL5"]),
];

/// Every planted count, written as `truth.json`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Truth {
    pub seed: u64,
    pub cases: u64,
    pub organisations: u64,
    /// Cases with each theme, among the valid cases.
    pub themes: BTreeMap<String, u64>,
    /// Organisations planted with a delay rate of 45%.
    pub outlier_organisations: Vec<String>,
    /// The first month of the doubled unfollowed-alert rate.
    pub step_month: String,
    /// Cases with unfollowed_alert before and from the step month.
    pub unfollowed_alert_before_step: u64,
    pub unfollowed_alert_from_step: u64,
    /// Valid rows written per record type.
    pub rows: BTreeMap<String, u64>,
    /// Malformed rows written, by the rule they break.
    pub bad_rows: BTreeMap<String, u64>,
    /// The double-coded sample: every tenth case, coded by `coder_a` (the case's own
    /// findings) and `coder_b` (the same codes, each dropped with chance 0.1, and any
    /// other code of the list added with chance 0.01).
    pub coded_cases: u64,
    /// Per theme, the two coders' table [both, a only, b only, neither] over the sample.
    pub coding_tables: BTreeMap<String, [u64; 4]>,
}

/// Organisation names as real exports have them: accents, other scripts (Cyrillic,
/// Greek, Welsh, Polish), right-to-left text (Arabic, Hebrew) and long names, each with
/// its number so that every name is unique. None has a comma (the bundle is plain CSV).
pub fn organisation_name(org: u64) -> String {
    const NAMES: [&str; 8] = [
        "Northfield Community Services",
        "Hôpital Saint-Éloi de Montréal-Nord",
        "Ysbyty Prifysgol Glan Clwyd",
        "مستشفى الملك فيصل التخصصي",
        "Городская клиническая больница",
        "בית החולים הדסה עין כרם",
        "Ośrodek Zdrowia Łódź-Śródmieście",
        "The Greater Riverside Metropolitan Borough Council Housing Repairs and Tenancy Services Partnership",
    ];
    format!("{} {org}", NAMES[(org % 8) as usize])
}

fn writer(dir: &Path, name: &str, header: &str) -> Result<BufWriter<File>> {
    let path = dir.join(name);
    let mut w = BufWriter::new(File::create(&path).map_err(|e| Error::io(&path, e))?);
    writeln!(w, "{header}").map_err(|e| Error::io(&path, e))?;
    Ok(w)
}

/// Writes a bundle (CSV) and `truth.json` into `dir`.
pub fn generate(dir: &Path, plan: &Plan) -> Result<Truth> {
    if plan.cases == 0 && plan.bad > 0 {
        return Err(Error::Usage(
            "--bad needs at least one case (--cases 1 or more): its rows refer to cases".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let io = |e: std::io::Error| Error::io(dir, e);
    let mut rng = Rng(plan.seed);
    let mut cases = writer(
        dir,
        "cases.csv",
        "case_id,source,organisation_code,organisation_name,organisation_type,region,opened_date,closed_date,decision,modality,harm,patient_ref",
    )?;
    let mut findings = writer(dir, "findings.csv", "case_id,code,stage")?;
    let mut events = writer(
        dir,
        "events.csv",
        "case_id,episode,event,occurred_at,urgency",
    )?;
    let mut recs = writer(
        dir,
        "recommendations.csv",
        "case_id,kind,amount_gbp,made_date,due_date,status",
    )?;
    let mut codings = writer(dir, "codings.csv", "case_id,coder,code,stage")?;
    // Its own stream, so that the other files are the same with or without it.
    let mut coding_rng = Rng(plan.seed ^ 0x00C0_D1A6);
    let mut n_codings = 0u64;
    // Zipf-like organisation sizes: weight of organisation i is 1 / (i + 1)^0.8.
    let organisations = plan.organisations.max(1);
    let table = theme_table(plan);
    if plan.themes > 0 {
        let mut codes = String::from("code,theme,meaning\n");
        for (theme, _, list) in &table {
            for c in list {
                codes.push_str(&format!("{c},{theme},generated code {c}\n"));
            }
        }
        let path = dir.join("codes.csv");
        std::fs::write(&path, codes).map_err(|e| Error::io(&path, e))?;
        let path = dir.join("study.toml");
        std::fs::write(
            &path,
            format!(
                "# Written by casework generate: {} themes, {organisations} organisations.\ntitle = \"A generated study\"\ncodes = \"codes.csv\"\n",
                plan.themes
            ),
        )
        .map_err(|e| Error::io(&path, e))?;
    }
    let weights: Vec<f64> = (0..organisations)
        .map(|i| 1.0 / ((i + 1) as f64).powf(0.8))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cumulative.push(acc);
    }
    let outliers = [1u64, 3, 5];
    let mut truth = Truth {
        seed: plan.seed,
        cases: plan.cases,
        organisations,
        outlier_organisations: outliers.iter().map(|o| format!("G{o:03}")).collect(),
        step_month: format!("{}-{:02}", STEP_MONTH.0, STEP_MONTH.1),
        ..Truth::default()
    };
    // January 2019, or earlier for a span that would otherwise pass the end of 2024.
    let months = plan.months.unwrap_or(plan.years.max(1) * 12).max(1);
    let first_year = 2019.min(2025 - months.div_ceil(12) as i32);
    let start = NaiveDate::from_ymd_opt(first_year, 1, 1).expect("valid date");
    let days = match plan.months {
        // Whole years as 365 days each (the form every earlier bundle was made in).
        None => u64::from(plan.years.max(1)) * 365,
        Some(m) => (start + chrono::Months::new(m) - start).num_days() as u64,
    };
    let step = NaiveDate::from_ymd_opt(STEP_MONTH.0, STEP_MONTH.1, 1).expect("valid date");
    let (mut n_findings, mut n_events, mut n_recs) = (0u64, 0u64, 0u64);
    for i in 0..plan.cases {
        let u = rng.unit();
        let org = cumulative
            .partition_point(|c| *c < u)
            .min(organisations as usize - 1) as u64;
        let id = format!("g{i:09}");
        let opened = start + Duration::days(rng.below(days) as i64);
        let closed = opened + Duration::days(60 + rng.below(300) as i64);
        let region = REGIONS[(org % REGIONS.len() as u64) as usize];
        writeln!(
            cases,
            "{id},ombudsman_complaint,G{org:03},{},acute_trust,{region},{opened},{closed},upheld,ct,moderate,PT-{i}",
            organisation_name(org)
        )
        .map_err(io)?;
        let mut case_codes: Vec<&str> = Vec::new();
        for (ti, (theme, base_rate, codes)) in table.iter().enumerate() {
            let mut rate = *base_rate;
            if ti == 2 && outliers.contains(&org) {
                rate = OUTLIER_DELAY_RATE;
            }
            if ti == 1 && opened >= step {
                rate *= 2.0;
            }
            if rng.chance(rate) {
                *truth.themes.entry(theme.to_string()).or_insert(0) += 1;
                if ti == 1 {
                    if opened >= step {
                        truth.unfollowed_alert_from_step += 1;
                    } else {
                        truth.unfollowed_alert_before_step += 1;
                    }
                }
                let k = 1 + rng.below(2) as usize;
                for code in &codes[..k] {
                    writeln!(findings, "{id},{code},reporting").map_err(io)?;
                    n_findings += 1;
                    case_codes.push(code);
                }
            }
        }
        if i % 10 == 0 {
            truth.coded_cases += 1;
            let b: Vec<&str> = table
                .iter()
                .flat_map(|(_, _, codes)| codes.iter().map(String::as_str))
                .filter(|c| {
                    if case_codes.contains(c) {
                        !coding_rng.chance(0.1)
                    } else {
                        coding_rng.chance(0.01)
                    }
                })
                .collect();
            for (coder, given) in [("coder_a", &case_codes), ("coder_b", &b)] {
                if given.is_empty() {
                    writeln!(codings, "{id},{coder},,").map_err(io)?;
                    n_codings += 1;
                }
                for code in given.iter() {
                    writeln!(codings, "{id},{coder},{code},").map_err(io)?;
                    n_codings += 1;
                }
            }
            for (theme, _, codes) in &table {
                let has = |given: &[&str]| given.iter().any(|g| codes.iter().any(|c| c == g));
                let cell = match (has(&case_codes), has(&b)) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, true) => 2,
                    (false, false) => 3,
                };
                truth.coding_tables.entry(theme.clone()).or_insert([0; 4])[cell] += 1;
            }
        }
        let episodes = 1 + rng.below(3);
        for e in 1..=episodes {
            let urgency =
                ["critical", "urgent", "significant", "routine", ""][rng.below(5) as usize];
            let mut t = opened - Duration::days(200 - 40 * e as i64);
            for step_name in ["requested", "performed", "reported", "acted_on"] {
                writeln!(events, "{id},{e},{step_name},{t},{urgency}").map_err(io)?;
                n_events += 1;
                t += Duration::days(rng.below(30) as i64);
            }
        }
        if rng.chance(0.3) {
            writeln!(
                recs,
                "{id},apology,,{closed},{},pending",
                closed + Duration::days(30)
            )
            .map_err(io)?;
            n_recs += 1;
        }
        if rng.chance(0.1) {
            let amount = 250 * (1 + rng.below(40));
            writeln!(recs, "{id},financial_remedy,{amount}.00,{closed},,complied").map_err(io)?;
            n_recs += 1;
        }
    }
    truth.rows = BTreeMap::from([
        ("cases".to_string(), plan.cases),
        ("findings".to_string(), n_findings),
        ("events".to_string(), n_events),
        ("recommendations".to_string(), n_recs),
        ("codings".to_string(), n_codings),
    ]);
    for (theme, _, _) in &table {
        truth.themes.entry(theme.clone()).or_insert(0);
    }
    // Malformed rows, `bad` of each kind, after the valid ones.
    let first_year = start.year();
    let mut files = [cases, findings, events, recs];
    let (cases, findings, recs) = (0, 1, 3);
    for k in 0..plan.bad {
        let b = format!("bad{k:06}");
        let rows: [(usize, String, &str); 8] = [
            (
                cases,
                format!("{b}a,,G000,x,acute_trust,London,{first_year}-02-01,,,,,"),
                "required",
            ),
            (
                cases,
                format!("{b}b,tweet,G000,x,acute_trust,London,{first_year}-02-01,,,,,"),
                "allowed_values",
            ),
            (
                cases,
                format!(
                    "{b}c,ombudsman_complaint,G000,x,acute_trust,London,{first_year}-13-01,,,,,"
                ),
                "format",
            ),
            (
                cases,
                format!(
                    "{b}d,ombudsman_complaint,G000,x,acute_trust,London,{first_year}-05-01,{first_year}-04-01,,,,"
                ),
                "date_order",
            ),
            (
                cases,
                // A case already written: with more bad rows than cases, they cycle.
                format!(
                    "g{:09},ombudsman_complaint,G000,x,acute_trust,London,{first_year}-05-01,,,,,",
                    k % plan.cases.max(1)
                ),
                "duplicate_case_id",
            ),
            (
                findings,
                format!("g{:09},ZZ9,reporting", k % plan.cases.max(1)),
                "unknown_code",
            ),
            (findings, format!("{b}-none,UF1,reporting"), "unknown_case"),
            (
                recs,
                format!(
                    "g{:09},apology,10.00,2020-01-01,,pending",
                    k % plan.cases.max(1)
                ),
                "amount_kind",
            ),
        ];
        for (w, line, rule) in rows {
            writeln!(files[w], "{line}").map_err(io)?;
            *truth.bad_rows.entry(rule.to_string()).or_insert(0) += 1;
        }
    }
    for w in &mut files {
        w.flush().map_err(io)?;
    }
    codings.flush().map_err(io)?;
    let path = dir.join("truth.json");
    let text = serde_json::to_string_pretty(&truth).expect("truth serialises");
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    Ok(truth)
}
