//! The manifest: the committed state of a warehouse (every table's files and rows, and
//! what each ingest did), as written to `manifest.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::ConfigSource;

/// The committed state, as written to `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    /// The version folder holding the committed files.
    pub version: String,
    pub tables: BTreeMap<String, TableFiles>,
    pub ingests: Vec<IngestRecord>,
    /// Whether the committed files may carry an order claim (`sorting_columns`) in their
    /// Parquet metadata. Warehouses written before this field existed (it is absent, so it
    /// reads as true) declared `case_id` order on every row group, though row groups were
    /// sorted only within themselves: DataFusion took that as the whole file's order and
    /// miscounted (issue 13). Readers do not trust such files ([`Manifest::order_claims_untrusted`]);
    /// the next ingest rewrites them without the claim. casework now writes `false`.
    #[serde(default = "legacy_order_claims")]
    pub files_may_claim_order: bool,
    /// Whether every file has the `case_key` column (the integer case key the measures
    /// join on). Warehouses written before it existed (absent: false) are read with
    /// `case_id` standing in for it; the next ingest rewrites their files with keys.
    #[serde(default)]
    pub case_keys: bool,
    /// The revision of casework's own Parquet encoder that wrote every committed file
    /// (`parquet_file::ENCODER_REVISION`; each file also names it in its
    /// key-value metadata, with casework's version). Absent: revision 1, before the field
    /// existed. An ingest over files of an earlier revision rewrites them, so one
    /// warehouse holds files of one revision.
    #[serde(default = "first_encoder_revision")]
    pub encoder_revision: u32,
}

fn legacy_order_claims() -> bool {
    true
}

fn first_encoder_revision() -> u32 {
    1
}

impl Manifest {
    /// True when the files may declare an order they do not have: the engine must not
    /// take any order, or anything else, from their metadata.
    pub fn order_claims_untrusted(&self) -> bool {
        self.files_may_claim_order
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableFiles {
    /// Paths relative to the warehouse root.
    pub files: Vec<String>,
    pub rows: u64,
}

/// Rows read, stored and rejected for one record type in one ingest.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub read: u64,
    pub stored: u64,
    pub rejected: u64,
}

/// An input file of an ingest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputFile {
    pub record_type: String,
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What one ingest did, kept in the manifest's `ingests` list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestRecord {
    pub number: u32,
    /// UTC, RFC 3339.
    pub time: String,
    pub casework_version: String,
    pub bundle: String,
    pub inputs: Vec<InputFile>,
    pub counts: BTreeMap<String, Counts>,
    /// Cases already in the warehouse that this ingest replaced (with their other rows).
    pub replaced_cases: u64,
    pub policy: String,
    pub pseudonymised: bool,
    pub code_list: ConfigSource,
    pub thresholds: ConfigSource,
}
