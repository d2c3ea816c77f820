//! casework: an analytics pipeline for ombudsman, complaint and patient-safety incident
//! case data. Data flows one way: `bundle` (read) → `validate` (type and check) →
//! `warehouse` (Parquet, manifest, atomic commit) → `engine` (DataFusion session) →
//! `measure` (queries/*.sql) → `stats` (published methods); `ingest` runs the first part.

pub mod bundle;
pub mod chart;
pub mod engine;
pub mod error;
pub mod example;
pub mod figures;
pub mod generate;
pub mod ingest;
pub mod limits;
pub mod mapping;
pub mod measure;
pub mod oversight;
pub mod reject;
pub mod report;
pub mod spec;
pub mod stats;
pub mod validate;
pub mod warehouse;

pub use error::{Error, Result};
