//! The publication: the one fixed, audited set of tables that a warehouse version
//! publishes (issue 30). Every count that `--publish` shows, in `measure`, `chart`,
//! `report` and `serve`, is a cell of this set, looked up by its key; nothing published
//! is computed from the warehouse past it.
//!
//! - **Views.** Periods lie on a calendar grid (months, quarters, calendar years, UK
//!   financial years, the whole period: `spec::grid`); filters are the study's
//!   publishable ones (by default each organisation and each value of the second
//!   grouping), one at a time, with any period. A view is a (period, unit) pair.
//! - **Cells.** For every view: the cases, and the cases with each theme (the *cube*:
//!   prevalence, organisation profiles, monthly series, funnels, SPC charts). For the
//!   views of all organisations: co-occurrence, the breakdowns, delays, recommendations,
//!   remedies, learning and coding agreement. A table of a unit's view past the cube is
//!   not published.
//! - **Audit.** Per table family, one linear system over the inner cells (leaf of the
//!   grid × grouping × category): primary suppression of counts 1 to the threshold, then
//!   secondary suppression by Gaussian elimination (`stats::suppression`, SSBtools'
//!   GaussSuppression) so that no suppressed cell is a linear combination of published
//!   ones: siblings, overlapping periods (a month against its quarter, year and financial
//!   year), margins and totals alike. A family whose "all" cells are the cube's takes
//!   their status from the cube (forced when published, primary when suppressed).
//! - **Rounding** of every published count, after suppression.
//! - **Once per warehouse version**, deterministically: the same view always gives the
//!   same numbers, whatever was asked before.
//!
//! Amounts and days are not counts: a total of amounts follows its count's suppression
//! and, past it, a dominance rule (one remedy more than [`DOMINANCE`] of the total), and
//! is rounded to the study's unit; medians and percentiles are shown only where their
//! group's published count is above the threshold, rounded (days to whole weeks, amounts
//! to the unit); minima and maxima are never published.

mod build;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::engine::Scope;
use crate::spec::grid::{Leaf, Level, Period};
pub use crate::spec::publication::{DOMINANCE, Filter, Rounding, Settings};
use crate::stats::Published;

pub use build::build;

/// The unit of a view: all cases, or the cases with one value of one filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Unit {
    All,
    Is(Filter, String),
}

/// A published view: a period of the grid and a unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct View {
    pub period: Period,
    pub unit: Unit,
}

impl View {
    pub const ALL: View = View {
        period: Period::All,
        unit: Unit::All,
    };

    /// The view a scope asks for, or why it is not one the publication has.
    pub fn of(scope: &Scope, settings: &Settings) -> std::result::Result<View, String> {
        if !scope.choices.is_empty() {
            return Err(
                "published views have at most one filter of one value; several values or values left out are not published".into(),
            );
        }
        if scope.date_field != settings.date_field
            && (scope.from.is_some() || scope.to.is_some() || scope.period.is_some())
        {
            return Err(format!(
                "the publication's periods are of {}; a view of another date is not published",
                settings.date_field.column()
            ));
        }
        let period = match (scope.period, scope.from, scope.to) {
            (Some(p), None, None) => p,
            (None, from, to) => Period::from_days(from, to).ok_or_else(|| {
                "published views have periods of the calendar grid, not free dates: give --period (a month 2024-05, a quarter 2024-Q2, a financial year FY2024-25, a year 2024), or --from and --to that are exactly one".to_string()
            })?,
            (Some(_), _, _) => {
                return Err("give a period or dates, not both".into());
            }
        };
        if period != Period::All && !settings.levels().contains(&period.level()) {
            return Err(format!(
                "the publication has no {} periods; it has: {}",
                period.level().name().replace('_', " "),
                settings
                    .levels()
                    .iter()
                    .map(|l| l.name().replace('_', " "))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let given: Vec<(Filter, &str)> = scope.singles().collect();
        let unit = match given.as_slice() {
            [] => Unit::All,
            [(f, v)] => {
                if !settings.filters.contains(f) {
                    return Err(format!(
                        "the publication has no views by {}; its filters are: {}",
                        f.name(),
                        settings
                            .filters
                            .iter()
                            .map(|f| f.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                Unit::Is(*f, v.to_string())
            }
            _ => {
                return Err("a published view has one filter at a time (with a period)".into());
            }
        };
        Ok(View { period, unit })
    }

    /// The scope of this view: the same cases.
    pub fn scope(&self, settings: &Settings) -> Scope {
        let mut s = Scope {
            date_field: settings.date_field,
            period: (self.period != Period::All).then_some(self.period),
            ..Scope::default()
        };
        if let Unit::Is(f, v) = &self.unit {
            let v = Some(v.clone());
            match f {
                Filter::Organisation => s.organisation = v,
                Filter::Region => s.region = v,
                Filter::Source => s.source = v,
                Filter::Decision => s.decision = v,
                Filter::Service => s.service = v,
                Filter::Stage => s.stage = v,
            }
        }
        s
    }

    /// The same unit in another period.
    pub fn at(&self, period: Period) -> View {
        View {
            period,
            unit: self.unit.clone(),
        }
    }

    /// The same period for another unit.
    pub fn with(&self, unit: Unit) -> View {
        View {
            period: self.period,
            unit,
        }
    }
}

/// One published cell: its true count (never shown; kept to check every lookup against
/// the measure that asks) and what is shown.
#[derive(Debug, Clone, Copy)]
struct Cell {
    raw: u64,
    shown: Published,
}

/// The cells of one family of tables.
#[derive(Debug, Default)]
struct Family {
    /// Published for the views of all organisations only.
    national: bool,
    categories: HashMap<String, u32>,
    cells: HashMap<(Period, u32, u32), Cell>,
    /// Totals of amounts (the remedies' family): as shown, `None` when withheld.
    amounts: HashMap<(Period, u32, u32), (f64, Option<f64>)>,
}

/// The audited set of a warehouse version.
#[derive(Debug)]
pub struct Publication {
    pub settings: Settings,
    /// The warehouse version it was built from.
    pub version: String,
    families: HashMap<String, Family>,
    units: HashMap<Unit, u32>,
    /// Every leaf of the grid holding a case.
    leaves: BTreeSet<Leaf>,
    /// What the audit found to say (a family withheld because a suppressed cell could not
    /// be protected).
    pub notes: Vec<String>,
    /// Cells published, suppressed (primary, secondary): for the methods text.
    pub counts: Counts,
}

/// How many cells the audit published and suppressed.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub published: usize,
    pub primary: usize,
    pub secondary: usize,
}

impl Publication {
    /// The published count of a cell: `family` (`cases`, `theme:NAME`, …), its
    /// `category` (`all` for a family of one), in `view`. `raw` is the count the asking
    /// measure computed for the same cell: a lookup whose count is not the audited one is
    /// an internal error, shown suppressed. A cell the set does not hold is suppressed.
    pub fn count(&self, view: &View, family: &str, category: &str, raw: u64) -> Published {
        match self.cell(view, family, category) {
            Lookup::Cell(c) if c.raw == raw => c.shown,
            Lookup::Zero if raw == 0 => Published::Count(0),
            Lookup::Cell(_) | Lookup::Zero => {
                self.mismatch(view, family, category, raw);
                Published::Suppressed
            }
            Lookup::NotPublished => Published::Suppressed,
        }
    }

    /// Whether the set publishes this family in this view at all.
    pub fn publishes(&self, view: &View, family: &str) -> bool {
        self.view_known(view)
            && self
                .families
                .get(family)
                .is_none_or(|f| !f.national || view.unit == Unit::All)
    }

    /// A total of amounts as published (rounded; `None` when withheld), checked against
    /// `raw`.
    pub fn amount(
        &self,
        view: &View,
        family: &str,
        category: &str,
        raw: Option<f64>,
    ) -> Option<f64> {
        if !self.publishes(view, family) {
            return None;
        }
        let f = self.families.get(family)?;
        let key = (
            view.period,
            *self.units.get(&view.unit)?,
            *f.categories.get(category)?,
        );
        match (f.amounts.get(&key), raw) {
            (Some((truth, shown)), Some(r))
                if (truth - r).abs() <= 0.005 * truth.abs().max(1.0) =>
            {
                *shown
            }
            (None, None) => Some(0.0),
            (None, Some(0.0)) => Some(0.0),
            _ => {
                self.mismatch(view, family, category, raw.unwrap_or(0.0) as u64);
                None
            }
        }
    }

    /// A median or percentile of days, shown only where its group's published count is
    /// above the threshold, rounded to whole weeks.
    pub fn days(&self, group: Published, days: Option<f64>) -> Option<f64> {
        let n = group.value()?;
        (n > self.settings.threshold)
            .then_some(days?)
            .map(|d| (d / 7.0).round() * 7.0)
    }

    /// A median of amounts, shown only where its group's published count is above the
    /// threshold, rounded to the unit.
    pub fn median_amount(&self, group: Published, amount: Option<f64>) -> Option<f64> {
        let n = group.value()?;
        let unit = self.settings.amount_unit as f64;
        (n > self.settings.threshold)
            .then_some(amount?)
            .map(|a| (a / unit).round() * unit)
    }

    /// The periods of the grid at `level` within `within` that hold a case.
    pub fn periods(&self, level: Level, within: Period) -> Vec<Period> {
        let leaves: Vec<Leaf> = self.leaves.iter().copied().collect();
        within.within(level, &leaves)
    }

    /// The values of a filter the set has views for.
    pub fn values(&self, filter: Filter) -> Vec<String> {
        let mut v: Vec<String> = self
            .units
            .keys()
            .filter_map(|u| match u {
                Unit::Is(f, v) if *f == filter => Some(v.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    fn view_known(&self, view: &View) -> bool {
        (view.period == Period::All || self.settings.levels().contains(&view.period.level()))
            && self.units.contains_key(&view.unit)
    }

    fn cell(&self, view: &View, family: &str, category: &str) -> Lookup {
        if !self.view_known(view) {
            return Lookup::NotPublished;
        }
        let Some(f) = self.families.get(family) else {
            // A family with no inner cell at all (a theme no case has): every cell is 0.
            return Lookup::Zero;
        };
        if f.national && view.unit != Unit::All {
            return Lookup::NotPublished;
        }
        let (Some(u), Some(c)) = (self.units.get(&view.unit), f.categories.get(category)) else {
            return Lookup::Zero;
        };
        match f.cells.get(&(view.period, *u, *c)) {
            Some(cell) => Lookup::Cell(*cell),
            None => Lookup::Zero,
        }
    }

    /// A cell asked for whose true count differs from the audited one: an internal
    /// error, shown suppressed.
    fn mismatch(&self, view: &View, family: &str, category: &str, raw: u64) {
        eprintln!(
            "casework: internal error: the count {raw} of {family}/{category} in {} {:?} is not the published set's; it is shown suppressed",
            view.period, view.unit
        );
        debug_assert!(
            false,
            "publication lookup mismatch: {family}/{category} {view:?} raw {raw}"
        );
    }
}

enum Lookup {
    Cell(Cell),
    Zero,
    NotPublished,
}

pub use crate::measures::rows::family;

/// The publication read at one view: what `--publish` output is made from.
#[derive(Debug, Clone)]
pub struct Publishing {
    pub publication: std::sync::Arc<Publication>,
    pub view: View,
}

impl Publishing {
    pub fn new(publication: std::sync::Arc<Publication>, view: View) -> Publishing {
        Publishing { publication, view }
    }

    /// The same publication at another view.
    pub fn at(&self, view: View) -> Publishing {
        Publishing {
            publication: self.publication.clone(),
            view,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.publication.settings
    }

    /// The scope of the view's cases.
    pub fn scope(&self) -> Scope {
        self.view.scope(self.settings())
    }

    /// The view of a row's place, when the set has one.
    pub fn place(&self, place: Place<'_>, family: &str) -> Option<(View, String, String)> {
        let v = &self.view;
        Some(match place {
            Place::View => (v.clone(), family.to_string(), String::new()),
            Place::Month(m) => {
                let d = chrono::NaiveDate::parse_from_str(m.get(..10)?, "%Y-%m-%d").ok()?;
                let p = Period::Month(chrono::Datelike::year(&d), chrono::Datelike::month(&d));
                (v.at(p), family.to_string(), String::new())
            }
            Place::Organisation(code) => {
                let unit = Unit::Is(Filter::Organisation, code.to_string());
                match &v.unit {
                    Unit::All => (v.with(unit), family.to_string(), String::new()),
                    u if *u == unit => (v.clone(), family.to_string(), String::new()),
                    _ => return None,
                }
            }
            Place::Dimension(dimension, value) => {
                if build::is_withheld_dimension(&self.publication.settings, dimension) {
                    return None;
                }
                if let Some(filter) = build::cube_filter(&self.publication.settings, dimension) {
                    if v.unit != Unit::All {
                        return None;
                    }
                    (
                        v.with(Unit::Is(filter, value.to_string())),
                        family.to_string(),
                        String::new(),
                    )
                } else {
                    let theme = family.strip_prefix("theme:");
                    (
                        v.clone(),
                        crate::measures::family::breakdown(dimension, theme),
                        value.to_string(),
                    )
                }
            }
        })
    }
}

use crate::measures::{Count, Place, Rule, Shown};

impl Rule for Publishing {
    fn count(&self, place: Place<'_>, family: &str, category: &str, raw: Count) -> Published {
        let Some((view, family, override_category)) = self.place(place, family) else {
            return Published::Suppressed;
        };
        let category = if override_category.is_empty() {
            category
        } else {
            &override_category
        };
        self.publication.count(&view, &family, category, raw.0)
    }

    fn amount(&self, family: &str, category: &str, raw: Option<f64>) -> Shown<Option<f64>> {
        match self.publication.amount(&self.view, family, category, raw) {
            Some(v) => Shown::Value(Some(v)),
            None => Shown::Suppressed,
        }
    }

    fn days(&self, group: Published, days: Option<f64>) -> Shown<Option<f64>> {
        match (group.value(), days) {
            (Some(_), None) => Shown::Value(None),
            _ => self
                .publication
                .days(group, days)
                .map_or(Shown::Suppressed, |d| Shown::Value(Some(d))),
        }
    }

    fn median_amount(&self, group: Published, amount: Option<f64>) -> Shown<Option<f64>> {
        match (group.value(), amount) {
            (Some(_), None) => Shown::Value(None),
            _ => self
                .publication
                .median_amount(group, amount)
                .map_or(Shown::Suppressed, |a| Shown::Value(Some(a))),
        }
    }

    fn text(&self) -> String {
        self.publication.settings.text()
    }
}
