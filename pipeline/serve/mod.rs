//! `casework serve`: the warehouse in a browser, read-only. Every page is rendered on the
//! server from the same measures, statistics and charts as the report (the overview and
//! the theme pages *are* the report's, built for the page's scope), so a figure on a page
//! equals the report's for the same scope. Filters are the page's URL (a plain GET form,
//! no script), so every view is a link.
//!
//! Safety (docs/serve.md): loopback unless told otherwise, and a non-loopback address only
//! with a token; filter values are typed literals in DataFusion expressions, never SQL
//! text; every name from the data is escaped (minijinja's HTML escaping; plotters escapes
//! SVG text); only fixed routes, and file names checked against the files the server
//! wrote; `--publish` applies disclosure control to everything served and refuses views
//! too narrow to publish; a bound on concurrent queries, a timeout per request, one
//! memory pool for all of them.

mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::engine::{self, DateField, Engine, Scope};
use crate::error::{Error, Result};
use crate::measures::{self, Context};
use crate::spec::study::StudyFile;
use crate::spec::{CodeList, Thresholds};
use crate::warehouse::Warehouse;

/// Under `--publish`, the fewest cases a filtered view may hold, and the fewest by which
/// it may differ from the view without any one of its filters (docs/serve.md).
pub const PUBLISH_MIN_CASES: u64 = 50;

/// Reports (one per scope) kept on disk while the server runs; past this the older half
/// is removed.
pub const CACHED_VIEWS: usize = 200;

/// What the server serves and how.
pub struct Config {
    pub warehouse: Warehouse,
    pub codes: CodeList,
    pub thresholds: Thresholds,
    pub study: StudyFile,
    pub as_of: NaiveDate,
    /// The one memory pool all requests' queries share (a fair spill pool).
    pub memory_limit: usize,
    pub engine: Engine,
    pub listen: SocketAddr,
    pub publish: bool,
    /// Required of every request when set (bearer header, or the cookie `/login` sets).
    pub token: Option<String>,
    /// Requests computing at once; others wait (within the timeout).
    pub max_queries: usize,
    pub timeout: Duration,
}

struct AppState {
    config: Config,
    pool: Arc<dyn MemoryPool>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Reports built per scope (the page's filters and the warehouse version).
    cache_root: tempfile::TempDir,
    cache: Mutex<HashMap<String, PathBuf>>,
    /// Answers already given (the warehouse is read-only while served): (warehouse
    /// version, path and query) → content type and body.
    answers: Mutex<HashMap<String, (HeaderValue, axum::body::Bytes)>>,
    /// Reports built so far (names their folders).
    built: std::sync::atomic::AtomicU64,
    /// One build per key at a time.
    building: tokio::sync::Mutex<()>,
    choices: pages::Choices,
}

/// The filters of a page, as its URL gives them (empty fields are no filter).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub date_field: String,
    #[serde(default)]
    pub organisation: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub decision: String,
    /// For charts: the theme of an SPC chart or funnel plot.
    #[serde(default)]
    pub theme: String,
}

impl Filters {
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
        Ok(Scope {
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
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
        q.finish()
    }

    fn pairs(&self) -> [(&'static str, &str); 7] {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("date_field", &self.date_field),
            ("organisation", &self.organisation),
            ("region", &self.region),
            ("source", &self.source),
            ("decision", &self.decision),
        ]
    }

    pub fn is_filtered(&self) -> bool {
        self.pairs()
            .iter()
            .any(|(k, v)| *k != "date_field" && !v.is_empty())
    }

    /// The same filters less one (for the publication rule's parents).
    fn without(&self, field: &str) -> Filters {
        let mut f = self.clone();
        match field {
            "from" => f.from.clear(),
            "to" => f.to.clear(),
            "organisation" => f.organisation.clear(),
            "region" => f.region.clear(),
            "source" => f.source.clear(),
            "decision" => f.decision.clear(),
            _ => {}
        }
        f
    }
}

/// Runs the server until the process is stopped.
pub async fn serve(config: Config) -> Result<()> {
    if !config.listen.ip().is_loopback() && config.token.is_none() {
        return Err(Error::Usage(format!(
            "{} is not a loopback address: give --token-file FILE so that only holders of the token can read the warehouse",
            config.listen
        )));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", config.listen)))?;
    let pool: Arc<dyn MemoryPool> = Arc::new(FairSpillPool::new(config.memory_limit));
    let choices = pages::Choices::load(&config, pool.clone()).await?;
    let state = Arc::new(AppState {
        permits: Arc::new(tokio::sync::Semaphore::new(config.max_queries.max(1))),
        cache_root: tempfile::Builder::new()
            .prefix("casework-serve-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?,
        cache: Mutex::new(HashMap::new()),
        built: std::sync::atomic::AtomicU64::new(0),
        answers: Mutex::new(HashMap::new()),
        building: tokio::sync::Mutex::new(()),
        pool,
        choices,
        config,
    });
    let app = Router::new()
        .route("/", get(overview))
        .route("/theme/{theme}", get(theme))
        .route("/organisation/{code}", get(organisation))
        .route("/figure/{file}", get(figure))
        .route("/table/{file}", get(table))
        .route("/chart/{file}", get(chart))
        .route("/login", get(login))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), remember))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state.clone());
    let login = if state.config.token.is_some() {
        " (log in once at /login?token=TOKEN, or send Authorization: Bearer TOKEN)"
    } else {
        ""
    };
    eprintln!(
        "casework serve: open http://{address}/{login}{}; Ctrl-C stops",
        if state.config.publish {
            " (prepared for publication)"
        } else {
            ""
        }
    );
    axum::serve(listener, app)
        .await
        .map_err(|e| Error::Usage(format!("the server stopped: {e}")))
}

/// Every request: the token where one is set, security headers, and a log line.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    // The token is never logged.
    let shown = match request.uri().query() {
        Some(_) if path == "/login" => format!("{path}?…"),
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let allowed = match &state.config.token {
        None => true,
        Some(token) => path == "/login" || presented(request.headers(), token),
    };
    let mut response = if allowed {
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
    eprintln!(
        "{method} {shown} {} {} ms",
        response.status().as_u16(),
        start.elapsed().as_millis()
    );
    response
}

/// Answers kept: at most this many, each at most 16 MiB.
const ANSWERS: usize = 1000;
const ANSWER_BYTES: usize = 16 << 20;

/// Serves a page already computed for the same warehouse version, path and query, and
/// keeps every successful answer (the warehouse does not change under the server; a new
/// ingest is a new version, so new keys).
async fn remember(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Ok(manifest) = state.config.warehouse.committed() else {
        return next.run(request).await;
    };
    let key = format!("{}{}", manifest.version, request.uri());
    if let Some((kind, body)) = state.answers.lock().ok().and_then(|a| a.get(&key).cloned()) {
        return ([(header::CONTENT_TYPE, kind)], body).into_response();
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
    if let (Some(kind), Ok(mut a)) = (
        parts.headers.get(header::CONTENT_TYPE),
        state.answers.lock(),
    ) {
        if a.len() >= ANSWERS {
            a.clear();
        }
        a.insert(key, (kind.clone(), bytes.clone()));
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Whether the request carries the token (bearer header or cookie), compared in
/// constant time.
fn presented(headers: &HeaderMap, token: &str) -> bool {
    let same = |given: &str| bool::from(given.as_bytes().ct_eq(token.as_bytes()));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(same);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("casework_token="))
        .any(same);
    bearer || cookie
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
    let mut r = redirect("/");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "casework_token={token}; HttpOnly; SameSite=Strict; Path=/"
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
    File(&'static str, Vec<u8>),
    Text(StatusCode, String),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Html(h) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], h).into_response()
            }
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

/// Runs a page's work on a blocking thread under a query permit and the timeout (the
/// engine's futures need not be `Send`; a page never holds up the server's I/O). A page
/// whose report for `cached` filters is already built (and needs no publication check)
/// does not wait for a permit: it runs no query.
async fn work<F, Fut>(state: Arc<AppState>, cached: Option<&Filters>, f: F) -> Response
where
    F: FnOnce(Arc<AppState>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Reply>>,
{
    let timeout = state.config.timeout;
    let free = cached.is_some_and(|f| state.is_cached(f));
    let outcome = tokio::time::timeout(timeout, async move {
        let permit = if free {
            None
        } else {
            Some(state.permits.clone().acquire_owned().await)
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

    /// Cases in a scope.
    async fn cases(&self, scope: &Scope) -> Result<u64> {
        let ctx = engine::session(&self.inputs(scope)).await?;
        let batches = measures::sql_batches(
            &ctx,
            "SELECT COUNT(*) AS n FROM cases",
            Path::new("(serve)"),
            Vec::new(),
        )
        .await?;
        let rows = measures::to_rows(&batches)?;
        Ok(rows
            .first()
            .and_then(|r| r.get("n"))
            .and_then(|v| v.as_u64())
            .unwrap_or(0))
    }

    /// Under `--publish`, why a filtered view may not be shown (docs/serve.md): it holds
    /// fewer than [`PUBLISH_MIN_CASES`] cases, or differs from the view without one of
    /// its filters by 1 to [`PUBLISH_MIN_CASES`] − 1 cases (which differencing the two
    /// would reveal).
    async fn too_narrow(&self, filters: &Filters) -> Result<Option<String>> {
        if !self.config.publish || !filters.is_filtered() {
            return Ok(None);
        }
        let scope = filters.scope().map_err(Error::Usage)?;
        let n = self.cases(&scope).await?;
        if n < PUBLISH_MIN_CASES {
            return Ok(Some(format!(
                "This view holds fewer than {PUBLISH_MIN_CASES} cases: too few to publish its figures (disclosure control). Widen the filters."
            )));
        }
        for field in ["from", "to", "organisation", "region", "source", "decision"] {
            let parent = filters.without(field);
            if parent.query() == filters.query() {
                continue;
            }
            let p = self.cases(&parent.scope().map_err(Error::Usage)?).await?;
            let d = p.saturating_sub(n);
            if d > 0 && d < PUBLISH_MIN_CASES {
                return Ok(Some(format!(
                    "This view differs from the same view without its {field} filter by fewer than {PUBLISH_MIN_CASES} cases, so the two together would reveal a small count: its figures are not published (disclosure control)."
                )));
            }
        }
        Ok(None)
    }

    /// A scope's key in the caches: the warehouse version and the filters.
    fn cache_key(&self, filters: &Filters) -> Result<String> {
        let version = self.config.warehouse.committed()?.version;
        Ok(format!("{version}?{}", filters.query()))
    }

    /// Whether a page of these filters can be served from a built report without any
    /// query: the report is built, and no publication check is due.
    fn is_cached(&self, filters: &Filters) -> bool {
        let checked = self.config.publish && filters.is_filtered();
        !checked
            && self
                .cache_key(filters)
                .is_ok_and(|k| self.cache.lock().is_ok_and(|c| c.contains_key(&k)))
    }

    /// The report for a scope, built once (per warehouse version) and kept.
    async fn report(&self, filters: &Filters) -> Result<PathBuf> {
        let key = self.cache_key(filters)?;
        if let Some(dir) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(dir);
        }
        let _one = self.building.lock().await;
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
        let scope = filters.scope().map_err(Error::Usage)?;
        let options = crate::report::Options {
            out: dir.clone(),
            title: self.config.study.title.clone(),
            publish: self.config.publish,
            comparison: None,
            tracker: None,
        };
        crate::report::build(&self.inputs(&scope), &options).await?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, dir.clone());
        }
        Ok(dir)
    }
}

async fn overview(State(state): State<Arc<AppState>>, Query(f): Query<Filters>) -> Response {
    let key = f.clone();
    work(state, Some(&key), move |s| async move {
        pages::overview(&s, &f).await
    })
    .await
}

/// A page named in its path (a theme, an organisation, a file), for the filters of its
/// query; `$cached`: served without a query permit once its scope's report is built.
macro_rules! named_page {
    ($handler:ident, $page:path, $cached:expr) => {
        async fn $handler(
            State(state): State<Arc<AppState>>,
            UrlPath(name): UrlPath<String>,
            Query(f): Query<Filters>,
        ) -> Response {
            let key = $cached.then(|| f.clone());
            work(state, key.as_ref(), move |s| async move {
                $page(&s, &name, &f).await
            })
            .await
        }
    };
}

named_page!(theme, pages::theme, true);
named_page!(organisation, pages::organisation, false);
named_page!(figure, pages::figure, true);
named_page!(table, pages::table, false);
named_page!(chart, pages::chart, false);
