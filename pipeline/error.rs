//! The library's error type. Each variant means one thing and says where the problem is
//! (file, and line or position where there is one); an error from another library is
//! kept as the `source`, not flattened into text, so the chain can be printed. The CLI
//! prints the chain once (`casework: error: outer: inner: …`, see [`Error::chain`]) and
//! maps variants to exit codes.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a chart is not drawn: which chart (`spc`, `funnel`, `prevalence`, …), of which
/// theme, the reason, and what to do about it, in a reader's words ("widen the scope")
/// and, for the command line only, its way ("or use --per month"). Displayed as the
/// command line gives it: `spc for delay: too sparse: … (widen the scope, or use --per
/// quarter)`; the report words it for readers (`report::readers_words`).
#[derive(Debug, Clone)]
pub struct NotDrawn {
    pub chart: String,
    pub theme: Option<String>,
    pub reason: String,
    pub advice: Option<&'static str>,
    pub command_line: Option<&'static str>,
}

impl NotDrawn {
    pub fn new(chart: &str, reason: impl Into<String>) -> NotDrawn {
        NotDrawn {
            chart: chart.to_string(),
            theme: None,
            reason: reason.into(),
            advice: None,
            command_line: None,
        }
    }

    /// Of one theme's chart.
    pub fn of(mut self, theme: &str) -> NotDrawn {
        self.theme = Some(theme.to_string());
        self
    }

    /// What to do about it: in a reader's words, and the command line's way.
    pub fn advice(mut self, advice: &'static str, command_line: &'static str) -> NotDrawn {
        self.advice = Some(advice);
        self.command_line = Some(command_line);
        self
    }
}

impl From<NotDrawn> for Error {
    fn from(n: NotDrawn) -> Error {
        Error::NotDrawn(n)
    }
}

impl std::fmt::Display for NotDrawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.chart)?;
        if let Some(t) = &self.theme {
            write!(f, " for {t}")?;
        }
        write!(f, ": {}", self.reason)?;
        match (self.advice, self.command_line) {
            (Some(a), Some(c)) => write!(f, " ({a}, {c})"),
            (Some(a), None) => write!(f, " ({a})"),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file (code list, thresholds, key file, tracker) is unreadable or
    /// wrong.
    #[error("{}: {message}", file.display())]
    Config { file: PathBuf, message: String },

    /// The command was asked for something that does not exist or cannot be done.
    #[error("{0}")]
    Usage(String),

    /// A chart that the data cannot support (an SPC chart with too few points): the
    /// report says why and goes on.
    #[error("{0}")]
    NotDrawn(NotDrawn),

    /// SQL that failed to plan or run.
    #[cfg(feature = "engine")]
    #[error("{}", file.display())]
    Query {
        file: PathBuf,
        #[source]
        source: datafusion::error::DataFusionError,
    },

    /// A measure's SQL (an edited copy, `--queries DIR`) returns rows that do not fit
    /// the measure's row type.
    #[error("{}: {message}", file.display())]
    Columns { file: PathBuf, message: String },

    /// The bundle as a whole cannot be read (not a folder, no cases, ...).
    #[error("bundle {}: {message}", path.display())]
    Bundle { path: PathBuf, message: String },

    /// The warehouse is missing, unreadable or in an unexpected state.
    #[error("warehouse {}: {message}", path.display())]
    Warehouse { path: PathBuf, message: String },

    /// Reading or writing a file or folder failed.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The asynchronous runtime the query engine runs on could not be started.
    #[error("the query engine's runtime could not start")]
    Runtime(#[source] std::io::Error),

    #[cfg(feature = "encoder")]
    #[error("parquet")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("arrow")]
    Arrow(#[from] arrow_schema::ArrowError),

    /// A chart could not be drawn by plotters.
    #[error("chart: {0}")]
    Chart(String),

    /// The report's workbook could not be written.
    #[cfg(feature = "engine")]
    #[error("workbook")]
    Workbook(#[from] rust_xlsxwriter::XlsxError),

    /// A report template could not be loaded or rendered.
    #[cfg(feature = "engine")]
    #[error("report template {name}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },

    #[cfg(feature = "engine")]
    #[error("datafusion")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The error and every source below it, joined by `: `, for printing once at the
    /// edge.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }

    /// The process exit code for this error: 1 configuration or usage, 2 input
    /// rejected, 3 internal or environment (see README, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::NotDrawn(_) | Error::Columns { .. } => {
                1
            }
            Error::Bundle { .. } => 2,
            Error::Warehouse { .. }
            | Error::Io { .. }
            | Error::Runtime(_)
            | Error::Arrow(_)
            | Error::Chart(_) => 3,
            #[cfg(feature = "engine")]
            Error::Query { .. } => 1,
            #[cfg(feature = "encoder")]
            Error::Parquet(_) => 3,
            #[cfg(feature = "engine")]
            Error::DataFusion(_) | Error::Workbook(_) | Error::Template { .. } => 3,
        }
    }
}
