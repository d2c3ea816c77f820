//! The example bundle (fourteen cases coded from the PHSO report, see
//! data/examples/phso-imaging-2021/README.md), built into the binary so that
//! `casework run` needs no files.

use std::path::Path;

use crate::error::{Error, Result};

pub const FILES: [(&str, &str); 5] = [
    (
        "cases.csv",
        include_str!("../../data/examples/phso-imaging-2021/cases.csv"),
    ),
    (
        "findings.csv",
        include_str!("../../data/examples/phso-imaging-2021/findings.csv"),
    ),
    (
        "events.csv",
        include_str!("../../data/examples/phso-imaging-2021/events.csv"),
    ),
    (
        "recommendations.csv",
        include_str!("../../data/examples/phso-imaging-2021/recommendations.csv"),
    ),
    (
        "codings.csv",
        include_str!("../../data/examples/phso-imaging-2021/codings.csv"),
    ),
];

/// Writes the example bundle's files into `dir` (which must exist).
pub fn write(dir: &Path) -> Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}
