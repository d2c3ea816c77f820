//! casework: an analytics pipeline for ombudsman, complaint and patient-safety incident
//! case data. Data flows one way: `bundle` (read) → `validate` (type and check) →
//! `warehouse` (Parquet, manifest, atomic commit); `ingest` runs that flow.

pub mod bundle;
pub mod error;
pub mod ingest;
pub mod reject;
pub mod spec;
pub mod validate;
pub mod warehouse;

pub use error::{Error, Result};
