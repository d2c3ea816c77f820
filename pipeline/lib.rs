//! casework: an analytics pipeline for ombudsman, complaint and patient-safety incident
//! case data. Data flows one way: `bundle` (read) → `validate` (type and check) →
//! `warehouse` (Parquet, manifest, atomic commit) → `engine` (DataFusion session) →
//! `measure` (queries/*.sql) → `stats` (published methods); `ingest` runs the first part.
//!
//! Without the default `engine` feature only the reading and checking modules are built
//! (`bundle`, `mapping`, `limits`, `reject`, `spec`, `validate`): the fuzz targets use that.

pub mod bundle;
#[cfg(feature = "engine")]
pub mod chart;
#[cfg(feature = "engine")]
pub mod engine;
pub mod error;
#[cfg(feature = "engine")]
pub mod example;
#[cfg(feature = "engine")]
pub mod figures;
#[cfg(feature = "engine")]
pub mod generate;
#[cfg(feature = "engine")]
pub mod ingest;
pub mod limits;
pub mod mapping;
#[cfg(feature = "engine")]
pub mod measure;
#[cfg(feature = "engine")]
pub mod oversight;
pub mod reject;
#[cfg(feature = "engine")]
pub mod report;
pub mod spec;
#[cfg(feature = "engine")]
pub mod stats;
pub mod validate;
#[cfg(feature = "engine")]
pub mod warehouse;

pub use error::{Error, Result};
