//! `casework serve`: the warehouse in a browser, read-only. Every page is rendered on the
//! server from the same measures, statistics and charts as the report (the overview and
//! the theme pages *are* the report's, built for the page's scope), so a figure on a page
//! equals the report's for the same scope. Filters are the page's URL (a plain GET form,
//! no script), so every view is a link.
//!
//! Safety (docs/serve.md): loopback unless told otherwise, and a non-loopback address only
//! with a token; in loopback mode only loopback `Host` names are served (no DNS
//! rebinding); filter values are typed literals in DataFusion expressions, never SQL text;
//! every name from the data is escaped (minijinja's HTML escaping; plotters escapes SVG
//! text; CSV cells cannot start a formula); only fixed routes, and file names checked
//! against the files the server wrote; `--publish` serves the publication's audited set
//! only (`publication`: periods of the calendar grid, one publishable filter at a time);
//! a private cache (mode 700, files 600, removed on SIGINT and SIGTERM) that never holds
//! a list naming cases; a bound on concurrent queries, a timeout per request, one memory
//! pool for all of them, the answers kept within it; header and idle timeouts and a cap
//! on connections; `Cache-Control: no-store`.

mod index;
mod pages;
pub use index::{CaseIndex, Counts, Want};

/// Each theme's funnel of one view, by theme.
type Funnels = HashMap<String, Arc<crate::oversight::Funnel<crate::measures::Public>>>;

/// What was made for the last few keys asked for, the oldest let go first.
struct Kept<T> {
    kept: Mutex<VecDeque<(String, Arc<T>)>>,
    /// Keys kept at most.
    most: usize,
}

impl<T> Kept<T> {
    fn new(most: usize) -> Kept<T> {
        Kept {
            kept: Mutex::new(VecDeque::new()),
            most,
        }
    }

    /// What is kept for `key`, when `fits` it.
    fn find(&self, key: &str, fits: impl Fn(&T) -> bool) -> Option<Arc<T>> {
        let kept = self.kept.lock().ok()?;
        kept.iter()
            .find(|(k, v)| k == key && fits(v))
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value` for `key` (in place of what was kept for it).
    fn keep(&self, key: String, value: Arc<T>) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|(k, _)| *k != key);
            kept.push_back((key, value));
            while kept.len() > self.most {
                kept.pop_front();
            }
        }
    }
}
pub(crate) use pages::encode;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryPool, MemoryReservation,
};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::engine::{self, DateField, Engine, Scope};
use crate::error::{Error, Result};
use crate::measures::Context;
use crate::publication::{Publication, Publishing, Unit, View};
use crate::spec::grid::Period;
use crate::spec::study::StudyFile;
use crate::spec::{CodeList, Thresholds};
use crate::warehouse::Warehouse;

/// Reports (one per scope) kept on disk while the server runs; past this the older half
/// is removed.
pub const CACHED_VIEWS: usize = 200;

/// How long a client may take to send a request's headers, and how long a kept-alive
/// connection may stay idle.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a login session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// What the server serves and how.
pub struct Config {
    pub warehouse: Warehouse,
    pub codes: CodeList,
    pub thresholds: Thresholds,
    pub study: StudyFile,
    pub as_of: NaiveDate,
    /// The one memory pool all requests' queries share (a fair spill pool); the answers
    /// kept take part of it.
    pub memory_limit: usize,
    pub engine: Engine,
    pub listen: SocketAddr,
    pub publish: bool,
    /// Required of every request when set (bearer header, or the session cookie `/login`
    /// sets).
    pub token: Option<String>,
    /// Requests computing at once; others wait (within the timeout).
    pub max_queries: usize,
    pub timeout: Duration,
    /// Connections open at once; more wait in the listen queue.
    pub max_connections: usize,
    /// Host names served besides the loopback ones (`--allow-host`, for a proxy's name).
    pub allowed_hosts: Vec<String>,
}

struct AppState {
    config: Config,
    /// The port listened on (for the Host check).
    port: u16,
    pool: Arc<dyn MemoryPool>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Reports built per scope (the page's filters and the warehouse version), in a
    /// private folder.
    cache_root: tempfile::TempDir,
    cache: Mutex<HashMap<String, PathBuf>>,
    /// Answers already given (the warehouse is read-only while served).
    answers: Mutex<Answers>,
    /// Reports built so far (names their folders).
    built: std::sync::atomic::AtomicU64,
    /// One build per scope at a time (a second request for the scope waits for the
    /// first's report); builds of different scopes run side by side, as many as the
    /// query permits allow.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The explorer's case index of the committed version (`index`), built once per
    /// version.
    index: tokio::sync::Mutex<Option<Arc<CaseIndex>>>,
    /// Pages answered from the index: arithmetic over memory, never behind a report.
    fast: Arc<tokio::sync::Semaphore>,
    /// The counts of the 32 scopes asked for last (a page and its charts share a scope).
    counts: Kept<Counts>,
    /// Every theme's funnel of the 8 views asked for last by the organisation pages (the
    /// pages of one period share them; a national view's 30 funnels of hundreds of
    /// organisations are some megabytes).
    funnels: Kept<Funnels>,
    /// A session with no tables, for the figures of pages answered from the index: a
    /// query they should not run fails (no such table) instead of answering for
    /// another scope.
    no_tables: datafusion::prelude::SessionContext,
    /// The filter form's choices, for the warehouse version they were read from.
    choices: Mutex<Option<(String, Arc<pages::Choices>)>>,
    /// The publication of the committed version (`--publish`), built once per version.
    publication: tokio::sync::Mutex<Option<Arc<Publication>>>,
    /// Login sessions: id → when it ends.
    sessions: Mutex<HashMap<String, Instant>>,
}

/// Answers kept: keyed on the method, the path and the normalised query of a GET, for
/// one warehouse version; bounded in bytes, the bytes reserved in the server's memory
/// pool (oldest dropped first when the pool or the bound says no).
/// An answer kept: its content headers (type, encoding, vary) and body.
type Answer = (HeaderMap, axum::body::Bytes);

struct Answers {
    map: HashMap<String, Answer>,
    order: VecDeque<String>,
    /// The bound; the bytes kept are the reservation's size.
    limit: usize,
    reservation: MemoryReservation,
}

impl Answers {
    fn get(&self, key: &str) -> Option<Answer> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: String, headers: HeaderMap, body: axum::body::Bytes) {
        let n = body.len() + key.len();
        if n > self.limit || self.map.contains_key(&key) {
            return;
        }
        while self.reservation.size() + n > self.limit || self.reservation.try_grow(n).is_err() {
            let Some(old) = self.order.pop_front() else {
                return;
            };
            if let Some((_, b)) = self.map.remove(&old) {
                self.reservation.shrink(b.len() + old.len());
            }
        }
        self.order.push_back(key.clone());
        self.map.insert(key, (headers, body));
    }
}

/// The filters of a page, as its URL gives them (empty fields are no filter). A grouping
/// named more than once (`region=A&region=B`), or named in `exclude` (`exclude=region`:
/// every value but those given), is a choice of several values.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub from: String,
    pub to: String,
    /// A period of the calendar grid (2024, FY2024-25, 2024-Q2, 2024-05), or the preset
    /// `last-12-months` (the twelve months up to the last month with a case).
    pub period: String,
    pub date_field: String,
    pub organisation: String,
    pub region: String,
    pub source: String,
    pub decision: String,
    pub service: String,
    /// A finding's stage: selects findings, not cases.
    pub stage: String,
    /// For charts: the theme of an SPC chart or funnel plot.
    pub theme: String,
    /// Groupings of several values, or of values left out.
    pub choices: Vec<engine::Choice>,
}

/// The preset period of the last twelve months.
pub const LAST_12_MONTHS: &str = "last-12-months";

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Filters {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Filters::parse(parts.uri.query().unwrap_or("")).map_err(|why| {
            Reply::Text(StatusCode::BAD_REQUEST, format!("casework serve: {why}\n")).into_response()
        })
    }
}

impl Filters {
    /// The filters of a query string (other parameters are left to their pages).
    pub fn parse(query: &str) -> std::result::Result<Filters, String> {
        let mut f = Filters::default();
        let mut values: [Vec<String>; engine::Grouping::ALL.len()] = Default::default();
        let mut excluded = [false; engine::Grouping::ALL.len()];
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = v.into_owned();
            let grouping = engine::Grouping::ALL.iter().position(|g| g.name() == k);
            if let Some(g) = grouping {
                if !v.is_empty() && !values[g].contains(&v) {
                    values[g].push(v);
                }
                continue;
            }
            let slot = match k.as_ref() {
                "from" => &mut f.from,
                "to" => &mut f.to,
                "period" => &mut f.period,
                "date_field" => &mut f.date_field,
                "theme" => &mut f.theme,
                "exclude" => {
                    if v.is_empty() {
                        continue;
                    }
                    let Some(g) = engine::Grouping::ALL.iter().position(|g| g.name() == v) else {
                        return Err(format!(
                            "exclude={v}: exclude names a grouping: organisation, region, source, decision, service or stage"
                        ));
                    };
                    excluded[g] = true;
                    continue;
                }
                _ => continue,
            };
            if slot.is_empty() {
                *slot = v;
            }
        }
        for (g, grouping) in engine::Grouping::ALL.into_iter().enumerate() {
            let vs = std::mem::take(&mut values[g]);
            if excluded[g] && vs.is_empty() {
                return Err(format!(
                    "exclude={}: give the values to leave out ({}=VALUE)",
                    grouping.name(),
                    grouping.name()
                ));
            }
            if excluded[g] || vs.len() > 1 {
                f.choices.push(engine::Choice {
                    grouping,
                    values: vs,
                    exclude: excluded[g],
                });
            } else if let Some(v) = vs.into_iter().next() {
                *f.single(grouping) = v;
            }
        }
        Ok(f)
    }

    fn single(&mut self, g: engine::Grouping) -> &mut String {
        match g {
            engine::Grouping::Organisation => &mut self.organisation,
            engine::Grouping::Region => &mut self.region,
            engine::Grouping::Source => &mut self.source,
            engine::Grouping::Decision => &mut self.decision,
            engine::Grouping::Service => &mut self.service,
            engine::Grouping::Stage => &mut self.stage,
        }
    }

    /// The period preset resolved: `last-12-months` as the dates of the twelve months up
    /// to `last` (the last month with a case); other filters as they are.
    pub fn resolved(&self, last: Option<NaiveDate>) -> std::result::Result<Filters, String> {
        if self.period != LAST_12_MONTHS {
            return Ok(self.clone());
        }
        if !self.from.is_empty() || !self.to.is_empty() {
            return Err("give a period or from and to, not both".into());
        }
        let Some(last) = last else {
            return Err("no case has a month by this date, so there are no last 12 months".into());
        };
        use chrono::Datelike;
        let first = NaiveDate::from_ymd_opt(last.year() - 1, last.month(), 1)
            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
            .ok_or("no such month")?;
        let end = last
            .checked_add_months(chrono::Months::new(1))
            .and_then(|d| d.pred_opt())
            .ok_or("no such month")?;
        Ok(Filters {
            period: String::new(),
            from: first.to_string(),
            to: end.to_string(),
            ..self.clone()
        })
    }
    /// The scope, or what is wrong with a field.
    pub fn scope(&self) -> std::result::Result<Scope, String> {
        let date = |name: &str, v: &str| -> std::result::Result<Option<NaiveDate>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| format!("{name} must be a date YYYY-MM-DD, not {v:?}"))
        };
        let text = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let (from, to) = (date("from", &self.from)?, date("to", &self.to)?);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(format!("the period starts ({f}) after it ends ({t})"));
        }
        let period = if self.period.is_empty() {
            None
        } else {
            if from.is_some() || to.is_some() {
                return Err("give a period or from and to, not both".into());
            }
            Some(Period::parse(&self.period)?)
        };
        Ok(Scope {
            from,
            to,
            period,
            date_field: match self.date_field.as_str() {
                "" | "opened_date" => DateField::OpenedDate,
                "closed_date" => DateField::ClosedDate,
                other => {
                    return Err(format!(
                        "date_field must be opened_date or closed_date, not {other:?}"
                    ));
                }
            },
            organisation: text(&self.organisation),
            region: text(&self.region),
            source: text(&self.source),
            decision: text(&self.decision),
            service: text(&self.service),
            stage: text(&self.stage),
            choices: self.choices.clone(),
        })
    }

    /// The filters as a query string (URL-encoded), without the theme.
    pub fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.pairs() {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        for c in &self.choices {
            for v in &c.values {
                q.append_pair(c.grouping.name(), v);
            }
            if c.exclude {
                q.append_pair("exclude", c.grouping.name());
            }
        }
        q.finish()
    }

    fn pairs(&self) -> [(&'static str, &str); 10] {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("period", &self.period),
            ("date_field", &self.date_field),
            ("organisation", &self.organisation),
            ("region", &self.region),
            ("source", &self.source),
            ("decision", &self.decision),
            ("service", &self.service),
            ("stage", &self.stage),
        ]
    }

    /// The filters of a published view (its canonical form).
    fn of_view(view: &View) -> Filters {
        let mut f = Filters {
            period: if view.period == Period::All {
                String::new()
            } else {
                view.period.code()
            },
            ..Filters::default()
        };
        if let Unit::Is(filter, v) = &view.unit {
            *f.single(*filter) = v.clone();
        }
        f
    }
}

/// Runs the server until the process is stopped (SIGINT, SIGTERM): then the cache is
/// removed.
pub async fn serve(config: Config) -> Result<()> {
    if !config.listen.ip().is_loopback() && config.token.is_none() {
        return Err(Error::Usage(format!(
            "{} is not a loopback address: give --token-file FILE so that only holders of the token can read the warehouse",
            config.listen
        )));
    }
    // Everything the server writes (its cache of reports) is its user's alone.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(config.memory_limit));
    let reservation = MemoryConsumer::new("casework serve: answers kept").register(&pool);
    let cache_root = tempfile::Builder::new()
        .prefix("casework-serve-")
        .permissions(private_folder())
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let state = Arc::new(AppState {
        permits: Arc::new(tokio::sync::Semaphore::new(config.max_queries.max(1))),
        port: address.port(),
        cache_root,
        cache: Mutex::new(HashMap::new()),
        built: std::sync::atomic::AtomicU64::new(0),
        answers: Mutex::new(Answers {
            map: HashMap::new(),
            order: VecDeque::new(),
            limit: config.memory_limit / 4,
            reservation,
        }),
        building: Mutex::new(HashMap::new()),
        index: tokio::sync::Mutex::new(None),
        counts: Kept::new(32),
        funnels: Kept::new(8),
        no_tables: datafusion::prelude::SessionContext::new(),
        fast: Arc::new(tokio::sync::Semaphore::new(
            2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        choices: Mutex::new(None),
        publication: tokio::sync::Mutex::new(None),
        sessions: Mutex::new(HashMap::new()),
        pool,
        config,
    });
    // The filter form's choices (and, for publication, the audited set) before the first
    // request, so that a warehouse that cannot be read stops the start.
    state.choices().await?;
    if state.config.publish {
        state.publication().await?;
    }
    let app = Router::new()
        .route("/", get(overview))
        .route("/report", get(report))
        .route("/compare", get(compare))
        .route("/theme/{theme}", get(theme))
        .route("/organisation/{code}", get(organisation))
        .route("/organisations", get(search))
        .route("/case/{id}", get(case))
        .route("/figure/{file}", get(figure))
        .route("/table/{file}", get(table))
        .route("/chart/{file}", get(chart))
        .route("/login", get(login))
        .fallback(not_found)
        // Answers are kept as sent, gzipped or not (`remember` keys on which), so a page
        // asked for again is not compressed again.
        .layer(middleware::from_fn(compress))
        .layer(middleware::from_fn_with_state(state.clone(), remember))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state.clone());
    let login = if state.config.token.is_some() {
        " (log in once at /login?token=TOKEN, or send Authorization: Bearer TOKEN)"
    } else {
        ""
    };
    let shown = if address.ip().is_unspecified() {
        format!("localhost:{}", address.port())
    } else {
        address.to_string()
    };
    eprintln!(
        "casework serve: open http://{shown}/{login}{}; Ctrl-C stops",
        if state.config.publish {
            " (prepared for publication)"
        } else {
            ""
        }
    );
    let connections = Arc::new(tokio::sync::Semaphore::new(
        state.config.max_connections.max(1),
    ));
    let mut stop = Box::pin(stopped());
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024)
                .serve_connection(io, service)
                .await;
        });
    }
    let root = state.cache_root.path().to_path_buf();
    let _ = std::fs::remove_dir_all(&root);
    eprintln!("casework serve: stopped; its cache is removed");
    Ok(())
}

/// A folder only its owner can enter.
fn private_folder() -> std::fs::Permissions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o700)
    }
    #[cfg(not(unix))]
    {
        std::env::temp_dir()
            .metadata()
            .map(|m| m.permissions())
            .unwrap_or_else(|_| unreachable!())
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A query as logged: every `token` parameter's value left out.
fn logged_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("token") => format!("{k}=…"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Every request: the Host check, the token where one is set, security headers, and a
/// log line (never the token).
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let shown = match request.uri().query() {
        Some(q) => format!("{path}?{}", logged_query(q)),
        None => path.clone(),
    };
    let is_login = path.trim_end_matches('/') == "/login";
    let mut response = if !state.host_allowed(request.headers()) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "casework serve: this server answers only to its own address (the Host header names another)\n",
        )
            .into_response()
    } else if !matches!(method, Method::GET | Method::HEAD) {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "casework serve: pages are read with GET\n",
        )
            .into_response()
    } else if state.config.token.is_none() || is_login || state.presented(request.headers()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "casework serve: this server needs its token (Authorization: Bearer TOKEN, or open /login?token=TOKEN once)\n",
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    eprintln!(
        "{method} {shown} {} {} ms",
        response.status().as_u16(),
        start.elapsed().as_millis()
    );
    response
}

/// Answers kept are at most this large each.
const ANSWER_BYTES: usize = 16 << 20;

/// The key of an answer: the warehouse version, the method, the path and the query's
/// parameters decoded, without empty ones, sorted.
fn answer_key(version: &str, method: &Method, path: &str, query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .filter(|(k, v)| !v.is_empty() && k != "token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    pairs.sort();
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{version} {method} {path}?{q}")
}

/// Serves a GET already answered for the same warehouse version, path and parameters,
/// and keeps every successful GET answer (the warehouse does not change under the
/// server; a new ingest is a new version, so new keys).
async fn remember(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Ok(manifest) = state.config.warehouse.committed() else {
        return next.run(request).await;
    };
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let gzip = wants_gzip(request.headers());
    let key = format!(
        "{}{}",
        answer_key(
            &manifest.version,
            request.method(),
            request.uri().path(),
            request.uri().query(),
        ),
        if gzip { " gzip" } else { "" }
    );
    if let Some((headers, body)) = state.answers.lock().ok().and_then(|a| a.get(&key)) {
        return (headers, body).into_response();
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ANSWER_BYTES).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "casework serve: the page was too large\n",
        )
            .into_response();
    };
    if parts.headers.get(header::SET_COOKIE).is_none()
        && parts.headers.contains_key(header::CONTENT_TYPE)
        && let Ok(mut a) = state.answers.lock()
    {
        let mut kept = HeaderMap::new();
        for name in [header::CONTENT_TYPE, header::CONTENT_ENCODING, header::VARY] {
            if let Some(v) = parts.headers.get(&name) {
                kept.insert(name, v.clone());
            }
        }
        a.insert(key, kept, bytes.clone());
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Text answers (pages, CSV, SVG) of at least this many bytes are gzipped for a client
/// that accepts gzip.
const COMPRESS_BYTES: usize = 1024;

/// Whether a request's `Accept-Encoding` accepts gzip.
fn wants_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip)
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*`, not at `q=0`).
fn accepts_gzip(header: &str) -> bool {
    header.split(',').any(|part| {
        let mut it = part.split(';').map(str::trim);
        let coding = it.next().unwrap_or("");
        let refused = it.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// Gzips a text answer (HTML, CSV, SVG, plain text) for a client that accepts it: the
/// overview of a large study is half a megabyte, a tenth of it gzipped. PNGs are already
/// compressed and go as they are.
async fn compress(request: Request, next: Next) -> Response {
    let gzip = wants_gzip(request.headers());
    let mut response = next.run(request).await;
    let textual = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/") || t.starts_with("image/svg+xml"));
    if !textual || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    response.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if !gzip {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ANSWER_BYTES).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "casework serve: the page was too large\n",
        )
            .into_response();
    };
    if bytes.len() < COMPRESS_BYTES {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    let zipped = match encoder.write_all(&bytes).and_then(|_| encoder.finish()) {
        Ok(z) => z,
        Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_ENCODING,
        header::HeaderValue::from_static("gzip"),
    );
    Response::from_parts(parts, axum::body::Body::from(zipped))
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    token: String,
}

async fn login(State(state): State<Arc<AppState>>, Query(q): Query<LoginQuery>) -> Response {
    let Some(token) = &state.config.token else {
        return redirect("/");
    };
    if !bool::from(q.token.as_bytes().ct_eq(token.as_bytes())) {
        return (StatusCode::UNAUTHORIZED, "casework serve: wrong token\n").into_response();
    }
    // A session of its own, not the token: it ends, and the token is never in a cookie.
    let mut id = [0u8; 32];
    if getrandom::fill(&mut id).is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "casework serve: no randomness for a session\n",
        )
            .into_response();
    }
    let id = hex::encode(id);
    if let Ok(mut s) = state.sessions.lock() {
        let now = Instant::now();
        s.retain(|_, end| *end > now);
        s.insert(id.clone(), now + SESSION_LIFETIME);
    }
    let secure = if state.config.listen.ip().is_loopback() {
        ""
    } else {
        "; Secure"
    };
    let mut r = redirect("/");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "casework_session={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_LIFETIME.as_secs()
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn redirect(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "casework serve: no such page\n").into_response()
}

/// What a page's work gives back.
enum Reply {
    Html(String),
    /// Another page (303 See Other).
    Redirect(String),
    /// A page with another status than 200.
    Status(StatusCode, String),
    File(&'static str, Vec<u8>),
    Text(StatusCode, String),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Html(h) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], h).into_response()
            }
            Reply::Redirect(to) => {
                (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
            }
            Reply::Status(status, h) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                h,
            )
                .into_response(),
            Reply::File(kind, bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
            Reply::Text(status, t) => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                t,
            )
                .into_response(),
        }
    }
}

/// Which permits a page's work waits for.
#[derive(Clone, Copy, PartialEq)]
enum Lane {
    /// Pages answered from the case index (milliseconds of arithmetic): their own
    /// permits, so that they never wait behind a report being built.
    Fast,
    /// Pages that run queries (a report, a delays chart, a table of events): the query
    /// permits, within the one memory pool.
    Query,
    /// A page whose report is built already: no permit.
    Free,
}

/// Runs a page's work on a blocking thread under a permit of its lane and the timeout
/// (the engine's futures need not be `Send`; a page never holds up the server's I/O).
async fn work<F, Fut>(state: Arc<AppState>, lane: Lane, f: F) -> Response
where
    F: FnOnce(Arc<AppState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Reply>>,
{
    let timeout = state.config.timeout;
    let outcome = tokio::time::timeout(timeout, async move {
        let permit = match lane {
            Lane::Free => None,
            Lane::Fast => Some(state.fast.clone().acquire_owned().await),
            Lane::Query => Some(state.permits.clone().acquire_owned().await),
        };
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            handle.block_on(f(state))
        })
        .await
    })
    .await;
    match outcome {
        Ok(Ok(Ok(reply))) => reply.into_response(),
        Ok(Ok(Err(e))) => {
            let status = match e {
                Error::Usage(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Reply::Text(status, format!("casework serve: {e}\n")).into_response()
        }
        Ok(Err(_)) => Reply::Text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "casework serve: the page failed\n".into(),
        )
        .into_response(),
        Err(_) => Reply::Text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "casework serve: the page took longer than {} s; narrow the filters, or try again when the server is less busy\n",
                timeout.as_secs()
            ),
        )
        .into_response(),
    }
}

impl AppState {
    fn inputs<'a>(&'a self, scope: &'a Scope) -> engine::Inputs<'a> {
        engine::Inputs {
            warehouse: &self.config.warehouse,
            codes: &self.config.codes,
            thresholds: &self.config.thresholds,
            scope,
            as_of: self.config.as_of,
            memory_limit: self.config.memory_limit,
            pool: Some(self.pool.clone()),
            engine: &self.config.engine,
            study: &self.config.study,
        }
    }

    fn context<'a>(&'a self, scope: &'a Scope) -> Context<'a> {
        Context {
            scope,
            codes: &self.config.codes,
            thresholds: &self.config.thresholds,
            as_of: self.config.as_of,
            queries: None,
        }
    }

    /// Whether the request's Host is this server's: in loopback mode a loopback name
    /// with the server's port (a page of another site that a DNS name points here gets
    /// nothing), or one of `--allow-host`; any with a token and no `--allow-host`.
    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        if self
            .config
            .allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host))
        {
            return true;
        }
        if !self.config.listen.ip().is_loopback() {
            return self.config.allowed_hosts.is_empty();
        }
        let port = self.port;
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|name| host == format!("{name}:{port}") || (port == 80 && host == *name))
    }

    /// Whether the request carries the token (a bearer header, its scheme in any case)
    /// or a live session's cookie; compared in constant time.
    fn presented(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.config.token else {
            return true;
        };
        let same = |given: &str, want: &str| bool::from(given.as_bytes().ct_eq(want.as_bytes()));
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(char::is_whitespace))
            .is_some_and(|(scheme, value)| {
                scheme.eq_ignore_ascii_case("bearer") && same(value.trim(), token)
            });
        if bearer {
            return true;
        }
        let now = Instant::now();
        let Ok(sessions) = self.sessions.lock() else {
            return false;
        };
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix("casework_session="))
            .any(|id| {
                sessions
                    .iter()
                    .any(|(known, end)| *end > now && same(id, known))
            })
    }

    /// The filter form's choices, from the case index of the committed version.
    async fn choices(&self) -> Result<Arc<pages::Choices>> {
        let index = self.index().await?;
        if let Some((v, c)) = self.choices.lock().ok().and_then(|c| c.clone())
            && v == index.version
        {
            return Ok(c);
        }
        let c = Arc::new(pages::Choices::of(&index)?);
        if let Ok(mut slot) = self.choices.lock() {
            *slot = Some((index.version.clone(), c.clone()));
        }
        Ok(c)
    }

    /// The case index of the committed version, built once per version (a second
    /// request waits for the first's).
    async fn index(&self) -> Result<Arc<CaseIndex>> {
        let version = self.config.warehouse.committed()?.version;
        let mut slot = self.index.lock().await;
        if let Some(i) = slot.as_ref()
            && i.version == version
        {
            return Ok(i.clone());
        }
        let scope = Scope::default();
        let ctx = engine::session(&self.inputs(&scope)).await?;
        let i = Arc::new(CaseIndex::load(&ctx, &version, self.config.codes.themes()).await?);
        *slot = Some(i.clone());
        Ok(i)
    }

    /// The counts of a scope from the index (kept for the last few scopes: a page's
    /// charts ask for the page's scope again).
    async fn counts(&self, scope: &Scope, want: Want) -> Result<(Arc<CaseIndex>, Arc<Counts>)> {
        let index = self.index().await?;
        let key = format!("{} {scope:?}", index.version);
        if let Some(c) = self.counts.find(&key, |c| c.covers(want)) {
            return Ok((index, c));
        }
        let c = Arc::new(index.count(scope, want));
        self.counts.keep(key, c.clone());
        Ok((index, c))
    }

    /// Every measure the case index answers, for a scope.
    async fn index_outputs(&self, scope: &Scope) -> Result<Vec<crate::measures::Output>> {
        let (index, counts) = self.counts(scope, Want::ALL).await?;
        let c = self.context(scope);
        let mut outs = Vec::new();
        for name in CaseIndex::MEASURES {
            if let Some(out) = index.measure(name, &counts, &c)? {
                outs.push(out);
            }
        }
        Ok(outs)
    }

    /// The publication of the committed version, built once per version.
    async fn publication(&self) -> Result<Arc<Publication>> {
        let version = self.config.warehouse.committed()?.version;
        let mut slot = self.publication.lock().await;
        if let Some(p) = slot.as_ref()
            && p.version == version
        {
            return Ok(p.clone());
        }
        // `build` reads every case, whatever the inputs' scope.
        let p = Arc::new(
            crate::publication::build(
                &self.inputs(&Scope::default()),
                &self.config.study.publication,
            )
            .await?,
        );
        *slot = Some(p.clone());
        Ok(p)
    }

    /// Under `--publish`, the view the filters ask for, published; `Err(why)` when the
    /// publication has no such view (a reason that depends on no count: the grid, the
    /// publishable filters, the values the filter form lists). `None` without
    /// `--publish`.
    async fn publishing(
        &self,
        f: &Filters,
    ) -> Result<Option<std::result::Result<Publishing, String>>> {
        if !self.config.publish {
            return Ok(None);
        }
        let publication = self.publication().await?;
        let settings = &publication.settings;
        let mut scope = match f.scope() {
            Ok(s) => s,
            Err(why) => return Ok(Some(Err(why))),
        };
        if f.date_field.is_empty() {
            scope.date_field = settings.date_field;
        }
        let view = match View::of(&scope, settings) {
            Ok(v) => v,
            Err(why) => return Ok(Some(Err(why))),
        };
        if let Unit::Is(filter, value) = &view.unit
            && !publication.values(*filter).contains(value)
        {
            return Ok(Some(Err(format!(
                "no {} {value:?} in the published data; choose one from the list",
                filter.name()
            ))));
        }
        Ok(Some(Ok(Publishing::new(publication, view))))
    }

    /// A scope's key in the caches: the warehouse version and the filters (a published
    /// view's canonical filters).
    fn cache_key(&self, filters: &Filters) -> Result<String> {
        let version = self.config.warehouse.committed()?.version;
        Ok(format!("{version}?{}", filters.query()))
    }

    /// Whether a page of these filters can be served from a built report without any
    /// query.
    fn is_cached(&self, filters: &Filters) -> bool {
        self.cache_key(filters)
            .is_ok_and(|k| self.cache.lock().is_ok_and(|c| c.contains_key(&k)))
    }

    /// The report for a scope, built once (per warehouse version) and kept; for a
    /// published view, from the publication.
    async fn report(&self, filters: &Filters, publish: Option<&Publishing>) -> Result<PathBuf> {
        let filters = match publish {
            Some(p) => Filters::of_view(&p.view),
            None => filters.clone(),
        };
        let key = self.cache_key(&filters)?;
        if let Some(dir) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(dir);
        }
        // The scope first: a request whose filters are wrong leaves nothing behind.
        let scope = pages::scope_of(self, &filters, publish).await?;
        let one = match self.building.lock() {
            Ok(mut b) => b.entry(key.clone()).or_default().clone(),
            Err(_) => Arc::new(tokio::sync::Mutex::new(())),
        };
        // The entry goes when this build ends, however it ends (a waiter keeps its own
        // handle on the lock).
        struct Done<'a>(
            &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
            &'a str,
        );
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                if let Ok(mut b) = self.0.lock() {
                    b.remove(self.1);
                }
            }
        }
        let _done = Done(&self.building, &key);
        let _one = one.lock().await;
        if let Some(dir) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(dir);
        }
        // At most CACHED_VIEWS reports are kept: past that the oldest are removed.
        if let Ok(mut c) = self.cache.lock()
            && c.len() >= CACHED_VIEWS
        {
            let mut dirs: Vec<(String, PathBuf)> = c.drain().collect();
            dirs.sort_by(|a, b| a.1.cmp(&b.1));
            let keep = dirs.split_off(dirs.len() / 2);
            for (_, dir) in dirs {
                let _ = std::fs::remove_dir_all(dir);
            }
            c.extend(keep);
        }
        let n = self
            .built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = self.cache_root.path().join(format!("view{n:09}"));
        let options = crate::report::Options {
            out: dir.clone(),
            title: self.config.study.title.clone(),
            publish: publish.cloned(),
            lists: false,
            comparison: None,
            tracker: None,
            // Serve's own pages: a flagged organisation links to its page here.
            serve_url: Some(String::new()),
            // The measures the case index answers (a third of a national report's
            // time), from it.
            given: self.index_outputs(&scope).await?,
        };
        crate::report::build(&self.inputs(&scope), &options).await?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key.clone(), dir.clone());
        }
        Ok(dir)
    }
}

/// `/organisations?q=TEXT`: the search box's query.
#[derive(Debug, Clone, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<Arc<AppState>>,
    f: Filters,
    Query(q): Query<SearchQuery>,
) -> Response {
    work(state, Lane::Fast, move |s| async move {
        pages::search(&s, &q.q, &f).await
    })
    .await
}

/// How a page's table is ordered and which page of it is shown.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub page: String,
}

async fn case(
    State(state): State<Arc<AppState>>,
    UrlPath(id): UrlPath<String>,
    f: Filters,
) -> Response {
    work(state, Lane::Query, move |s| async move {
        pages::case(&s, &id, &f).await
    })
    .await
}

async fn overview(
    State(state): State<Arc<AppState>>,
    f: Filters,
    Query(p): Query<Paging>,
) -> Response {
    work(state, Lane::Fast, move |s| async move {
        pages::overview(&s, &f, &p).await
    })
    .await
}

async fn report(State(state): State<Arc<AppState>>, f: Filters) -> Response {
    let lane = built_or_query(&state, "", &f);
    work(
        state,
        lane,
        move |s| async move { pages::report(&s, &f).await },
    )
    .await
}

/// `/compare`: the view beside another (`versus_*` fields replace the view's).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Versus {
    #[serde(default)]
    pub versus_organisation: String,
    #[serde(default)]
    pub versus_period: String,
    #[serde(default)]
    pub versus_from: String,
    #[serde(default)]
    pub versus_to: String,
}

async fn compare(
    State(state): State<Arc<AppState>>,
    f: Filters,
    Query(v): Query<Versus>,
) -> Response {
    work(state, Lane::Fast, move |s| async move {
        pages::compare(&s, &f, &v).await
    })
    .await
}

/// A page named in its path (a theme, an organisation, a file), for the filters of its
/// query; `$lane`: the lane of its work, given the state, the name and the filters.
macro_rules! named_page {
    ($handler:ident, $page:path, $lane:expr) => {
        async fn $handler(
            State(state): State<Arc<AppState>>,
            UrlPath(name): UrlPath<String>,
            f: Filters,
        ) -> Response {
            let lane: Lane = $lane(&state, &name, &f);
            work(
                state,
                lane,
                move |s| async move { $page(&s, &name, &f).await },
            )
            .await
        }
    };
}

/// The lane of a page answered from the index.
fn fast(_: &AppState, _: &str, _: &Filters) -> Lane {
    Lane::Fast
}

/// A report or a figure of one: free once the scope's report is built.
fn built_or_query(s: &AppState, _: &str, f: &Filters) -> Lane {
    if s.is_cached(f) {
        Lane::Free
    } else {
        Lane::Query
    }
}

/// A table or chart: from the index when the index has its measure, else a query.
fn by_measure(_: &AppState, file: &str, _: &Filters) -> Lane {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    if pages::from_index(stem) {
        Lane::Fast
    } else {
        Lane::Query
    }
}

named_page!(theme, pages::theme, fast);
named_page!(organisation, pages::organisation, fast);
named_page!(figure, pages::figure, built_or_query);
named_page!(table, pages::table, by_measure);
named_page!(chart, pages::chart, by_measure);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publication::Filter;

    #[test]
    fn answers_are_keyed_on_method_and_normalised_parameters() {
        let a = answer_key("v1", &Method::GET, "/", Some("region=North&from="));
        let b = answer_key("v1", &Method::GET, "/", Some("from=&region=North"));
        let c = answer_key("v1", &Method::GET, "/", Some("region=N%6Frth"));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_ne!(
            a,
            answer_key("v1", &Method::HEAD, "/", Some("region=North"))
        );
        assert_ne!(a, answer_key("v2", &Method::GET, "/", Some("region=North")));
    }

    #[test]
    fn gzip_is_sent_only_where_accepted() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, gzip;q=0.8"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("deflate, br"));
    }

    #[test]
    fn tokens_are_not_logged() {
        assert_eq!(logged_query("a=1&token=secret&b=2"), "a=1&token=…&b=2");
        assert_eq!(logged_query("TOKEN=x"), "TOKEN=…");
    }

    #[test]
    fn repeated_groupings_are_choices_and_exclude_leaves_them_out() {
        let f =
            Filters::parse("region=A&region=B%20C&source=x&organisation=O1&exclude=organisation")
                .unwrap();
        assert_eq!(f.region, "");
        assert_eq!(f.source, "x");
        assert_eq!(f.organisation, "");
        assert_eq!(
            f.choices,
            vec![
                engine::Choice {
                    grouping: engine::Grouping::Organisation,
                    values: vec!["O1".into()],
                    exclude: true,
                },
                engine::Choice {
                    grouping: engine::Grouping::Region,
                    values: vec!["A".into(), "B C".into()],
                    exclude: false,
                },
            ]
        );
        // The query gives the same filters back.
        let again = Filters::parse(&f.query()).unwrap();
        assert_eq!(again.choices, f.choices);
        assert_eq!(again.source, "x");
        // A value repeated is one value; an exclusion without values is refused.
        assert_eq!(Filters::parse("region=A&region=A").unwrap().region, "A");
        assert!(Filters::parse("exclude=region").is_err());
        assert!(Filters::parse("exclude=colour&region=A").is_err());
    }

    #[test]
    fn the_last_12_months_end_with_the_last_month_with_a_case() {
        let f = Filters::parse("period=last-12-months&region=A").unwrap();
        let last = NaiveDate::from_ymd_opt(2024, 3, 1);
        let r = f.resolved(last).unwrap();
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("2023-04-01", "2024-03-31")
        );
        assert_eq!(r.period, "");
        assert_eq!(r.region, "A");
        let dec = f.resolved(NaiveDate::from_ymd_opt(2024, 12, 1)).unwrap();
        assert_eq!(
            (dec.from.as_str(), dec.to.as_str()),
            ("2024-01-01", "2024-12-31")
        );
        assert!(f.resolved(None).is_err());
        assert!(
            Filters::parse("period=last-12-months&from=2024-01-01")
                .unwrap()
                .resolved(last)
                .is_err()
        );
    }

    #[test]
    fn a_view_gives_its_canonical_filters() {
        let v = View {
            period: Period::Quarter(2024, 2),
            unit: Unit::Is(Filter::Organisation, "RJ1".into()),
        };
        let f = Filters::of_view(&v);
        assert_eq!(f.query(), "period=2024-Q2&organisation=RJ1");
    }
}
