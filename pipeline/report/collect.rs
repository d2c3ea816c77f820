//! The report's content before it is laid out: the measures' tables, headlines,
//! reliability, the committee comparison, funnel judgements, the scorecard.

use super::*;

/// Runs the measures (each once) and gathers the tables, the headline per theme and the
/// committee comparison.
pub(super) async fn collect(
    figs: &Figures<'_>,
    inputs: &Inputs<'_>,
    context: &Context<'_>,
    options: &Options,
    manifest: &crate::warehouse::Manifest,
) -> Result<Collected> {
    let (mut tables, mut has) = measure_tables(figs, inputs, options).await?;
    let mut headlines = headlines(figs, inputs, options).await?;
    let reliability = reliability(figs, options, &mut tables, &mut headlines, manifest).await?;
    let comparisons = comparisons(inputs, context, options).await?;
    let (flagged, judged, per) = funnels(figs, inputs, options).await?;
    let (scorecard, scorecard_table) = scorecard(figs, inputs).await?;
    tables.insert(0, scorecard_table);
    // Services and stages: charts only where findings give them.
    let breakdown = figs.raw("theme_breakdown").await?;
    let given = |dimension: &str| {
        breakdown.rows.theme_breakdown().iter().any(|r| {
            r.dimension == dimension && r.value.as_deref().is_some_and(|v| v != "(missing)")
        })
    };
    has.services = given("service");
    has.stages = given("stage");
    let spc_captions = spc_captions(figs, inputs).await;
    for t in &mut tables {
        humanise(t, inputs.study);
        if let Some(url) = &options.serve_url {
            t.link_organisations(url);
        }
    }
    Ok(Collected {
        spc_captions,
        has,
        tables,
        headlines,
        comparisons,
        flagged,
        judged,
        per,
        scorecard,
        reliability,
    })
}

/// Every measure as a table, published if asked, and what the data has of what the
/// sections need.
async fn measure_tables(
    figs: &Figures<'_>,
    inputs: &Inputs<'_>,
    options: &Options,
) -> Result<(Vec<Table>, Has)> {
    let mut tables = Vec::new();
    let mut has = Has::default();
    // Measures, published if asked, as tables.
    for m in measures::MEASURES {
        let o = figs.raw(m.name).await?;
        if m.name == "coding_agreement" && o.rows.is_empty() {
            // No double coding: no section, and no empty table of it.
            continue;
        }
        let raw = o.rows.to_maps();
        // What the data lacks gets no table (judged on the counts as computed, so that a
        // published report leaves out the same tables as the full one).
        let present = informative(m.name, &raw);
        match m.name {
            "delay_intervals" => has.delays = present,
            "delay_coded_vs_measured" => has.delay_theme = present,
            "financial_remedies" => has.remedies = present,
            "recommendations" => has.recommendations = present,
            "learning" => has.learning = present,
            _ => {}
        }
        if !present {
            continue;
        }
        let maps = match &options.publish {
            Some(rule) => o.publish(rule).rows.to_maps(),
            None => raw,
        };
        // Combinations no case has (the row of all themes together) are not listed.
        let maps: Vec<Map<String, Value>> = if m.name == "theme_cooccurrence" {
            maps.into_iter()
                .filter(|r| r.get("cases").and_then(Value::as_u64) != Some(0))
                .collect()
        } else {
            maps
        };
        let mut t = table(m.name, &maps);
        if let Some(label) = &inputs.study.second_grouping {
            // The page's names: the column, and the breakdown's dimension value.
            for h in &mut t.headers {
                if h == "region" {
                    *h = label.clone();
                }
            }
            for row in &mut t.preview {
                for cell in row.iter_mut() {
                    if cell == "region" && m.name == "theme_breakdown" {
                        *cell = label.clone();
                    }
                }
            }
        }
        tables.push(t);
    }

    Ok((tables, has))
}

/// The headline per theme, from the counts as shown.
async fn headlines(
    figs: &Figures<'_>,
    inputs: &Inputs<'_>,
    options: &Options,
) -> Result<Vec<Headline>> {
    // Headlines per theme (from the counts as shown).
    let prevalence = figs.raw("theme_prevalence").await?;
    let shown = match &options.publish {
        Some(rule) => prevalence_counts(&prevalence.publish(rule)),
        None => prevalence_counts(&prevalence),
    };
    let mut headlines = Vec::new();
    for (theme, x, n) in shown {
        headlines.push(headline(inputs.study, &theme, x, n));
    }

    Ok(headlines)
}

/// Coding reliability: a section, a table, the disagreements (never published) and a
/// caveat on each theme coders agreed on less than substantially.
async fn reliability(
    figs: &Figures<'_>,
    options: &Options,
    tables: &mut Vec<Table>,
    headlines: &mut [Headline],
    manifest: &crate::warehouse::Manifest,
) -> Result<Option<Reliability>> {
    let rel = figs.reliability().await?;
    Ok(if rel.present() {
        let published = &rel.published;
        let maps = if options.publish.is_some() {
            published.rows.to_maps()
        } else {
            rel.output.rows.to_maps()
        };
        tables.push(table("agreement", &maps));
        if options.publish.is_none() && options.lists {
            let maps: Vec<Map<String, Value>> = rel
                .disagreements
                .rows
                .iter()
                .map(|r| {
                    rel.disagreements
                        .columns
                        .iter()
                        .cloned()
                        .zip(r.iter().map(|v| Value::from(v.as_str())))
                        .collect()
                })
                .collect();
            tables.push(table("coding_disagreements", &maps));
        }
        for h in headlines.iter_mut() {
            let raw = rel.themes().find(|r| r.item == h.theme);
            let shown = published
                .rows
                .agreement()
                .iter()
                .find(|r| r.level == "theme" && r.item == h.theme);
            let sentence = |k: f64| {
                crate::oversight::agreement::caveat(k).map(|mut c| {
                    c.replace_range(0..1, &c[0..1].to_uppercase());
                    format!("{c}.")
                })
            };
            let raw_kappa = raw.and_then(|r| r.kappa);
            h.caveat = match shown {
                // Published: the kappa of the published counts, or, where it is withheld,
                // the caveat without its number.
                Some(s) if options.publish.is_some() && s.kappa.is_suppressed() => raw_kappa
                    .filter(|k| *k < crate::oversight::agreement::SUBSTANTIAL)
                    .map(|_| {
                        "Coders agreed less than substantially on this theme (its kappa is withheld: small counts): treat the figure as approximate.".to_string()
                    }),
                Some(s) if options.publish.is_some() => s.kappa.value().and_then(sentence),
                _ => raw_kappa.and_then(sentence),
            };
            // The caveat names a model among the coders: its agreement is a model's.
            if let Some(c) = h.caveat.as_mut()
                && !rel.models.is_empty()
            {
                c.push_str(&format!(
                    " The coders include {}, a model (casework suggest), not a person.",
                    rel.models.join(", ")
                ));
            }
        }
        Some(reliability_section(
            &rel,
            options.publish.is_some(),
            options.lists,
            manifest,
        ))
    } else {
        None
    })
}

/// The committee comparison between two periods: a sentence and its figures per theme.
async fn comparisons(
    inputs: &Inputs<'_>,
    context: &Context<'_>,
    options: &Options,
) -> Result<Vec<(String, Value)>> {
    let mut comparisons: Vec<(String, Value)> = Vec::new();
    // Committee comparison between two periods.
    if let Some(periods) = &options.comparison {
        // Per period, per theme: (cases with the theme, cases) as shown; published, the
        // sum of the published counts of the grid's periods that make it up.
        let mut per_period: Vec<Vec<ThemeCounts>> = Vec::new();
        for p in [periods.0, periods.1] {
            let parts: Vec<Scope> = match &options.publish {
                Some(rule) => {
                    let grid =
                        crate::spec::grid::Period::cover(p.from, p.to, &rule.settings().levels())
                            .map_err(Error::Usage)?;
                    grid.into_iter()
                        .map(|g| rule.view.at(g).scope(rule.settings()))
                        .collect()
                }
                None => vec![Scope {
                    from: Some(p.from),
                    to: Some(p.to),
                    ..inputs.scope.clone()
                }],
            };
            let mut totals: Vec<(String, Option<(u64, u64)>)> = Vec::new();
            for scope in &parts {
                let c = engine::session(&engine::Inputs {
                    scope,
                    ..inputs.clone()
                })
                .await?;
                let cx = Context { scope, ..*context };
                let out = measures::run(&c, measures::find("theme_prevalence")?, &cx).await?;
                let counts = match &options.publish {
                    Some(rule) => {
                        let view = View::of(scope, rule.settings()).map_err(Error::Usage)?;
                        prevalence_counts(&out.publish(&rule.at(view)))
                    }
                    None => prevalence_counts(&out),
                };
                let shown: Vec<(String, Option<(u64, u64)>)> = counts
                    .into_iter()
                    .map(|(theme, x, n)| (theme, x.zip(n)))
                    .collect();
                if totals.is_empty() {
                    totals = shown;
                } else {
                    for (t, (_, v)) in totals.iter_mut().zip(shown) {
                        t.1 = match (t.1, v) {
                            (Some((a, b)), Some((x, n))) => Some((a + x, b + n)),
                            _ => None,
                        };
                    }
                }
            }
            per_period.push(totals);
        }
        for ((theme, b), (_, c)) in per_period[0].iter().zip(&per_period[1]) {
            let label = inputs.study.label(theme);
            let (s, mut v) = match (b, c) {
                (Some(before), Some(now)) => comparison_sentence(&label, *before, *now, periods),
                _ => (
                    format!(
                        "{label}: the change between {}–{} and {}–{} cannot be published: a count in one of the periods is suppressed (disclosure control).",
                        periods.0.from, periods.0.to, periods.1.from, periods.1.to
                    ),
                    json!({ "suppressed": true }),
                ),
            };
            v["theme"] = Value::from(theme.as_str());
            comparisons.push((s, v));
        }
    }
    Ok(comparisons)
}

/// Per theme: every organisation outside the funnel's 99.8% limits, the sentence that
/// says how they were judged, and what the funnel reads per (an exposure).
#[allow(clippy::type_complexity)]
async fn funnels(
    figs: &Figures<'_>,
    inputs: &Inputs<'_>,
    options: &Options,
) -> Result<(
    std::collections::BTreeMap<String, Vec<Flagged>>,
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
)> {
    // Every organisation outside each theme's 99.8% limits.
    let mut flagged = std::collections::BTreeMap::new();
    let mut judged = std::collections::BTreeMap::new();
    let mut per = std::collections::BTreeMap::new();
    let exposure = inputs.study.exposure.as_ref();
    for theme in inputs.codes.themes() {
        let funnel = figs.funnel_view(&theme).await?;
        let reading = exposure.filter(|e| e.reads(&theme));
        if let Some(e) = reading {
            per.insert(theme.clone(), e.per_words());
        }
        let rows = funnel.output.rows.funnel();
        let list = flagged_list(rows, reading.is_some(), options);
        if let Some(j) = &funnel.judged {
            judged.insert(theme.clone(), judged_sentence(j, reading, inputs.study));
        }
        flagged.insert(theme, list);
    }
    Ok((flagged, judged, per))
}

/// The flagged organisations of a funnel's rows, numbered as the chart numbers them.
fn flagged_list(
    rows: &[crate::measures::rows::FunnelRow<crate::measures::Public>],
    read_per_exposure: bool,
    options: &Options,
) -> Vec<Flagged> {
    use crate::measures::CountLike;
    figures::flagged_order(rows)
        .into_iter()
        .enumerate()
        .map(|(k, i)| {
            let r = &rows[i];
            let side = match r.significance {
                stats::Significance::High0001 => "above",
                _ => "below",
            };
            Flagged {
                number: k + 1,
                organisation: r.name.clone().unwrap_or_else(|| r.label.clone()),
                code: r.label.clone(),
                link: options.serve_url.as_ref().map(|u| {
                    format!(
                        "{}/organisation/{}",
                        u.trim_end_matches('/'),
                        crate::serve::encode(&r.label)
                    )
                }),
                cases_with_theme: count_text(r.numerator.number()),
                cases: count_text(r.denominator.number()),
                percent: r.proportion.value().map(pct).unwrap_or_default(),
                // The column's header says what it is per.
                rate: match r.per_exposure {
                    Some(x) if read_per_exposure => format!(
                        "{}; {:.2} × expected",
                        crate::stats::rate_text(x.rate),
                        x.ratio
                    ),
                    _ => String::new(),
                },
                side: side.into(),
            }
        })
        .collect()
}

/// How a funnel judged the organisations, in the study's words.
fn judged_sentence(
    j: &crate::oversight::Judged,
    reading: Option<&crate::spec::study::ExposureSpec>,
    study: &StudyFile,
) -> String {
    let (organisation, organisations) = (&study.organisation_noun, study.organisations());
    let what = match reading {
        Some(e) => format!(
            "Read {} against each {organisation}'s expected count at the overall rate ({}), the {organisations}",
            e.per_words(),
            j.method
        ),
        None => format!("The {organisations}"),
    };
    let (ah, al) = j.flagged_adjusted;
    let (uh, ul) = j.flagged_unadjusted;
    let sentence = if j.adjusted {
        format!(
            "{what} vary more than chance explains (overdispersion φ = {:.2}, between-{organisation} variance τ² = {:.4}), so the funnel's limits are adjusted for it (Spiegelhalter 2005): {ah} {organisations} lie above and {al} below the 99.8% limits; without the adjustment {uh} would lie above and {ul} below.",
            j.phi, j.tau2
        )
    } else {
        format!(
            "{what} vary no more than chance explains (φ = {:.2}): the funnel's limits are not adjusted; {ah} lie above and {al} below the 99.8% limits.",
            j.phi
        )
    };
    let mut sentence = match &j.note {
        Some(n) => format!("{sentence} Note: {n}."),
        None => sentence,
    };
    if j.not_judged > 0 {
        sentence.push_str(&format!(
            " {} of the {organisations} have fewer than {} {} and are drawn but not judged (the study's minimum denominator).",
            j.not_judged,
            j.min_denominator,
            study.cases()
        ));
    }
    sentence
}

/// The scorecard (each theme's SPC chart read as Making Data Count's summary) and its
/// table, for the workbook and tables/ (words for the icons).
async fn scorecard(figs: &Figures<'_>, inputs: &Inputs<'_>) -> Result<(Vec<ScoreRow>, Table)> {
    // The scorecard: each theme's SPC chart read as Making Data Count's summary.
    let mut scorecard = Vec::new();
    for theme in inputs.codes.themes() {
        scorecard.push(score_row(figs, inputs.study, &theme).await?);
    }
    // Its table, for the workbook and tables/ (words for the icons).
    let maps: Vec<Map<String, Value>> = scorecard
        .iter()
        .map(|r| {
            let mut m = Map::new();
            for (k, v) in [
                ("theme", &r.label),
                ("latest", &r.latest),
                ("mean", &r.mean),
                ("process_limits", &r.limits),
                ("variation", &r.variation_words),
                ("assurance", &r.assurance_words),
                ("target", &r.target),
                ("note", &r.note),
            ] {
                m.insert(k.into(), Value::from(v.as_str()));
            }
            m
        })
        .collect();
    Ok((scorecard, table("scorecard", &maps)))
}

/// Each theme's SPC caption: what its chart plots, in the study's words.
async fn spc_captions(
    figs: &Figures<'_>,
    inputs: &Inputs<'_>,
) -> std::collections::BTreeMap<String, String> {
    // Each theme's SPC caption: what its chart plots, in the study's words.
    let mut spc_captions = std::collections::BTreeMap::new();
    for theme in inputs.codes.themes() {
        if let Ok(v) = figs.spc_view(&theme).await {
            let cases = inputs.study.cases();
            let what = match v.plotted {
                crate::oversight::Plotted::Proportion => {
                    format!("the share of {cases} with the theme")
                }
                crate::oversight::Plotted::Rate => format!(
                    "{cases} with the theme {}",
                    inputs
                        .study
                        .exposure
                        .as_ref()
                        .map(|e| e.per_words())
                        .unwrap_or_default()
                ),
                crate::oversight::Plotted::Count => format!("{cases} with the theme"),
            };
            spc_captions.insert(theme.clone(), format!("SPC chart of {what}, per month"));
        }
    }
    spc_captions
}
