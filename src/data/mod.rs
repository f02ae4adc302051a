//! File formats at the edge of otto-rec: Kaggle OTTO JSONL, event-per-row Parquet, labels,
//! submissions, and atomic output. Readers turn files into the domain's
//! [`SessionLog`](crate::domain::SessionLog); writers keep the input's precision
//! (milliseconds when it had them).

pub mod atomic;
pub mod jsonl;
pub mod labels;
pub mod parquet;
pub mod submission;

use std::path::{Path, PathBuf};

use crate::domain::SessionLog;
use crate::error::{Error, InputProblem, Result};
use crate::progress::{Progress, Unit};

/// Input formats, chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Parquet,
}

impl Format {
    /// The format of `path` from its extension (`.jsonl`/`.json`/`.ndjson`, `.parquet`).
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "json" | "ndjson") => Ok(Format::Jsonl),
            Some("parquet" | "pq") => Ok(Format::Parquet),
            _ => Err(Error::input(path, InputProblem::UnknownFormat)),
        }
    }
}

/// Reads an OTTO event file in either format into a [`SessionLog`].
pub fn read_events(path: &Path, progress: &dyn Progress) -> Result<SessionLog> {
    let format = Format::of(path)?;
    let bytes = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    progress.stage(&format!("reading {}", path.display()), bytes, Unit::Bytes);
    let log = match format {
        Format::Jsonl => jsonl::read_sessions(path, progress),
        Format::Parquet => parquet::read_events(path),
    };
    progress.finish();
    log
}

/// Reads several event files and concatenates their sessions.
pub fn read_all_events(paths: &[PathBuf], progress: &dyn Progress) -> Result<SessionLog> {
    let mut log = SessionLog::new();
    for path in paths {
        let part = read_events(path, progress)?;
        if log.is_empty() {
            log = part;
        } else {
            log.append(&part);
        }
    }
    Ok(log)
}
