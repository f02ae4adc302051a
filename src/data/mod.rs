//! File formats at the edge of otto-rec: Kaggle OTTO JSONL, event-per-row Parquet, labels,
//! submissions, and atomic output. Readers turn files into the domain's
//! [`SessionLog`]; writers keep the input's precision
//! (milliseconds when it had them).

pub mod atomic;
pub mod jsonl;
pub mod labels;
pub mod logs;
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

/// Reads several event files (a directory stands for its Parquet part files, in name
/// order) into one log. Parquet files are read as the parts of one data set: a session's
/// events may be spread over several of them. With JSONL among the inputs, each file's
/// sessions are appended in turn.
pub fn read_all_events(paths: &[PathBuf], progress: &dyn Progress) -> Result<SessionLog> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(parquet_parts(path)?);
        } else {
            files.push(path.clone());
        }
    }
    let formats = files
        .iter()
        .map(|f| Format::of(f))
        .collect::<Result<Vec<_>>>()?;
    if files.len() > 1 && formats.iter().all(|&f| f == Format::Parquet) {
        let mut bytes = 0;
        for file in &files {
            bytes += std::fs::metadata(file)
                .map_err(|e| Error::io(file, e))?
                .len();
        }
        let what = format!("reading {} Parquet files", files.len());
        progress.stage(&what, bytes, Unit::Bytes);
        let log = parquet::read_events_parts(&files, progress);
        progress.finish();
        return log;
    }
    let mut log = SessionLog::new();
    for path in &files {
        let part = read_events(path, progress)?;
        if log.is_empty() {
            log = part;
        } else {
            log.append(&part);
        }
    }
    Ok(log)
}

/// The Parquet files of directory `dir` (`*.parquet`, `*.pq`; not hidden ones nor
/// `_`-prefixed markers such as Spark's `_SUCCESS`), in name order.
pub fn parquet_parts(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') || !path.is_file() {
            continue;
        }
        if Format::of(&path).is_ok_and(|f| f == Format::Parquet) {
            parts.push(path);
        }
    }
    if parts.is_empty() {
        return Err(Error::input(dir, InputProblem::NoParquetParts));
    }
    parts.sort();
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;
    use crate::domain::EventType;
    use crate::progress::Silent;

    fn part(path: &Path, session: &[i32], aid: &[i32], ts: &[i64]) {
        let mut frame = df![
            "session" => session, "aid" => aid, "ts" => ts, "type" => vec![0u8; session.len()],
        ]
        .unwrap();
        let file = std::fs::File::create(path).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
    }

    /// A directory of part files reads as one data set: a session spread over two files is
    /// one session, and events with equal timestamps keep the order of the files, then of
    /// the rows.
    #[test]
    fn a_directory_of_parquet_parts_is_one_data_set() {
        let dir = tempfile::tempdir().unwrap();
        let t = 1_661_200_000_000i64; // milliseconds
        part(
            &dir.path().join("part-00001.parquet"),
            &[1, 2],
            &[30, 40],
            &[t, t + 5_000],
        );
        part(
            &dir.path().join("part-00000.parquet"),
            &[1, 1, 2],
            &[10, 20, 50],
            &[t, t + 1_000, t + 9_000],
        );
        std::fs::write(dir.path().join("_SUCCESS"), "").unwrap();
        std::fs::write(dir.path().join(".part-00000.parquet.crc"), "x").unwrap();
        let log = read_all_events(&[dir.path().to_path_buf()], &Silent).unwrap();
        assert_eq!(log.session_ids, vec![1, 2]);
        let first = log.session(0);
        // 10 and 30 share a timestamp: part-00000 comes first.
        assert_eq!(first.aids, &[10, 30, 20]);
        assert_eq!(log.session(1).aids, &[40, 50]);
        assert!(log.session(1).types.iter().all(|&k| k == EventType::Click));

        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("_SUCCESS"), "").unwrap();
        let err = read_all_events(&[empty.path().to_path_buf()], &Silent).unwrap_err();
        assert_eq!(err.code(), "no_parquet_files");
        assert_eq!(err.exit_code(), 1);
    }
}
