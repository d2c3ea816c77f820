//! The pages of `casework serve`, rendered with minijinja (HTML-escaped) around the
//! report's own HTML, charts and tables.

use std::path::Path;

use axum::http::StatusCode;
use minijinja::{Environment, context};
use serde::Serialize;

use super::{AppState, Filters, Reply};

mod explore;
use crate::engine::{self, Scope};
use crate::error::{Error, Result};
use crate::measures::{self, CountLike, FigureLike};
use crate::publication::{Publishing, Unit};
use crate::report::figures::{Figures, source_line};
pub(crate) use explore::{compare, from_index, overview, theme};

const LAYOUT: &str = include_str!("../../reports/templates/serve.html");

/// A page's body from its template (HTML auto-escaped) and values.
fn render(name: &'static str, template: &'static str, ctx: minijinja::Value) -> Result<String> {
    /// The pages' templates, each compiled at its first use (a page's template is the
    /// same text every time: compiling it was a tenth of the time a page rendered).
    static COMPILED: std::sync::OnceLock<std::sync::RwLock<Environment<'static>>> =
        std::sync::OnceLock::new();
    let compiled = COMPILED.get_or_init(|| std::sync::RwLock::new(Environment::new()));
    let failed = |source| Error::Template {
        name: name.into(),
        source,
    };
    fn poisoned<T>(_: T) -> Error {
        Error::Usage("casework serve: the templates' lock failed".into())
    }
    let ready =
        |env: &Environment<'static>| env.get_template(name).is_ok_and(|t| t.source() == template);
    // (The read lock is let go before the write lock is taken.)
    let compiled_already = ready(&*compiled.read().map_err(poisoned)?);
    if !compiled_already {
        let mut env = compiled.write().map_err(poisoned)?;
        if !ready(&env) {
            env.add_template(name, template).map_err(failed)?;
        }
    }
    let env = compiled.read().map_err(poisoned)?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(failed)
}

/// The choices of the filter form, read from the warehouse (again for each new version).
pub(super) struct Choices {
    organisations: Vec<(String, String)>,
    /// Each organisation's `<option>` of the forms' lists (HTML, escaped), made once per
    /// version: hundreds of them in every page's form.
    options: Vec<String>,
    regions: Vec<String>,
    sources: Vec<String>,
    decisions: Vec<String>,
    services: Vec<String>,
    stages: Vec<String>,
}

impl Choices {
    /// The values the warehouse's cases have (none empty), from its case index.
    pub(super) fn of(index: &super::CaseIndex) -> Result<Choices> {
        use crate::engine::Grouping;
        let values = |g: Grouping| -> Vec<String> {
            index
                .values(g)
                .iter()
                .filter(|v| !v.is_empty())
                .cloned()
                .collect()
        };
        let organisations: Vec<(String, String)> = index
            .organisations()
            .into_iter()
            .filter(|(code, _)| !code.is_empty())
            .collect();
        let options = organisations
            .iter()
            .map(|(code, name)| {
                render(
                    "option.html",
                    "<option value=\"{{ code }}\">{{ code }}{% if name %}: {{ name }}{% endif %}</option>",
                    context! { code => code, name => name },
                )
            })
            .collect::<Result<Vec<String>>>()?;
        Ok(Choices {
            organisations,
            options,
            regions: values(Grouping::Region),
            sources: values(Grouping::Source),
            decisions: values(Grouping::Decision),
            services: values(Grouping::Service),
            stages: values(Grouping::Stage),
        })
    }

    /// The organisations' `<option>`s, `selected` marked (HTML for a `<select>`).
    pub(super) fn organisation_options(&self, selected: &str) -> minijinja::Value {
        let mut html = String::with_capacity(self.options.iter().map(|o| o.len() + 9).sum());
        for ((code, _), option) in self.organisations.iter().zip(&self.options) {
            match option.find('>') {
                // `<option value="…"` then ` selected`: the value is escaped, so the
                // first `>` closes the tag.
                Some(end) if code == selected => {
                    html.push_str(&option[..end]);
                    html.push_str(" selected");
                    html.push_str(&option[end..]);
                }
                _ => html.push_str(option),
            }
        }
        minijinja::Value::from_safe_string(html)
    }

    /// The values of a grouping.
    fn known(&self, g: crate::engine::Grouping) -> Vec<&str> {
        use crate::engine::Grouping;
        match g {
            Grouping::Organisation => self.organisations.iter().map(|(c, _)| c.as_str()).collect(),
            Grouping::Region => self.regions.iter().map(String::as_str).collect(),
            Grouping::Source => self.sources.iter().map(String::as_str).collect(),
            Grouping::Decision => self.decisions.iter().map(String::as_str).collect(),
            Grouping::Service => self.services.iter().map(String::as_str).collect(),
            Grouping::Stage => self.stages.iter().map(String::as_str).collect(),
        }
    }

    /// What is wrong with a filter naming a value the warehouse does not have (an
    /// unknown organisation, a code in the wrong case, a region no case is in), in plain
    /// words with the nearest value it has; `None` when every value is one it has. A
    /// page of zeros would otherwise say nothing.
    pub(super) fn unknown(&self, f: &Filters) -> Option<String> {
        use crate::engine::Grouping;
        // Each value a filter names: the single ones, and each of a choice's.
        let singles = [
            (Grouping::Organisation, f.organisation.as_str()),
            (Grouping::Region, f.region.as_str()),
            (Grouping::Source, f.source.as_str()),
            (Grouping::Decision, f.decision.as_str()),
            (Grouping::Service, f.service.as_str()),
            (Grouping::Stage, f.stage.as_str()),
        ];
        let chosen = f
            .choices
            .iter()
            .flat_map(|c| c.values.iter().map(move |v| (c.grouping, v.as_str())));
        singles.into_iter().chain(chosen).find_map(|(g, value)| {
            let (what, known) = (g.name(), self.known(g));
            if value.is_empty() || known.contains(&value) {
                return None;
            }
            let plain = |t: &str| -> String {
                t.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase)
                    .collect()
            };
            let near = known.iter().find(|k| plain(k) == plain(value));
            Some(match near {
                _ if known.is_empty() => {
                    let holder = if g.of_findings() { "finding" } else { "case" };
                    format!("no {what} {value:?}: no {holder} in the warehouse has a {what}")
                }
                Some(k) => format!("no {what} {value:?} in the warehouse: did you mean {k:?}?"),
                None if known.len() <= 12 => format!(
                    "no {what} {value:?} in the warehouse; its {what}s are: {}",
                    known.join(", ")
                ),
                None => format!(
                    "no {what} {value:?} in the warehouse; choose one from the list ({} of them)",
                    known.len()
                ),
            })
        })
    }
}

#[derive(Serialize)]
struct Link {
    href: String,
    label: String,
}

/// A page in the layout: navigation, the filter form (its action the page's own path),
/// a notice, the body (already HTML), downloads.
/// What a page shows inside the layout.
struct Content<'a> {
    heading: &'a str,
    /// The view's cases, when the page knows them (from its report).
    cases: Option<u64>,
    notice: Option<String>,
    /// The report's style sheet, where the body is the report's.
    style: &'a str,
    /// HTML, already escaped.
    body: &'a str,
    downloads: Vec<Link>,
}

async fn page(s: &AppState, f: &Filters, action: &str, c: Content<'_>) -> Result<Reply> {
    let choices = s.choices().await?;
    // Under --publish: the grid's periods and the filters the publication has.
    let (periods, filters): (Vec<(String, String)>, Vec<&str>) = if s.config.publish {
        let p = s.publication().await?;
        let mut periods = vec![(String::new(), "The whole period".to_string())];
        for level in p
            .settings
            .levels()
            .into_iter()
            .filter(|l| *l != crate::spec::grid::Level::All)
        {
            for period in p
                .periods(level, crate::spec::grid::Period::All)
                .into_iter()
                .rev()
            {
                periods.push((period.code(), period.words()));
            }
        }
        (
            periods,
            p.settings.filters.iter().map(|f| f.name()).collect(),
        )
    } else {
        (
            presets(s, f).await?,
            vec![
                "organisation",
                "region",
                "source",
                "decision",
                "service",
                "stage",
            ],
        )
    };
    let Content {
        heading,
        cases,
        notice,
        style,
        body,
        downloads,
    } = c;
    let q = f.query();
    let themes: Vec<Link> = s
        .config
        .codes
        .themes()
        .iter()
        .map(|t| Link {
            href: format!("/theme/{}?{q}", encode(t)),
            label: s.config.study.label(t),
        })
        .collect();
    let html = render(
        "serve.html",
        LAYOUT,
        context! {
                title => s.config.study.title.clone(),
                heading => heading,
                organisation_noun => s.config.study.organisation_noun.clone(),
                scope => scope_title(s, f, &choices, cases),
                q => q,
                action => action,
                f => context! {
                    from => f.from, to => f.to, period => f.period, date_field => f.date_field,
                    organisation => f.organisation, region => f.region,
                    source => f.source, decision => f.decision, service => f.service,
                    stage => f.stage,
                },
                themes => themes,
                organisation_options => choices.organisation_options(&f.organisation),
                regions => choices.regions,
                sources => choices.sources,
                decisions => choices.decisions,
                services => choices.services,
                // The stages in the study's order, each with its words.
                stages => {
                    let mut stages: Vec<_> = choices.stages.iter().map(|v| (s.config.study.stage(v), v)).collect();
                    stages.sort();
                    stages.into_iter().map(|((_, label), v)| context! { code => v, label => label }).collect::<Vec<_>>()
                },
                periods => periods.iter().map(|(code, words)| context! { code => code, words => words }).collect::<Vec<_>>(),
                filters => filters,
                // Groupings of several values or values left out: shown in words, kept
                // as hidden fields (Apply keeps them), with a link to the view without
                // them.
                chosen => f.choices.iter().map(|c| (c.grouping.name(), crate::report::choice_words(c, &s.config.study))).collect::<std::collections::BTreeMap<_, _>>(),
                unchosen => f.choices.iter().map(|c| {
                    let other = Filters { choices: f.choices.iter().filter(|o| o.grouping != c.grouping).cloned().collect(), ..f.clone() };
                    (c.grouping.name(), other.query())
                }).collect::<std::collections::BTreeMap<_, _>>(),
                kept => f.choices.iter().flat_map(|c| {
                    c.values.iter().map(move |v| (c.grouping.name().to_string(), v.clone()))
                        .chain(c.exclude.then(|| ("exclude".to_string(), c.grouping.name().to_string())))
                }).collect::<Vec<_>>(),
                rule => if s.config.publish { s.config.study.publication.text() } else { String::new() },
                region_label => s.config.study.second_grouping.clone().unwrap_or_else(|| "Region".into()),
                notice => notice,
                publish => s.config.publish,
                style => minijinja::Value::from_safe_string(style.to_string()),
                body => minijinja::Value::from_safe_string(body.to_string()),
                downloads => downloads,
                org_href => (!f.organisation.is_empty())
                    .then(|| format!("/organisation/{}?{q}", encode(&f.organisation))),
        },
    )?;
    Ok(Reply::Html(html))
}

/// The period presets of the filter form: the whole period, the last 12 months, and the
/// latest three years, financial years and quarters with cases (by the page's date).
async fn presets(s: &AppState, f: &Filters) -> Result<Vec<(String, String)>> {
    use crate::spec::grid::Period;
    use chrono::Datelike;
    let mut list = vec![
        (String::new(), "The whole period".to_string()),
        (
            super::LAST_12_MONTHS.to_string(),
            "The last 12 months".to_string(),
        ),
    ];
    let Some(last) = s.index().await?.last_month(f.date_field == "closed_date") else {
        return Ok(list);
    };
    let (y, m) = (last.year(), last.month());
    let fy = if m >= 4 { y } else { y - 1 };
    let q = (m - 1) / 3 + 1;
    let mut periods: Vec<Period> = (0..3).map(|i| Period::Year(y - i)).collect();
    periods.extend((0..3).map(|i| Period::FinancialYear(fy - i)));
    for i in 0..4 {
        let k = (y * 4 + q as i32 - 1) - i;
        periods.push(Period::Quarter(
            k.div_euclid(4),
            (k.rem_euclid(4) + 1) as u32,
        ));
    }
    list.extend(periods.into_iter().map(|p| (p.code(), p.words())));
    if !f.period.is_empty() && !list.iter().any(|(c, _)| *c == f.period) {
        let words = Period::parse(&f.period).map_or(f.period.clone(), |p| p.words());
        list.push((f.period.clone(), words));
    }
    Ok(list)
}

/// A page of serve's own (not the report's body): the report's style, no notice.
async fn own_page(
    s: &AppState,
    f: &Filters,
    action: &str,
    heading: &str,
    cases: Option<u64>,
    body: &str,
    downloads: Vec<Link>,
) -> Result<Reply> {
    page(
        s,
        f,
        action,
        Content {
            heading,
            cases,
            notice: None,
            style: report_style(),
            body,
            downloads,
        },
    )
    .await
}

/// A path segment or query value as serve's own links write it (the reports' links to
/// serve use it too): every byte but letters, digits and `*-._` percent-encoded, a space
/// as `%20`. Not the form encoding's `+`: in a path `+` is a plus sign (an organisation
/// code with a space, as most CFPB companies' are, answered 404).
pub(crate) fn encode(s: &str) -> String {
    // byte_serialize writes a space as `+` and a plus sign as `%2B`, so every `+` it
    // writes is a space.
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The report page's style and body, with its figures linked through the server.
fn report_parts(dir: &Path, q: &str) -> Result<(String, String)> {
    let path = dir.join("index.html");
    let html = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let between = |a: &str, b: &str| -> String {
        html.find(a)
            .and_then(|i| {
                let start = i + a.len();
                html[start..]
                    .find(b)
                    .map(|j| html[start..start + j].to_string())
            })
            .unwrap_or_default()
    };
    let style = between("<style>", "</style>");
    let body = between("<body>", "</body>");
    // Figures past the page's inline budget are images of figures/NAME.svg.
    let body = body.replace("src=\"figures/", "src=\"/figure/");
    let body = link_figures_with_query(&body, q);
    Ok((style, body))
}

/// Appends the page's query to every `/figure/NAME.svg` link.
fn link_figures_with_query(body: &str, q: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("src=\"/figure/") {
        let start = i + "src=\"/figure/".len();
        let end = rest[start..].find('"').map_or(rest.len(), |j| start + j);
        out.push_str(&rest[..end]);
        if !q.is_empty() {
            out.push('?');
            out.push_str(&q.replace('&', "&amp;"));
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Links to the measures' tables (only those the view's report has, when `dir` is
/// given: a study without remedies offers no remedies table).
fn table_links(q: &str, dir: Option<&std::path::Path>) -> Vec<Link> {
    measures::MEASURES
        .iter()
        .filter(|m| dir.is_none_or(|d| d.join("tables").join(format!("{}.csv", m.name)).is_file()))
        .map(|m| Link {
            href: format!("/table/{}.csv?{q}", m.name),
            label: format!("{}.csv", m.name),
        })
        .collect()
}

/// A view the publication does not have: the page says why (a reason that depends on no
/// count), with the filter form to choose another.
async fn unpublished_page(s: &AppState, f: &Filters, action: &str, why: String) -> Result<Reply> {
    let body =
        "<h2>Not a published view</h2><p>Choose a period from the list and at most one filter.</p>";
    notice_page(s, f, action, "Not published", body, why).await
}

/// The report's style sheet (from its template), for pages whose body is serve's own.
fn report_style() -> &'static str {
    const REPORT: &str = include_str!("../../reports/templates/report.html");
    REPORT
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map_or("", |(style, _)| style)
}

/// The cases of a view's report (its summary's count, as shown: none where a published
/// count is withheld).
fn report_cases(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    let summary: serde_json::Value = serde_json::from_str(&text).ok()?;
    summary["themes"].get(0)?["cases"].as_u64()
}

/// The view in words, for the page's title and under its heading, so that a page shared
/// or printed keeps its scope: "ORG-A (Quote Trust), region North, opened from
/// 2022-01-01, 4,914 cases".
fn scope_title(s: &AppState, f: &Filters, choices: &Choices, cases: Option<u64>) -> String {
    let study = &s.config.study;
    let mut parts = Vec::new();
    if !f.organisation.is_empty() {
        let name = choices
            .organisations
            .iter()
            .find(|(c, _)| *c == f.organisation)
            .map(|(_, n)| n.as_str())
            .filter(|n| !n.is_empty() && *n != f.organisation);
        parts.push(match name {
            Some(n) => format!("{} ({n})", f.organisation),
            None => f.organisation.clone(),
        });
    }
    let grouping = study
        .second_grouping
        .clone()
        .unwrap_or_else(|| "region".into())
        .to_lowercase();
    for (what, v) in [
        (grouping.as_str(), &f.region),
        ("source", &f.source),
        ("decision", &f.decision),
        ("service", &f.service),
    ] {
        if !v.is_empty() {
            parts.push(format!("{what} {v}"));
        }
    }
    if !f.stage.is_empty() {
        parts.push(crate::report::stage_words(&f.stage, study));
    }
    for c in &f.choices {
        parts.push(crate::report::choice_words(c, study));
    }
    let dated = study.date_label(if f.date_field == "closed_date" {
        crate::spec::grid::DateField::ClosedDate
    } else {
        crate::spec::grid::DateField::OpenedDate
    });
    let period = match (f.from.as_str(), f.to.as_str()) {
        ("", "") => None,
        (from, "") => Some(format!("from {from}")),
        ("", to) => Some(format!("up to {to}")),
        (from, to) => Some(format!("from {from} to {to}")),
    };
    let period = match crate::spec::grid::Period::parse(&f.period) {
        Ok(p) if !f.period.is_empty() => Some(format!("in {}", p.words())),
        _ if f.period == super::LAST_12_MONTHS => Some("in the last 12 months".into()),
        _ => period,
    };
    if let Some(p) = period {
        parts.push(format!("{dated} {p}"));
    }
    if parts.is_empty() && cases.is_none() {
        parts.push(format!("all {}", study.cases()));
    }
    if let Some(n) = cases {
        let noun = if n == 1 {
            study.case_noun.clone()
        } else {
            study.cases()
        };
        parts.push(format!("{} {noun}", crate::spec::thousands(n as i64)));
    }
    parts.join(", ")
}

/// A page (status 400) that says what is wrong with its filters, with the filter form to
/// choose again.
async fn notice_page(
    s: &AppState,
    f: &Filters,
    action: &str,
    heading: &'static str,
    body: &'static str,
    why: String,
) -> Result<Reply> {
    let reply = page(
        s,
        f,
        action,
        Content {
            heading,
            cases: None,
            notice: Some(why),
            style: report_style(),
            body,
            downloads: Vec::new(),
        },
    )
    .await?;
    Ok(match reply {
        Reply::Html(h) => Reply::Status(axum::http::StatusCode::BAD_REQUEST, h),
        other => other,
    })
}

/// The page's publication, or the page saying why the view is not published.
async fn published(
    s: &AppState,
    f: &Filters,
    action: &str,
) -> Result<std::result::Result<Option<Publishing>, Reply>> {
    // Under --publish the publication names what it has (its values, its filters), and
    // the warehouse's own values are not consulted.
    if !s.config.publish
        && let Some(why) = s.choices().await?.unknown(f)
    {
        let body = "<h2>No such value</h2><p>Choose from the lists below.</p>";
        return Ok(Err(
            notice_page(s, f, action, "Nothing to show", body, why).await?
        ));
    }
    match s.publishing(f).await? {
        None => Ok(Ok(None)),
        Some(Ok(p)) => Ok(Ok(Some(p))),
        Some(Err(why)) => Ok(Err(unpublished_page(s, f, action, why).await?)),
    }
}

/// The publishing of a file's view (`None` without `--publish`); a view the publication
/// does not have is refused as a usage error.
async fn file_publishing(s: &AppState, f: &Filters) -> Result<Option<Publishing>> {
    if !s.config.publish
        && let Some(why) = s.choices().await?.unknown(f)
    {
        return Err(Error::Usage(why));
    }
    match s.publishing(f).await? {
        None => Ok(None),
        Some(Ok(p)) => Ok(Some(p)),
        Some(Err(why)) => Err(Error::Usage(format!("not a published view: {why}"))),
    }
}

/// The cases of a page: its published view's, or its filters'.
pub(super) async fn scope_of(
    s: &AppState,
    f: &Filters,
    publish: Option<&Publishing>,
) -> Result<Scope> {
    match publish {
        Some(p) => Ok(p.scope()),
        None => {
            let last = if f.period == super::LAST_12_MONTHS {
                s.index().await?.last_month(f.date_field == "closed_date")
            } else {
                None
            };
            f.resolved(last)
                .and_then(|f| f.scope())
                .map_err(Error::Usage)
        }
    }
}

/// `/report`: the full report of the view (every section and table), built once per
/// scope and kept.
pub(super) async fn report(s: &AppState, f: &Filters) -> Result<Reply> {
    let publish = match published(s, f, "/report").await? {
        Ok(p) => p,
        Err(reply) => return Ok(reply),
    };
    // `report` checks the scope before it builds.
    let dir = s.report(f, publish.as_ref()).await?;
    let q = f.query();
    let (style, body) = report_parts(&dir, &q)?;
    let mut downloads = Vec::new();
    // The charts and tables the study's report has, and only those.
    for chart in crate::report::figures::CHARTS
        .iter()
        .filter(|c| !matches!(**c, "spc" | "funnel"))
        .filter(|c| dir.join("figures").join(format!("{c}.svg")).is_file())
    {
        for ext in ["svg", "png"] {
            downloads.push(Link {
                href: format!("/chart/{chart}.{ext}?{q}"),
                label: format!("{chart}.{ext}"),
            });
        }
    }
    downloads.extend(table_links(&q, Some(&dir)));
    page(
        s,
        f,
        "/report",
        Content {
            heading: "Full report",
            cases: report_cases(&dir),
            notice: None,
            style: &style,
            body: &body,
            downloads,
        },
    )
    .await
}

pub(super) async fn organisation(s: &AppState, code: &str, f: &Filters) -> Result<Reply> {
    // The page's own form names another organisation: its page, with the same filters
    // (a plain form, no script: the choice is the query, the page the path).
    if !f.organisation.is_empty() && f.organisation != code {
        let other = Filters {
            organisation: String::new(),
            ..f.clone()
        };
        return Ok(Reply::Redirect(format!(
            "/organisation/{}?{}",
            encode(&f.organisation),
            other.query()
        )));
    }
    // The organisation's own view (the page's period, no other filter) and the view of
    // all organisations in the same period: both are views of their own, published (or
    // refused) as any other.
    let mut with_org = Filters {
        from: f.from.clone(),
        to: f.to.clone(),
        period: f.period.clone(),
        date_field: f.date_field.clone(),
        organisation: code.to_string(),
        ..Filters::default()
    };
    let action = format!("/organisation/{}", encode(code));
    let choices = s.choices().await?;
    let Some((_, name)) = choices.organisations.iter().find(|(c, _)| c == code) else {
        return Ok(Reply::Text(
            StatusCode::NOT_FOUND,
            format!(
                "casework serve: no organisation {code:?} in the warehouse; the organisation list names them\n"
            ),
        ));
    };
    let publish = match published(s, &with_org, &action).await? {
        Ok(p) => p,
        Err(reply) => return Ok(reply),
    };
    let (own_scope, all_scope) = match &publish {
        Some(p) => (p.scope(), p.at(p.view.with(Unit::All)).scope()),
        None => {
            let mut all = with_org.clone();
            all.organisation.clear();
            (
                scope_of(s, &with_org, None).await?,
                scope_of(s, &all, None).await?,
            )
        }
    };
    // Two passes over the index: the organisation's cases by month (its SPC charts),
    // and every organisation's (the funnels); each gives its prevalence too.
    let want_own = super::Want {
        months: true,
        ..super::Want::TOTALS
    };
    let want_all = super::Want {
        organisations: true,
        ..super::Want::TOTALS
    };
    let (index, own_counts) = s.counts(&own_scope, want_own).await?;
    let (_, all_counts) = s.counts(&all_scope, want_all).await?;
    let prevalence = |scope: &Scope, counts: &super::Counts| -> Result<measures::Output> {
        index
            .measure("theme_prevalence", counts, &s.context(scope))?
            .ok_or_else(|| Error::Usage("the index has no theme_prevalence".into()))
    };
    let own = prevalence(&own_scope, &own_counts)?;
    let everyone = prevalence(&all_scope, &all_counts)?;
    let rows = match &publish {
        Some(p) => profile_rows(
            &own.publish(p),
            &everyone.publish(&p.at(p.view.with(Unit::All))),
            &s.config.study,
        ),
        None => profile_rows(&own, &everyone, &s.config.study),
    };
    if let Some(p) = &publish {
        with_org = Filters::of_view(&p.view);
    }
    // Its place in each theme's funnel across every organisation of the same period,
    // and its SPC chart per theme: the index's figures, as the overview's.
    let all_publish = publish.as_ref().map(|p| p.at(p.view.with(Unit::All)));
    let c = s.context(&all_scope);
    let figs = explore::figures(s, &c, all_publish)?;
    // The funnels of the same view made for another organisation's page, or each
    // theme's funnel from its own rows of the profile.
    let kept_key = format!("{} {all_scope:?} {}", index.version, publish.is_some());
    let kept = s.funnels.find(&kept_key, |_| true);
    for theme in s.config.codes.themes() {
        // (A theme with no funnel, not drawn, has none kept: it is tried again.)
        match kept.as_ref().and_then(|k| k.get(&theme)) {
            Some(f) => figs.seed_funnel(&theme, f.clone()),
            None => {
                if let Some(out) = index.profile_of(&theme, &all_counts, &c)? {
                    figs.seed_profile_of(&theme, out);
                }
            }
        }
    }
    let own_c = s.context(&own_scope);
    let own_figs = explore::figures(s, &own_c, publish.clone())?;
    if let Some(out) = index.measure("monthly_series", &own_counts, &own_c)? {
        own_figs.seed(out);
    }
    let mut all = with_org.clone();
    all.organisation.clear();
    let (own_q, all_q) = (with_org.query(), all.query());
    let mut themes = Vec::new();
    for (theme, row) in s.config.codes.themes().iter().zip(&rows) {
        let place = match figs.funnel_view(theme).await {
            Ok(fv) => fv
                .output
                .rows
                .funnel()
                .iter()
                .find(|r| r.label == code)
                .map(|r| explore::judgement(r.significance))
                .unwrap_or_else(|| "not shown".into()),
            Err(Error::NotDrawn(_)) => "no funnel".into(),
            Err(e) => return Err(e),
        };
        // Its SPC chart, or why there is none (too few months), in a reader's words.
        let spc_missing = match own_figs.spc_view(theme).await {
            Ok(_) => None,
            Err(Error::NotDrawn(why)) => {
                Some(crate::report::readers_words(&why, &s.config.study, false))
            }
            Err(e) => return Err(e),
        };
        let t = encode(theme);
        themes.push(context! {
            spc_missing => spc_missing,
            row => row,
            place => place,
            funnel => format!("/chart/funnel.svg?theme={t}&{all_q}"),
            spc => format!("/chart/spc.svg?theme={t}&{own_q}"),
            page => format!("/theme/{t}?{all_q}"),
        });
    }
    if kept.is_none() {
        s.funnels
            .keep(kept_key, std::sync::Arc::new(figs.funnels_made()));
    }
    let template = "<h2>{{ name }} ({{ code }})</h2>\
         <p>{{ cases_title }} with each theme for this {{ org }} against every {{ org }} in the same period, with 95% Wilson intervals.</p>\
         <table><thead><tr><th>Theme</th><th>{{ cases_title }} with the theme</th><th>{{ cases_title }}</th><th>Share</th><th>95% CI</th><th>All {{ orgs }}</th><th>95% CI (all)</th><th>In the funnel</th></tr></thead><tbody>\
         {% for t in themes %}{% set r = t.row %}<tr><td><a href=\"{{ t.page }}\">{{ r.theme }}</a></td><td class=\"n\">{{ r.with_theme }}</td><td class=\"n\">{{ r.cases }}</td><td class=\"n\">{{ r.share }}</td><td>{{ r.interval }}</td><td class=\"n\">{{ r.all_share }}</td><td>{{ r.all_interval }}</td><td><a href=\"{{ t.funnel }}\">{{ t.place }}</a></td></tr>{% endfor %}\
         </tbody></table>\
         <p class=\"meta\">In the funnel: where this {{ org }} sits in each theme's funnel plot of every {{ org }} in the same period (high or low beyond the 95% (0.025) or 99.8% (0.001) limits); the link opens the plot.</p>\
         <h2 id=\"months\">Month by month</h2>\
         <p>This {{ org }}'s SPC chart of each theme (select a theme to open it).</p>\
         {% for t in themes %}<details class=\"section\"{% if loop.first %} open{% endif %}><summary>{{ t.row.theme }}</summary>{% if t.spc_missing %}<p class=\"meta\">{{ t.spc_missing }}</p>{% else %}<figure class=\"wide\"><img loading=\"lazy\" src=\"{{ t.spc }}\" alt=\"SPC chart of {{ t.row.theme }} for {{ code }}\" style=\"max-width:100%\"></figure>{% endif %}</details>{% endfor %}\
         <p><a href=\"/compare?{{ own_q }}\">Compare this {{ org }} with another</a></p>";
    let body = render(
        "org.html",
        template,
        context! {
            name => name, code => code, themes => themes, own_q => own_q,
            org => s.config.study.organisation_noun.clone(),
            orgs => s.config.study.organisations(),
            cases_title => crate::report::chart::capitalised(&s.config.study.cases()),
        },
    )?;
    // The form shows this organisation chosen, and the page's title names it.
    let shown = Filters {
        organisation: code.to_string(),
        ..f.clone()
    };
    own_page(
        s,
        &shown,
        &action,
        &crate::report::chart::capitalised(&s.config.study.organisation_noun),
        None,
        &body,
        table_links(&with_org.query(), None),
    )
    .await
}

/// Organisations whose code or name holds `text` (case and accents as written are
/// ignored only for case), each a link to its page with the filters kept: the way from a
/// name to its figures when there are hundreds (no script: a plain form).
pub(super) async fn search(s: &AppState, text: &str, f: &Filters) -> Result<Reply> {
    /// Matches listed at most (the rest are counted).
    const SHOWN: usize = 200;
    let choices = s.choices().await?;
    let wanted = text.trim().to_lowercase();
    let matches: Vec<&(String, String)> = choices
        .organisations
        .iter()
        .filter(|(code, name)| {
            code.to_lowercase().contains(&wanted) || name.to_lowercase().contains(&wanted)
        })
        .collect();
    let kept = Filters {
        organisation: String::new(),
        ..f.clone()
    };
    let q = kept.query();
    let links: Vec<_> = matches
        .iter()
        .take(SHOWN)
        .map(|(code, name)| {
            context! {
                href => format!("/organisation/{}?{q}", encode(code)),
                code => code,
                name => name,
            }
        })
        .collect();
    let study = &s.config.study;
    let template = "<h2>{{ heading }}</h2>\
         <form method=\"get\" action=\"/organisations\"><label>Code or name <input name=\"q\" value=\"{{ text }}\"></label> <button type=\"submit\">Find</button></form>\
         {% if links %}<ul>{% for l in links %}<li><a href=\"{{ l.href }}\">{{ l.code }}</a>{% if l.name and l.name != l.code %}: {{ l.name }}{% endif %}</li>{% endfor %}</ul>{% endif %}\
         {% if more %}<p class=\"meta\">{{ more }}</p>{% endif %}";
    let orgs = study.organisations();
    let heading = match (wanted.is_empty(), matches.len()) {
        (true, n) => format!("All {n} {orgs}"),
        (false, 0) => format!("No {orgs} match {text:?}"),
        (false, 1) => format!("One {} matches {text:?}", study.organisation_noun),
        (false, n) => format!("{n} {orgs} match {text:?}"),
    };
    let more = (matches.len() > SHOWN).then(|| {
        format!(
            "The first {SHOWN} are listed; {} more match: search for more of the name.",
            matches.len() - SHOWN
        )
    });
    let body = render(
        "search.html",
        template,
        context! { heading => heading, text => text, links => links, more => more },
    )?;
    own_page(
        s,
        &kept,
        "/",
        &format!("Find {}", study.organisation_noun),
        None,
        &body,
        Vec::new(),
    )
    .await
}

/// A figure of the report built for the page's scope.
pub(super) async fn figure(s: &AppState, file: &str, f: &Filters) -> Result<Reply> {
    let kind = content_type(file)
        .ok_or_else(|| Error::Usage(format!("{file:?}: a figure is NAME.svg or NAME.png")))?;
    let publish = file_publishing(s, f).await?;
    let dir = s.report(f, publish.as_ref()).await?.join("figures");
    // Only a file the report wrote: its name is one of the folder's.
    let found = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_str() == Some(file));
    if !found {
        return Ok(Reply::Text(
            StatusCode::NOT_FOUND,
            "casework serve: no such figure\n".into(),
        ));
    }
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    Ok(Reply::File(kind, bytes))
}

fn content_type(file: &str) -> Option<&'static str> {
    if file.contains('/') || file.contains("..") {
        return None;
    }
    if file.ends_with(".svg") {
        Some("image/svg+xml")
    } else if file.ends_with(".png") {
        Some("image/png")
    } else {
        None
    }
}

/// A measure as CSV, for the page's scope (published under `--publish`).
pub(super) async fn table(s: &AppState, file: &str, f: &Filters) -> Result<Reply> {
    let name = file
        .strip_suffix(".csv")
        .ok_or_else(|| Error::Usage(format!("{file:?}: a table is MEASURE.csv")))?;
    let measure = measures::find(name)?;
    let publish = file_publishing(s, f).await?;
    let scope = scope_of(s, f, publish.as_ref()).await?;
    // From the index where it answers the measure; else the measure's SQL.
    let out = match explore::index_measure(name) {
        Some(m) => {
            let (index, counts) = s.counts(&scope, super::Want::of(&[m])).await?;
            index.measure(m, &counts, &s.context(&scope))?
        }
        None => None,
    };
    let out = match out {
        Some(out) => out,
        None => {
            let ctx = engine::session(&s.inputs(&scope)).await?;
            measures::run(&ctx, measure, &s.context(&scope)).await?
        }
    };
    let maps = match &publish {
        Some(p) => out.publish(p).rows.to_maps(),
        None => out.rows.to_maps(),
    };
    Ok(Reply::File(
        "text/csv; charset=utf-8",
        measures::rows_csv(&maps).into_bytes(),
    ))
}

/// One chart as SVG or PNG, for the page's scope.
pub(super) async fn chart(s: &AppState, file: &str, f: &Filters) -> Result<Reply> {
    let kind = content_type(file)
        .ok_or_else(|| Error::Usage(format!("{file:?}: a chart is NAME.svg or NAME.png")))?;
    let (name, ext) = file.rsplit_once('.').unwrap_or((file, ""));
    if !crate::report::figures::CHARTS.contains(&name) {
        return Ok(Reply::Text(
            StatusCode::NOT_FOUND,
            format!(
                "casework serve: no chart {name:?}; the charts are: {}\n",
                crate::report::figures::CHARTS.join(", ")
            ),
        ));
    }
    let publish = file_publishing(s, f).await?;
    let scope = scope_of(s, f, publish.as_ref()).await?;
    let theme = (!f.theme.is_empty()).then_some(f.theme.as_str());
    let themes = s.config.codes.themes();
    if let Some(t) = theme
        && !themes.iter().any(|x| x == t)
    {
        return Err(Error::Usage(format!(
            "no theme {t:?}; the themes are: {}",
            themes.join(", ")
        )));
    }
    if theme.is_none() && matches!(name, "spc" | "funnel") {
        return Err(Error::Usage(format!(
            "a {} chart is of one theme: add theme=THEME to the address (the themes are: {})",
            if name == "spc" { "SPC" } else { "funnel" },
            themes.join(", ")
        )));
    }
    // The index's charts run no query: a session with no tables.
    let ctx = if from_index(name) {
        s.no_tables.clone()
    } else {
        engine::session(&s.inputs(&scope)).await?
    };
    let c = s.context(&scope);
    let figures = Figures::new(
        &ctx,
        &c,
        source_line(&s.config.warehouse.committed()?, &s.config.codes),
        publish,
        &s.config.study,
    );
    if let Some(measure) = explore::index_measure(name) {
        explore::seed(s, &figures, &[measure], theme).await?;
    }
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let stem = dir.path().join("chart");
    let _one = crate::report::chart::only(ext);
    match figures.draw(name, theme, &stem).await {
        Ok(()) => {}
        Err(Error::NotDrawn(why)) => {
            return Ok(Reply::Text(
                StatusCode::NOT_FOUND,
                format!("casework serve: not drawn: {why}\n"),
            ));
        }
        Err(e) => return Err(e),
    }
    let path = stem.with_extension(ext);
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    Ok(Reply::File(kind, bytes))
}

/// One theme of an organisation's page.
#[derive(Serialize)]
struct ProfileRow {
    theme: String,
    with_theme: String,
    cases: String,
    share: String,
    interval: String,
    all_share: String,
    all_interval: String,
}

/// The organisation's rows beside every organisation's, from prevalence outputs as
/// computed or as published (a suppressed count shows `*`, and so does every figure
/// resting on it).
fn profile_rows<F: measures::Form>(
    own: &measures::Output<F>,
    everyone: &measures::Output<F>,
    study: &crate::spec::study::StudyFile,
) -> Vec<ProfileRow> {
    let pct = |v: Option<f64>| v.map_or("*".to_string(), |p| format!("{:.1}%", p * 100.0));
    let ci = |lo: Option<f64>, hi: Option<f64>| match (lo, hi) {
        (Some(lo), Some(hi)) => {
            let (lo, hi) = crate::stats::percent_interval(lo, hi, 1);
            format!("{lo} to {hi}")
        }
        _ => "*".into(),
    };
    own.rows
        .theme_prevalence()
        .iter()
        .map(|r| {
            let avg = everyone
                .rows
                .theme_prevalence()
                .iter()
                .find(|p| p.theme == r.theme);
            ProfileRow {
                theme: study.label(&r.theme),
                with_theme: explore::count(r.cases_with_theme.number()),
                cases: explore::count(r.cases.number()),
                share: pct(r.proportion.value()),
                interval: ci(r.ci95_low.value(), r.ci95_high.value()),
                all_share: pct(avg.and_then(|a| a.proportion.value())),
                all_interval: ci(
                    avg.and_then(|a| a.ci95_low.value()),
                    avg.and_then(|a| a.ci95_high.value()),
                ),
            }
        })
        .collect()
}

/// `/case/ID`, not under `--publish` (it names a case): the case's codes (its findings)
/// beside every coder's codings, people's and models' (`casework suggest --write`), for
/// a coder to confirm or correct a model's suggestions. Never the case's text.
pub(super) async fn case(s: &AppState, id: &str, f: &Filters) -> Result<Reply> {
    if s.config.publish {
        return Ok(Reply::Text(
            StatusCode::NOT_FOUND,
            "casework serve: case pages name a case and are not served under --publish\n".into(),
        ));
    }
    use arrow::array::Array;
    let scope = Scope::default();
    let ctx = engine::session(&s.inputs(&scope)).await?;
    let quoted = id.replace('\'', "''");
    let rows = |sql: String| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.sql(&sql).await?.collect().await?;
            let mut out: Vec<(String, String)> = Vec::new();
            for b in &batches {
                let (a, c) = (
                    measures::text_column(b.column(0))?,
                    measures::text_column(b.column(1))?,
                );
                for i in 0..a.len() {
                    let text = |x: &arrow::array::StringArray| {
                        if x.is_null(i) {
                            String::new()
                        } else {
                            x.value(i).to_string()
                        }
                    };
                    out.push((text(&a), text(&c)));
                }
            }
            Ok::<_, Error>(out)
        }
    };
    let exists = rows(format!(
        "SELECT case_id, organisation_code FROM cases WHERE case_id = '{quoted}'"
    ))
    .await?;
    if exists.is_empty() {
        return Ok(Reply::Text(
            StatusCode::NOT_FOUND,
            format!("casework serve: no case {id:?} in the warehouse\n"),
        ));
    }
    let findings = rows(format!(
        "SELECT 'findings', code FROM findings WHERE case_id = '{quoted}'"
    ))
    .await?;
    let codings = rows(format!(
        "SELECT coder, code FROM codings WHERE case_id = '{quoted}' ORDER BY coder"
    ))
    .await?;
    let mut coders: Vec<String> = codings.iter().map(|(c, _)| c.clone()).collect();
    coders.dedup();
    let mut codes: Vec<String> = findings
        .iter()
        .chain(&codings)
        .map(|(_, c)| c.clone())
        .filter(|c| !c.is_empty())
        .collect();
    // In the code list's order.
    let list = &s.config.codes.codes;
    codes.sort_by_key(|c| list.iter().position(|x| &x.code == c).unwrap_or(usize::MAX));
    codes.dedup();
    let table: Vec<_> = codes
        .iter()
        .map(|code| {
            let entry = list.iter().find(|x| &x.code == code);
            context! {
                code => code,
                meaning => entry.map(|e| e.meaning.clone()).unwrap_or_default(),
                theme => entry.map(|e| s.config.study.label(&e.theme)).unwrap_or_default(),
                finding => findings.iter().any(|(_, c)| c == code),
                given => coders.iter().map(|who| codings.iter().any(|(w, c)| w == who && c == code)).collect::<Vec<_>>(),
            }
        })
        .collect();
    let columns: Vec<_> = coders
        .iter()
        .map(|c| context! { name => c, model => c.starts_with(crate::suggest::store::MODEL_CODER) })
        .collect();
    let template = "<h2>Case {{ id }} ({{ organisation }})</h2>\
         <p>Its codes (findings, the agreed coding every figure counts) beside each coder's. \
         {% if models %}A column marked <em>model</em> holds a model's suggestions (casework suggest): \
         no figure counts them until a person confirms them in the findings.{% endif %} \
         The case's text is never shown here.</p>\
         {% if rows %}<table><thead><tr><th>Code</th><th>Theme</th><th>Meaning</th><th>Findings</th>\
         {% for c in columns %}<th>{{ c.name }}{% if c.model %} <em>(model)</em>{% endif %}</th>{% endfor %}</tr></thead><tbody>\
         {% for r in rows %}<tr><td>{{ r.code }}</td><td>{{ r.theme }}</td><td>{{ r.meaning }}</td><td>{% if r.finding %}✓{% endif %}</td>\
         {% for g in r.given %}<td>{% if g %}✓{% endif %}</td>{% endfor %}</tr>{% endfor %}</tbody></table>\
         {% else %}<p>No code: no finding, and no coder gave one.</p>{% endif %}";
    let body = render(
        "case.html",
        template,
        context! {
            id => id,
            organisation => exists[0].1,
            rows => table,
            columns => columns,
            models => coders.iter().any(|c| c.starts_with(crate::suggest::store::MODEL_CODER)),
        },
    )?;
    own_page(s, f, "/", &format!("Case {id}"), None, &body, Vec::new()).await
}
