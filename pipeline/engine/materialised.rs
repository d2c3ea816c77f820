//! A shared view computed once per session.
//!
//! DataFusion computes a view again wherever a query names it. The shared view `episodes`
//! (one grouped pass over every event, the measures' largest piece of work) is read by
//! `episode_intervals` and so by `delay_intervals`, `delay_coded_vs_measured` (twice) and
//! the report's delays chart: four computations of the same rows in one `casework
//! report`. [`Materialised`] stands in for such a view: at its first scan it runs the
//! view once, and every scan (that one included) reads the rows it kept. They are kept
//! in memory while they fit in a quarter of the session's memory pool (reserved there
//! for the session's life: an `episodes` of a million cases takes about 150 MB); past
//! that, every partition is written as Parquet into a private temporary folder, removed
//! with the session. Writing and reading back Parquet cost a third of `delay_intervals`'
//! time at a million cases (docs/benchmarks.md); the files are for what does not fit.
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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryReservation};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

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
    /// The memory its rows take when kept in memory, reserved in the session's pool
    /// for as long as the session lasts.
    held: std::sync::Mutex<Vec<MemoryReservation>>,
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
            held: std::sync::Mutex::new(Vec::new()),
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
                self.compute(state).await
            })
            .await
    }

    /// Runs the view: its rows kept in memory while they fit in a quarter of the
    /// session's memory pool (reserved there for the session's life), else written as
    /// Parquet into the private folder, each partition to its own file.
    async fn compute(&self, state: &SessionState) -> Result<Arc<dyn TableProvider>> {
        let plan = state.create_physical_plan(&self.plan).await?;
        // The rows' schema (a MemTable checks its batches against it); the files are
        // read with the view's own, as the table declares it.
        let schema = plan.schema();
        // Files of an earlier attempt that failed are not this one's.
        for entry in std::fs::read_dir(self.dir.path())? {
            std::fs::remove_file(entry?.path())?;
        }
        let task = state.task_ctx();
        let pool = Arc::clone(&task.runtime_env().memory_pool);
        let budget = match pool.memory_limit() {
            MemoryLimit::Finite(n) => n / 4,
            MemoryLimit::Infinite | MemoryLimit::Unknown => usize::MAX,
        };
        let shared = Arc::new(Shared {
            used: AtomicUsize::new(0),
            spilled: AtomicBool::new(false),
            budget,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..plan.properties().output_partitioning().partition_count() {
            let stream = plan.execute(i, Arc::clone(&task))?;
            let reservation =
                MemoryConsumer::new(format!("materialised view [{i}]")).register(&pool);
            let path = self.dir.path().join(format!("part-{i}.parquet"));
            let shared = Arc::clone(&shared);
            tasks.spawn(
                async move { Partition::gather(i, stream, reservation, path, &shared).await },
            );
        }
        let mut parts: Vec<Partition> = Vec::new();
        while let Some(done) = tasks.join_next().await {
            parts.push(done.map_err(|e| DataFusionError::External(Box::new(e)))??);
        }
        parts.sort_by_key(|p| p.index);
        if shared.spilled.load(Ordering::Relaxed) {
            // Written, the partitions that were still in memory too.
            for p in &mut parts {
                p.write(None, &shared)?;
                p.close()?;
            }
            let url = format!("{}/", self.dir.path().display());
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new(ListingTableUrl::parse(&url)?)
                .with_listing_options(options)
                .with_schema(self.schema());
            return Ok(Arc::new(ListingTable::try_new(config)?));
        }
        let mut batches = Vec::with_capacity(parts.len().max(1));
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for p in parts {
            batches.push(p.batches);
            held.push(p.reservation);
        }
        if batches.is_empty() {
            batches.push(Vec::new());
        }
        Ok(Arc::new(MemTable::try_new(schema, batches)?))
    }
}

/// What the partitions of one computation share: the memory their rows take, and
/// whether any has gone to disk (then all do).
struct Shared {
    used: AtomicUsize,
    spilled: AtomicBool,
    budget: usize,
}

/// One partition's rows: in memory (with their reservation), or written to `path`.
struct Partition {
    index: usize,
    batches: Vec<RecordBatch>,
    reservation: MemoryReservation,
    path: std::path::PathBuf,
    writer: Option<ArrowWriter<std::fs::File>>,
}

impl Partition {
    async fn gather(
        index: usize,
        mut stream: SendableRecordBatchStream,
        reservation: MemoryReservation,
        path: std::path::PathBuf,
        shared: &Shared,
    ) -> Result<Partition> {
        let mut p = Partition {
            index,
            batches: Vec::new(),
            reservation,
            path,
            writer: None,
        };
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if p.writer.is_none() && !shared.spilled.load(Ordering::Relaxed) {
                // The rows' own size (a slice of a larger array counts its share).
                let size: usize = batch
                    .columns()
                    .iter()
                    .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                    .sum();
                let total = shared.used.fetch_add(size, Ordering::Relaxed) + size;
                if total <= shared.budget && p.reservation.try_grow(size).is_ok() {
                    p.batches.push(batch);
                    continue;
                }
                shared.used.fetch_sub(size, Ordering::Relaxed);
                shared.spilled.store(true, Ordering::Relaxed);
            }
            p.write(Some(batch), shared)?;
        }
        p.close()?;
        Ok(p)
    }

    /// Writes the rows held in memory, then `batch`, to the partition's file (opened
    /// on first use), giving back their memory.
    fn write(&mut self, batch: Option<RecordBatch>, shared: &Shared) -> Result<()> {
        let Some(schema) = batch
            .as_ref()
            .or(self.batches.first())
            .map(RecordBatch::schema)
        else {
            return Ok(());
        };
        if self.writer.is_none() {
            let file = std::fs::File::create(&self.path)?;
            self.writer = Some(ArrowWriter::try_new(file, schema, Some(properties()))?);
        }
        if let Some(w) = &mut self.writer {
            for b in self.batches.drain(..).chain(batch) {
                w.write(&b)?;
            }
        }
        shared
            .used
            .fetch_sub(self.reservation.size(), Ordering::Relaxed);
        self.reservation.free();
        Ok(())
    }

    /// Finishes the partition's file, if it has one.
    fn close(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.close()?;
        }
        Ok(())
    }
}

/// LZ4 and row groups of 65,536 rows: cheap to write, small to read.
fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(65_536))
        .build()
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
