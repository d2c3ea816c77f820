//! casework: an analytics pipeline for ombudsman, complaint and patient-safety incident
//! case data. One folder per stage; data flows one way, and nothing in a stage imports a
//! stage after it:
//!
//! ```text
//! spec ─► input ─► mapping ─► check ─► warehouse ─► ingest
//!                                          │
//!                                          ▼
//!                     engine ─► measures ─► stats / oversight ─► report ─► (cli)
//! ```
//!
//! - `spec`: the bundle contract (record types, columns, code lists, thresholds, the
//!   reject rules and positions, date formats). No I/O beyond reading its own files.
//! - `input`: locating a bundle and reading CSV, NDJSON and XLSX into raw rows, under the
//!   input limits. A mapped export plugs in through [`input::Layout`].
//! - `mapping`: the mapping TOML (load and check it) and the transform of export rows
//!   into bundle rows; it implements [`input::Layout`].
//! - `check`: the validator: typed values, the spec's rules, Arrow record batches.
//! - `warehouse`: Parquet files, manifest, lock, staging and atomic commit; URL reads.
//! - `ingest`: the job read → check → stage → commit, and its summary.
//! - `engine`: the one place a DataFusion session is built (memory pool, tables, scope,
//!   local or Ballista).
//! - `measures`: the registry of `queries/*.sql`, the runner, the rows.
//! - `stats`: pure statistics with published test vectors (no I/O, no engine, no
//!   imports from any stage): a leaf that `measures` and the stages after it use.
//! - `publication`: the one audited set of tables a warehouse version publishes (views
//!   on a calendar grid, primary and secondary suppression, rounding); every count
//!   `--publish` shows is one of its cells.
//! - `oversight`: funnel and SPC outputs, built on measure rows (published or not).
//! - `report`: figures (rows → chart data), charts (plotters), the report's
//!   composition, templates and workbook.
//! - `demo`: the embedded example bundle and the synthetic generator.
//!
//! The command line is the binary's (`cli/`), not the library's.
//!
//! Without the default `engine` feature only `spec`, `input`, `mapping` and `check` are
//! built (with arrow's two core crates): the fuzz targets use that.

pub mod check;
pub mod error;
pub mod input;
pub mod mapping;
#[cfg(feature = "encoder")]
pub mod parquet_file;
pub mod spec;

#[cfg(feature = "engine")]
pub mod demo;
#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod ingest;
#[cfg(feature = "engine")]
pub mod measures;
#[cfg(feature = "engine")]
pub mod oversight;
#[cfg(feature = "engine")]
pub mod publication;
#[cfg(feature = "engine")]
pub mod report;
#[cfg(feature = "engine")]
pub mod serve;
#[cfg(feature = "engine")]
pub mod stats;
#[cfg(feature = "engine")]
pub mod suggest;
#[cfg(feature = "engine")]
pub mod warehouse;

pub use error::{Error, Result};
