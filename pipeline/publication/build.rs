//! Building the publication: the inner cells from `queries/publication/`, one linear
//! system per family, primary and secondary suppression, rounding.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::AtomicUsize;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use chrono::{Datelike, NaiveDate};
use datafusion::prelude::SessionContext;

use super::{Cell, Counts, DOMINANCE, Family, Filter, Publication, Settings, Unit, family};
use crate::engine::{self, Inputs, Scope};
use crate::error::{Error, Result};
use crate::measures;
use crate::spec::grid::{Leaf, Period};
use crate::stats::{Published, suppression};

const CASE_CELLS: &str = include_str!("../../queries/publication/case_cells.sql");
const CUBE: &str = include_str!("../../queries/publication/cube.sql");
const COOCCURRENCE: &str = include_str!("../../queries/publication/cooccurrence.sql");
const BREAKDOWN: &str = include_str!("../../queries/publication/breakdown.sql");
const DELAYS: &str = include_str!("../../queries/publication/delays.sql");
const CODED_VS_MEASURED: &str = include_str!("../../queries/publication/coded_vs_measured.sql");
const RECOMMENDATIONS: &str = include_str!("../../queries/publication/recommendations.sql");
const REMEDIES: &str = include_str!("../../queries/publication/remedies.sql");
const LEARNING: &str = include_str!("../../queries/publication/learning.sql");

/// Where a family's cells of one category code take their status from.
#[derive(Debug, Clone)]
enum Link {
    /// The cell of another family (already built) at the same period and unit: the same
    /// count, so the same status (forced when published there, primary when suppressed).
    Cell(String, String),
    /// Published whenever it is above the threshold (a margin several families share).
    Forced,
}

/// One family's inner cells and published codes, before the audit.
#[derive(Debug, Default)]
struct Input {
    name: String,
    /// Published for the views of all organisations only.
    national: bool,
    /// Inner cells: (leaf, unit leaf, category leaf, count).
    rows: Vec<(Leaf, u32, u32, u64)>,
    /// Per inner cell, the total of its amounts and its largest item (amount families).
    amounts: Option<Vec<(f64, f64)>>,
    /// Category leaves, by name.
    categories: HashMap<String, u32>,
    /// Published category codes: name and category leaves.
    codes: Vec<(String, Vec<u32>)>,
    links: Vec<(usize, Link)>,
    /// For an amount family: the count family whose suppression it follows.
    follows: Option<String>,
}

impl Input {
    fn new(name: impl Into<String>, national: bool) -> Input {
        Input {
            name: name.into(),
            national,
            ..Input::default()
        }
    }

    fn category(&mut self, name: &str) -> u32 {
        let next = self.categories.len() as u32;
        *self.categories.entry(name.to_string()).or_insert(next)
    }

    fn add(&mut self, leaf: Leaf, unit: u32, category: &str, n: u64) {
        if n > 0 {
            let c = self.category(category);
            self.rows.push((leaf, unit, c, n));
        }
    }

    /// One code per category leaf, named as the leaf.
    fn code_each(&mut self) {
        let mut names: Vec<(&String, &u32)> = self.categories.iter().collect();
        names.sort();
        self.codes = names
            .into_iter()
            .map(|(n, &c)| (n.clone(), vec![c]))
            .collect();
    }

    /// A code over every category leaf.
    fn code_all(&mut self, name: &str, link: Option<Link>) {
        let all: Vec<u32> = (0..self.categories.len() as u32).collect();
        self.codes.push((name.to_string(), all));
        if let Some(l) = link {
            self.links.push((self.codes.len() - 1, l));
        }
    }
}

/// Where inner cells of the cube sit: their groupings, and the units holding them.
#[derive(Default)]
struct Units {
    index: HashMap<Unit, u32>,
    /// Unit leaves by the units they are in: groupings that no published view tells
    /// apart are one inner cell.
    leaves: HashMap<Vec<u32>, u32>,
    /// Per unit leaf, the units (views) it is in.
    of_leaf: Vec<Vec<u32>>,
}

impl Units {
    fn new() -> Units {
        let mut u = Units::default();
        u.index.insert(Unit::All, 0);
        u
    }

    fn unit(&mut self, unit: Unit) -> u32 {
        let next = self.index.len() as u32;
        *self.index.entry(unit).or_insert(next)
    }

    fn leaf(
        &mut self,
        settings: &Settings,
        org: String,
        region: Option<String>,
        source: Option<String>,
        decision: Option<String>,
    ) -> u32 {
        let key = (org, region, source, decision);
        let mut units = vec![0];
        for f in &settings.filters {
            let v = match f {
                Filter::Organisation => Some(key.0.clone()),
                Filter::Region => Some(key.1.clone().unwrap_or_else(|| "(missing)".into())),
                Filter::Source => key.2.clone(),
                Filter::Decision => key.3.clone(),
                // Refused by the settings' check: not a published filter.
                Filter::Service | Filter::Stage => None,
            };
            if let Some(v) = v {
                units.push(self.unit(Unit::Is(*f, v)));
            }
        }
        if let Some(&l) = self.leaves.get(&units) {
            return l;
        }
        let l = self.of_leaf.len() as u32;
        self.of_leaf.push(units.clone());
        self.leaves.insert(units, l);
        l
    }
}

/// The unit leaf of the national families (in the view of all cases only).
const NATIONAL: u32 = u32::MAX;

/// Builds the publication of the warehouse's committed version.
pub async fn build(inputs: &Inputs<'_>, settings: &Settings) -> Result<Publication> {
    settings.check().map_err(Error::Usage)?;
    let version = inputs.warehouse.committed()?.version;
    let scope = Scope {
        date_field: settings.date_field,
        ..Scope::default()
    };
    let national = Inputs {
        scope: &scope,
        ..inputs.clone()
    };
    let ctx = engine::session(&national).await?;
    // Every family's query reads it. A view, not materialised: each query reads only
    // the columns it needs, and materialising every column of every case made the
    // published report slower and larger in memory (docs/benchmarks.md).
    engine::register_view(
        &ctx,
        "case_cells",
        CASE_CELLS,
        "queries/publication/case_cells.sql",
        false,
    )
    .await?;

    let themes = inputs.codes.themes();
    let mut units = Units::new();
    let mut leaves: BTreeSet<Leaf> = BTreeSet::new();
    let mut cube: HashMap<String, Input> = HashMap::new();
    let cube_name = |order: i64| -> Option<String> {
        if order == 0 {
            Some(family::CASES.to_string())
        } else {
            themes.get(order as usize - 1).map(|t| family::theme(t))
        }
    };
    let rows = run(&ctx, CUBE, "cube").await?;
    for r in rows.iter() {
        let leaf = r.leaf();
        leaves.insert(leaf);
        let unit = units.leaf(
            settings,
            r.text("organisation_code").unwrap_or_default(),
            r.text("region"),
            r.text("source"),
            r.text("decision"),
        );
        let Some(name) = cube_name(r.int("theme_order")) else {
            continue;
        };
        cube.entry(name.clone())
            .or_insert_with(|| Input::new(name, false))
            .add(leaf, unit, "all", r.int("n") as u64);
    }
    for input in cube.values_mut() {
        input.code_each();
    }

    let mut rest: Vec<Input> = Vec::new();
    // Co-occurrence: the combinations partition the cases; those with a theme add up to
    // the theme's count.
    let mut co = Input::new(family::COOCCURRENCE, true);
    for r in run(&ctx, COOCCURRENCE, "cooccurrence").await?.iter() {
        co.add(
            r.leaf(),
            NATIONAL,
            &r.text("combination").unwrap_or_default(),
            r.int("n") as u64,
        );
    }
    co.code_each();
    co.code_all("all", Some(Link::Cell(family::CASES.into(), "all".into())));
    for t in &themes {
        let with: Vec<u32> = co
            .categories
            .iter()
            .filter(|(name, _)| name.split(" + ").any(|x| x == t))
            .map(|(_, &c)| c)
            .collect();
        co.codes.push((format!("theme:{t}"), with));
        co.links.push((
            co.codes.len() - 1,
            Link::Cell(family::theme(t), "all".into()),
        ));
    }
    rest.push(co);

    // Breakdowns: one family per dimension and theme (or all cases). A dimension that is
    // one of the publication's filters is the cube's own cells (the lookups go there).
    let mut breakdowns: HashMap<String, Input> = HashMap::new();
    for r in run(&ctx, BREAKDOWN, "breakdown").await?.iter() {
        let dim = r.text("dimension").unwrap_or_default();
        if is_cube_dimension(settings, &dim) || is_withheld_dimension(settings, &dim) {
            continue;
        }
        let order = r.int("theme_order");
        let Some(theme) = (order == 0)
            .then_some(None)
            .or_else(|| themes.get(order as usize - 1).map(|t| Some(t.as_str())))
        else {
            continue;
        };
        let name = family::breakdown(&dim, theme);
        breakdowns
            .entry(name.clone())
            .or_insert_with(|| Input::new(name, true))
            .add(
                r.leaf(),
                NATIONAL,
                &r.text("value").unwrap_or_default(),
                r.int("n") as u64,
            );
    }
    for (name, mut input) in breakdowns {
        input.code_each();
        let mut parts = name.splitn(3, ':');
        let (_, dim, theme) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        // A case dimension places each case at one value: its values add up to the cube's
        // count.
        if CASE_DIMENSIONS.contains(&dim) {
            let source = if theme == "cases" {
                family::CASES.to_string()
            } else {
                family::theme(theme)
            };
            input.code_all("all", Some(Link::Cell(source, "all".into())));
        }
        rest.push(input);
    }

    // Delays: per field, one count per interval and urgency.
    let delay_rows =
        if inputs.study.delay_theme.is_some() || !inputs.thresholds.intervals.is_empty() {
            run(&ctx, DELAYS, "delays").await?
        } else {
            Rows::default()
        };
    for field in [
        "episodes",
        "over_threshold",
        "out_of_order",
        "not_to_the_day",
    ] {
        let mut input = Input::new(family::delays(field), true);
        for r in delay_rows.iter() {
            let urgency = r.text("urgency");
            input.add(
                r.leaf(),
                NATIONAL,
                &family::delay_category(r.int("interval_no"), urgency.as_deref()),
                r.int(field) as u64,
            );
        }
        input.code_each();
        rest.push(input);
    }

    let mut coded = Input::new(family::CODED_VS_MEASURED, true);
    // Its query gives no row without a delay theme: not run then.
    let coded_rows = if inputs.study.delay_theme.is_some() {
        run(&ctx, CODED_VS_MEASURED, "coded_vs_measured").await?
    } else {
        Rows::default()
    };
    for r in coded_rows.iter() {
        for m in [
            "cases_with_measured_delay",
            "cases_coded_delay",
            "measured_not_coded",
            "coded_not_measurable",
            "episodes_performed_not_reported",
        ] {
            coded.add(r.leaf(), NATIONAL, m, r.int(m) as u64);
        }
    }
    coded.code_each();
    // Its cases coded with the delay theme are the cube's cell of that theme: linked, so
    // that both publish or suppress it alike.
    if let Some(theme) = &inputs.study.delay_theme
        && let Some(i) = coded
            .codes
            .iter()
            .position(|(name, _)| name == "cases_coded_delay")
    {
        coded
            .links
            .push((i, Link::Cell(family::theme(theme), "all".into())));
    }
    rest.push(coded);

    // Recommendations: kind × status × overdue; published per kind and in all, for
    // every status of the measure and overdue.
    let mut recs = Input::new(family::RECOMMENDATIONS, true);
    let rec_rows = run(&ctx, RECOMMENDATIONS, "recommendations").await?;
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    for r in rec_rows.iter() {
        let kind = r.text("kind").unwrap_or_default();
        let status = r.text("status").unwrap_or_default();
        kinds.insert(kind.clone());
        recs.add(
            r.leaf(),
            NATIONAL,
            &format!("{kind}|{status}|{}", r.int("overdue")),
            r.int("n") as u64,
        );
    }
    let cats: Vec<(String, u32)> = recs
        .categories
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for kind in kinds.iter().map(String::as_str).chain(["all"]) {
        for field in [
            "recommendations",
            "complied",
            "not_complied",
            "pending",
            "overdue",
        ] {
            let leaves: Vec<u32> = cats
                .iter()
                .filter(|(name, _)| {
                    let mut p = name.split('|');
                    let (k, s, o) = (
                        p.next().unwrap_or(""),
                        p.next().unwrap_or(""),
                        p.next().unwrap_or(""),
                    );
                    (kind == "all" || k == kind)
                        && match field {
                            "recommendations" => true,
                            "overdue" => o == "1",
                            status => s == status,
                        }
                })
                .map(|(_, c)| *c)
                .collect();
            recs.codes.push((format!("{kind}|{field}"), leaves));
        }
    }
    rest.push(recs);

    // Remedies: their count, the cases with one, and the total of their amounts.
    let remedy_rows = run(&ctx, REMEDIES, "remedies").await?;
    let mut remedies = Input::new(family::REMEDIES, true);
    let mut remedy_cases = Input::new(family::REMEDY_CASES, true);
    let mut amounts = Input::new(family::REMEDY_AMOUNTS, true);
    let mut amount_values = Vec::new();
    for r in remedy_rows.iter() {
        let n = r.int("remedies") as u64;
        remedies.add(r.leaf(), NATIONAL, "all", n);
        remedy_cases.add(r.leaf(), NATIONAL, "all", r.int("cases") as u64);
        if n > 0 {
            amounts.add(r.leaf(), NATIONAL, "all", n);
            amount_values.push((r.float("total_gbp"), r.float("largest_gbp")));
        }
    }
    amounts.amounts = Some(amount_values);
    amounts.follows = Some(family::REMEDIES.into());
    for f in [&mut remedies, &mut remedy_cases, &mut amounts] {
        f.code_each();
    }
    rest.extend([remedies, remedy_cases, amounts]);

    // Learning: a reviewed case is measured, not to the day, or has no decision date;
    // the reviews are all three.
    let mut learning = Input::new(family::LEARNING, true);
    for r in run(&ctx, LEARNING, "learning").await?.iter() {
        learning.add(
            r.leaf(),
            NATIONAL,
            &r.text("measure").unwrap_or_default(),
            r.int("n") as u64,
        );
    }
    // Published: the reviews, those measured, those not to the day, the repeats (not
    // the reviews without a decision date, which no table shows).
    let reviewed: Vec<u32> = learning
        .categories
        .iter()
        .filter(|(n, _)| n.starts_with("reviewed_"))
        .map(|(_, c)| *c)
        .collect();
    learning
        .codes
        .push(("cases_with_learning_review".into(), reviewed));
    for name in [
        "reviewed_measured",
        "reviewed_not_to_the_day",
        "repeat_failures",
    ] {
        if let Some(&c) = learning.categories.get(name) {
            learning.codes.push((name.into(), vec![c]));
        }
    }
    rest.push(learning);

    // Coding agreement: the double-coded sample's cells per item (whole period only),
    // each item's cells adding up to the sample.
    let agreement_scope = Scope::default();
    let context = measures::Context {
        scope: &agreement_scope,
        codes: inputs.codes,
        thresholds: inputs.thresholds,
        as_of: inputs.as_of,
        queries: None,
    };
    let agreement = measures::run(&ctx, measures::find("coding_agreement")?, &context).await?;
    let mut items: HashMap<String, Input> = HashMap::new();
    let mut sample_coders = 0;
    for c in agreement.rows.coding_agreement() {
        let name = family::agreement(&c.level, &c.item);
        sample_coders = c.sample_coders;
        items
            .entry(name.clone())
            .or_insert_with(|| Input::new(name, true))
            .add(Leaf::Undated, NATIONAL, &c.category(), c.cases.0);
    }
    for (_, mut input) in items {
        input.code_each();
        // The sample (every item's cells add up to it), the cases every coder coded, of
        // them those some coder gave the item and those the coders split on.
        input.code_all("all", Some(Link::Forced));
        let of = |f: &dyn Fn(i64, i64) -> bool| -> Vec<u32> {
            input
                .categories
                .iter()
                .filter_map(|(name, &c)| {
                    let mut p = name.split('|').map(|x| x.parse::<i64>().unwrap_or(-1));
                    let (coders, yes) = (p.next()?, p.next()?);
                    (coders == sample_coders && f(coders, yes)).then_some(c)
                })
                .collect()
        };
        let codes = [
            ("cases", of(&|_, _| true)),
            ("given", of(&|_, yes| yes > 0)),
            ("split", of(&|coders, yes| yes > 0 && yes < coders)),
        ];
        for (name, leaves) in codes {
            input.codes.push((name.into(), leaves));
            if name == "cases" {
                input.links.push((input.codes.len() - 1, Link::Forced));
            }
        }
        rest.push(input);
    }

    // The audit: the cube first (the others take its cells' status), two at a time.
    let mut built: HashMap<String, Family> = HashMap::new();
    let mut counts = Counts::default();
    let mut notes = Vec::new();
    let mut cube: Vec<Input> = cube.into_values().collect();
    cube.sort_by(|a, b| a.name.cmp(&b.name));
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    // Amount families after the counts they follow.
    let (amount_families, rest): (Vec<Input>, Vec<Input>) =
        rest.into_iter().partition(|i| i.follows.is_some());
    for stage in [cube, rest, amount_families] {
        let outcomes = audit_all(&stage, settings, &units, &built);
        for (input, outcome) in stage.into_iter().zip(outcomes) {
            let (family, c, note) = outcome?;
            counts.published += c.published;
            counts.primary += c.primary;
            counts.secondary += c.secondary;
            notes.extend(note);
            built.insert(input.name, family);
        }
    }
    Ok(Publication {
        settings: settings.clone(),
        version,
        families: built,
        units: units.index,
        leaves,
        notes,
        counts,
    })
}

/// The breakdown dimensions that place each case at one value.
const CASE_DIMENSIONS: &[&str] = &[
    "closing_year",
    "organisation_type",
    "region",
    "modality",
    "harm",
    "source",
];

/// The publication's filter that a breakdown dimension is, whose cells the cube holds
/// (the organisation is no breakdown dimension).
pub(crate) fn cube_filter(settings: &Settings, dimension: &str) -> Option<Filter> {
    settings
        .filters
        .iter()
        .copied()
        .find(|f| *f != Filter::Organisation && f.name() == dimension)
}

/// Whether a breakdown dimension is withheld: its values are the grid's own periods
/// (the closing year when the periods are of the closed date), so its cells would be
/// the grid's counts audited apart from them. Not built; its rows are shown suppressed.
pub(crate) fn is_withheld_dimension(settings: &Settings, dimension: &str) -> bool {
    dimension == "closing_year" && settings.date_field == crate::engine::DateField::ClosedDate
}

/// Whether a breakdown dimension is one of the publication's filters (`cube_filter`).
pub(crate) fn is_cube_dimension(settings: &Settings, dimension: &str) -> bool {
    cube_filter(settings, dimension).is_some()
}

type Audited = Result<(Family, Counts, Option<String>)>;

/// Audits families on two threads.
fn audit_all(
    inputs: &[Input],
    settings: &Settings,
    units: &Units,
    built: &HashMap<String, Family>,
) -> Vec<Audited> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Audited>> = (0..inputs.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= inputs.len() {
                        break;
                    }
                    let out = audit(&inputs[i], settings, units, built);
                    if let Ok(mut r) = slots.lock() {
                        r[i] = Some(out);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Usage("the publication's audit stopped".into()))))
        .collect()
}

/// One family's audit: its cells, primary suppression, secondary suppression, rounding.
fn audit(
    input: &Input,
    settings: &Settings,
    units: &Units,
    built: &HashMap<String, Family>,
) -> Audited {
    let levels = settings.levels();
    let rounding = settings.rounding;
    let t = settings.threshold;
    // Codes holding each category leaf.
    let mut codes_of: Vec<Vec<u32>> = vec![Vec::new(); input.categories.len()];
    for (c, (_, leaves)) in input.codes.iter().enumerate() {
        for &l in leaves {
            codes_of[l as usize].push(c as u32);
        }
    }
    // Inner cells that no published cell tells apart are one.
    let mut merged: Vec<(Leaf, u32, u32, u64)> = Vec::new();
    let mut merged_amounts: Vec<(f64, f64)> = Vec::new();
    {
        let mut at: HashMap<(Leaf, u32, u32), usize> = HashMap::new();
        for (r, &(leaf, unit, cat, n)) in input.rows.iter().enumerate() {
            let a = input.amounts.as_ref().map_or((0.0, 0.0), |a| a[r]);
            match at.get(&(leaf, unit, cat)) {
                Some(&i) => {
                    merged[i].3 += n;
                    merged_amounts[i].0 += a.0;
                    merged_amounts[i].1 = merged_amounts[i].1.max(a.1);
                }
                None => {
                    at.insert((leaf, unit, cat), merged.len());
                    merged.push((leaf, unit, cat, n));
                    merged_amounts.push(a);
                }
            }
        }
    }
    let national = [0u32];
    let mut index: HashMap<(Period, u32, u32), usize> = HashMap::new();
    let mut keys: Vec<(Period, u32, u32)> = Vec::new();
    let mut columns: Vec<Vec<u32>> = Vec::new();
    let mut freq: Vec<u64> = Vec::new();
    let mut amount: Vec<(f64, f64)> = Vec::new();
    for (r, &(leaf, unit, cat, n)) in merged.iter().enumerate() {
        let unit_codes: &[u32] = if unit == NATIONAL {
            &national
        } else {
            &units.of_leaf[unit as usize]
        };
        for p in Period::holding(leaf, &levels) {
            for &u in unit_codes {
                for &c in &codes_of[cat as usize] {
                    let key = (p, u, c);
                    let i = *index.entry(key).or_insert_with(|| {
                        keys.push(key);
                        columns.push(Vec::new());
                        freq.push(0);
                        amount.push((0.0, 0.0));
                        keys.len() - 1
                    });
                    columns[i].push(r as u32);
                    freq[i] += n;
                    if input.amounts.is_some() {
                        amount[i].0 += merged_amounts[r].0;
                        amount[i].1 = amount[i].1.max(merged_amounts[r].1);
                    }
                }
            }
        }
    }
    let cells = keys.len();
    let mut primary = vec![false; cells];
    let mut forced = vec![false; cells];
    let mut problem = None;
    for i in 0..cells {
        let (p, u, c) = keys[i];
        let link = input
            .links
            .iter()
            .find(|(code, _)| *code as u32 == c)
            .map(|(_, l)| l);
        match link {
            Some(Link::Cell(fam, cat)) => {
                let shown = built.get(fam).and_then(|f| {
                    let cc = f.categories.get(cat)?;
                    f.cells.get(&(p, u, *cc))
                });
                match shown {
                    Some(cell) if cell.raw == freq[i] => match cell.shown {
                        Published::Suppressed => primary[i] = true,
                        Published::Count(_) => forced[i] = true,
                    },
                    _ => {
                        problem = Some(format!(
                            "{}: its total in {p} is {}, not the count of {fam}",
                            input.name, freq[i]
                        ));
                        primary[i] = true;
                    }
                }
            }
            Some(Link::Forced) => {
                if freq[i] > t {
                    forced[i] = true;
                } else {
                    primary[i] = true;
                }
            }
            None => primary[i] = (1..=t).contains(&freq[i]),
        }
        if let Some(follows) = &input.follows {
            // An amount: withheld where its count is, or where one item dominates it.
            let count = built.get(follows).and_then(|f| {
                let cc = f.categories.get("all")?;
                f.cells.get(&(p, u, *cc))
            });
            let hidden = count.is_none_or(|c| matches!(c.shown, Published::Suppressed));
            let (total, largest) = amount[i];
            primary[i] = hidden || largest > DOMINANCE * total;
        }
    }
    if let Some(p) = problem {
        return Err(Error::Usage(format!(
            "internal error in the publication: {p}"
        )));
    }
    let order = suppression::candidate_order(&columns, &freq, merged.len());
    let outcome = suppression::suppress(&columns, &primary, &forced, &order);
    let mut secondary = vec![false; cells];
    for &s in &outcome.secondary {
        secondary[s] = true;
    }
    let withheld = !outcome.unprotected.is_empty();
    let note = withheld.then(|| {
        format!(
            "{} is not published: {} of its suppressed cells would follow from cells published elsewhere",
            input.name,
            outcome.unprotected.len()
        )
    });
    let mut family = Family {
        national: input.national,
        categories: input
            .codes
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i as u32))
            .collect(),
        ..Family::default()
    };
    let mut counts = Counts::default();
    for i in 0..cells {
        let hidden = withheld || primary[i] || secondary[i];
        if primary[i] {
            counts.primary += 1;
        } else if secondary[i] {
            counts.secondary += 1;
        } else {
            counts.published += 1;
        }
        if input.amounts.is_some() {
            let unit = settings.amount_unit as f64;
            let total = amount[i].0;
            family.amounts.insert(
                keys[i],
                (total, (!hidden).then(|| (total / unit).round() * unit)),
            );
        }
        family.cells.insert(
            keys[i],
            Cell {
                raw: freq[i],
                shown: if hidden {
                    Published::Suppressed
                } else {
                    Published::Count(rounding.count(freq[i]))
                },
            },
        );
    }
    Ok((family, counts, note))
}

/// A query's result, column by column, as text, integers and floats.
#[derive(Default)]
struct Rows {
    columns: HashMap<String, ArrayRef>,
    len: usize,
}

struct Row<'a> {
    rows: &'a Rows,
    i: usize,
}

impl Rows {
    fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        (0..self.len).map(move |i| Row { rows: self, i })
    }
}

impl Row<'_> {
    fn column(&self, name: &str) -> Option<&ArrayRef> {
        self.rows.columns.get(name)
    }

    fn text(&self, name: &str) -> Option<String> {
        let c = self.column(name)?;
        if c.is_null(self.i) {
            return None;
        }
        Some(c.as_string::<i32>().value(self.i).to_string())
    }

    fn int(&self, name: &str) -> i64 {
        self.column(name)
            .filter(|c| !c.is_null(self.i))
            .map_or(0, |c| c.as_primitive::<Int64Type>().value(self.i))
    }

    fn float(&self, name: &str) -> f64 {
        self.column(name)
            .filter(|c| !c.is_null(self.i))
            .map_or(0.0, |c| c.as_primitive::<Float64Type>().value(self.i))
    }

    /// The leaf of the grid: `leaf_month` (a date), else `leaf_year`, else undated.
    fn leaf(&self) -> Leaf {
        let month = self
            .text("leaf_month")
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
        match month {
            Some(d) => Leaf::Month(d.year(), d.month()),
            None => match self.column("leaf_year").filter(|c| !c.is_null(self.i)) {
                Some(c) => Leaf::Year(c.as_primitive::<Int64Type>().value(self.i) as i32),
                None => Leaf::Undated,
            },
        }
    }
}

/// Runs one of the publication's queries; every column is read as text (Utf8), 64-bit
/// integers or doubles.
async fn run(ctx: &SessionContext, sql: &str, name: &str) -> Result<Rows> {
    let file = format!("queries/publication/{name}.sql");
    let batches: Vec<RecordBatch> =
        measures::sql_batches(ctx, sql, Path::new(&file), Vec::new()).await?;
    let Some(first) = batches.first() else {
        return Ok(Rows::default());
    };
    let schema = first.schema();
    let batch = arrow::compute::concat_batches(&schema, &batches)?;
    let mut columns = HashMap::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let c = batch.column(i);
        let target = match field.data_type() {
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..) => DataType::Float64,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Boolean => DataType::Int64,
            _ => DataType::Utf8,
        };
        columns.insert(field.name().clone(), arrow::compute::cast(c, &target)?);
    }
    Ok(Rows {
        columns,
        len: batch.num_rows(),
    })
}
