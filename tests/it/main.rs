//! casework's integration tests: one test binary (so DataFusion is linked once), one
//! module per area. Every test runs the real `casework` binary in a temporary folder
//! (`common`) and checks outcomes against hand counts, published vectors, planted truth
//! or an independent engine (DuckDB, `tests/reference/`).

mod common;

mod agreement;
mod attacks;
mod ballista;
mod charts;
mod committee;
mod confidentiality;
mod disclosure;
mod docs;
mod explorer;
mod generate;
mod golden;
mod ingest;
mod interop;
mod limits;
mod mapping;
mod measures;
mod order;
mod oversight;
mod properties;
mod report;
mod serve;
mod studies;
mod suggest;
mod warehouse;
