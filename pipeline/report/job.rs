//! The whole batch job of `casework run`: check and ingest a bundle, then write the
//! report from the warehouse it went into, read with the code list and thresholds that
//! the ingest used and an unrestricted scope.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::engine::{self, Engine, Scope};
use crate::error::Result;
use crate::ingest::{self, Summary};
use crate::warehouse::Warehouse;

use super::{Options, Written, build};

/// What to run.
pub struct Job {
    pub bundle: PathBuf,
    pub warehouse: PathBuf,
    /// The ingest's options (code list, thresholds, mapping, rejects file, limits).
    pub ingest: ingest::Options,
    pub report: Options,
    /// Whether the report is for publication (the warehouse's publication is built
    /// after the ingest).
    pub publish: bool,
    /// The date overdue recommendations are counted on.
    pub as_of: NaiveDate,
}

/// How the job ended.
pub enum Outcome {
    /// Rows or files were rejected: nothing was committed and no report written.
    Rejected(Box<Summary>),
    Written(Written),
}

/// Runs the job; `stage(n, text)` is told as each of its three stages starts.
pub async fn run(job: Job, stage: &dyn Fn(u32, &str)) -> Result<Outcome> {
    stage(
        1,
        &format!("validating and ingesting {}", job.bundle.display()),
    );
    let mut report = job.report;
    // A bundle may carry its own recommendations tracker.
    let bundled_tracker = job.bundle.join("recommendations-tracker.csv");
    if report.tracker.is_none() && bundled_tracker.is_file() {
        report.tracker = Some(bundled_tracker);
    }
    let codes = job.ingest.codes.clone();
    let thresholds = job.ingest.thresholds.clone();
    let study = job.ingest.study.clone();
    let summary = ingest::run(&job.bundle, job.ingest)?;
    if !summary.committed {
        return Ok(Outcome::Rejected(Box::new(summary)));
    }
    stage(2, "measuring and drawing charts");
    let warehouse = Warehouse::new(&job.warehouse);
    let settings = &study.publication;
    let scope = Scope {
        date_field: settings.date_field,
        ..Scope::default()
    };
    let inputs = engine::Inputs {
        warehouse: &warehouse,
        codes: &codes,
        thresholds: &thresholds,
        scope: &scope,
        as_of: job.as_of,
        memory_limit: engine::DEFAULT_MEMORY_LIMIT,
        pool: None,
        engine: &Engine::Local,
        study: &study,
    };
    if job.publish {
        let publication = crate::publication::build(&inputs, settings).await?;
        report.publish = Some(crate::publication::Publishing::new(
            std::sync::Arc::new(publication),
            crate::publication::View::ALL,
        ));
    }
    stage(
        3,
        &format!("writing the report to {}", report.out.display()),
    );
    Ok(Outcome::Written(build(&inputs, &report).await?))
}
