//! Studies: what an analysis is about, in one file an analyst writes without Rust
//! (`data/studies/NAME/study.toml`, see docs/studies.md). A study names its code list
//! and delay thresholds (files beside it), its title and the noun for a case, which theme
//! (if any) is measured against the delay thresholds, which codes mean a repeated
//! failing, and a label per theme. The measures read these through the session's `study`
//! and `repeat_codes` tables (engine), never from literals in the SQL.
//!
//! Shipped: `phso-imaging-2021` (the default), `cfpb-complaints`, `fda-maude`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{CodeList, ConfigSource, Thresholds};

/// The shipped studies, built into the binary: (name, study.toml).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "phso-imaging-2021",
        include_str!("../../data/studies/phso-imaging-2021/study.toml"),
    ),
    (
        "cfpb-complaints",
        include_str!("../../data/studies/cfpb-complaints/study.toml"),
    ),
    (
        "fda-maude",
        include_str!("../../data/studies/fda-maude/study.toml"),
    ),
];

/// The study used when none is named.
pub const DEFAULT: &str = "phso-imaging-2021";

/// What a theme is, for the wording of its default headline (not its direction of
/// improvement, which is `better`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ThemeKind {
    /// Something that went wrong (the founding report's themes).
    #[default]
    Failing,
    /// An outcome of the case (a decision, a remedy).
    Outcome,
    /// Neither good nor bad in itself.
    Neutral,
}

/// Which direction of a theme's rate is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    #[default]
    Lower,
    Higher,
    Neither,
}

/// One theme as the study describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThemeSpec {
    /// The theme's name in the code list.
    pub theme: String,
    /// How the report names it ("Unreported findings").
    pub label: String,
    #[serde(default)]
    pub kind: ThemeKind,
    #[serde(default)]
    pub better: Better,
    /// What the headline says after its figures, in the study's own words: "there were
    /// delays in reporting the results of scans". Default: "the coded findings include
    /// the theme …".
    #[serde(default)]
    pub headline: Option<String>,
    /// A target for the theme's share of cases (0 to 1), met on the better side
    /// (`better`): the SPC chart draws it and the scorecard's assurance icon judges it.
    #[serde(default)]
    pub target: Option<f64>,
    /// The month the target applies from (YYYY-MM); none: throughout.
    #[serde(default)]
    pub target_from: Option<String>,
    /// Rebases of the theme's SPC chart, each from a month with its recorded reason:
    /// the limits are computed afresh from there. None is ever made automatically.
    #[serde(default, rename = "rebase")]
    pub rebases: Vec<RebaseSpec>,
}

/// A rebase of a theme's SPC chart, as the study records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebaseSpec {
    /// The first month of the new process (YYYY-MM).
    pub from: String,
    /// Why the process changed there ("new triage from April 2022").
    pub reason: String,
}

/// A month written YYYY-MM (or a date YYYY-MM-DD), as its first day.
pub fn month_start(text: &str) -> Option<chrono::NaiveDate> {
    let t = text.trim();
    chrono::NaiveDate::parse_from_str(&format!("{t}-01"), "%Y-%m-%d")
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d"))
        .ok()
        .and_then(|d| {
            chrono::NaiveDate::from_ymd_opt(
                chrono::Datelike::year(&d),
                chrono::Datelike::month(&d),
                1,
            )
        })
}

/// A stage as the study names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// The stage's value in the bundle (`reporting`).
    pub stage: String,
    /// How the report names it ("Reporting the scan").
    pub label: String,
}

/// A study, as read from its `study.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// The report's title.
    pub title: String,
    /// The noun for one case ("complaint", "decision", "report").
    #[serde(default = "default_noun")]
    pub case_noun: String,
    /// Its plural, where adding "s" is wrong ("inquiries").
    #[serde(default)]
    pub case_noun_plural: Option<String>,
    /// The noun for one organisation ("landlord", "company", "trust"): captions, axes,
    /// table headers and sentences use it.
    #[serde(default = "default_organisation_noun")]
    pub organisation_noun: String,
    /// Its plural, where adding "s" is wrong ("bodies").
    #[serde(default)]
    pub organisation_noun_plural: Option<String>,
    /// What the bundle's `opened_date` is in this study ("date of decision"); none:
    /// "date opened".
    #[serde(default)]
    pub opened_date_label: Option<String>,
    /// What the bundle's `closed_date` is in this study; none: "date closed".
    #[serde(default)]
    pub closed_date_label: Option<String>,
    /// The code list (CSV), relative to the study's folder.
    pub codes: String,
    /// The delay thresholds (TOML), relative to the study's folder; none: the spec's.
    #[serde(default)]
    pub thresholds: Option<String>,
    /// The theme measured against the delay thresholds (`delay_coded_vs_measured`);
    /// none: the study has no delay theme, and delay comparisons are left out.
    #[serde(default)]
    pub delay_theme: Option<String>,
    /// Codes that mean a repeated failing (`learning`'s `repeat_failures`).
    #[serde(default)]
    pub repeat_codes: Vec<String>,
    /// Whether one code recorded twice in a case also counts as a repeated failing.
    #[serde(default)]
    pub repeat_when_a_code_recurs: bool,
    /// A recommendations tracker CSV (number, text, owner, due_date, status, evidence),
    /// relative to the study's folder; none: the report has no tracker section unless
    /// `--tracker` gives one. Once loaded, the path as found (`embedded:…` for a shipped
    /// study).
    #[serde(default)]
    pub tracker: Option<String>,
    /// What the bundle's second grouping (`region`) is in this study ("Landlord type",
    /// "Product"): the report's page names it so; the data keeps `region`.
    #[serde(default)]
    pub second_grouping: Option<String>,
    /// The organisation types the study's cases may have (`organisation_type`): a
    /// landlord's, a firm's; none: the bundle spec's NHS list.
    #[serde(default)]
    pub organisation_types: Vec<String>,
    /// The stages of the journey as the study names them, in their order (the stage
    /// chart's order and labels); none: the bundle spec's stages, named as written.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageSpec>,
    /// Per theme: label, kind and better direction.
    #[serde(default, rename = "theme")]
    pub themes: Vec<ThemeSpec>,
    /// Funnel plots: a unit with fewer cases than this is drawn but not judged (its
    /// significance is "not judged"; it is never flagged). Default 10, after Public Health
    /// England's practice of not calculating an indicator's value from fewer than 10
    /// (PHEindicatormethods: "dsr NA for total count < 10"; PHE Fingertips technical
    /// guidance). 1 judges every unit.
    #[serde(default = "default_min_denominator")]
    pub min_denominator: u64,
    /// What `--publish` publishes and how (`[publication]`; docs/studies.md): the rule's
    /// name, threshold, rounding, filters, periods, date and amount unit.
    #[serde(default)]
    pub publication: crate::spec::publication::Settings,
    /// Themes read per exposure (`[exposure]`; docs/studies.md): complaints per 1,000
    /// homes, per 10,000 episodes.
    #[serde(default)]
    pub exposure: Option<ExposureSpec>,
}

/// An exposure per organisation, and per period where the data has one: what the themes
/// it names are read per.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureSpec {
    /// What is counted ("homes", "episodes", "£1m of turnover").
    pub unit: String,
    /// Rates are per this many of the unit (1000: per 1,000 homes).
    #[serde(default = "one")]
    pub per: f64,
    /// A CSV beside study.toml (`organisation_code`, `exposure`, and optionally `period`,
    /// a period of the calendar grid: 2024, FY2024-25, 2024-Q2, 2024-05). Read when the
    /// study is loaded; its values are kept in the warehouse's copy of the study.
    #[serde(default)]
    pub file: Option<String>,
    /// The values (from `file`, or written here).
    #[serde(default)]
    pub values: Vec<ExposureValue>,
    /// The themes read per exposure (none listed: every theme).
    #[serde(default)]
    pub themes: Vec<String>,
    /// The funnel's method for the standardised ratios: "shmi" (the default) or "cqc".
    #[serde(default)]
    pub method: RatioMethod,
}

fn one() -> f64 {
    1.0
}

/// How a funnel of standardised ratios is adjusted (FunnelPlotR's `sr_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioMethod {
    /// NHS England's SHMI: log scale, 10% truncation.
    #[default]
    Shmi,
    /// CQC: square-root scale, 10% winsorising.
    Cqc,
}

/// One organisation's exposure, for a period or throughout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureValue {
    pub organisation_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    pub exposure: f64,
}

/// The columns of an exposure lookup: by default `organisation_code`, `exposure` and
/// (when present) `period`; a mapping's `[exposure]` names the export's own.
#[derive(Debug, Clone)]
pub struct ExposureColumns {
    pub organisation_code: String,
    pub exposure: String,
    pub period: Option<String>,
    /// Whether `period` was named (then the file must have it).
    pub period_named: bool,
}

impl Default for ExposureColumns {
    fn default() -> Self {
        ExposureColumns {
            organisation_code: "organisation_code".into(),
            exposure: "exposure".into(),
            period: Some("period".into()),
            period_named: false,
        }
    }
}

impl ExposureSpec {
    /// "per 1,000 homes": what a rate is per.
    pub fn per_words(&self) -> String {
        if self.per == 1.0 {
            format!("per {}", self.unit)
        } else if self.per.fract() == 0.0 && self.per < 1e15 {
            format!(
                "per {} {}",
                crate::spec::thousands(self.per as i64),
                self.unit
            )
        } else {
            format!("per {} {}", self.per, self.unit)
        }
    }

    /// Whether a theme is read per exposure.
    pub fn reads(&self, theme: &str) -> bool {
        self.themes.is_empty() || self.themes.iter().any(|t| t == theme)
    }

    /// Reads the values of a lookup CSV; an error names the file, line and column.
    pub fn read_file(path: &Path) -> Result<Vec<ExposureValue>> {
        Self::read_file_with(path, &ExposureColumns::default())
    }

    /// `read_file` with the file's own column names (a mapping's `[exposure]`).
    pub fn read_file_with(path: &Path, names: &ExposureColumns) -> Result<Vec<ExposureValue>> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let bad = |line: usize, message: String| Error::Config {
            file: path.to_path_buf(),
            message: format!("line {line}: {message}"),
        };
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers: Vec<String> = r
            .headers()
            .map_err(|e| bad(1, e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let at = |name: &str| headers.iter().position(|h| h == name);
        let (Some(org), Some(value)) = (at(&names.organisation_code), at(&names.exposure)) else {
            return Err(bad(
                1,
                format!(
                    "an exposure lookup has the columns {} and {} (and optionally {}); the header has: {}",
                    names.organisation_code,
                    names.exposure,
                    names.period.as_deref().unwrap_or("period"),
                    headers.join(", ")
                ),
            ));
        };
        let period = match &names.period {
            Some(p) if names.period_named => Some(at(p).ok_or_else(|| {
                bad(
                    1,
                    format!(
                        "no column {p:?} (the mapping's period column); the header has: {}",
                        headers.join(", ")
                    ),
                )
            })?),
            Some(p) => at(p),
            None => None,
        };
        let mut out = Vec::new();
        for (i, rec) in r.records().enumerate() {
            let line = i + 2;
            let rec = rec.map_err(|e| bad(line, e.to_string()))?;
            let code = rec.get(org).unwrap_or("").trim().to_string();
            if code.is_empty() {
                return Err(bad(
                    line,
                    "column organisation_code: empty; an organisation's code was expected".into(),
                ));
            }
            let raw = rec.get(value).unwrap_or("").trim();
            let exposure: f64 = raw
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .ok_or_else(|| {
                    bad(
                        line,
                        format!("column exposure: {raw:?} is not a number above 0"),
                    )
                })?;
            let p = period
                .and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            if let Some(p) = &p {
                crate::spec::grid::Period::parse(p)
                    .map_err(|e| bad(line, format!("column period: {e}")))?;
            }
            out.push(ExposureValue {
                organisation_code: code,
                period: p,
                exposure,
            });
        }
        Ok(out)
    }

    /// The days a value covers: `None` for a value throughout (a stock, such as homes,
    /// read as it is for any period), else its period's first and last days.
    fn span(v: &ExposureValue) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
        v.period
            .as_deref()
            .and_then(|p| crate::spec::grid::Period::parse(p).ok())
            .and_then(|p| p.days())
    }

    /// The exposure of `values` over the days `from` to `to` (either open: the values'
    /// own ends): a value throughout as it is, a period's value in proportion to the
    /// days of the period inside `from`–`to`. `None` when no value reaches those days.
    fn over<'a>(
        values: impl Iterator<Item = &'a ExposureValue>,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> Option<f64> {
        let mut total: Option<f64> = None;
        for v in values {
            let share = match Self::span(v) {
                None => 1.0,
                Some((a, b)) => {
                    let lo = from.map_or(a, |f| f.max(a));
                    let hi = to.map_or(b, |t| t.min(b));
                    if hi < lo {
                        continue;
                    }
                    ((hi - lo).num_days() + 1) as f64 / ((b - a).num_days() + 1) as f64
                }
            };
            *total.get_or_insert(0.0) += v.exposure * share;
        }
        total
    }

    /// An organisation's exposure over the days `from` to `to` (see `over`): its value
    /// throughout, or its periods' values in proportion to their days inside.
    pub fn of(
        &self,
        organisation: &str,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
    ) -> Option<f64> {
        Self::over(
            self.values
                .iter()
                .filter(|v| v.organisation_code == organisation),
            from,
            to,
        )
    }

    /// The exposure in each of `months` (first days), over every organisation of the
    /// lookup or `organisation` alone: values throughout as they are, a period's value
    /// in proportion to its days in the month. A month with none is left out.
    pub fn per_month(
        &self,
        months: &[chrono::NaiveDate],
        organisation: Option<&str>,
    ) -> std::collections::BTreeMap<chrono::NaiveDate, f64> {
        let mut out = std::collections::BTreeMap::new();
        for &m in months {
            let last = crate::spec::grid::Period::Month(
                chrono::Datelike::year(&m),
                chrono::Datelike::month(&m),
            )
            .days()
            .map_or(m, |d| d.1);
            let values = self
                .values
                .iter()
                .filter(|v| organisation.is_none_or(|o| v.organisation_code == o));
            if let Some(x) = Self::over(values, Some(m), Some(last)).filter(|x| *x > 0.0) {
                out.insert(m, x);
            }
        }
        out
    }

    /// The organisations of the lookup, each once, in their first order.
    pub fn organisations(&self) -> Vec<&str> {
        let mut seen = std::collections::BTreeSet::new();
        self.values
            .iter()
            .map(|v| v.organisation_code.as_str())
            .filter(|c| seen.insert(*c))
            .collect()
    }

    /// The values' rules: a positive number each; per organisation either one value
    /// throughout or values for periods that do not overlap.
    pub fn check_values(&self) -> std::result::Result<(), String> {
        let mut by: std::collections::BTreeMap<&str, Vec<&ExposureValue>> = Default::default();
        for v in &self.values {
            if !(v.exposure.is_finite() && v.exposure > 0.0) {
                return Err(format!(
                    "the exposure of {} is {}; an exposure is a number above 0",
                    v.organisation_code, v.exposure
                ));
            }
            if let Some(p) = &v.period {
                let period = crate::spec::grid::Period::parse(p)?;
                if period.days().is_none() {
                    return Err(format!(
                        "the exposure of {} is for {p:?}; give it without a period to hold throughout",
                        v.organisation_code
                    ));
                }
            }
            by.entry(v.organisation_code.as_str()).or_default().push(v);
        }
        for (code, vs) in by {
            let throughout = vs.iter().filter(|v| v.period.is_none()).count();
            if throughout > 0 && vs.len() > 1 {
                return Err(format!(
                    "organisation {code} has {} exposure values, {throughout} of them without a period: give one value throughout, or one per period",
                    vs.len()
                ));
            }
            let mut spans: Vec<(chrono::NaiveDate, chrono::NaiveDate, &str)> = vs
                .iter()
                .filter_map(|v| {
                    Self::span(v).map(|(a, b)| (a, b, v.period.as_deref().unwrap_or("")))
                })
                .collect();
            spans.sort();
            for w in spans.windows(2) {
                if w[1].0 <= w[0].1 {
                    return Err(format!(
                        "organisation {code} has exposures for {} and {}, which overlap: give each day's exposure once",
                        w[0].2, w[1].2
                    ));
                }
            }
        }
        Ok(())
    }
}

fn default_min_denominator() -> u64 {
    MIN_DENOMINATOR
}

/// The minimum denominator of a funnel's judgement when the study gives none.
pub const MIN_DENOMINATOR: u64 = 10;

fn default_organisation_noun() -> String {
    "organisation".into()
}

fn default_noun() -> String {
    "case".into()
}

/// A study with its code list and thresholds loaded and checked against each other.
#[derive(Debug, Clone)]
pub struct Study {
    pub name: String,
    pub file: StudyFile,
    pub codes: CodeList,
    pub thresholds: Thresholds,
    /// The study.toml as read, for the warehouse to keep.
    pub source: ConfigSource,
}

impl Study {
    /// A shipped study by name, or a folder holding `study.toml` (or the file itself).
    pub fn load(name_or_path: Option<&str>) -> Result<Study> {
        let name = name_or_path.unwrap_or(DEFAULT);
        if let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name) {
            let folder = PathBuf::from("data/studies").join(name);
            return Study::parse(
                text,
                &format!("embedded:data/studies/{name}/study.toml"),
                &folder,
                true,
            );
        }
        let path = Path::new(name);
        let file = if path.is_dir() {
            path.join("study.toml")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| Error::Config {
            file: file.clone(),
            message: format!(
                "cannot read the study ({e}); give a folder holding study.toml, or one of: {}",
                SHIPPED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        let folder = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        Study::parse(&text, &file.display().to_string(), &folder, false)
    }

    /// Reads a study's text; `folder` is where its code list and thresholds are.
    /// `embedded`: a shipped study, whose files are built into the binary too.
    pub fn parse(text: &str, name: &str, folder: &Path, embedded: bool) -> Result<Study> {
        let bad = |message: String| Error::Config {
            file: PathBuf::from(name),
            message,
        };
        let file: StudyFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            bad(format!("line {line}: {}", e.message()))
        })?;
        let codes = if embedded {
            CodeList::embedded(&file.codes).ok_or_else(|| {
                bad(format!(
                    "the code list {} is not built into casework",
                    file.codes
                ))
            })?
        } else {
            CodeList::load(Some(&folder.join(&file.codes)))?
        };
        let thresholds = match (&file.thresholds, embedded) {
            (None, _) => Thresholds::load(None)?,
            (Some(t), true) => Thresholds::embedded(t)
                .ok_or_else(|| bad(format!("the thresholds {t} are not built into casework")))?,
            (Some(t), false) => Thresholds::load(Some(&folder.join(t)))?,
        };
        file.check(&codes, text).map_err(bad)?;
        let mut file = file;
        if let Some(e) = &mut file.exposure
            && let Some(f) = &e.file
        {
            if embedded {
                return Err(bad("a shipped study has no exposure lookup".into()));
            }
            if !e.values.is_empty() {
                return Err(bad(
                    "[exposure] gives both file and values: give one of them".into(),
                ));
            }
            e.values = ExposureSpec::read_file(&folder.join(f))?;
        }
        // Values may also come with the data (a bundle's exposure.csv, a mapping's
        // [exposure]); an ingest refuses a study left without any (`ingest::run`).
        if let Some(e) = &file.exposure {
            e.check_values()
                .map_err(|m| bad(format!("[exposure]: {m}")))?;
        }
        file.tracker = file.tracker.map(|t| {
            if embedded {
                format!("embedded:{}", crate::spec::from_study_folder(&t))
            } else {
                folder.join(t).display().to_string()
            }
        });
        Ok(Study {
            name: name.to_string(),
            file,
            codes,
            thresholds,
            source: ConfigSource::of(name.to_string(), text),
        })
    }
}

impl StudyFile {
    /// The study of a code list that has none: its themes as the code list names them,
    /// no delay theme and no repeated-failing rule (so those measures are absent, not
    /// zero). The founding report's code list (imaging-themes.csv) gets the founding study.
    pub fn for_code_list(codes: &CodeList) -> StudyFile {
        if codes.source.name == CodeList::spec_default().source.name {
            return Study::load(None).expect("the default study loads").file;
        }
        StudyFile {
            title: "What the case data shows".into(),
            case_noun: default_noun(),
            case_noun_plural: None,
            organisation_noun: default_organisation_noun(),
            organisation_noun_plural: None,
            opened_date_label: None,
            closed_date_label: None,
            min_denominator: MIN_DENOMINATOR,
            codes: codes.source.name.clone(),
            thresholds: None,
            delay_theme: None,
            repeat_codes: Vec::new(),
            repeat_when_a_code_recurs: false,
            tracker: None,
            second_grouping: None,
            organisation_types: Vec::new(),
            stages: Vec::new(),
            themes: Vec::new(),
            publication: Default::default(),
            exposure: None,
        }
    }

    /// A study kept in a warehouse (its `study.toml`), checked against the code list
    /// kept with it.
    pub fn parse_stored(text: &str, name: &str, codes: &CodeList) -> Result<StudyFile> {
        let bad = |message: String| Error::Config {
            file: PathBuf::from(name),
            message,
        };
        let file: StudyFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        file.check(codes, text).map_err(bad)?;
        Ok(file)
    }

    /// Exposure values from the data (a bundle's `exposure.csv`, a mapping's
    /// `[exposure]`), read from `from`: they replace the study's lookup. The study must
    /// say what the exposure is (`[exposure]` with its unit).
    pub fn take_exposure(&mut self, values: Vec<ExposureValue>, from: &Path) -> Result<()> {
        let Some(e) = &mut self.exposure else {
            return Err(Error::Config {
                file: from.to_path_buf(),
                message: "exposure values, but the study in force reads no theme per exposure: give [exposure] with its unit (and per) in study.toml (docs/studies.md)".into(),
            });
        };
        if values.is_empty() {
            return Err(Error::Config {
                file: from.to_path_buf(),
                message: "line 2: no exposure values (a header and no rows)".into(),
            });
        }
        e.values = values;
        e.file = None;
        e.check_values().map_err(|m| Error::Config {
            file: from.to_path_buf(),
            message: m,
        })
    }

    /// The study as TOML, to keep in a warehouse.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a study serialises")
    }

    /// The study against a code list: every theme and code it names exists there.
    pub fn check(&self, codes: &CodeList, text: &str) -> std::result::Result<(), String> {
        let themes = codes.themes();
        let line_of = |needle: &str| {
            text.lines()
                .position(|l| l.contains(needle))
                .map_or(1, |i| i + 1)
        };
        if let Some(t) = &self.delay_theme
            && !themes.contains(t)
        {
            return Err(format!(
                "line {}: delay_theme {t:?} is not a theme of the code list {} (its themes: {})",
                line_of("delay_theme"),
                codes.source.name,
                themes.join(", ")
            ));
        }
        for s in &self.stages {
            if !crate::spec::STAGES.contains(&s.stage.as_str()) {
                return Err(format!(
                    "line {}: stage {:?} is not a stage of the bundle (its stages: {})",
                    line_of(&format!("\"{}\"", s.stage)),
                    s.stage,
                    crate::spec::STAGES.join(", ")
                ));
            }
        }
        for c in &self.repeat_codes {
            if !codes.contains(c) {
                return Err(format!(
                    "line {}: repeat code {c:?} is not in the code list {}",
                    line_of("repeat_codes"),
                    codes.source.name
                ));
            }
        }
        for (i, t) in self.themes.iter().enumerate() {
            if !themes.contains(&t.theme) {
                return Err(format!(
                    "line {}: [[theme]] {} names {:?}, which is not a theme of the code list (its themes: {})",
                    line_of(&format!("\"{}\"", t.theme)),
                    i + 1,
                    t.theme,
                    themes.join(", ")
                ));
            }
            if self.themes[..i].iter().any(|o| o.theme == t.theme) {
                return Err(format!(
                    "line {}: theme {:?} is described twice",
                    line_of(&format!("\"{}\"", t.theme)),
                    t.theme
                ));
            }
            let per_exposure = self.exposure.as_ref().is_some_and(|e| e.reads(&t.theme));
            if let Some(target) = t.target
                && !(0.0..=1.0).contains(&target)
                && !(per_exposure && target >= 0.0)
            {
                return Err(format!(
                    "line {}: the target of {:?} is {target}; a target is a share of cases, from 0 to 1",
                    line_of("target"),
                    t.theme
                ));
            }
            let months = t
                .target_from
                .iter()
                .chain(t.rebases.iter().map(|r| &r.from));
            for m in months {
                if month_start(m).is_none() {
                    return Err(format!(
                        "line {}: {m:?} (theme {:?}) is not a month YYYY-MM",
                        line_of(m),
                        t.theme
                    ));
                }
            }
            if t.target_from.is_some() && t.target.is_none() {
                return Err(format!(
                    "line {}: theme {:?} has target_from but no target",
                    line_of("target_from"),
                    t.theme
                ));
            }
        }
        if let Some(e) = &self.exposure {
            for t in &e.themes {
                if !themes.contains(t) {
                    return Err(format!(
                        "line {}: [exposure] names theme {t:?}, which is not a theme of the code list",
                        line_of("themes")
                    ));
                }
            }
            if !(e.per.is_finite() && e.per > 0.0) {
                return Err(format!(
                    "line {}: [exposure] per must be above 0",
                    line_of("per")
                ));
            }
        }
        Ok(())
    }

    /// A stage's place and label: the study's order and words, else the bundle spec's
    /// order and the value made readable.
    pub fn stage(&self, value: &str) -> (usize, String) {
        if let Some(i) = self.stages.iter().position(|s| s.stage == value) {
            return (i, self.stages[i].label.clone());
        }
        let at = crate::spec::STAGES
            .iter()
            .position(|s| *s == value)
            .unwrap_or(crate::spec::STAGES.len());
        (self.stages.len() + at, value.replace('_', " "))
    }

    /// The plural of the organisation noun ("organisations", "landlords").
    pub fn organisations(&self) -> String {
        self.organisation_noun_plural
            .clone()
            .unwrap_or_else(|| format!("{}s", self.organisation_noun))
    }

    /// How the study names a case date field: "date of decision" for `opened_date`.
    pub fn date_label(&self, field: crate::spec::grid::DateField) -> String {
        use crate::spec::grid::DateField;
        match field {
            DateField::OpenedDate => self
                .opened_date_label
                .clone()
                .unwrap_or_else(|| "date opened".into()),
            DateField::ClosedDate => self
                .closed_date_label
                .clone()
                .unwrap_or_else(|| "date closed".into()),
        }
    }

    /// The plural of the case noun ("cases", "complaints").
    pub fn cases(&self) -> String {
        self.case_noun_plural
            .clone()
            .unwrap_or_else(|| format!("{}s", self.case_noun))
    }

    /// What a theme's headline says after its figures: the study's words, else words
    /// for the theme's kind (a failing is found, an outcome is what the case came to, a
    /// neutral theme is how it was coded).
    pub fn headline_words(&self, theme: &str) -> String {
        let spec = self.themes.iter().find(|t| t.theme == theme);
        if let Some(words) = spec.and_then(|t| t.headline.clone()) {
            return words;
        }
        let label = self.label(theme).to_lowercase();
        match spec.map_or(ThemeKind::Failing, |t| t.kind) {
            ThemeKind::Failing => format!("the coded findings include the theme {label}"),
            ThemeKind::Outcome => format!("the outcome was {label}"),
            ThemeKind::Neutral => format!("the {} was coded {label}", self.case_noun),
        }
    }

    /// A theme's description, if the study has one.
    pub fn theme(&self, theme: &str) -> Option<&ThemeSpec> {
        self.themes.iter().find(|t| t.theme == theme)
    }

    /// Which direction of a theme's rate is better (lower, unless the study says).
    pub fn better(&self, theme: &str) -> Better {
        self.themes
            .iter()
            .find(|t| t.theme == theme)
            .map_or(Better::Lower, |t| t.better)
    }

    /// The label of a theme: the study's, else the theme's name made readable.
    pub fn label(&self, theme: &str) -> String {
        self.themes
            .iter()
            .find(|t| t.theme == theme)
            .map(|t| t.label.clone())
            .unwrap_or_else(|| {
                let mut s = theme.replace('_', " ");
                if let Some(first) = s.get(0..1) {
                    s.replace_range(0..1, &first.to_uppercase());
                }
                s
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_studies_load_against_their_code_lists() {
        for (name, _) in SHIPPED {
            let s = Study::load(Some(name)).unwrap();
            assert!(!s.codes.codes.is_empty(), "{name}");
        }
        let imaging = Study::load(None).unwrap();
        assert_eq!(imaging.file.delay_theme.as_deref(), Some("delay"));
        assert_eq!(imaging.file.repeat_codes, ["LL4"]);
        assert_eq!(
            Study::load(Some("cfpb-complaints"))
                .unwrap()
                .file
                .delay_theme,
            None
        );
    }

    #[test]
    fn a_study_naming_what_its_code_list_lacks_is_refused_with_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(
            dir.join("codes.csv"),
            "code,theme,meaning\nA1,late,x\nB1,rude,y\n",
        )
        .unwrap();
        let load = |text: &str| {
            std::fs::write(dir.join("study.toml"), text).unwrap();
            Study::load(Some(dir.to_str().unwrap())).map(|_| ())
        };
        let write = |text: &str| load(text).unwrap_err().to_string();
        let err = write("title = \"T\"\ncodes = \"codes.csv\"\ndelay_theme = \"delay\"\n");
        assert!(
            err.contains("line 3") && err.contains("late, rude"),
            "{err}"
        );
        let err = write("title = \"T\"\ncodes = \"codes.csv\"\nrepeat_codes = [\"Z9\"]\n");
        assert!(err.contains("line 3") && err.contains("Z9"), "{err}");
        let err = write("title = \"T\"\ncodes = \"codes.csv\"\ncolour = \"red\"\n");
        assert!(err.contains("line 3") && err.contains("colour"), "{err}");
        let err = write(
            "title = \"T\"\ncodes = \"codes.csv\"\n\n[[theme]]\ntheme = \"slow\"\nlabel = \"Slow\"\n",
        );
        assert!(err.contains("line 5") && err.contains("slow"), "{err}");
        load("title = \"T\"\ncodes = \"codes.csv\"\ndelay_theme = \"late\"\n").unwrap();
        // Stages: the study's order and words, checked against the bundle's stages.
        let err = write(
            "title = \"T\"\ncodes = \"codes.csv\"\n\n[[stage]]\nstage = \"triage\"\nlabel = \"Triage\"\n",
        );
        assert!(err.contains("line 5") && err.contains("triage"), "{err}");
        std::fs::write(
            dir.join("study.toml"),
            "title = \"T\"\ncodes = \"codes.csv\"\n\n[[stage]]\nstage = \"reporting\"\nlabel = \"Reporting the scan\"\n",
        )
        .unwrap();
        let s = Study::load(Some(dir.to_str().unwrap())).unwrap();
        assert_eq!(
            s.file.stage("reporting"),
            (0, "Reporting the scan".to_string())
        );
        let (place, label) = s.file.stage("communication");
        assert!(place > 0 && label == "communication", "{place} {label}");
    }
}
