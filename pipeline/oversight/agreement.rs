//! Coding reliability: how far coders agree, per code and per theme, from the counts of
//! the `coding_agreement` measure and the coefficients of `stats::agreement`; and the
//! list of disagreements for adjudication (`queries/lists/coding_disagreements.sql`).
//!
//! Conventions casework adds (docs/measures.md, "Coding reliability"):
//! - kappa, AC1, the observed agreement and the indices are over the cases every coder
//!   of the sample coded; alpha over every case two or more coders coded (it allows
//!   missing codings);
//! - kappa is Cohen's with two coders (with its 95% interval) and Fleiss' with more;
//! - "a theme with agreement below substantial" is a kappa under 0.61 (Landis and Koch).

use std::collections::BTreeMap;
use std::path::PathBuf;

use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::error::Result;
use crate::measures::rows::{Agreement, AgreementCell};
use crate::measures::{self, Context, Count, Output, Place, Public, Rule, Table};
use crate::stats::Published;
use crate::stats::agreement::{
    BOOTSTRAP_DRAWS, BOOTSTRAP_SEED, cohen, fleiss, gwet_ac1, indices, krippendorff_band,
    krippendorff_bootstrap, krippendorff_nominal, landis_koch,
};

/// Confidence level of the kappa and alpha intervals.
pub const LEVEL: f64 = 0.95;

/// Below this kappa a theme's figures carry a caveat (Landis and Koch's "substantial"
/// starts at 0.61).
pub const SUBSTANTIAL: f64 = 0.61;

/// The agreement table and the disagreements.
#[derive(Debug, Clone)]
pub struct Reliability {
    /// `Table::Agreement` rows, codes then themes, in code-list order.
    pub output: Output,
    /// The same for publication (when asked): computed from the published (rounded)
    /// counts of the cells, as funnels are, so that no figure gives the exact counts
    /// back; every coefficient withheld where a cell's count is suppressed.
    pub published: Output<Public>,
    /// Cases in the sample (coded by two or more coders).
    pub sample_cases: u64,
    /// The sample as published (when asked).
    pub published_sample: Option<Published>,
    pub coders: u64,
    /// Coders that are models (`model:NAME`, `casework suggest --write`), not people.
    pub models: Vec<String>,
    pub disagreements: Disagreements,
}

/// One row per case and code where coders differ, with each coder's answer.
#[derive(Debug, Clone, Default)]
pub struct Disagreements {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Disagreements {
    pub fn csv(&self) -> String {
        measures::table_csv(&self.columns, &self.rows, None)
    }
}

impl Reliability {
    /// Whether the warehouse holds a double-coded sample in scope.
    pub fn present(&self) -> bool {
        self.sample_cases > 0
    }

    /// The sample's size as a sentence writes it: published when `publish`.
    pub fn sample_text(&self, publish: bool) -> String {
        let n = if publish {
            self.published_sample.and_then(|p| p.value())
        } else {
            Some(self.sample_cases)
        };
        n.map_or("*".to_string(), |n| {
            crate::report::chart::thousands(n as i64)
        })
    }

    /// The theme rows.
    pub fn themes(&self) -> impl Iterator<Item = &Agreement> {
        self.output
            .rows
            .agreement()
            .iter()
            .filter(|r| r.level == "theme")
    }
}

/// The caveat for a kappa below substantial, or none.
pub fn caveat(kappa: f64) -> Option<String> {
    if kappa >= SUBSTANTIAL {
        return None;
    }
    let how = match landis_koch(kappa) {
        "poor" => "no better than chance",
        "slight" => "only slightly",
        "fair" => "only fairly",
        _ => "moderately",
    };
    Some(format!(
        "coders agreed {how} on this theme (kappa {kappa:.2}): treat the figure as approximate"
    ))
}

/// Runs `coding_agreement` and the disagreement list, and computes the coefficients;
/// with `publish`, also from the published cells.
/// Restricts the session's `codings` to these coders (`casework agreement --coder`): a
/// model's codes against one person's are then measured as any two coders' are. Every
/// name must be a coder of the warehouse.
pub async fn only_coders(ctx: &SessionContext, coders: &[String]) -> Result<()> {
    let all = ctx.table_provider("codings").await?;
    let names = coder_names(ctx, "").await?;
    if let Some(unknown) = coders.iter().find(|c| !names.contains(c)) {
        return Err(crate::Error::Usage(format!(
            "--coder {unknown:?}: no such coder in the warehouse's codings (its coders: {})",
            names.join(", ")
        )));
    }
    ctx.deregister_table("codings")?;
    ctx.register_table("codings_of_every_coder", all)?;
    let list = coders
        .iter()
        .map(|c| format!("'{}'", c.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    ctx.sql(&format!(
        "CREATE VIEW codings AS SELECT * FROM codings_of_every_coder WHERE coder IN ({list})"
    ))
    .await?
    .collect()
    .await?;
    Ok(())
}

/// The coders of the session's `codings` (those `filter`, a WHERE clause, keeps), in
/// order.
async fn coder_names(ctx: &SessionContext, filter: &str) -> Result<Vec<String>> {
    measures::first_column_text(
        ctx,
        &format!("SELECT DISTINCT CAST(coder AS VARCHAR) FROM codings {filter} ORDER BY 1"),
        std::path::Path::new("(agreement: the coders)"),
    )
    .await
}

pub async fn agreement(
    ctx: &SessionContext,
    c: &Context<'_>,
    publish: Option<&dyn Rule>,
) -> Result<Reliability> {
    let cells = measures::run(ctx, measures::find("coding_agreement")?, c).await?;
    let file = PathBuf::from("queries/lists/coding_disagreements.sql");
    let batches = measures::sql_batches(
        ctx,
        include_str!("../../queries/lists/coding_disagreements.sql"),
        &file,
        Vec::new(),
    )
    .await?;
    let disagreements = pivot(&measures::to_rows(&batches)?);
    let rows = coefficients(cells.rows.coding_agreement(), c, None);
    let published = match publish {
        Some(r) => Output::new(
            "agreement",
            c,
            Table::Agreement(coefficients(cells.rows.coding_agreement(), c, Some(r))),
        )
        .publish(r),
        None => Output::new("agreement", c, Table::Agreement(Vec::new()))
            .with_rows(Table::Agreement(Vec::new())),
    };
    let first = cells.rows.coding_agreement().first();
    let coders = first.map_or(0, |r| r.sample_coders.max(0) as u64);
    let sample_cases = first.map_or(0, |f| {
        cells
            .rows
            .coding_agreement()
            .iter()
            .filter(|r| r.level == f.level && r.item == f.item)
            .map(|r| r.cases.0)
            .sum()
    });
    let published_sample = publish.and_then(|r| {
        let first = cells.rows.coding_agreement().first()?;
        Some(r.count(
            Place::View,
            &measures::family::agreement(&first.level, &first.item),
            "all",
            Count(sample_cases),
        ))
    });
    let models = coder_names(
        ctx,
        &format!("WHERE coder LIKE '{}%'", crate::suggest::store::MODEL_CODER),
    )
    .await?;
    Ok(Reliability {
        output: Output::new("agreement", c, Table::Agreement(rows)),
        models,
        published,
        sample_cases,
        published_sample,
        coders,
        disagreements,
    })
}

/// The coefficients of every code and theme from the measure's cells; `publish`: from
/// the cells' published counts (a suppressed count leaves its cell at 0 and marks the
/// row's small cell, so that publication withholds every figure of it).
pub fn coefficients(
    cells: &[AgreementCell],
    c: &Context<'_>,
    publish: Option<&dyn Rule>,
) -> Vec<Agreement> {
    let mut items: BTreeMap<(bool, i64, String), Vec<&AgreementCell>> = BTreeMap::new();
    for cell in cells {
        items
            .entry((cell.level == "theme", cell.item_order, cell.item.clone()))
            .or_default()
            .push(cell);
    }
    items
        .into_iter()
        .map(|((is_theme, _, item), cells)| {
            let theme = (!is_theme)
                .then(|| {
                    c.codes
                        .codes
                        .iter()
                        .find(|k| k.code == item)
                        .map(|k| k.theme.clone())
                })
                .flatten();
            let level = if is_theme { "theme" } else { "code" };
            let Some(rule) = publish else {
                return one(level, item, theme, &cells);
            };
            let shown_of = |cell: &AgreementCell| {
                rule.count(
                    Place::View,
                    &measures::family::agreement(&cell.level, &cell.item),
                    &cell.category(),
                    cell.cases,
                )
            };
            let raw = Counts::of(&cells);
            // The figures from the published cells; the counts stay the raw ones here
            // and are published with the row (`Agreement::publish`).
            let published: Vec<Option<u64>> =
                cells.iter().map(|cell| shown_of(cell).value()).collect();
            let suppressed = published.iter().any(Option::is_none);
            let shown: Vec<AgreementCell> = cells
                .iter()
                .zip(&published)
                .map(|(cell, p)| AgreementCell {
                    cases: Count(p.unwrap_or(0)),
                    ..(*cell).clone()
                })
                .collect();
            let shown: Vec<&AgreementCell> = shown.iter().collect();
            Agreement {
                cases: Count(raw.cases),
                cases_given: Count(raw.given),
                cases_split: Count(raw.split),
                alpha_cases: Count(raw.alpha_cases),
                small_cell: raw.small_cell || suppressed,
                ..one(level, item, theme, &shown)
            }
        })
        .collect()
}

/// Units as [no, yes] counts, each repeated as many times as its cell has cases.
fn units<'a>(cells: impl Iterator<Item = &'a &'a AgreementCell>) -> Vec<Vec<f64>> {
    let mut u = Vec::new();
    for cell in cells {
        let unit = vec![(cell.coders - cell.yes) as f64, cell.yes as f64];
        u.extend(std::iter::repeat_n(unit, cell.cases.0 as usize));
    }
    u
}

/// The counts of an item's table of cells.
struct Counts {
    /// Cases every coder coded, of them those some coder gave it, and those where the
    /// coders differ.
    cases: u64,
    given: u64,
    split: u64,
    /// Cases two or more coders coded.
    alpha_cases: u64,
    /// Whether a cell holds 1 to 7 cases.
    small_cell: bool,
}

impl Counts {
    fn of(cells: &[&AgreementCell]) -> Counts {
        let coders = cells.first().map_or(0, |c| c.sample_coders);
        let count = |f: &dyn Fn(&AgreementCell) -> bool| -> u64 {
            cells
                .iter()
                .filter(|c| c.coders == coders && f(c))
                .map(|c| c.cases.0)
                .sum()
        };
        Counts {
            cases: count(&|_| true),
            given: count(&|c| c.yes > 0),
            split: count(&|c| c.yes > 0 && c.yes < c.coders),
            alpha_cases: cells.iter().map(|c| c.cases.0).sum(),
            small_cell: cells.iter().any(|c| (1..=7).contains(&c.cases.0)),
        }
    }
}

fn one(level: &str, item: String, theme: Option<String>, cells: &[&AgreementCell]) -> Agreement {
    let coders = cells.first().map_or(0, |c| c.sample_coders);
    let complete: Vec<&&AgreementCell> = cells.iter().filter(|c| c.coders == coders).collect();
    let Counts {
        cases,
        given: cases_given,
        split: cases_split,
        alpha_cases,
        small_cell,
    } = Counts::of(cells);
    let complete_units = units(complete.iter().copied());
    let all_units = units(cells.iter());

    let mut row = Agreement {
        level: level.to_string(),
        item,
        theme,
        coders,
        cases: Count(cases),
        cases_given: Count(cases_given),
        cases_split: Count(cases_split),
        observed: None,
        kappa_method: None,
        kappa: None,
        kappa_low: None,
        kappa_high: None,
        kappa_band: None,
        alpha_cases: Count(alpha_cases),
        alpha: None,
        alpha_low: None,
        alpha_high: None,
        alpha_band: None,
        ac1: None,
        prevalence_index: None,
        bias_index: None,
        pabak: None,
        note: None,
        small_cell,
    };
    if coders < 2 || alpha_cases == 0 {
        row.note = Some("fewer than two coders coded any case: no agreement to measure".into());
        return row;
    }
    if cases > 0 {
        if coders == 2 {
            let n = |yes: i64, first: i64| -> f64 {
                complete
                    .iter()
                    .filter(|c| c.yes == yes && (yes != 1 || c.first_yes == first))
                    .map(|c| c.cases.0 as f64)
                    .sum()
            };
            let (a, b, cc, d) = (n(2, 1), n(1, 1), n(1, 0), n(0, 0));
            if let Some(k) = cohen(&[vec![a, b], vec![cc, d]], LEVEL) {
                row.observed = Some(k.observed);
                row.kappa = k.kappa;
                row.kappa_low = k.interval.map(|i| i.low);
                row.kappa_high = k.interval.map(|i| i.high);
            }
            if let Some(i) = indices(a, b, cc, d) {
                row.prevalence_index = Some(i.prevalence);
                row.bias_index = Some(i.bias);
                row.pabak = Some(i.pabak);
            }
            row.kappa_method = Some("cohen".into());
        } else if let Some((p_bar, kappa)) = fleiss(&complete_units) {
            row.observed = Some(p_bar);
            row.kappa = kappa;
            row.kappa_method = Some("fleiss".into());
        }
        row.ac1 = gwet_ac1(&complete_units);
    }
    row.kappa_band = row.kappa.map(|k| landis_koch(k).to_string());
    row.alpha = krippendorff_nominal(&all_units);
    if row.alpha.is_some()
        && let Some((i, _)) =
            krippendorff_bootstrap(&all_units, LEVEL, BOOTSTRAP_DRAWS, BOOTSTRAP_SEED)
    {
        row.alpha_low = Some(i.low);
        row.alpha_high = Some(i.high);
    }
    row.alpha_band = row.alpha.map(|a| krippendorff_band(a).to_string());
    row.note = if cases == 0 {
        Some(
            "no case was coded by every coder: only alpha (which allows missing codings) is given"
                .into(),
        )
    } else if cases_given == 0 {
        Some("no coder gave it on any case: agreement 100%; kappa and alpha are undefined".into())
    } else if cases_given == cases && cases_split == 0 {
        Some(
            "every coder gave it on every case: agreement 100%; kappa and alpha are undefined"
                .into(),
        )
    } else {
        None
    };
    row
}

/// The disagreement rows (case, code, theme, coder, answer) as one row per case and code
/// with a column per coder.
fn pivot(rows: &[serde_json::Map<String, Value>]) -> Disagreements {
    let text = |r: &serde_json::Map<String, Value>, k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut coders: Vec<String> = rows.iter().map(|r| text(r, "coder")).collect();
    coders.sort();
    coders.dedup();
    let mut out: Vec<Vec<String>> = Vec::new();
    for r in rows {
        let key = [text(r, "case_id"), text(r, "code"), text(r, "theme")];
        let i = coders
            .iter()
            .position(|c| *c == text(r, "coder"))
            .expect("listed above");
        if out.last().is_none_or(|l| l[..3] != key) {
            let mut row = key.to_vec();
            // A coder who did not code the case has no answer.
            row.extend(std::iter::repeat_n(String::new(), coders.len()));
            out.push(row);
        }
        if let Some(last) = out.last_mut() {
            last[3 + i] = text(r, "answer");
        }
    }
    let mut columns = vec!["case_id".to_string(), "code".into(), "theme".into()];
    columns.extend(coders);
    Disagreements { columns, rows: out }
}
