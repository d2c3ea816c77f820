//! The report's figures: runs the measures a chart needs and hands their rows to
//! `chart`. With `publish`, every count a chart shows is the publication's
//! (`publication::Publishing`): rows are published before a chart sees them, and no
//! chart draws an individual value (a shortest or longest interval).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::error::{Error, NotDrawn, Result};
use crate::measures::{self, Breakdown, Context, CountLike, FigureLike, Form, Output};
use crate::oversight::{self, By, Period, Plotted};
use crate::publication::Publishing;
use crate::report::chart::{
    self, Bar, Combination, DelaySeries, Frame, FunnelUnit, Groups, SpcPoint,
};
use crate::spec::CodeList;
use crate::stats::Significance;
use crate::stats::SpcOptions;
use crate::warehouse::Manifest;

/// Combinations of themes the co-occurrence chart shows; the rest are one bar.
pub const COMBINATIONS_SHOWN: usize = 15;

/// The charts `casework chart` draws; `spc` and `funnel` take a theme.
pub const CHARTS: &[&str] = &[
    "prevalence",
    "cooccurrence",
    "delays",
    "spc",
    "funnel",
    "stage",
    "service",
    "compliance",
    "agreement",
];

/// Runs `$body` with `$o` bound to the output as the charts show it: published when the
/// figures are for publication, else as computed. (The body is compiled for both forms.)
macro_rules! shown {
    ($self:ident, $out:expr, |$o:ident| $body:expr) => {
        if let Some(rule) = &$self.publish {
            let published = $out.publish(rule);
            let $o = &published;
            $body
        } else {
            let $o = &$out;
            $body
        }
    };
}

/// What a figure run needs.
pub struct Figures<'a> {
    pub ctx: &'a SessionContext,
    pub context: &'a Context<'a>,
    /// The source line under every chart.
    pub source: String,
    /// The publication at the figures' view, when they are for publication.
    pub publish: Option<Publishing>,
    /// The study: each theme's better direction (SPC colours).
    pub study: &'a crate::spec::study::StudyFile,
    /// Measures already run, unpublished, by name.
    /// Kept shared: a national organisation profile is tens of thousands of rows, read
    /// by every theme's funnel.
    runs: Mutex<HashMap<String, Arc<Output>>>,
    /// Coding reliability, computed once.
    reliability: Mutex<Option<crate::oversight::agreement::Reliability>>,
    /// The organisation profile, published once (for publication).
    published_profile: Mutex<Option<Output<crate::measures::Public>>>,
    /// Each theme's funnel and SPC view, computed once for the chart and the report.
    funnels: Mutex<HashMap<String, Arc<oversight::Funnel<crate::measures::Public>>>>,
    spc_views: Mutex<HashMap<String, SpcView>>,
}

/// A bucket of measured intervals for the delays chart (its own SQL, below).
#[derive(Debug, serde::Deserialize)]
struct DelayBucket {
    from_event: Option<String>,
    to_event: Option<String>,
    urgency: Option<String>,
    threshold_days: Option<f64>,
    lo: Option<f64>,
    hi: Option<f64>,
    n: u64,
}

/// The source line under every chart and at the head of the report: the committed
/// warehouse version, the date of its last ingest, and the code list.
pub fn source_line(manifest: &Manifest, codes: &CodeList) -> String {
    let date = manifest
        .ingests
        .last()
        .and_then(|i| i.time.get(0..10))
        .unwrap_or("");
    format!(
        "Source: casework warehouse {}, data of {date}; code list {}",
        manifest.version,
        codes.source.name.trim_start_matches("embedded:")
    )
}

/// Turns `theme_name` into "Theme name" for labels.
pub fn label(theme: &str) -> String {
    let mut s = theme.replace('_', " ");
    if let Some(first) = s.get(0..1) {
        s.replace_range(0..1, &first.to_uppercase());
    }
    s
}

impl<'a> Figures<'a> {
    pub fn new(
        ctx: &'a SessionContext,
        context: &'a Context<'a>,
        source: String,
        publish: Option<Publishing>,
        study: &'a crate::spec::study::StudyFile,
    ) -> Figures<'a> {
        Figures {
            ctx,
            context,
            source,
            publish,
            study,
            runs: Mutex::new(HashMap::new()),
            reliability: Mutex::new(None),
            published_profile: Mutex::new(None),
            funnels: Mutex::new(HashMap::new()),
            spc_views: Mutex::new(HashMap::new()),
        }
    }

    /// A measure's output, unpublished, run once however many charts (or report
    /// tables) use it.
    /// Gives the figures a measure's output computed elsewhere (serve's case index, whose
    /// answers equal the SQL's: `tests/it/explorer.rs`), so that it is not run again.
    pub fn seed(&self, out: Output) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(out.measure.clone(), Arc::new(out));
        }
    }

    /// Gives the figures the organisation profile of one theme only (serve's pages that
    /// draw one theme's funnel: a national profile has a row per organisation and
    /// theme). Only that theme's funnel reads it; anything else reads the whole
    /// profile as before.
    pub fn seed_profile_of(&self, theme: &str, out: Output) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(format!("organisation_profile#{theme}"), Arc::new(out));
        }
    }

    /// Gives the figures a theme's funnel made before for the same view (serve keeps
    /// the funnels of the last few views: every organisation's page of one period
    /// shows its place in the same funnels).
    pub fn seed_funnel(
        &self,
        theme: &str,
        funnel: Arc<oversight::Funnel<crate::measures::Public>>,
    ) {
        if let Ok(mut m) = self.funnels.lock() {
            m.insert(theme.to_string(), funnel);
        }
    }

    /// The funnels made (or given) so far, by theme.
    pub fn funnels_made(&self) -> HashMap<String, Arc<oversight::Funnel<crate::measures::Public>>> {
        self.funnels.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn profile_given(&self, theme: &str) -> Option<Arc<Output>> {
        self.runs
            .lock()
            .ok()
            .and_then(|r| r.get(&format!("organisation_profile#{theme}")).cloned())
    }

    /// The organisation profile with (at least) the rows of `theme`: the one given for
    /// it alone, else the whole profile.
    pub async fn theme_profile(&self, theme: &str) -> Result<Arc<Output>> {
        match self.profile_given(theme) {
            Some(p) => Ok(p),
            None => self.raw("organisation_profile").await,
        }
    }

    pub async fn raw(&self, name: &str) -> Result<Arc<Output>> {
        if let Some(out) = self.runs.lock().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(out);
        }
        let out = Arc::new(measures::run(self.ctx, measures::find(name)?, self.context).await?);
        if let Ok(mut runs) = self.runs.lock() {
            runs.insert(name.to_string(), out.clone());
        }
        Ok(out)
    }

    /// Coding reliability (unpublished), computed once.
    pub async fn reliability(&self) -> Result<crate::oversight::agreement::Reliability> {
        if let Some(r) = self.reliability.lock().ok().and_then(|r| r.clone()) {
            return Ok(r);
        }
        let rule = self.publish.as_ref().map(|p| p as &dyn measures::Rule);
        let r = crate::oversight::agreement::agreement(self.ctx, self.context, rule).await?;
        if let Ok(mut slot) = self.reliability.lock() {
            *slot = Some(r.clone());
        }
        Ok(r)
    }

    async fn agreement(&self, stem: &Path) -> Result<()> {
        let r = self.reliability().await?;
        if !r.present() {
            return Err(NotDrawn::new(
                "agreement",
                "no case in scope was coded by two or more coders",
            )
            .into());
        }
        fn bars_of<F: crate::measures::Form>(
            out: &Output<F>,
            study: &crate::spec::study::StudyFile,
        ) -> (Vec<Bar>, Vec<String>) {
            // Code-list order from the top (drawn bottom to top).
            let themes: Vec<_> = out
                .rows
                .agreement()
                .iter()
                .filter(|row| row.level == "theme")
                .rev()
                .collect();
            let bars = themes
                .iter()
                .map(|row| Bar {
                    label: study.label(&row.item),
                    value: row.kappa.value(),
                    low: row.kappa_low.value(),
                    high: row.kappa_high.value(),
                })
                .collect();
            let notes = themes
                .iter()
                .map(|row| match row.kappa.value() {
                    Some(_) => String::new(),
                    None if row.kappa.is_suppressed() => "* (small counts)".to_string(),
                    None => "undefined (one answer throughout)".to_string(),
                })
                .collect();
            (bars, notes)
        }
        // As published: computed from the published counts (oversight::agreement).
        let (bars, notes) = if self.publish.is_some() {
            bars_of(&r.published, self.study)
        } else {
            bars_of(&r.output, self.study)
        };
        let method = if r.coders > 2 {
            "Fleiss' kappa (no interval)"
        } else {
            "Cohen's kappa, 95% interval"
        };
        let n = r.sample_text(self.publish.is_some());
        let f = self.frame(
            "Coding reliability by theme".into(),
            format!(
                "Agreement of {} coders on {n} double-coded cases ({method})",
                r.coders
            ),
        );
        chart::agreement(stem, &bars, &notes, &f)
    }

    /// The number of cases in scope, as a chart states it (published if asked).
    async fn cases_in_scope(&self) -> Result<String> {
        let prevalence = self.raw("theme_prevalence").await?;
        Ok(shown!(self, prevalence, |out| {
            out.rows
                .theme_prevalence()
                .first()
                .and_then(|r| r.cases.number())
                .map_or("*".to_string(), |n| chart::thousands(n as i64))
        }))
    }

    fn frame(&self, title: String, subtitle: String) -> Frame {
        Frame {
            title,
            subtitle,
            source: self.source.clone(),
            cases: chart::capitalised(&self.study.cases()),
        }
    }

    /// Draws one chart to `stem.svg` and `stem.png`.
    pub async fn draw(&self, name: &str, theme: Option<&str>, stem: &Path) -> Result<()> {
        match name {
            "prevalence" => self.prevalence(stem).await,
            "cooccurrence" => self.cooccurrence(stem).await,
            "delays" => self.delays(stem).await,
            "spc" => self.spc(need_theme(theme)?, stem).await,
            "funnel" => self.funnel(need_theme(theme)?, stem).await,
            "stage" | "service" => self.breakdown(name, stem).await,
            "compliance" => self.compliance(stem).await,
            "agreement" => self.agreement(stem).await,
            other => Err(Error::Usage(format!(
                "unknown chart {other:?}; the charts are: {}",
                CHARTS.join(", ")
            ))),
        }
    }

    /// Draws every chart into `dir` (spc and funnel once per theme); returns the stems
    /// drawn and, for charts that could not be drawn (an SPC chart with too few points),
    /// why not.
    /// The charts named in `lacking` are left out (what the study's data does not have:
    /// no chart, and no note of one not drawn).
    pub async fn draw_all(
        &self,
        dir: &Path,
        lacking: &[&str],
    ) -> Result<(Vec<PathBuf>, Vec<NotDrawn>)> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut drawn = Vec::new();
        let mut skipped = Vec::new();
        for name in CHARTS.iter().filter(|c| !lacking.contains(c)) {
            let themes: Vec<Option<String>> = if matches!(*name, "spc" | "funnel") {
                self.context.codes.themes().into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            for theme in themes {
                let stem = match &theme {
                    Some(t) => dir.join(format!("{name}-{t}")),
                    None => dir.join(name),
                };
                if *name == "agreement" && !self.reliability().await?.present() {
                    // No double coding: no section and no chart (not a chart skipped).
                    continue;
                }
                match self.draw(name, theme.as_deref(), &stem).await {
                    Ok(()) => drawn.push(stem),
                    Err(Error::NotDrawn(why)) => skipped.push(why),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((drawn, skipped))
    }

    async fn prevalence(&self, stem: &Path) -> Result<()> {
        let raw = self.raw("theme_prevalence").await?;
        let (n, bars) = shown!(self, raw, |out| {
            let rows = out.rows.theme_prevalence();
            let n = rows.first().map_or("0".to_string(), |r| {
                r.cases
                    .number()
                    .map_or("*".to_string(), |n| chart::thousands(n as i64))
            });
            // Largest first, at the top (drawn bottom to top); a suppressed share last.
            let mut bars: Vec<Bar> = rows
                .iter()
                .map(|r| Bar {
                    label: self.study.label(&r.theme),
                    value: r.proportion.value(),
                    low: r.ci95_low.value(),
                    high: r.ci95_high.value(),
                })
                .collect();
            bars.sort_by(|a, b| b.value.unwrap_or(-1.0).total_cmp(&a.value.unwrap_or(-1.0)));
            bars.reverse();
            (n, bars)
        });
        if raw
            .rows
            .theme_prevalence()
            .first()
            .is_none_or(|r| r.cases.0 == 0)
        {
            return Err(NotDrawn::new("prevalence", "no case in scope").into());
        }
        let f = self.frame(
            format!(
                "{} with each theme",
                chart::capitalised(&self.study.cases())
            ),
            format!(
                "Share of {} in scope (n = {n}), with 95% Wilson intervals",
                self.study.cases()
            ),
        );
        chart::prevalence(stem, &bars, &f)
    }

    async fn cooccurrence(&self, stem: &Path) -> Result<()> {
        let raw = self.raw("theme_cooccurrence").await?;
        let themes = self.context.codes.themes();
        // Per combination with a theme: its members and its count as shown (None:
        // suppressed).
        let mut all: Vec<(Vec<bool>, Option<u64>)> = shown!(self, raw, |out| {
            out.rows
                .theme_cooccurrence()
                .iter()
                .filter(|r| r.combination != "none")
                .map(|r| {
                    let parts: Vec<&str> = r.combination.split(" + ").collect();
                    (
                        themes.iter().map(|t| parts.contains(&t.as_str())).collect(),
                        r.cases.number(),
                    )
                })
                .collect()
        });
        let total_combinations = all.len();
        // The largest combinations: thirty themes can give thousands of combinations,
        // which no chart can show. The rest are counted in the subtitle, not drawn as a
        // bar (one bar of thousands would flatten every other). Published, their count is
        // the sum of published counts, not stated when one of them is suppressed.
        let mut rest = None;
        if all.len() > COMBINATIONS_SHOWN {
            all.sort_by_key(|c| std::cmp::Reverse(c.1.unwrap_or(0)));
            let others: Option<u64> = all[COMBINATIONS_SHOWN..].iter().map(|c| c.1).sum();
            rest = Some(others);
            all.truncate(COMBINATIONS_SHOWN);
        }
        let combos: Vec<Combination> = all
            .into_iter()
            .map(|(members, shown)| Combination {
                members,
                cases: shown.unwrap_or(0),
                label: shown.map_or("*".to_string(), |n| chart::thousands(n as i64)),
            })
            .collect();
        if combos.iter().all(|c| c.cases == 0 && c.label == "0") {
            return Err(NotDrawn::new("cooccurrence", "no case in scope has a theme").into());
        }
        let labels: Vec<String> = themes.iter().map(|t| self.study.label(t)).collect();
        let cases = self.study.cases();
        let n = self.cases_in_scope().await?;
        let f = self.frame(
            "Which themes occur together".into(),
            match rest {
                Some(others) => format!(
                    "The {COMBINATIONS_SHOWN} largest of {} combinations (n = {n} {cases}); {} in the other {} are not drawn",
                    chart::thousands(total_combinations as i64),
                    others.map_or("the cases".to_string(), |o| format!("{} {cases}", chart::thousands(o as i64))),
                    chart::thousands((total_combinations - COMBINATIONS_SHOWN) as i64),
                ),
                None => format!(
                    "{} per combination of themes, each counted once (n = {n})",
                    chart::capitalised(&cases)
                ),
            },
        );
        chart::upset(stem, &labels, &combos, &f)
    }

    async fn delays(&self, stem: &Path) -> Result<()> {
        if let Some(rule) = &self.publish {
            return self.published_delays(rule, stem).await;
        }
        // One point per interval is one point per episode: millions at national scale.
        // The strip is drawn from log-spaced buckets instead (50 a decade, finer than a
        // pixel): each bucket gives its shortest and longest interval, so the spread,
        // the extremes and which side of the threshold each part lies on are as drawn
        // point by point, and the data behind the chart stays a few thousand rows.
        // The intervals out of order (days < 0) or not to the day (null) fall in the
        // null bucket, which HAVING leaves out: a WHERE on `days` would be tested inside
        // episode_intervals' join, computing every interval twice. Each interval's
        // events are joined on after the grouping (one pair per interval_no).
        let sql = "SELECT b.interval_no, t.from_event, t.to_event, b.urgency, \
                          b.threshold_days, b.lo, b.hi, b.n \
                   FROM (SELECT interval_no, urgency, threshold_days, \
                                MIN(CASE WHEN days >= 0 THEN days END) AS lo, \
                                MAX(CASE WHEN days >= 0 THEN days END) AS hi, \
                                COUNT(CASE WHEN days >= 0 THEN 1 END) AS n \
                         FROM episode_intervals \
                         GROUP BY interval_no, urgency, threshold_days, \
                                  CASE WHEN days >= 0 \
                                       THEN CAST(round(log10(days + 0.01) * 50) AS BIGINT) END \
                         HAVING COUNT(CASE WHEN days >= 0 THEN 1 END) > 0) b \
                   JOIN (SELECT DISTINCT interval_no, from_event, to_event FROM thresholds) t \
                     ON t.interval_no = b.interval_no \
                   ORDER BY b.interval_no, b.urgency, b.lo";
        let batches =
            measures::sql_batches(self.ctx, sql, Path::new("delays chart"), Vec::new()).await?;
        let rows: Vec<DelayBucket> = measures::to_rows(&batches)?
            .into_iter()
            .map(|m| serde_json::from_value(Value::Object(m)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Usage(format!("delays chart: {e}")))?;
        if rows.is_empty() {
            return Err(
                NotDrawn::new("delays", "no episode has two dated steps to measure").into(),
            );
        }
        let mut series: Vec<DelaySeries> = Vec::new();
        let mut episodes = 0u64;
        for r in &rows {
            let name = format!(
                "{} → {} ({})",
                r.from_event.as_deref().unwrap_or("").replace('_', " "),
                r.to_event.as_deref().unwrap_or("").replace('_', " "),
                r.urgency.as_deref().unwrap_or("")
            );
            episodes += r.n;
            let (lo, hi) = (r.lo.unwrap_or(0.0), r.hi.unwrap_or(0.0));
            let points: &[f64] = if lo == hi { &[lo] } else { &[lo, hi] };
            match series.iter_mut().find(|s| s.label == name) {
                Some(s) => s.days.extend_from_slice(points),
                None => series.push(DelaySeries {
                    label: name,
                    days: points.to_vec(),
                    threshold_days: r.threshold_days.unwrap_or(0.0),
                }),
            }
        }
        let f = self.frame(
            "Measured delays between the steps of each episode".into(),
            format!(
                "Days between steps per episode ({} intervals measured); orange: over the threshold",
                chart::thousands(episodes as i64)
            ),
        );
        chart::delays(stem, &series, &f)
    }

    /// The delays chart for publication: no interval of its own, only each interval's
    /// published median and 90th percentile (whole weeks, where its published count of
    /// episodes is above the threshold).
    async fn published_delays(&self, rule: &Publishing, stem: &Path) -> Result<()> {
        let raw = self.raw("delay_intervals").await?;
        let out = raw.publish(rule);
        let mut series: Vec<DelaySeries> = Vec::new();
        for r in out.rows.delay_intervals() {
            let days: Vec<f64> = [r.median_days.value(), r.p90_days.value()]
                .into_iter()
                .flatten()
                .collect();
            if days.is_empty() {
                continue;
            }
            series.push(DelaySeries {
                label: format!(
                    "{} → {} ({})",
                    r.from_event.as_deref().unwrap_or("").replace('_', " "),
                    r.to_event.as_deref().unwrap_or("").replace('_', " "),
                    r.urgency.as_deref().unwrap_or("")
                ),
                days,
                threshold_days: r.threshold_days.unwrap_or(0.0),
            });
        }
        if series.is_empty() {
            return Err(NotDrawn::new(
                "delays",
                "no interval has enough episodes to publish its median",
            )
            .into());
        }
        let f = self.frame(
            "Measured delays between the steps of each episode".into(),
            "Published median and 90th percentile per interval, in whole weeks (intervals with few episodes not shown); orange: over the threshold".into(),
        );
        chart::delays(stem, &series, &f)
    }

    /// A theme's SPC chart as the report draws it: per month, the theme's share of cases
    /// when it has a target or the volume varies (else its count), the study's rebases
    /// and target, and the summary icons. Published when the figures are.
    pub async fn spc_view(&self, theme: &str) -> Result<SpcView> {
        if let Some(v) = self
            .spc_views
            .lock()
            .ok()
            .and_then(|m| m.get(theme).cloned())
        {
            return Ok(v);
        }
        let v = self.compute_spc_view(theme).await?;
        if let Ok(mut m) = self.spc_views.lock() {
            m.insert(theme.to_string(), v.clone());
        }
        Ok(v)
    }

    async fn compute_spc_view(&self, theme: &str) -> Result<SpcView> {
        let series = self.raw("monthly_series").await?;
        let plan = oversight::Plan::for_theme(self.study, theme, &[]);
        let options = SpcOptions {
            improvement: oversight::improvement(self.study, theme),
            ..SpcOptions::default()
        };
        shown!(self, series, |out| {
            let plotted = if plan.exposure.is_some() && oversight::has_exposure(self.context.scope)
            {
                Plotted::Rate
            } else if plan.target.is_some() {
                Plotted::Proportion
            } else {
                oversight::plotted_for(out, theme)
            };
            let spc = oversight::spc_from(
                out,
                self.context,
                theme,
                Period::Month,
                plotted,
                &options,
                &plan,
            )?;
            let rows = spc.rows.spc();
            let hidden = rows.iter().filter(|r| r.value.value().is_none()).count();
            let points: Vec<SpcPoint> = rows
                .iter()
                .filter_map(|r| {
                    Some(SpcPoint {
                        label: r.period.get(0..7).unwrap_or("").to_string(),
                        value: r.value.value()?,
                        mean: r.mean,
                        lower: r.lower_limit,
                        upper: r.upper_limit,
                        variation: serde_text(&r.variation),
                        complete: r.complete,
                        sparse: plotted == Plotted::Proportion
                            && r.cases
                                .number()
                                .is_some_and(|n| n < self.study.min_denominator),
                    })
                })
                .collect();
            let text = |k: &str| {
                spc.extra
                    .get(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let icon = text("variation_icon").and_then(|t| icon_of(&t));
            let assurance = text("assurance").and_then(|t| assurance_of(&t));
            let rebases = spc
                .extra
                .get("rebases")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            (
                                r["from"]
                                    .as_str()
                                    .unwrap_or("")
                                    .get(0..7)
                                    .unwrap_or("")
                                    .to_string(),
                                r["reason"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok::<SpcView, Error>(SpcView {
                plotted,
                hidden,
                icon,
                assurance,
                target: spc.extra.get("target").and_then(|v| v.as_f64()),
                rebases,
                suggested: text("suggested_rebase"),
                points,
            })
        })
    }

    async fn spc(&self, theme: &str, stem: &Path) -> Result<()> {
        let v = self.spc_view(theme).await?;
        let (plotted, points, hidden) = (v.plotted, &v.points, v.hidden);
        let share = plotted == Plotted::Proportion;
        let per = self
            .study
            .exposure
            .as_ref()
            .map(|e| e.per_words())
            .unwrap_or_default();
        let f = self.frame(
            if plotted == Plotted::Rate {
                format!(
                    "{}: {} {per} per month",
                    self.study.label(theme),
                    self.study.cases()
                )
            } else if share {
                format!(
                    "{}: share of {} per month",
                    self.study.label(theme),
                    self.study.cases()
                )
            } else {
                format!(
                    "{}: {} per month",
                    self.study.label(theme),
                    self.study.cases()
                )
            },
            {
                // Every colour drawn, and only those.
                let mut colours = vec!["XmR (Making Data Count): grey common cause".to_string()];
                for (variation, words) in [
                    ("special cause concern", "orange concern"),
                    ("special cause improvement", "blue improvement"),
                    ("special cause neither", "purple neither better nor worse"),
                ] {
                    if points.iter().any(|p| p.variation == variation) {
                        colours.push(words.to_string());
                    }
                }
                let mut s = colours.join(", ");
                if points.iter().any(|p| !p.complete) {
                    s.push_str("; hollow: incomplete month, not judged");
                }
                let sparse = points.iter().filter(|p| p.sparse).count();
                if sparse > 0 {
                    s.push_str(&format!(
                        "; ×: {sparse} month{} of fewer than {} {} (a share that swings by chance)",
                        if sparse == 1 { "" } else { "s" },
                        self.study.min_denominator,
                        self.study.cases()
                    ));
                }
                if v.target.is_some() {
                    s.push_str("; red: target");
                }
                if !v.rebases.is_empty() {
                    s.push_str(&format!(
                        "; rebased {}",
                        v.rebases
                            .iter()
                            .map(|(m, _)| m.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if hidden > 0 {
                    s.push_str(&format!(
                        "; {hidden} month{} not shown (counts suppressed)",
                        if hidden == 1 { "" } else { "s" }
                    ));
                }
                s
            },
        );
        let marks = chart::SpcMarks {
            target: v.target,
            icon: v.icon,
            assurance: v.assurance,
            fractional: plotted == Plotted::Rate,
        };
        if plotted == Plotted::Rate {
            chart::spc(
                stem,
                points,
                &format!(
                    "{} with the theme {per}",
                    chart::capitalised(&self.study.cases())
                ),
                false,
                &marks,
                &f,
            )
        } else if share {
            chart::spc(stem, points, "Share with the theme (%)", true, &marks, &f)
        } else {
            chart::spc(
                stem,
                points,
                &format!("{} with the theme", chart::capitalised(&self.study.cases())),
                false,
                &marks,
                &f,
            )
        }
    }

    /// A theme's funnel across organisations as the report draws it and lists its
    /// flagged organisations (published when the figures are), computed once.
    pub async fn funnel_view(
        &self,
        theme: &str,
    ) -> Result<Arc<oversight::Funnel<crate::measures::Public>>> {
        if let Some(f) = self.funnels.lock().ok().and_then(|m| m.get(theme).cloned()) {
            return Ok(f);
        }
        let one = self.profile_given(theme);
        let profile = self.theme_profile(theme).await?;
        let exposure = self.study.exposure.as_ref();
        let funnel = match &self.publish {
            Some(rule) => {
                // The published whole profile is kept for the other themes; a profile of
                // one theme is published for its funnel alone.
                let cached = if one.is_some() {
                    Some(profile.publish(rule))
                } else {
                    self.published_profile.lock().ok().and_then(|p| p.clone())
                };
                let published = match cached {
                    Some(p) => p,
                    None => {
                        let p = profile.publish(rule);
                        if let Ok(mut slot) = self.published_profile.lock() {
                            *slot = Some(p.clone());
                        }
                        p
                    }
                };
                oversight::funnel_from(
                    &published,
                    self.context,
                    theme,
                    By::Organisation,
                    crate::stats::Choice::Auto,
                    exposure,
                    self.study.min_denominator,
                )?
            }
            None => oversight::funnel_from(
                &profile,
                self.context,
                theme,
                By::Organisation,
                crate::stats::Choice::Auto,
                exposure,
                self.study.min_denominator,
            )?
            .shown(),
        };
        let funnel = Arc::new(funnel);
        if let Ok(mut m) = self.funnels.lock() {
            m.insert(theme.to_string(), funnel.clone());
        }
        Ok(funnel)
    }

    async fn funnel(&self, theme: &str, stem: &Path) -> Result<()> {
        let exposure = self.study.exposure.as_ref();
        let funnel = self.funnel_view(theme).await?;
        let out = &funnel.output;
        let reading = exposure.filter(|e| e.reads(theme));
        let rows = out.rows.funnel();
        // Each flagged unit's number, by its row.
        let mut numbers = vec![None; rows.len()];
        for (k, i) in flagged_order(rows).into_iter().enumerate() {
            numbers[i] = Some(k + 1);
        }
        let units: Vec<FunnelUnit> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (denominator, proportion) = match r.per_exposure {
                    Some(x) => (x.expected, x.ratio),
                    None => (
                        r.denominator.number().unwrap_or(0) as f64,
                        r.proportion.value().unwrap_or(0.0),
                    ),
                };
                let figures = match r.per_exposure {
                    Some(x) => format!(
                        "{} ({} of {} {}); {:.2} × expected",
                        crate::stats::rate_text(x.rate),
                        count_text(&r.numerator),
                        count_text(&r.denominator),
                        self.study.cases(),
                        x.ratio
                    ),
                    None => format!(
                        "{} ({} of {})",
                        r.proportion
                            .value()
                            .map(crate::stats::percent)
                            .unwrap_or_default(),
                        count_text(&r.numerator),
                        count_text(&r.denominator)
                    ),
                };
                FunnelUnit {
                    label: r.label.clone(),
                    name: r.name.clone(),
                    denominator,
                    proportion,
                    figures,
                    outside998: matches!(
                        r.significance,
                        Significance::Low0001 | Significance::High0001
                    ),
                    outside95: matches!(
                        r.significance,
                        Significance::Low0025 | Significance::High0025
                    ),
                    judged: r.significance != Significance::NotJudged,
                    number: numbers[i],
                }
            })
            .collect();
        if units.is_empty() {
            let reason = if funnel.not_shown > 0 {
                "not published: every organisation's count is suppressed (disclosure control)"
            } else {
                "no organisation has cases in scope"
            };
            return Err(NotDrawn::new("funnel", reason).of(theme).into());
        }
        let curve: chart::Curve = funnel
            .curve
            .iter()
            .map(|c| (c.denominator, c.lower95, c.upper95, c.lower998, c.upper998))
            .collect();
        let average = funnel.average.unwrap_or(0.0);
        let judged = funnel.judged.as_ref().map_or(String::new(), |j| {
            let (h, l) = if j.adjusted { j.flagged_adjusted } else { j.flagged_unadjusted };
            if j.adjusted {
                let (uh, ul) = j.flagged_unadjusted;
                format!(
                    "; limits adjusted for overdispersion (φ = {:.2}, τ² = {:.4}; Spiegelhalter 2005): {h} high, {l} low ({uh} high, {ul} low unadjusted)",
                    j.phi, j.tau2
                )
            } else {
                format!("; no overdispersion (φ = {:.2}): {h} high, {l} low", j.phi)
            }
        });
        let without = out
            .extra
            .get("without_exposure")
            .and_then(|w| w["count"].as_u64())
            .unwrap_or(0);
        let (title, axes) = match reading {
            Some(e) => {
                let overall = out
                    .extra
                    .get("per_exposure")
                    .and_then(|p| p["overall_rate"].as_f64())
                    .unwrap_or(0.0);
                (
                    format!(
                        "{}: {} compared {}",
                        self.study.label(theme),
                        self.study.organisations(),
                        e.per_words()
                    ),
                    chart::FunnelAxes {
                        min_denominator: self.study.min_denominator,
                        x: format!(
                            "Expected {} with the theme at the overall rate",
                            self.study.cases()
                        ),
                        y: format!(
                            "Observed / expected (1 = {} {})",
                            crate::stats::rate_text(overall),
                            e.per_words()
                        ),
                        ratio: true,
                    },
                )
            }
            None => (
                format!(
                    "{}: {} compared",
                    self.study.label(theme),
                    self.study.organisations()
                ),
                chart::FunnelAxes::proportions(&self.study.cases(), self.study.min_denominator),
            ),
        };
        let organisations = self.study.organisations();
        let mut subtitle = if funnel.not_shown > 0 {
            format!(
                "Published counts, {} {organisations} ({} with a suppressed count not shown){judged}",
                units.len(),
                funnel.not_shown
            )
        } else {
            format!("{} {organisations}{judged}", units.len())
        };
        let small = units.iter().filter(|u| !u.judged).count();
        if small > 0 {
            subtitle.push_str(&format!(
                "; {small} with fewer than {} {} not judged",
                self.study.min_denominator,
                self.study.cases()
            ));
        }
        if without > 0 {
            subtitle.push_str(&format!("; {without} without an exposure not placed"));
        }
        let f = self.frame(title, subtitle);
        chart::funnel(stem, &units, &curve, average, &axes, &f)
    }

    async fn breakdown(&self, dimension: &str, stem: &Path) -> Result<()> {
        let raw = self.raw("theme_breakdown").await?;
        let themes = self.context.codes.themes();
        let (categories, values) = shown!(self, raw, |out| {
            let rows: Vec<_> = out
                .rows
                .theme_breakdown()
                .iter()
                .filter(|r| r.dimension == dimension)
                .collect();
            let value_of = |r: &&_| -> String { text_of(&r_value(*r)) };
            let mut categories: Vec<String> = Vec::new();
            for r in &rows {
                let v = value_of(r);
                if !categories.contains(&v) {
                    categories.push(v);
                }
            }
            if dimension == "stage" {
                categories.sort_by_key(|c| self.study.stage(c).0);
            }
            let values: Vec<Vec<f64>> = themes
                .iter()
                .map(|t| {
                    categories
                        .iter()
                        .map(|c| {
                            rows.iter()
                                .find(|r| &r.theme == t && value_of(r) == *c)
                                .and_then(|r| r.cases_with_theme.number())
                                .map_or(0.0, |n| n as f64)
                        })
                        .collect()
                })
                .collect();
            (categories, values)
        });
        if categories.iter().all(|c| c == "(missing)") {
            return Err(
                NotDrawn::new(dimension, format!("no finding in scope has a {dimension}")).into(),
            );
        }
        let g = Groups {
            categories: categories
                .iter()
                .map(|c| {
                    if dimension == "stage" {
                        self.study.stage(c).1
                    } else {
                        c.replace('_', " ")
                    }
                })
                .collect(),
            series: themes.iter().map(|t| self.study.label(t)).collect(),
            values,
            y_desc: format!("{} with the theme", chart::capitalised(&self.study.cases())),
        };
        let (title, what) = match dimension {
            "stage" => ("Themes by stage", "stage of the finding"),
            _ => (
                "Themes by service",
                "service of the finding (else of the case)",
            ),
        };
        let f = self.frame(
            title.into(),
            format!(
                "{} with each theme, by {what} (n = {} {})",
                chart::capitalised(&self.study.cases()),
                self.cases_in_scope().await?,
                self.study.cases()
            ),
        );
        chart::heatmap(stem, &g, &f)
    }

    async fn compliance(&self, stem: &Path) -> Result<()> {
        let raw = self.raw("recommendations").await?;
        let series = ["complied", "not_complied", "pending"];
        let (categories, values, total) = shown!(self, raw, |out| {
            let all = out.rows.recommendations();
            let rows: Vec<_> = all.iter().filter(|r| r.kind != "all").collect();
            let values: Vec<Vec<f64>> = vec![
                rows.iter().map(|r| count_f64(&r.complied)).collect(),
                rows.iter().map(|r| count_f64(&r.not_complied)).collect(),
                rows.iter().map(|r| count_f64(&r.pending)).collect(),
            ];
            let categories: Vec<String> = rows.iter().map(|r| r.kind.replace('_', " ")).collect();
            let total = all
                .iter()
                .find(|r| r.kind == "all")
                .map_or("0".to_string(), |r| r.recommendations.text());
            (categories, values, total)
        });
        if categories.is_empty() {
            return Err(NotDrawn::new("compliance", "no recommendation in scope").into());
        }
        let g = Groups {
            categories,
            series: series.iter().map(|s| label(s)).collect(),
            values,
            y_desc: "Recommendations".into(),
        };
        let f = self.frame(
            "Recommendations and compliance".into(),
            format!(
                "Recommendations by kind and status, as of {} (n = {total})",
                self.context.as_of
            ),
        );
        chart::grouped(stem, &g, &f)
    }
}

/// A theme's SPC chart as the report draws it and the scorecard reads it.
#[derive(Debug, Clone)]
pub struct SpcView {
    pub plotted: Plotted,
    pub points: Vec<SpcPoint>,
    /// Months not shown (their counts suppressed).
    pub hidden: usize,
    pub icon: Option<crate::stats::VariationIcon>,
    pub assurance: Option<crate::stats::Assurance>,
    pub target: Option<f64>,
    /// (first month, reason) of each rebase.
    pub rebases: Vec<(String, String)>,
    /// A sustained shift worth considering as a rebase, in words.
    pub suggested: Option<String>,
}

/// The units a funnel flags (outside the 99.8% limits, judged), as indices into its
/// rows, in the order they are numbered on the chart and listed in the report: those
/// above first, then those below, each farthest beyond its limit first.
pub fn flagged_order<F: Form>(rows: &[crate::measures::rows::FunnelRow<F>]) -> Vec<usize> {
    let mut out: Vec<(usize, bool, f64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let value = match r.per_exposure {
                Some(x) => x.ratio,
                None => r.proportion.value()?,
            };
            match r.significance {
                Significance::High0001 => Some((i, true, value - r.upper998)),
                Significance::Low0001 => Some((i, false, r.lower998 - value)),
                _ => None,
            }
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.total_cmp(&a.2)));
    out.into_iter().map(|(i, _, _)| i).collect()
}

/// A count as a chart's key writes it (`*` when suppressed).
fn count_text<C: CountLike>(c: &C) -> String {
    c.number()
        .map_or("*".to_string(), |n| chart::thousands(n as i64))
}

fn icon_of(text: &str) -> Option<crate::stats::VariationIcon> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

fn assurance_of(text: &str) -> Option<crate::stats::Assurance> {
    serde_json::from_value(Value::String(text.to_string())).ok()
}

fn need_theme(theme: Option<&str>) -> Result<&str> {
    theme.ok_or_else(|| Error::Usage("spc and funnel charts need --theme THEME".into()))
}

/// An enumeration as its serde name ("common cause", …).
fn serde_text(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A count as a chart's value (0 when suppressed).
fn count_f64<C: CountLike>(c: &C) -> f64 {
    c.number().map_or(0.0, |n| n as f64)
}

fn r_value<F: Form>(r: &Breakdown<F>) -> Option<String> {
    r.value.clone()
}

fn text_of(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}
