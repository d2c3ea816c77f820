//! What `casework suggest` reads from the warehouse, and the model's codings it writes
//! back as a new version (never into `findings`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, DictionaryArray, Int32Array, Int64Array, StringArray};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::Level;
use crate::error::{Error, Result};
use crate::spec::{CodeList, RecordType};
use crate::warehouse::{Counts, IngestRecord, InputFile};
use crate::warehouse::{LockWait, Warehouse};

/// The prefix of a model's coder name in `codings`.
pub const MODEL_CODER: &str = "model:";

/// The coded cases with text: the training set.
pub struct Corpus {
    pub case_ids: Vec<String>,
    pub case_keys: Vec<i64>,
    pub texts: Vec<String>,
    /// Each case's label indices (into `names`).
    pub labels: Vec<Vec<usize>>,
    pub names: Vec<String>,
    /// With codes as the labels: each code's theme.
    pub themes: Option<Vec<String>>,
}

use crate::measures::text_column as strings;

/// The cases with text, coded (`coded`) or not, in case-key order: their case_id,
/// case_key and text. A case is coded when it has a finding, or a person (a coder whose
/// name does not start with `model:`) has a row for it in `codings`.
fn texts_sql(coded: bool) -> String {
    format!(
        "SELECT case_id, case_key, narrative FROM cases \
         WHERE narrative IS NOT NULL AND trim(narrative) <> '' AND case_key {} IN ( \
             SELECT case_key FROM findings UNION \
             SELECT case_key FROM codings WHERE coder NOT LIKE '{MODEL_CODER}%') \
         ORDER BY case_key",
        if coded { "" } else { "NOT" }
    )
}

async fn collect(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// The labels at `level`: the code list's codes, or its themes, in its order.
pub fn label_names(codes: &CodeList, level: Level) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in &codes.codes {
        let name = match level {
            Level::Code => &c.code,
            Level::Theme => &c.theme,
        };
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Reads the coded cases that have text ([`texts_sql`]): a case a person coded with no
/// finding was read and found to have none of the codes. Its labels are its findings'
/// codes (or their themes).
pub async fn corpus(ctx: &SessionContext, codes: &CodeList, level: Level) -> Result<Corpus> {
    let names = label_names(codes, level);
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let theme_of: HashMap<&str, &str> = codes
        .codes
        .iter()
        .map(|c| (c.code.as_str(), c.theme.as_str()))
        .collect();
    let mut labels: HashMap<i64, Vec<usize>> = HashMap::new();
    for b in collect(
        ctx,
        "SELECT case_key, CAST(code AS VARCHAR) AS code FROM findings",
    )
    .await?
    {
        let keys = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        let code = strings(b.column(1))?;
        for i in 0..b.num_rows() {
            let c = code.value(i);
            let name = match level {
                Level::Code => c,
                Level::Theme => theme_of.get(c).copied().unwrap_or(c),
            };
            let entry = labels.entry(keys.value(i)).or_default();
            if let Some(&l) = index.get(name)
                && !entry.contains(&l)
            {
                entry.push(l);
            }
        }
    }
    let human =
        format!("SELECT DISTINCT case_key FROM codings WHERE coder NOT LIKE '{MODEL_CODER}%'");
    for b in collect(ctx, &human).await? {
        let keys = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..b.num_rows() {
            labels.entry(keys.value(i)).or_default();
        }
    }
    let themes = (level == Level::Code).then(|| {
        names
            .iter()
            .map(|n| {
                theme_of
                    .get(n.as_str())
                    .map_or(n.clone(), |t| t.to_string())
            })
            .collect()
    });
    let mut corpus = Corpus {
        case_ids: Vec::new(),
        case_keys: Vec::new(),
        texts: Vec::new(),
        labels: Vec::new(),
        names,
        themes,
    };
    for b in collect(ctx, &texts_sql(true)).await? {
        let ids = strings(b.column(0))?;
        let keys = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        let texts = strings(b.column(2))?;
        for i in 0..b.num_rows() {
            let mut ls = labels.remove(&keys.value(i)).unwrap_or_default();
            ls.sort_unstable();
            corpus.case_ids.push(ids.value(i).to_string());
            corpus.case_keys.push(keys.value(i));
            corpus.texts.push(texts.value(i).to_string());
            corpus.labels.push(ls);
        }
    }
    Ok(corpus)
}

/// Streams the uncoded cases with text, `batch` at a time, in case-key order: (case_id,
/// case_key, text) for each.
pub async fn each_uncoded(
    ctx: &SessionContext,
    batch: usize,
    mut each: impl FnMut(Vec<(String, i64, String)>) -> Result<()>,
) -> Result<()> {
    let mut stream = ctx.sql(&texts_sql(false)).await?.execute_stream().await?;
    let mut pending = Vec::with_capacity(batch);
    while let Some(b) = stream.next().await {
        let b = b?;
        let ids = strings(b.column(0))?;
        let keys = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
        let texts = strings(b.column(2))?;
        for i in 0..b.num_rows() {
            pending.push((
                ids.value(i).to_string(),
                keys.value(i),
                texts.value(i).to_string(),
            ));
            if pending.len() == batch {
                each(std::mem::take(&mut pending))?;
            }
        }
    }
    if !pending.is_empty() {
        each(pending)?;
    }
    Ok(())
}

/// One coding row: the case, and the code (None: the model read the case and suggests
/// no code).
pub struct Coding {
    pub case_id: String,
    pub case_key: i64,
    pub code: Option<String>,
}

/// Whether the warehouse's codings already hold this coder.
pub async fn has_coder(ctx: &SessionContext, coder: &str) -> Result<bool> {
    let sql = format!(
        "SELECT count(*) FROM codings WHERE coder = '{}'",
        coder.replace('\'', "''")
    );
    let b = collect(ctx, &sql).await?;
    Ok(b.first()
        .map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0)
        })
        .unwrap_or(0)
        > 0)
}

/// Commits a new version of the warehouse: every committed table as it is, and the
/// codings `rows` of coder `coder` added. The manifest records it as an ingest of the
/// model file (`model_file`), so the version says where its codings came from.
pub fn write_codings(
    warehouse: &Warehouse,
    codes: &CodeList,
    coder: &str,
    rows: &[Coding],
    model_file: &std::path::Path,
    description: &str,
) -> Result<String> {
    let (mut staging, old) = warehouse.begin(LockWait::No)?;
    let Some(old) = old else {
        staging.abort()?;
        return Err(Error::Usage(format!(
            "{}: the warehouse holds nothing yet",
            warehouse.root.display()
        )));
    };
    let result = (|| -> Result<IngestRecord> {
        staging.carry_over(&old, None)?;
        let schema = crate::check::schema(RecordType::Codings);
        let code_values: Vec<&str> = codes.codes.iter().map(|c| c.code.as_str()).collect();
        let position: HashMap<&str, i32> = code_values
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i as i32))
            .collect();
        let stages = Arc::new(StringArray::from(crate::spec::STAGES.to_vec()));
        let code_dict = Arc::new(StringArray::from(code_values.clone()));
        for chunk in rows.chunks(65_536) {
            let keys: Int32Array = chunk
                .iter()
                .map(|r| r.code.as_deref().and_then(|c| position.get(c).copied()))
                .collect();
            let code = DictionaryArray::<Int32Type>::try_new(keys, code_dict.clone())?;
            let stage = DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(vec![None::<i32>; chunk.len()]),
                stages.clone(),
            )?;
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from_iter_values(
                    chunk.iter().map(|r| r.case_id.as_str()),
                )),
                Arc::new(StringArray::from_iter_values(chunk.iter().map(|_| coder))),
                Arc::new(code),
                Arc::new(stage),
                Arc::new(Int64Array::from_iter_values(
                    chunk.iter().map(|r| r.case_key),
                )),
            ];
            let batch = RecordBatch::try_new(schema.clone(), columns)?;
            staging.write("codings", None, &batch)?;
        }
        let version_dir = warehouse.root.join(&old.version);
        for name in [
            crate::warehouse::CODES_FILE,
            crate::warehouse::THRESHOLDS_FILE,
            crate::warehouse::STUDY_FILE,
        ] {
            if let Ok(text) = std::fs::read_to_string(version_dir.join(name)) {
                staging.put_config(name, &text)?;
            }
        }
        let last = old.ingests.last().ok_or_else(|| Error::Warehouse {
            path: warehouse.root.clone(),
            message: "the manifest lists no ingest".into(),
        })?;
        let bytes = std::fs::read(model_file).map_err(|e| Error::io(model_file, e))?;
        let mut counts = std::collections::BTreeMap::new();
        counts.insert(
            "codings".to_string(),
            Counts {
                read: rows.len() as u64,
                stored: rows.len() as u64,
                rejected: 0,
            },
        );
        Ok(IngestRecord {
            number: staging.ingest_number(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            casework_version: env!("CARGO_PKG_VERSION").to_string(),
            bundle: description.to_string(),
            inputs: vec![InputFile {
                record_type: "model".into(),
                file: model_file.display().to_string(),
                sheet: None,
                format: "casework-model".into(),
                bytes: bytes.len() as u64,
                sha256: super::model::Model::sha256(&bytes),
            }],
            counts,
            replaced_cases: 0,
            policy: "suggestions".into(),
            pseudonymised: last.pseudonymised,
            code_list: last.code_list.clone(),
            thresholds: last.thresholds.clone(),
        })
    })();
    match result {
        Ok(record) => Ok(staging.commit(Some(old), record)?.version),
        Err(e) => {
            let _ = staging.abort();
            Err(e)
        }
    }
}

impl Corpus {
    /// The corpus as labelled texts for training.
    pub fn labelled(&self) -> super::Labelled<'_> {
        super::Labelled {
            texts: self.texts.iter().map(String::as_str).collect(),
            labels: self.labels.clone(),
            names: self.names.clone(),
            themes: self.themes.clone(),
        }
    }
}
