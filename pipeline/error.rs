//! The library's error type. Each variant says where the problem is (file, and line or
//! position where there is one); the CLI maps variants to exit codes.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file (code list, thresholds, key file) is unreadable or wrong.
    #[error("{}: {message}", file.display())]
    Config { file: PathBuf, message: String },

    /// The command was asked for something that does not exist or cannot be done.
    #[error("{0}")]
    Usage(String),

    /// SQL that failed to plan or run, with DataFusion's message.
    #[error("{}: {message}", file.display())]
    Query { file: PathBuf, message: String },

    /// The bundle as a whole cannot be read (not a folder, no cases, ...).
    #[error("bundle {}: {message}", path.display())]
    Bundle { path: PathBuf, message: String },

    /// Some input could not be stored; the summary says what and where.
    #[error("{0}")]
    Rejected(String),

    /// The warehouse is missing, unreadable or in an unexpected state.
    #[error("warehouse {}: {message}", path.display())]
    Warehouse { path: PathBuf, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[cfg(feature = "engine")]
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),

    /// A chart could not be drawn.
    #[error("chart: {0}")]
    Chart(String),

    #[cfg(feature = "engine")]
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The process exit code for this error: 1 configuration or usage, 2 input
    /// rejected, 3 internal (see README, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Usage(_) | Error::Query { .. } => 1,
            Error::Bundle { .. } | Error::Rejected(_) => 2,
            Error::Warehouse { .. } | Error::Io { .. } | Error::Arrow(_) | Error::Chart(_) => 3,
            #[cfg(feature = "engine")]
            Error::Parquet(_) | Error::DataFusion(_) => 3,
        }
    }
}
