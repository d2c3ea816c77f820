//! The explorer's pages answered from the case index (`serve::index`): the overview, a
//! theme, an organisation, a comparison. Each is a few milliseconds of arithmetic for any
//! view, seen before or not; the figures are the report's (the same `Figures`, given the
//! index's measures), published under `--publish` as every other page.

use super::*;
use crate::measures::Output;
use crate::serve::{CaseIndex, Paging, Versus};

/// The measures the overview's and a theme's page read (not the theme sets': counting
/// cases per set costs a cache miss a case).
const PAGE_MEASURES: [&str; 3] = ["theme_prevalence", "organisation_profile", "monthly_series"];

/// Organisations per page of the overview's table.
const PAGE_ROWS: usize = 50;

/// The index's measure behind a chart or table (its name without extension), if the
/// index answers it.
pub(crate) fn index_measure(stem: &str) -> Option<&'static str> {
    match stem {
        "prevalence" => Some("theme_prevalence"),
        "spc" => Some("monthly_series"),
        "funnel" => Some("organisation_profile"),
        "cooccurrence" => Some("theme_cooccurrence"),
        m => CaseIndex::MEASURES.iter().find(|x| **x == m).copied(),
    }
}

/// Whether a chart or table (its name without extension) is answered from the index.
pub(crate) fn from_index(stem: &str) -> bool {
    index_measure(stem).is_some()
}

/// Gives `figs` the index's measures `names` for its scope: its charts and tables of
/// them run no query; the organisation profile for one theme only when `focus` names it
/// (a page that draws that theme's funnel and no other: a thirtieth of the rows).
/// Returns the scope's cases.
pub(super) async fn seed(
    s: &AppState,
    figs: &Figures<'_>,
    names: &[&str],
    focus: Option<&str>,
) -> Result<u64> {
    let (index, counts) = s
        .counts(figs.context.scope, crate::serve::Want::of(names))
        .await?;
    for name in names {
        if let (Some(theme), &"organisation_profile") = (focus, name) {
            if let Some(out) = index.profile_of(theme, &counts, figs.context)? {
                figs.seed_profile_of(theme, out);
            }
            continue;
        }
        if let Some(out) = index.measure(name, &counts, figs.context)? {
            figs.seed(out);
        }
    }
    Ok(counts.cases)
}

/// The measure's output as shown: published under `--publish`.
fn shown<'a, T>(
    out: &'a Output,
    publish: Option<&Publishing>,
    f: impl Fn(&measures::Table<measures::Public>) -> T,
    g: impl Fn(&'a measures::Table) -> T,
) -> T {
    match publish {
        Some(p) => f(&out.publish(p).rows),
        None => g(&out.rows),
    }
}

/// Links to charts as SVG and PNG, for a query.
fn chart_links(charts: &[&str], q: &str) -> Vec<Link> {
    charts
        .iter()
        .flat_map(|chart| {
            ["svg", "png"].map(|ext| Link {
                href: format!("/chart/{chart}.{ext}?{q}"),
                label: format!("{chart}.{ext}"),
            })
        })
        .collect()
}

/// A path with the view's query, if it has one.
fn linked(path: &str, q: &str) -> String {
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

/// A query's pairs, for a form's hidden fields (so that a form on the page keeps the
/// view's filters).
fn hidden(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn pct(v: Option<f64>) -> String {
    v.map_or("*".to_string(), |p| format!("{:.1}%", p * 100.0))
}

fn interval(lo: Option<f64>, hi: Option<f64>) -> String {
    match (lo, hi) {
        (Some(lo), Some(hi)) => {
            let (lo, hi) = crate::stats::percent_interval(lo, hi, 1);
            format!("{lo} to {hi}")
        }
        _ => "*".into(),
    }
}

/// A theme's line of a prevalence table, as shown.
#[derive(Serialize, Clone)]
struct ThemeLine {
    theme: String,
    label: String,
    href: String,
    with_theme: String,
    cases: String,
    share: String,
    interval: String,
    share_value: Option<f64>,
    /// The counts as shown (`None` where withheld), for the comparison's difference.
    x: Option<u64>,
    n: Option<u64>,
}

fn theme_lines<F: measures::Form>(
    rows: &measures::Table<F>,
    s: &AppState,
    q: &str,
) -> Vec<ThemeLine> {
    rows.theme_prevalence()
        .iter()
        .map(|r| ThemeLine {
            theme: r.theme.clone(),
            label: s.config.study.label(&r.theme),
            href: linked(&format!("/theme/{}", encode(&r.theme)), q),
            with_theme: count(r.cases_with_theme.number()),
            cases: count(r.cases.number()),
            share: pct(r.proportion.value()),
            interval: interval(r.ci95_low.value(), r.ci95_high.value()),
            share_value: r.proportion.value(),
            x: r.cases_with_theme.number(),
            n: r.cases.number(),
        })
        .collect()
}

/// A funnel judgement in a reader's words.
pub(super) fn judgement(s: crate::stats::Significance) -> String {
    use crate::stats::Significance::*;
    match s {
        High0001 => "above the 99.8% limit",
        High0025 => "above the 95% limit",
        Low0001 => "below the 99.8% limit",
        Low0025 => "below the 95% limit",
        NotSignificant => "within the limits",
        NotJudged => "not judged (too few)",
    }
    .to_string()
}

/// Each theme's line of the view's prevalence, as shown (published under `--publish`).
async fn prevalence_lines(
    s: &AppState,
    figs: &Figures<'_>,
    publish: Option<&Publishing>,
    q: &str,
) -> Result<Vec<ThemeLine>> {
    let prevalence = figs.raw("theme_prevalence").await?;
    Ok(shown(
        &prevalence,
        publish,
        |t| theme_lines(t, s, q),
        |t| theme_lines(t, s, q),
    ))
}

/// A count as a page writes it: thousands separated, `*` where withheld.
pub(super) fn count(n: Option<u64>) -> String {
    n.map_or("*".into(), |n| crate::spec::thousands(n as i64))
}

/// An organisation's line of the overview's table.
#[derive(Serialize, Clone)]
struct OrgLine {
    code: String,
    href: String,
    name: String,
    region: String,
    cases: String,
    cases_n: Option<u64>,
    with_theme: String,
    share: String,
    share_value: Option<f64>,
    funnel: String,
}

/// The figures of a view answered from the index: over a session with no tables (a query
/// the page should not need fails instead of answering for another scope).
pub(super) fn figures<'a>(
    s: &'a AppState,
    c: &'a crate::measures::Context<'a>,
    publish: Option<Publishing>,
) -> Result<Figures<'a>> {
    Ok(Figures::new(
        &s.no_tables,
        c,
        source_line(&s.config.warehouse.committed()?, &s.config.codes),
        publish,
        &s.config.study,
    ))
}

pub(crate) async fn overview(s: &AppState, f: &Filters, paging: &Paging) -> Result<Reply> {
    let publish = match published(s, f, "/").await? {
        Ok(p) => p,
        Err(reply) => return Ok(reply),
    };
    let scope = match scope_of(s, f, publish.as_ref()).await {
        Ok(scope) => scope,
        Err(Error::Usage(why)) => {
            let body = "<h2>Not a view</h2><p>Change the filters below.</p>";
            return notice_page(s, f, "/", "Nothing to show", body, why).await;
        }
        Err(e) => return Err(e),
    };
    // The organisations' table: one theme's share beside the cases, sorted and paged.
    let themes = s.config.codes.themes();
    let theme = if themes.contains(&f.theme) {
        f.theme.clone()
    } else {
        themes.first().cloned().unwrap_or_default()
    };
    let c = s.context(&scope);
    let figs = figures(s, &c, publish.clone())?;
    let cases = seed(s, &figs, &PAGE_MEASURES, Some(theme.as_str())).await?;
    let q = f.query();
    let study = &s.config.study;
    let lines = prevalence_lines(s, &figs, publish.as_ref(), &q).await?;
    let shown_cases = match &publish {
        None => count(Some(cases)),
        Some(_) => lines.first().map_or("*".to_string(), |l| l.cases.clone()),
    };
    let mut summary = Vec::new();
    for l in &lines {
        let score = crate::report::score_row(&figs, study, &l.theme).await?;
        summary.push(context! {
            line => l, latest => score.latest, variation => score.variation_words,
            assurance => score.assurance_words, note => score.note,
        });
    }
    let mut orgs = organisation_lines(&figs, publish.as_ref(), &theme, &q).await?;
    let desc = paging.desc == "1";
    match paging.sort.as_str() {
        "name" => orgs.sort_by(|a, b| a.name.cmp(&b.name)),
        "cases" => orgs.sort_by_key(|o| o.cases_n),
        "share" => orgs.sort_by(|a, b| {
            a.share_value
                .partial_cmp(&b.share_value)
                .unwrap_or(std::cmp::Ordering::Equal)
        }),
        _ => {}
    }
    if desc {
        orgs.reverse();
    }
    let pages = orgs.len().div_ceil(PAGE_ROWS).max(1);
    let at = paging.page.parse::<usize>().unwrap_or(1).clamp(1, pages);
    let shown_orgs: Vec<&OrgLine> = orgs
        .iter()
        .skip((at - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .collect();
    let with_theme = |extra: &str| -> String {
        let mut parts = vec![q.clone()];
        if !f.theme.is_empty() {
            parts.push(format!("theme={}", encode(&f.theme)));
        }
        parts.push(extra.to_string());
        parts.retain(|p| !p.is_empty());
        parts.join("&")
    };
    let sort_href = |key: &str| {
        let flip = paging.sort == key && !desc;
        with_theme(&format!("sort={key}{}", if flip { "&desc=1" } else { "" }))
    };
    let page_href = |n: usize| {
        let mut extra = String::new();
        if !paging.sort.is_empty() {
            extra.push_str(&format!("sort={}&", encode(&paging.sort)));
        }
        if desc {
            extra.push_str("desc=1&");
        }
        extra.push_str(&format!("page={n}"));
        format!("/?{}#organisations", with_theme(&extra))
    };
    let body = render(
        "overview.html",
        OVERVIEW,
        context! {
            // The view's cases as shown: under --publish the published count (the
            // prevalence rows'), never the raw one.
            cases => shown_cases.clone(),
            cases_noun => if shown_cases == "1" { study.case_noun.clone() } else { study.cases() },
            summary => summary,
            q => q,
            hidden => hidden(&q),
            orgs => shown_orgs,
            orgs_noun => study.organisations(),
            region_label => study.second_grouping.clone().unwrap_or_else(|| "Region".into()),
            theme_label => study.label(&theme),
            themes => themes.iter().map(|t| context! { code => t, label => study.label(t), selected => *t == theme }).collect::<Vec<_>>(),
            sort_code => format!("/?{}#organisations", with_theme("")),
            sort_name => format!("/?{}#organisations", sort_href("name")),
            sort_cases => format!("/?{}#organisations", sort_href("cases")),
            sort_share => format!("/?{}#organisations", sort_href("share")),
            page => at, pages => pages,
            total_words => if orgs.len() == 1 { format!("1 {}", study.organisation_noun) } else { format!("{} {}", crate::spec::thousands(orgs.len() as i64), study.organisations()) },
            previous => (at > 1).then(|| page_href(at - 1)),
            next => (at < pages).then(|| page_href(at + 1)),
            full => format!("/report?{q}"),
            csv => format!("/table/organisation_profile.csv?{q}"),
        },
    )?;
    let mut downloads = vec![Link {
        href: format!("/report?{q}"),
        label: "The full report of this view".into(),
    }];
    downloads.extend(chart_links(&["prevalence"], &q));
    downloads.extend(table_links(&q, None));
    own_page(
        s,
        f,
        "/",
        "Overview",
        publish.is_none().then_some(cases),
        &body,
        downloads,
    )
    .await
}

const OVERVIEW: &str = r##"<nav class="contents"><a href="#summary">Summary</a> · <a href="#organisations">{{ orgs_noun | capitalize }}</a> · <a href="{{ full }}">The full report</a></nav>
<details class="section" open><summary><h2 id="summary">Summary</h2></summary>
<p>{{ cases }} {{ cases_noun }}. Each theme's share of them with its 95% Wilson interval, and its SPC chart read as Making Data Count's summary.</p>
<table><thead><tr><th>Theme</th><th>With the theme</th><th>Share</th><th>95% CI</th><th>Latest month</th><th>Variation</th><th>Assurance</th></tr></thead><tbody>
{% for r in summary %}<tr><td><a href="{{ r.line.href }}">{{ r.line.label }}</a></td><td class="n">{{ r.line.with_theme }}</td><td class="n">{{ r.line.share }}</td><td>{{ r.line.interval }}</td><td>{{ r.latest }}</td><td>{{ r.variation }}{% if r.note %} {{ r.note }}{% endif %}</td><td>{{ r.assurance }}</td></tr>
{% endfor %}</tbody></table>
<figure class="wide"><img src="/chart/prevalence.svg?{{ q }}" alt="Each theme's share of the view's {{ cases_noun }}, with 95% intervals" style="max-width:100%"></figure>
</details>
<details class="section" open><summary><h2 id="organisations">{{ orgs_noun | capitalize }}</h2></summary>
<form method="get" action="/#organisations">{% for h in hidden %}<input type="hidden" name="{{ h.0 }}" value="{{ h.1 }}">{% endfor %}<label>Share of <select name="theme">{% for t in themes %}<option value="{{ t.code }}"{% if t.selected %} selected{% endif %}>{{ t.label }}</option>{% endfor %}</select></label> <button type="submit">Show</button></form>
<p class="meta">{{ total_words }}; page {{ page }} of {{ pages }}. Select a heading to sort. Every row: <a href="{{ csv }}">the table as CSV</a>.</p>
<table><thead><tr><th><a href="{{ sort_code }}">Code</a></th><th><a href="{{ sort_name }}">Name</a></th><th>{{ region_label }}</th><th><a href="{{ sort_cases }}">{{ cases_noun | capitalize }}</a></th><th>With {{ theme_label }}</th><th><a href="{{ sort_share }}">Share</a></th><th>Funnel</th></tr></thead><tbody>
{% for o in orgs %}<tr><td><a href="{{ o.href }}">{{ o.code }}</a></td><td>{{ o.name }}</td><td>{{ o.region }}</td><td class="n">{{ o.cases }}</td><td class="n">{{ o.with_theme }}</td><td class="n">{{ o.share }}</td><td>{{ o.funnel }}</td></tr>
{% endfor %}</tbody></table>
<p>{% if previous %}<a href="{{ previous }}">Previous page</a> {% endif %}{% if next %}<a href="{{ next }}">Next page</a>{% endif %}</p>
</details>
<h2 id="full">The full report</h2>
<p><a href="{{ full }}">The full report of this view</a>: every section, with delays, coding reliability, recommendations and remedies where the study has them, and every table. It is built the first time it is asked for (seconds at national scale).</p>
"##;

/// The organisations of the view with one theme's share and funnel judgement, as shown.
async fn organisation_lines(
    figs: &Figures<'_>,
    publish: Option<&Publishing>,
    theme: &str,
    q: &str,
) -> Result<Vec<OrgLine>> {
    let profile = figs.theme_profile(theme).await?;
    let funnel = match figs.funnel_view(theme).await {
        Ok(f) => Some(f),
        Err(Error::NotDrawn(_)) => None,
        Err(e) => return Err(e),
    };
    let judged = |code: &str| -> String {
        funnel
            .as_ref()
            .and_then(|f| {
                f.output
                    .rows
                    .funnel()
                    .iter()
                    .find(|r| r.label == code)
                    .map(|r| judgement(r.significance))
            })
            .unwrap_or_else(|| "not shown".into())
    };
    fn lines<F: measures::Form>(
        rows: &measures::Table<F>,
        theme: &str,
        q: &str,
        judged: &dyn Fn(&str) -> String,
    ) -> Vec<OrgLine> {
        rows.organisation_profile()
            .iter()
            .filter(|r| r.theme == theme)
            .map(|r| {
                let code = r.organisation_code.clone().unwrap_or_default();
                let share = match (r.cases_with_theme.number(), r.cases.number()) {
                    (Some(x), Some(n)) if n > 0 => Some(x as f64 / n as f64),
                    _ => None,
                };
                OrgLine {
                    href: linked(&format!("/organisation/{}", encode(&code)), q),
                    name: r.organisation_name.clone().unwrap_or_default(),
                    region: r.region.clone().unwrap_or_default(),
                    cases: count(r.cases.number()),
                    cases_n: r.cases.number(),
                    with_theme: count(r.cases_with_theme.number()),
                    share: pct(share),
                    share_value: share,
                    funnel: judged(&code),
                    code,
                }
            })
            .collect()
    }
    Ok(shown(
        &profile,
        publish,
        |t| lines(t, theme, q, &judged),
        |t| lines(t, theme, q, &judged),
    ))
}

pub(crate) async fn theme(s: &AppState, theme: &str, f: &Filters) -> Result<Reply> {
    if !s.config.codes.themes().iter().any(|t| t == theme) {
        return Ok(Reply::Text(
            StatusCode::NOT_FOUND,
            format!(
                "casework serve: no theme {theme:?}; the themes are: {}\n",
                s.config.codes.themes().join(", ")
            ),
        ));
    }
    let action = format!("/theme/{}", encode(theme));
    let publish = match published(s, f, &action).await? {
        Ok(p) => p,
        Err(reply) => return Ok(reply),
    };
    let scope = scope_of(s, f, publish.as_ref()).await?;
    let c = s.context(&scope);
    let figs = figures(s, &c, publish.clone())?;
    let cases = seed(s, &figs, &PAGE_MEASURES, Some(theme)).await?;
    let q = f.query();
    let study = &s.config.study;
    let line = prevalence_lines(s, &figs, publish.as_ref(), &q)
        .await?
        .into_iter()
        .find(|l| l.theme == theme);
    let score = crate::report::score_row(&figs, study, theme).await?;
    let orgs = organisation_lines(&figs, publish.as_ref(), theme, &q).await?;
    let flagged: Vec<&OrgLine> = orgs
        .iter()
        .filter(|o| o.funnel.starts_with("above") || o.funnel.starts_with("below"))
        .collect();
    let t = encode(theme);
    let body = render(
        "theme.html",
        r##"{% if line %}<p class="lead">{{ line.with_theme }} of {{ line.cases }} {{ cases_noun }} ({{ line.share }}, 95% CI {{ line.interval }}).</p>{% endif %}
<h2 id="spc">Month by month</h2>
<p>{{ score.latest }}{% if score.variation_words %}; {{ score.variation_words }}{% endif %}{% if score.assurance_words %}; {{ score.assurance_words }}{% endif %}{% if score.note %} {{ score.note }}{% endif %}</p>
<figure class="wide"><img src="/chart/spc.svg?theme={{ t }}&{{ q }}" alt="SPC chart of {{ label }}" style="max-width:100%"></figure>
<h2 id="funnel">{{ orgs_noun | capitalize }} compared</h2>
<figure class="wide"><img src="/chart/funnel.svg?theme={{ t }}&{{ q }}" alt="Funnel plot of {{ label }} across {{ orgs_noun }}" style="max-width:100%"></figure>
{% if flagged %}<p>{{ orgs_noun | capitalize }} outside the funnel's 95% or 99.8% limits (the plot numbers those outside the 99.8% limits):</p><table><thead><tr><th>Code</th><th>Name</th><th>{{ cases_noun | capitalize }}</th><th>With the theme</th><th>Share</th><th>Funnel</th></tr></thead><tbody>
{% for o in flagged %}<tr><td><a href="{{ o.href }}">{{ o.code }}</a></td><td>{{ o.name }}</td><td class="n">{{ o.cases }}</td><td class="n">{{ o.with_theme }}</td><td class="n">{{ o.share }}</td><td>{{ o.funnel }}</td></tr>{% endfor %}
</tbody></table>{% else %}<p>No {{ org_noun }} is outside the funnel's limits.</p>{% endif %}
"##,
        context! {
            line => line, score => score, q => q, t => t, label => study.label(theme),
            cases_noun => study.cases(), orgs_noun => study.organisations(),
            org_noun => study.organisation_noun.clone(), flagged => flagged,
        },
    )?;
    let mut downloads = chart_links(&["spc", "funnel"], &format!("theme={t}&{q}"));
    downloads.extend(table_links(&q, None));
    own_page(
        s,
        f,
        &action,
        &study.label(theme),
        publish.is_none().then_some(cases),
        &body,
        downloads,
    )
    .await
}

/// `/compare`: the view's prevalence beside another's (another organisation, another
/// period), with the difference and its 95% interval.
pub(crate) async fn compare(s: &AppState, f: &Filters, v: &Versus) -> Result<Reply> {
    let mut other = f.clone();
    let mut changed = false;
    if !v.versus_organisation.is_empty() {
        other.organisation = v.versus_organisation.clone();
        changed = true;
    }
    if !v.versus_period.is_empty() || !v.versus_from.is_empty() || !v.versus_to.is_empty() {
        other.period = v.versus_period.clone();
        other.from = v.versus_from.clone();
        other.to = v.versus_to.clone();
        changed = true;
    }
    if !changed {
        let body = "<h2>Compare two views</h2><p>Give the second view: <code>versus_organisation</code>, or <code>versus_period</code> (or <code>versus_from</code> and <code>versus_to</code>), in the form below.</p>";
        return compare_form(s, f, v, body).await;
    }
    let mut sides = Vec::new();
    for side in [f, &other] {
        let publish = match published(s, side, "/compare").await? {
            Ok(p) => p,
            Err(reply) => return Ok(reply),
        };
        let scope = scope_of(s, side, publish.as_ref()).await?;
        let c = s.context(&scope);
        let figs = figures(s, &c, publish.clone())?;
        seed(s, &figs, &["theme_prevalence"], None).await?;
        let q = side.query();
        sides.push((
            scope_title(s, side, &*s.choices().await?, None),
            prevalence_lines(s, &figs, publish.as_ref(), &q).await?,
        ));
    }
    let rows: Vec<_> = sides[0]
        .1
        .iter()
        .zip(&sides[1].1)
        .map(|(a, b)| {
            let diff = match (a.x, a.n, b.x, b.n) {
                (Some(x1), Some(n1), Some(x2), Some(n2)) => {
                    crate::stats::newcombe(x1, n1, x2, n2, 0.95).map(|ci| {
                        let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
                        let (lo, hi) = (ci.low, ci.high);
                        let points = |v: f64| {
                            let v = (v * 1000.0).round() / 10.0;
                            if v == 0.0 {
                                "0.0".to_string()
                            } else {
                                format!("{v:+.1}")
                            }
                        };
                        (
                            format!("{} points", points(p1 - p2)),
                            format!("{} to {} points", points(lo), points(hi)),
                            if lo > 0.0 {
                                "higher"
                            } else if hi < 0.0 {
                                "lower"
                            } else {
                                "no clear difference"
                            },
                        )
                    })
                }
                _ => None,
            };
            context! { a => a, b => b, diff => diff.as_ref().map(|d| d.0.clone()), interval => diff.as_ref().map(|d| d.1.clone()), reading => diff.map(|d| d.2) }
        })
        .collect();
    let body = render(
        "compare.html",
        r##"<p class="lead">{{ left }} against {{ right }}.</p><table><thead><tr><th>Theme</th><th>{{ left }}</th><th>95% CI</th><th>{{ right }}</th><th>95% CI</th><th>Difference</th><th>95% CI of the difference</th><th>Reading</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.a.label }}</td><td class="n">{{ r.a.share }} ({{ r.a.with_theme }}&nbsp;of&nbsp;{{ r.a.cases }})</td><td>{{ r.a.interval }}</td><td class="n">{{ r.b.share }} ({{ r.b.with_theme }}&nbsp;of&nbsp;{{ r.b.cases }})</td><td>{{ r.b.interval }}</td><td class="n">{{ r.diff or "*" }}</td><td class="nowrap">{{ r.interval or "*" }}</td><td>{{ r.reading or "" }}</td></tr>{% endfor %}
</tbody></table>
<p class="meta">The difference of the first view's share and the second's, with Newcombe's hybrid score interval (1998, method 10) from the two Wilson intervals; "higher" or "lower" where that interval leaves out zero. Two views that share cases (a period inside the other) are not independent, and the interval is then only a guide.</p>"##,
        context! { left => sides[0].0.clone(), right => sides[1].0.clone(), rows => rows },
    )?;
    compare_form(s, f, v, &body).await
}

async fn compare_form(s: &AppState, f: &Filters, v: &Versus, body: &str) -> Result<Reply> {
    let choices = s.choices().await?;
    let form = render(
        "versus.html",
        r##"<form class="filters" method="get" action="/compare">{% for h in hidden %}<input type="hidden" name="{{ h.0 }}" value="{{ h.1 }}">{% endfor %}
<label>Against {{ org_noun }} <select name="versus_organisation"><option value="">the same</option>{{ orgs }}</select></label>
<label>Against period <input name="versus_period" value="{{ v.versus_period }}" placeholder="e.g. FY2023-24" size="14"></label>
<label>or from <input type="date" name="versus_from" value="{{ v.versus_from }}"></label>
<label>to <input type="date" name="versus_to" value="{{ v.versus_to }}"></label>
<button type="submit">Compare</button></form>"##,
        context! {
            hidden => hidden(&f.query()), org_noun => s.config.study.organisation_noun.clone(),
            orgs => choices.organisation_options(&v.versus_organisation),
            v => context! { versus_organisation => v.versus_organisation, versus_period => v.versus_period, versus_from => v.versus_from, versus_to => v.versus_to },
        },
    )?;
    own_page(
        s,
        f,
        "/compare",
        "Compare",
        None,
        &format!("{form}{body}"),
        Vec::new(),
    )
    .await
}
