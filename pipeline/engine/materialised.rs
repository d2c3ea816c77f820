//! A shared view computed once per session.
//!
//! DataFusion computes a view again wherever a query names it. The shared view `episodes`
//! (one grouped pass over every event, the measures' largest piece of work) is read by
//! `episode_intervals` and so by `delay_intervals`, `delay_coded_vs_measured` (twice) and
//! the report's delays chart: four computations of the same rows in one `casework
//! report`. [`Materialised`] stands in for such a view: at its first scan it runs the
//! view once, writing its rows as Parquet into a private temporary folder, and every scan
//! (that one included) reads those files. The folder is removed with the session. The
//! write is an ordinary DataFusion `COPY`, so it spills under the memory limit like any
//! other query.
//!
//! Parquet, not Arrow IPC, though IPC is quicker to write: DataFusion 55 fetches every
//! record batch of the byte range it scans from an IPC file before decoding any
//! (datafusion-datasource-arrow, `source.rs`), which at ten million cases raised the
//! measures' peak memory by half (docs/benchmarks.md); Parquet is read a row group at a
//! time.
//! LZ4 and row groups of 65,536 rows: cheap to write, small to read.
//!
//! Local engine only: a cluster's executors could not read the client's temporary folder
//! (`engine::session` registers the plain view there).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::parquet::{ParquetFormat, ParquetFormatFactory};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::DataFrame;

/// A view whose rows are computed at its first scan and read from temporary files after.
#[derive(Debug)]
pub struct Materialised {
    /// The view's plan, as registered (its schema is the table's).
    plan: LogicalPlan,
    /// Where its rows go; removed when the session (which owns this table) is dropped.
    dir: tempfile::TempDir,
    /// The written rows, once computed. A once-cell: two queries planned at the same time
    /// (`casework serve`) compute the view once, the second waiting for the first.
    table: tokio::sync::OnceCell<Arc<dyn TableProvider>>,
}

impl Materialised {
    pub fn new(plan: LogicalPlan) -> std::io::Result<Materialised> {
        let dir = tempfile::Builder::new()
            .prefix("casework-view-")
            .tempdir()?;
        Ok(Materialised {
            plan,
            dir,
            table: tokio::sync::OnceCell::new(),
        })
    }

    /// The written table, computing the view on the first call.
    async fn table(&self, session: &dyn Session) -> Result<&Arc<dyn TableProvider>> {
        self.table
            .get_or_try_init(|| async {
                let state = session
                    .as_any()
                    .downcast_ref::<SessionState>()
                    .ok_or_else(|| {
                        DataFusionError::Internal("a session other than DataFusion's".into())
                    })?;
                let url = format!("{}/", self.dir.path().display());
                let copy = LogicalPlanBuilder::copy_to(
                    self.plan.clone(),
                    url.clone(),
                    format_as_file_type(Arc::new(ParquetFormatFactory::new())),
                    HashMap::from([
                        ("format.compression".to_string(), "lz4_raw".to_string()),
                        ("format.max_row_group_size".to_string(), "65536".to_string()),
                    ]),
                    vec![],
                )?
                .build()?;
                DataFrame::new(state.clone(), copy).collect().await?;
                let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet");
                let config = ListingTableConfig::new(ListingTableUrl::parse(&url)?)
                    .with_listing_options(options)
                    .with_schema(self.schema());
                Ok(Arc::new(ListingTable::try_new(config)?) as Arc<dyn TableProvider>)
            })
            .await
    }
}

#[async_trait::async_trait]
impl TableProvider for Materialised {
    fn schema(&self) -> SchemaRef {
        Arc::clone(self.plan.schema().inner())
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table(state)
            .await?
            .scan(state, projection, filters, limit)
            .await
    }
}
