//! Typed measure rows. Each measure's SQL result is read once into the row struct of that
//! measure; figures, the report and oversight read fields, and JSON is written only at
//! the output edge (field names and order as the SQL gives them).
//!
//! A row is generic over its [`Form`]: [`Raw`] as computed, or [`Public`] after
//! disclosure control. In the public form every count has the type
//! [`stats::Published`] and every figure derived from counts the type [`Shown`], so a row
//! cannot be published with a raw count left in it: `publish` has to produce each field,
//! and the compiler refuses a raw [`Count`] where a published one is due. A published
//! count comes from one place only: the publication's audited set of cells, asked
//! through a [`Rule`] with the cell's family and category ([`family`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::stats::{self, Published, Significance, Variation};

/// A number of cases, episodes, recommendations or remedies: the one type a count has in
/// a measure row. SQL's `SUM` over no rows gives null where the count is 0 (a scope with
/// no events): such a null is read as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        Ok(Count(Option::<u64>::deserialize(d)?.unwrap_or(0)))
    }
}

/// Where a row's count is, relative to the view of its table.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// The table's view itself.
    View,
    /// A month (`YYYY-MM-DD`, its first day) of the view's unit.
    Month(&'a str),
    /// An organisation within the view (organisation_profile).
    Organisation(&'a str),
    /// A value of a breakdown's dimension within the view.
    Dimension(&'a str, &'a str),
}

/// How a table's counts are published: the publication's audited set, read at the
/// table's view (`publication::Publishing` implements it).
pub trait Rule {
    /// The published count of a cell: `family` and `category` name it ([`family`]),
    /// `place` where it is; `raw` is the count the measure computed for it.
    fn count(&self, place: Place<'_>, family: &str, category: &str, raw: Count) -> Published;
    /// A total of amounts as published (`None`: withheld).
    fn amount(&self, family: &str, category: &str, raw: Option<f64>) -> Shown<Option<f64>>;
    /// A median or percentile of days over a group whose published count is `group`.
    fn days(&self, group: Published, days: Option<f64>) -> Shown<Option<f64>>;
    /// A median of amounts over a group whose published count is `group`.
    fn median_amount(&self, group: Published, amount: Option<f64>) -> Shown<Option<f64>>;
    /// The rule in words, as every published output states it.
    fn text(&self) -> String;
}

/// A place's cases and cases with `theme`, as published: (cases, with the theme).
fn theme_counts(
    r: &dyn Rule,
    place: Place<'_>,
    theme: &str,
    cases: Count,
    with_theme: Count,
) -> (Published, Published) {
    (
        r.count(place, family::CASES, "all", cases),
        r.count(place, &family::theme(theme), "all", with_theme),
    )
}

/// The publication's families of cells, as the lookups name them.
pub mod family {
    pub const CASES: &str = "cases";

    pub fn theme(theme: &str) -> String {
        format!("theme:{theme}")
    }

    /// A breakdown's dimension, in all (`theme` none) or for a theme.
    pub fn breakdown(dimension: &str, theme: Option<&str>) -> String {
        format!("breakdown:{dimension}:{}", theme.unwrap_or("cases"))
    }

    pub const COOCCURRENCE: &str = "cooccurrence";

    pub fn delays(field: &str) -> String {
        format!("delays:{field}")
    }

    pub fn delay_category(interval_no: i64, urgency: Option<&str>) -> String {
        format!("{interval_no}|{}", urgency.unwrap_or(""))
    }

    pub const CODED_VS_MEASURED: &str = "coded_vs_measured";
    pub const RECOMMENDATIONS: &str = "recommendations";
    pub const REMEDIES: &str = "remedies";
    pub const REMEDY_CASES: &str = "remedy_cases";
    pub const REMEDY_AMOUNTS: &str = "remedy_amounts";
    pub const LEARNING: &str = "learning";

    /// The cells of one code's or theme's agreement table.
    pub fn agreement(level: &str, item: &str) -> String {
        format!("agreement:{level}:{item}")
    }
}

/// A figure as published: the figure (a number, text or nothing), or suppressed (`*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Shown<T> {
    Value(T),
    #[serde(serialize_with = "star")]
    Suppressed,
}

fn star<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("*")
}

/// A value column that holds counts in some rows and other figures (days) in others
/// (`learning`, an SPC chart's `value`): as published, a count follows the rule and
/// another figure is kept or suppressed with its row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Amount {
    Count(Published),
    Figure(Shown<Option<f64>>),
}

/// What a count reads as, in either form.
pub trait CountLike: Clone + std::fmt::Debug + Serialize {
    /// The number, or `None` when suppressed.
    fn number(&self) -> Option<u64>;
    /// A count of this form holding `n`: in the public form, `n` must be a figure
    /// computed from published counts only (a funnel's unit, an SPC period).
    fn of(n: u64) -> Self;
    /// A count not shown (suppressed; never made in the raw form).
    fn hidden() -> Self;
    /// As written in a table or sentence (`*` when suppressed).
    fn text(&self) -> String {
        self.number().map_or("*".to_string(), |n| n.to_string())
    }
}

impl CountLike for Count {
    fn number(&self) -> Option<u64> {
        Some(self.0)
    }

    fn of(n: u64) -> Self {
        Count(n)
    }

    fn hidden() -> Self {
        Count(0)
    }
}

impl CountLike for Published {
    fn number(&self) -> Option<u64> {
        self.value()
    }

    fn of(n: u64) -> Self {
        Published::Count(n)
    }

    fn hidden() -> Self {
        Published::Suppressed
    }
}

/// What a figure reads as, in either form: `None` when missing or suppressed.
pub trait FigureLike: Clone + std::fmt::Debug + Serialize {
    fn value(&self) -> Option<f64>;
    /// A figure of this form holding `v` (in the public form: computed from published
    /// counts only).
    fn of(v: Option<f64>) -> Self;
    /// A figure not shown.
    fn hidden() -> Self;
    /// A value column's figure, a count when `counted` (see [`Amount`]).
    fn of_amount(v: Option<f64>, _counted: bool) -> Self {
        Self::of(v)
    }
    /// Whether the figure was withheld for publication (not merely missing).
    fn is_suppressed(&self) -> bool {
        false
    }
}

impl FigureLike for Option<f64> {
    fn value(&self) -> Option<f64> {
        *self
    }

    fn of(v: Option<f64>) -> Self {
        v
    }

    fn hidden() -> Self {
        None
    }
}

impl FigureLike for Shown<Option<f64>> {
    fn value(&self) -> Option<f64> {
        match self {
            Shown::Value(v) => *v,
            Shown::Suppressed => None,
        }
    }

    fn of(v: Option<f64>) -> Self {
        Shown::Value(v)
    }

    fn hidden() -> Self {
        Shown::Suppressed
    }

    fn is_suppressed(&self) -> bool {
        matches!(self, Shown::Suppressed)
    }
}

impl FigureLike for Amount {
    fn value(&self) -> Option<f64> {
        match self {
            Amount::Count(p) => p.value().map(|n| n as f64),
            Amount::Figure(f) => f.value(),
        }
    }

    fn of(v: Option<f64>) -> Self {
        Amount::Figure(Shown::Value(v))
    }

    fn hidden() -> Self {
        Amount::Figure(Shown::Suppressed)
    }

    fn of_amount(v: Option<f64>, counted: bool) -> Self {
        match (counted, v) {
            (true, Some(n)) => Amount::Count(Published::Count(n as u64)),
            _ => Amount::Figure(Shown::Value(v)),
        }
    }
}

/// The form of a row: the types its counts and derived figures have.
pub trait Form: Clone + std::fmt::Debug + 'static {
    type Count: CountLike;
    type Figure: FigureLike;
    /// A plain-English phrase for a proportion.
    type Phrase: Clone + std::fmt::Debug + Serialize;
    /// A column of counts or other figures (see [`Amount`]).
    type Amount: FigureLike;
}

/// Rows as computed.
#[derive(Debug, Clone)]
pub struct Raw;

impl Form for Raw {
    type Count = Count;
    type Figure = Option<f64>;
    type Phrase = Option<String>;
    type Amount = Option<f64>;
}

/// Rows after disclosure control (NHS rule, `stats::disclosure`).
#[derive(Debug, Clone)]
pub struct Public;

impl Form for Public {
    type Count = Published;
    type Figure = Shown<Option<f64>>;
    type Phrase = Shown<Option<String>>;
    type Amount = Amount;
}

/// A rate from published counts: `x / n`, or suppressed when either is suppressed or
/// `n` is 0.
fn published_ratio(x: Published, n: Published) -> Shown<Option<f64>> {
    match (x.value(), n.value()) {
        (Some(x), Some(n)) if n > 0 => Shown::Value(Some(x as f64 / n as f64)),
        _ => Shown::Suppressed,
    }
}

/// A figure of a row kept as it is, or suppressed when a count of the row is.
fn kept(v: Option<f64>, suppressed: bool) -> Shown<Option<f64>> {
    if suppressed {
        Shown::Suppressed
    } else {
        Shown::Value(v)
    }
}

fn any_suppressed(counts: &[Published]) -> bool {
    counts.iter().any(|p| p.value().is_none())
}

macro_rules! row {
    ($(#[$m:meta])* pub struct $name:ident<F> { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[serde(bound(
            serialize = "",
            deserialize = "F::Count: DeserializeOwned, F::Figure: DeserializeOwned + Default, \
                           F::Phrase: DeserializeOwned + Default, F::Amount: DeserializeOwned"
        ))]
        pub struct $name<F: Form = Raw> { $($body)* }
    };
}

row! {
    /// `theme_prevalence`: one row per theme.
    pub struct Prevalence<F> {
        pub theme: String,
        pub cases: F::Count,
        pub cases_with_theme: F::Count,
        #[serde(default = "none")]
        pub proportion: F::Figure,
        #[serde(default = "none")]
        pub ci95_low: F::Figure,
        #[serde(default = "none")]
        pub ci95_high: F::Figure,
        #[serde(default = "none")]
        pub ci998_low: F::Figure,
        #[serde(default = "none")]
        pub ci998_high: F::Figure,
        #[serde(default = "none")]
        pub phrase: F::Phrase,
    }
}

fn none<T: Default>() -> T {
    T::default()
}

impl Prevalence<Raw> {
    /// Adds the proportion, its Wilson 95% and 99.8% intervals and the phrase.
    pub fn with_intervals(mut self) -> Self {
        let (x, n) = (self.cases_with_theme.0, self.cases.0);
        let p = (n > 0).then(|| x as f64 / n as f64);
        self.proportion = p;
        let ci95 = stats::wilson(x, n, 0.95);
        let ci998 = stats::wilson(x, n, 0.998);
        self.ci95_low = ci95.map(|c| c.low);
        self.ci95_high = ci95.map(|c| c.high);
        self.ci998_low = ci998.map(|c| c.low);
        self.ci998_high = ci998.map(|c| c.high);
        self.phrase = p.and_then(stats::phrase);
        self
    }

    pub fn publish(&self, r: &dyn Rule) -> Prevalence<Public> {
        let (n, x) = theme_counts(
            r,
            Place::View,
            &self.theme,
            self.cases,
            self.cases_with_theme,
        );
        let interval = |level: f64| match (x.value(), n.value()) {
            (Some(x), Some(n)) => stats::wilson(x, n, level),
            _ => None,
        };
        let bound = |c: Option<stats::Interval>, low: bool| {
            c.map_or(Shown::Suppressed, |c| {
                Shown::Value(Some(if low { c.low } else { c.high }))
            })
        };
        let proportion = published_ratio(x, n);
        let phrase = match proportion.value() {
            Some(p) => Shown::Value(stats::phrase(p)),
            None => Shown::Suppressed,
        };
        let (ci95, ci998) = (interval(0.95), interval(0.998));
        Prevalence {
            theme: self.theme.clone(),
            cases: n,
            cases_with_theme: x,
            proportion,
            ci95_low: bound(ci95, true),
            ci95_high: bound(ci95, false),
            ci998_low: bound(ci998, true),
            ci998_high: bound(ci998, false),
            phrase,
        }
    }
}

row! {
    /// `theme_cooccurrence`: one row per combination of themes found.
    pub struct Cooccurrence<F> {
        pub combination: String,
        pub themes: u64,
        pub cases: F::Count,
    }
}

impl Cooccurrence<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> Cooccurrence<Public> {
        Cooccurrence {
            combination: self.combination.clone(),
            themes: self.themes,
            cases: r.count(
                Place::View,
                family::COOCCURRENCE,
                &self.combination,
                self.cases,
            ),
        }
    }
}

row! {
    /// `theme_breakdown`: per dimension, value and theme.
    pub struct Breakdown<F> {
        pub dimension: String,
        pub value: Option<String>,
        pub theme: String,
        pub cases: F::Count,
        pub cases_with_theme: F::Count,
        pub proportion: F::Figure,
    }
}

impl Breakdown<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> Breakdown<Public> {
        let value = self.value.as_deref().unwrap_or("(missing)");
        let place = Place::Dimension(&self.dimension, value);
        let (n, x) = theme_counts(r, place, &self.theme, self.cases, self.cases_with_theme);
        Breakdown {
            dimension: self.dimension.clone(),
            value: self.value.clone(),
            theme: self.theme.clone(),
            cases: n,
            cases_with_theme: x,
            proportion: published_ratio(x, n),
        }
    }
}

row! {
    /// `delay_intervals`: per interval of the journey and urgency.
    pub struct DelayInterval<F> {
        pub interval_no: i64,
        pub from_event: Option<String>,
        pub to_event: Option<String>,
        pub urgency: Option<String>,
        pub threshold_days: Option<f64>,
        pub episodes: F::Count,
        pub median_days: F::Figure,
        pub p90_days: F::Figure,
        pub max_days: F::Figure,
        pub over_threshold: F::Count,
        pub share_over: F::Figure,
        pub out_of_order: F::Count,
        pub not_to_the_day: F::Count,
    }
}

impl DelayInterval<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> DelayInterval<Public> {
        let category = family::delay_category(self.interval_no, self.urgency.as_deref());
        let count =
            |field: &str, raw: Count| r.count(Place::View, &family::delays(field), &category, raw);
        let episodes = count("episodes", self.episodes);
        let over = count("over_threshold", self.over_threshold);
        let out_of_order = count("out_of_order", self.out_of_order);
        let not_to_the_day = count("not_to_the_day", self.not_to_the_day);
        DelayInterval {
            interval_no: self.interval_no,
            from_event: self.from_event.clone(),
            to_event: self.to_event.clone(),
            urgency: self.urgency.clone(),
            threshold_days: self.threshold_days,
            episodes,
            // Over the measured episodes; a maximum is one episode's own interval.
            median_days: r.days(episodes, self.median_days),
            p90_days: r.days(episodes, self.p90_days),
            max_days: Shown::Suppressed,
            over_threshold: over,
            share_over: published_ratio(over, episodes),
            out_of_order,
            not_to_the_day,
        }
    }
}

row! {
    /// `delay_coded_vs_measured`: one count per named group of cases.
    pub struct NamedCount<F> {
        pub measure: String,
        pub cases: F::Count,
    }
}

impl NamedCount<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> NamedCount<Public> {
        let cases = if self.measure == "cases_in_scope" {
            r.count(Place::View, family::CASES, "all", self.cases)
        } else {
            r.count(
                Place::View,
                family::CODED_VS_MEASURED,
                &self.measure,
                self.cases,
            )
        };
        NamedCount {
            measure: self.measure.clone(),
            cases,
        }
    }
}

row! {
    /// `recommendations`: per kind, and `all`.
    pub struct Recommendation<F> {
        pub kind: String,
        pub recommendations: F::Count,
        pub complied: F::Count,
        pub not_complied: F::Count,
        pub pending: F::Count,
        pub compliance_rate: F::Figure,
        pub overdue: F::Count,
    }
}

impl Recommendation<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> Recommendation<Public> {
        let count = |field: &str, raw: Count| {
            r.count(
                Place::View,
                family::RECOMMENDATIONS,
                &format!("{}|{field}", self.kind),
                raw,
            )
        };
        let (all, complied) = (
            count("recommendations", self.recommendations),
            count("complied", self.complied),
        );
        Recommendation {
            kind: self.kind.clone(),
            recommendations: all,
            complied,
            not_complied: count("not_complied", self.not_complied),
            pending: count("pending", self.pending),
            compliance_rate: published_ratio(complied, all),
            overdue: count("overdue", self.overdue),
        }
    }
}

row! {
    /// `financial_remedies`: one row.
    pub struct Remedies<F> {
        pub remedies: F::Count,
        pub cases: F::Count,
        pub total_gbp: F::Figure,
        pub median_gbp: F::Figure,
    }
}

impl Remedies<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> Remedies<Public> {
        let remedies = r.count(Place::View, family::REMEDIES, "all", self.remedies);
        let cases = r.count(Place::View, family::REMEDY_CASES, "all", self.cases);
        Remedies {
            remedies,
            cases,
            total_gbp: r.amount(family::REMEDY_AMOUNTS, "all", self.total_gbp),
            median_gbp: r.median_amount(remedies, self.median_gbp),
        }
    }
}

row! {
    /// `learning`: named figures, some counts of cases and some numbers of days.
    pub struct Learning<F> {
        pub measure: String,
        pub value: F::Amount,
    }
}

impl Learning<Raw> {
    /// The row as published: a count from the audited set; the median days over the
    /// measured cases (`measured`: their published count); never a maximum.
    pub fn publish(&self, r: &dyn Rule, measured: Published) -> Learning<Public> {
        let raw = Count(self.value.unwrap_or(0.0) as u64);
        let category = match self.measure.as_str() {
            "cases_with_learning_review" => Some("cases_with_learning_review"),
            "cases_decision_to_review_measured" => Some("reviewed_measured"),
            "cases_decision_to_review_not_to_the_day" => Some("reviewed_not_to_the_day"),
            "repeat_failures" => Some("repeat_failures"),
            _ => None,
        };
        let value = if self.measure == "cases_in_scope" {
            Amount::Count(r.count(Place::View, family::CASES, "all", raw))
        } else if let Some(c) = category {
            Amount::Count(r.count(Place::View, family::LEARNING, c, raw))
        } else if self.measure.starts_with("median") {
            Amount::Figure(r.days(measured, self.value))
        } else {
            // A maximum, or a figure the publication has no rule for.
            Amount::Figure(Shown::Suppressed)
        };
        Learning {
            measure: self.measure.clone(),
            value,
        }
    }
}

row! {
    /// `organisation_profile`: per organisation and theme.
    pub struct OrganisationTheme<F> {
        pub organisation_code: Option<String>,
        pub organisation_name: Option<String>,
        pub region: Option<String>,
        pub theme: String,
        pub cases: F::Count,
        pub cases_with_theme: F::Count,
    }
}

impl OrganisationTheme<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> OrganisationTheme<Public> {
        let place = Place::Organisation(self.organisation_code.as_deref().unwrap_or(""));
        let (cases, cases_with_theme) =
            theme_counts(r, place, &self.theme, self.cases, self.cases_with_theme);
        OrganisationTheme {
            organisation_code: self.organisation_code.clone(),
            organisation_name: self.organisation_name.clone(),
            region: self.region.clone(),
            theme: self.theme.clone(),
            cases,
            cases_with_theme,
        }
    }
}

row! {
    /// `monthly_series`: per month and theme.
    pub struct MonthTheme<F> {
        pub month: String,
        pub theme: String,
        pub cases: F::Count,
        pub cases_with_theme: F::Count,
    }
}

impl MonthTheme<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> MonthTheme<Public> {
        let place = Place::Month(&self.month);
        let (cases, cases_with_theme) =
            theme_counts(r, place, &self.theme, self.cases, self.cases_with_theme);
        MonthTheme {
            month: self.month.clone(),
            theme: self.theme.clone(),
            cases,
            cases_with_theme,
        }
    }
}

/// A funnel plot's unit (oversight::funnel). In the public form the funnel is computed
/// from published counts only, its limits at the unit's published denominator.
#[derive(Debug, Clone, Serialize)]
#[serde(bound(serialize = ""))]
pub struct FunnelRow<F: Form = Raw> {
    pub label: String,
    /// The unit's name where it has one (an organisation's, from its cases); the label
    /// is its code.
    pub name: Option<String>,
    pub numerator: F::Count,
    pub denominator: F::Count,
    pub proportion: F::Figure,
    /// For a theme read per exposure: the unit's exposure, expected cases, O/E and rate.
    /// The limits and the significance are then those of O/E.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub per_exposure: Option<PerExposure>,
    pub lower95: f64,
    pub upper95: f64,
    pub lower998: f64,
    pub upper998: f64,
    pub significance: Significance,
    /// How the funnel judged: the limits in use ("adjusted" for overdispersion or
    /// "unadjusted"), φ, τ² and the method, on every row as PHEindicatormethods gives its
    /// method, so that a CSV says it too.
    pub limits: &'static str,
    pub phi: f64,
    pub tau2: f64,
    pub method: &'static str,
}

/// A funnel unit read per exposure (an indirectly standardised ratio).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PerExposure {
    /// The unit's exposure over the view (the study's `[exposure]` unit).
    pub exposure: f64,
    /// Cases with the theme expected at the overall rate: ΣO/ΣX × the exposure.
    pub expected: f64,
    /// Observed over expected (1: the overall rate).
    pub ratio: f64,
    /// Cases with the theme per the study's `per` of the exposure.
    pub rate: f64,
}

/// A period of an SPC chart (oversight::spc): its counts, the plotted value and the
/// chart's mean, limits, rule flags and variation.
#[derive(Debug, Clone, Serialize)]
#[serde(bound(serialize = ""))]
pub struct SpcRow<F: Form = Raw> {
    /// Whether `value` is the count of cases with the theme (a count chart), which is
    /// then published as that count; else a proportion.
    #[serde(skip)]
    pub counted: bool,
    pub period: String,
    pub cases: F::Count,
    pub cases_with_theme: F::Count,
    pub value: F::Amount,
    pub segment: usize,
    pub mean: f64,
    pub lower_limit: f64,
    pub upper_limit: f64,
    pub lower_two_sigma: f64,
    pub upper_two_sigma: f64,
    pub outside_limits: bool,
    pub trend: bool,
    pub two_of_three: bool,
    pub shift: bool,
    pub variation: Variation,
    /// False for a period at either end of the series with too few cases
    /// (`oversight::INCOMPLETE_RULE`): drawn hollow, outside the limits and rules.
    pub complete: bool,
}

row! {
    /// `coding_agreement`: cases of the double-coded sample per code or theme, number of
    /// coders, how many of them gave it, and whether the first coder did.
    pub struct AgreementCell<F> {
        pub level: String,
        pub item: String,
        pub item_order: i64,
        pub sample_coders: i64,
        pub coders: i64,
        pub yes: i64,
        pub first_yes: i64,
        pub cases: F::Count,
    }
}

impl AgreementCell<Raw> {
    /// The cell's category in the publication's family of its item.
    pub fn category(&self) -> String {
        format!("{}|{}|{}", self.coders, self.yes, self.first_yes)
    }

    pub fn publish(&self, r: &dyn Rule) -> AgreementCell<Public> {
        AgreementCell {
            level: self.level.clone(),
            item: self.item.clone(),
            item_order: self.item_order,
            sample_coders: self.sample_coders,
            coders: self.coders,
            yes: self.yes,
            first_yes: self.first_yes,
            cases: r.count(
                Place::View,
                &family::agreement(&self.level, &self.item),
                &self.category(),
                self.cases,
            ),
        }
    }
}

row! {
    /// `casework agreement`: how far coders agree on a code or theme
    /// (`oversight::agreement`, from `coding_agreement`).
    pub struct Agreement<F> {
        pub level: String,
        pub item: String,
        /// The theme of a code (none for a theme's own row).
        pub theme: Option<String>,
        pub coders: i64,
        /// Cases every coder coded: the sample of kappa and AC1.
        pub cases: F::Count,
        /// Of them, cases some coder gave it.
        pub cases_given: F::Count,
        /// Of them, cases where the coders differ.
        pub cases_split: F::Count,
        pub observed: F::Figure,
        /// `cohen` (two coders) or `fleiss` (more).
        pub kappa_method: Option<String>,
        pub kappa: F::Figure,
        pub kappa_low: F::Figure,
        pub kappa_high: F::Figure,
        pub kappa_band: F::Phrase,
        /// Cases coded by two or more coders: the units of alpha.
        pub alpha_cases: F::Count,
        pub alpha: F::Figure,
        pub alpha_low: F::Figure,
        pub alpha_high: F::Figure,
        pub alpha_band: F::Phrase,
        pub ac1: F::Figure,
        pub prevalence_index: F::Figure,
        pub bias_index: F::Figure,
        pub pabak: F::Figure,
        /// Why a coefficient is missing, or what the row's figures rest on.
        pub note: Option<String>,
        /// Whether a cell of its agreement table holds 1 to 7 cases (then every figure
        /// is withheld under disclosure control: with the sample size, the observed
        /// agreement and the indices give the cells back by arithmetic).
        #[serde(skip)]
        pub small_cell: bool,
    }
}

impl Agreement<Raw> {
    pub fn publish(&self, r: &dyn Rule) -> Agreement<Public> {
        let f = family::agreement(&self.level, &self.item);
        let count = |code: &str, raw: Count| r.count(Place::View, &f, code, raw);
        let cases = count("cases", self.cases);
        let cases_given = count("given", self.cases_given);
        let cases_split = count("split", self.cases_split);
        let alpha_cases = count("all", self.alpha_cases);
        let hidden =
            self.small_cell || any_suppressed(&[cases, cases_given, cases_split, alpha_cases]);
        let phrase = |p: &Option<String>| {
            if hidden {
                Shown::Suppressed
            } else {
                Shown::Value(p.clone())
            }
        };
        Agreement {
            level: self.level.clone(),
            item: self.item.clone(),
            theme: self.theme.clone(),
            coders: self.coders,
            cases,
            cases_given,
            cases_split,
            observed: kept(self.observed, hidden),
            kappa_method: self.kappa_method.clone(),
            kappa: kept(self.kappa, hidden),
            kappa_low: kept(self.kappa_low, hidden),
            kappa_high: kept(self.kappa_high, hidden),
            kappa_band: phrase(&self.kappa_band),
            alpha_cases,
            alpha: kept(self.alpha, hidden),
            alpha_low: kept(self.alpha_low, hidden),
            alpha_high: kept(self.alpha_high, hidden),
            alpha_band: phrase(&self.alpha_band),
            ac1: kept(self.ac1, hidden),
            prevalence_index: kept(self.prevalence_index, hidden),
            bias_index: kept(self.bias_index, hidden),
            pabak: kept(self.pabak, hidden),
            note: if hidden {
                Some("not shown: a cell of its agreement table is suppressed".into())
            } else {
                self.note.clone()
            },
            small_cell: self.small_cell,
        }
    }
}

/// A measure's rows, typed by measure.
#[derive(Debug, Clone)]
pub enum Table<F: Form = Raw> {
    ThemePrevalence(Vec<Prevalence<F>>),
    ThemeCooccurrence(Vec<Cooccurrence<F>>),
    ThemeBreakdown(Vec<Breakdown<F>>),
    DelayIntervals(Vec<DelayInterval<F>>),
    DelayCodedVsMeasured(Vec<NamedCount<F>>),
    Recommendations(Vec<Recommendation<F>>),
    FinancialRemedies(Vec<Remedies<F>>),
    Learning(Vec<Learning<F>>),
    OrganisationProfile(Vec<OrganisationTheme<F>>),
    MonthlySeries(Vec<MonthTheme<F>>),
    Funnel(Vec<FunnelRow<F>>),
    Spc(Vec<SpcRow<F>>),
    CodingAgreement(Vec<AgreementCell<F>>),
    Agreement(Vec<Agreement<F>>),
}

macro_rules! each_table {
    ($t:expr, $rows:ident => $e:expr) => {
        match $t {
            Table::ThemePrevalence($rows) => $e,
            Table::ThemeCooccurrence($rows) => $e,
            Table::ThemeBreakdown($rows) => $e,
            Table::DelayIntervals($rows) => $e,
            Table::DelayCodedVsMeasured($rows) => $e,
            Table::Recommendations($rows) => $e,
            Table::FinancialRemedies($rows) => $e,
            Table::Learning($rows) => $e,
            Table::OrganisationProfile($rows) => $e,
            Table::MonthlySeries($rows) => $e,
            Table::Funnel($rows) => $e,
            Table::Spc($rows) => $e,
            Table::CodingAgreement($rows) => $e,
            Table::Agreement($rows) => $e,
        }
    };
}

impl<F: Form> Serialize for Table<F> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        each_table!(self, rows => rows.serialize(s))
    }
}

macro_rules! accessor {
    ($fn:ident, $variant:ident, $row:ident) => {
        /// The rows, when the table is of this measure (else none).
        pub fn $fn(&self) -> &[$row<F>] {
            match self {
                Table::$variant(rows) => rows,
                _ => &[],
            }
        }
    };
}

impl<F: Form> Table<F> {
    pub fn len(&self) -> usize {
        each_table!(self, rows => rows.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows as JSON objects (field order as the SQL's columns), for the output edge:
    /// tables, CSV, the workbook.
    pub fn to_maps(&self) -> Vec<Map<String, Value>> {
        match serde_json::to_value(self) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    accessor!(theme_prevalence, ThemePrevalence, Prevalence);
    accessor!(theme_cooccurrence, ThemeCooccurrence, Cooccurrence);
    accessor!(theme_breakdown, ThemeBreakdown, Breakdown);
    accessor!(delay_intervals, DelayIntervals, DelayInterval);
    accessor!(delay_coded_vs_measured, DelayCodedVsMeasured, NamedCount);
    accessor!(recommendations, Recommendations, Recommendation);
    accessor!(financial_remedies, FinancialRemedies, Remedies);
    accessor!(learning, Learning, Learning);
    accessor!(organisation_profile, OrganisationProfile, OrganisationTheme);
    accessor!(monthly_series, MonthlySeries, MonthTheme);
    accessor!(funnel, Funnel, FunnelRow);
    accessor!(spc, Spc, SpcRow);
    accessor!(coding_agreement, CodingAgreement, AgreementCell);
    accessor!(agreement, Agreement, Agreement);
}

impl Table<Raw> {
    /// The table under disclosure control: every count from the publication's audited
    /// set, rates and intervals recomputed from the published counts, other figures by
    /// the rule's own terms. Funnels, SPC charts and agreement coefficients are computed
    /// from published rows instead (oversight), never converted: their rows here are
    /// left out.
    pub fn publish(&self, r: &dyn Rule) -> Table<Public> {
        fn all<R, P>(rows: &[R], f: impl Fn(&R) -> P) -> Vec<P> {
            rows.iter().map(f).collect()
        }
        match self {
            Table::ThemePrevalence(x) => Table::ThemePrevalence(all(x, |row| row.publish(r))),
            Table::ThemeCooccurrence(x) => Table::ThemeCooccurrence(all(x, |row| row.publish(r))),
            Table::ThemeBreakdown(x) => Table::ThemeBreakdown(all(x, |row| row.publish(r))),
            Table::DelayIntervals(x) => Table::DelayIntervals(all(x, |row| row.publish(r))),
            Table::DelayCodedVsMeasured(x) => {
                Table::DelayCodedVsMeasured(all(x, |row| row.publish(r)))
            }
            Table::Recommendations(x) => Table::Recommendations(all(x, |row| row.publish(r))),
            Table::FinancialRemedies(x) => Table::FinancialRemedies(all(x, |row| row.publish(r))),
            Table::Learning(x) => {
                let measured = x
                    .iter()
                    .find(|row| row.measure == "cases_decision_to_review_measured")
                    .map_or(Published::Suppressed, |row| {
                        match row.publish(r, Published::Suppressed).value {
                            Amount::Count(p) => p,
                            Amount::Figure(_) => Published::Suppressed,
                        }
                    });
                Table::Learning(all(x, |row| row.publish(r, measured)))
            }
            Table::OrganisationProfile(x) => {
                Table::OrganisationProfile(all(x, |row| row.publish(r)))
            }
            Table::MonthlySeries(x) => Table::MonthlySeries(all(x, |row| row.publish(r))),
            Table::Funnel(_) => Table::Funnel(Vec::new()),
            Table::Spc(_) => Table::Spc(Vec::new()),
            Table::CodingAgreement(x) => Table::CodingAgreement(all(x, |row| row.publish(r))),
            Table::Agreement(x) => Table::Agreement(all(x, |row| row.publish(r))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The publication's primary rule alone (1 to 7 suppressed, others rounded to 5), for
    /// the rows' own arithmetic; the audited set is tested in `publication`.
    struct PerCell;

    impl Rule for PerCell {
        fn count(&self, _: Place<'_>, _: &str, _: &str, raw: Count) -> Published {
            match raw.0 {
                0 => Published::Count(0),
                1..=7 => Published::Suppressed,
                n => Published::Count((n + 2) / 5 * 5),
            }
        }
        fn amount(&self, _: &str, _: &str, raw: Option<f64>) -> Shown<Option<f64>> {
            Shown::Value(raw)
        }
        fn days(&self, _: Published, days: Option<f64>) -> Shown<Option<f64>> {
            Shown::Value(days)
        }
        fn median_amount(&self, _: Published, a: Option<f64>) -> Shown<Option<f64>> {
            Shown::Value(a)
        }
        fn text(&self) -> String {
            String::new()
        }
    }

    fn prevalence(x: u64, n: u64) -> Prevalence {
        Prevalence {
            theme: "delay".into(),
            cases: Count(n),
            cases_with_theme: Count(x),
            proportion: None,
            ci95_low: None,
            ci95_high: None,
            ci998_low: None,
            ci998_high: None,
            phrase: None,
        }
        .with_intervals()
    }

    #[test]
    fn a_small_count_is_suppressed_with_every_figure_derived_from_it() {
        let published = serde_json::to_value(prevalence(5, 140).publish(&PerCell)).unwrap();
        assert_eq!(published["cases"], 140);
        for key in [
            "cases_with_theme",
            "proportion",
            "ci95_low",
            "ci95_high",
            "phrase",
        ] {
            assert_eq!(published[key], "*", "{key}");
        }
    }

    #[test]
    fn rates_are_recomputed_from_the_published_counts() {
        // 16 of 57: published 15 of 55, so the proportion is 15/55, not 16/57.
        let published = prevalence(16, 57).publish(&PerCell);
        assert_eq!(published.cases.value(), Some(55));
        assert_eq!(published.cases_with_theme.value(), Some(15));
        assert_eq!(published.proportion.value(), Some(15.0 / 55.0));
        let ci = stats::wilson(15, 55, 0.95).unwrap();
        assert_eq!(published.ci95_low.value(), Some(ci.low));
    }

    #[test]
    fn rows_with_a_column_the_measure_does_not_have_are_refused() {
        let row = serde_json::json!({"measure": "x", "cases": 3, "extra": 1});
        assert!(serde_json::from_value::<NamedCount>(row).is_err());
        let row = serde_json::json!({"measure": "x", "cases": 3});
        let ok: NamedCount = serde_json::from_value(row).unwrap();
        assert_eq!(ok.cases, Count(3));
    }
}
