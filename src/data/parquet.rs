//! Event-per-row Parquet: columns `session`, `aid` (int32 or int64), `ts` (int32 seconds
//! or int64 milliseconds) and `type` (integer code 0/1/2 or the OTTO names).
//!
//! Written as int32/int32/int32 seconds/uint8, the compact form otto-rec converts large
//! JSONL files to once.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::atomic::write_atomic;
use super::{EventType, SessionLog, to_seconds};
use crate::error::{Error, Result};

/// Events per row group when writing.
const ROWS_PER_BATCH: usize = 4_000_000;

fn column_i64(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<i64>> {
    let column = df
        .column(name)
        .map_err(|_| Error::invalid_input(path, format!("missing column `{name}`")))?;
    if column.null_count() > 0 {
        return Err(Error::invalid_input(
            path,
            format!("column `{name}` has nulls"),
        ));
    }
    let cast = column.cast(&DataType::Int64).map_err(|e| {
        Error::invalid_input(
            path,
            format!("column `{name}` is not an integer column: {e}"),
        )
    })?;
    let values = cast.i64().map_err(|e| Error::polars(path, e))?;
    Ok(values.into_no_null_iter().collect())
}

fn column_types(df: &DataFrame, path: &Path) -> Result<Vec<EventType>> {
    let column = df
        .column("type")
        .map_err(|_| Error::invalid_input(path, "missing column `type`"))?;
    if column.null_count() > 0 {
        return Err(Error::invalid_input(path, "column `type` has nulls"));
    }
    if column.dtype() == &DataType::String {
        let names = column.str().map_err(|e| Error::polars(path, e))?;
        names
            .iter()
            .enumerate()
            .map(|(row, name)| {
                let name = name.unwrap_or_default();
                EventType::from_name(name).ok_or_else(|| {
                    Error::invalid_input(path, format!("row {row}: unknown event type {name:?}"))
                })
            })
            .collect()
    } else {
        column_i64(df, "type", path)?
            .into_iter()
            .enumerate()
            .map(|(row, code)| {
                EventType::from_code(code).ok_or_else(|| {
                    Error::invalid_input(path, format!("row {row}: unknown event type code {code}"))
                })
            })
            .collect()
    }
}

fn to_u32(values: Vec<i64>, name: &str, path: &Path) -> Result<Vec<u32>> {
    values
        .into_iter()
        .enumerate()
        .map(|(row, v)| {
            u32::try_from(v).map_err(|_| {
                Error::invalid_input(
                    path,
                    format!("row {row}: {name} {v} is negative or too large"),
                )
            })
        })
        .collect()
}

/// Reads an event-per-row Parquet file. Rows of one session need not be adjacent; within a
/// session, events are ordered by timestamp (stable).
pub fn read_events(path: &Path) -> Result<SessionLog> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let df = ParquetReader::new(file)
        .with_columns(Some(vec![
            "session".into(),
            "aid".into(),
            "ts".into(),
            "type".into(),
        ]))
        .finish()
        .map_err(|e| {
            Error::invalid_input(path, format!("not a readable event Parquet file: {e}"))
        })?;
    let sessions = to_u32(column_i64(&df, "session", path)?, "session", path)?;
    let aids = to_u32(column_i64(&df, "aid", path)?, "aid", path)?;
    let ts = column_i64(&df, "ts", path)?
        .into_iter()
        .enumerate()
        .map(|(row, t)| {
            u64::try_from(t)
                .ok()
                .and_then(|t| u32::try_from(to_seconds(t)).ok())
                .ok_or_else(|| {
                    Error::invalid_input(path, format!("row {row}: timestamp {t} out of range"))
                })
        })
        .collect::<Result<Vec<u32>>>()?;
    let types = column_types(&df, path)?;
    drop(df);
    Ok(group_rows(&sessions, &aids, &ts, &types))
}

/// Groups event rows into sessions, keeping the first-seen order of session ids when rows
/// are already grouped and sorting by session id otherwise.
fn group_rows(sessions: &[u32], aids: &[u32], ts: &[u32], types: &[EventType]) -> SessionLog {
    let grouped = sessions.windows(2).all(|w| w[0] <= w[1]);
    let order: Option<Vec<usize>> = (!grouped).then(|| {
        let mut order: Vec<usize> = (0..sessions.len()).collect();
        order.sort_by_key(|&i| sessions[i]);
        order
    });
    let at = |i: usize| order.as_ref().map_or(i, |o| o[i]);
    let mut log = SessionLog::new();
    let (mut a, mut t, mut y) = (Vec::new(), Vec::new(), Vec::new());
    let mut start = 0;
    while start < sessions.len() {
        let id = sessions[at(start)];
        let mut end = start;
        a.clear();
        t.clear();
        y.clear();
        while end < sessions.len() && sessions[at(end)] == id {
            let row = at(end);
            a.push(aids[row]);
            t.push(ts[row]);
            y.push(types[row]);
            end += 1;
        }
        log.push_session(id, &a, &t, &y);
        start = end;
    }
    log
}

fn events_frame(log: &SessionLog, sessions: std::ops::Range<usize>) -> PolarsResult<DataFrame> {
    let events = log.offsets[sessions.start]..log.offsets[sessions.end];
    let mut session_col = Vec::with_capacity(events.len());
    for i in sessions {
        let n = log.offsets[i + 1] - log.offsets[i];
        session_col.extend(std::iter::repeat_n(log.session_ids[i] as i32, n));
    }
    let aid: Vec<i32> = log.aids[events.clone()].iter().map(|&a| a as i32).collect();
    let ts: Vec<i32> = log.ts[events.clone()].iter().map(|&t| t as i32).collect();
    let kind: Vec<u8> = log.types[events].iter().map(|&t| t as u8).collect();
    df![
        "session" => session_col,
        "aid" => aid,
        "ts" => ts,
        "type" => kind,
    ]
}

/// Writes events one row per event (`session`, `aid` int32; `ts` int32 seconds; `type`
/// uint8), atomically, in row groups so memory stays bounded.
pub fn write_events(log: &SessionLog, path: &Path) -> Result<()> {
    write_atomic(path, |out| {
        let first = events_frame(log, 0..0).map_err(|e| Error::polars(path, e))?;
        let mut writer = ParquetWriter::new(out)
            .batched(first.schema())
            .map_err(|e| Error::polars(path, e))?;
        let mut start = 0;
        while start < log.len() {
            let mut end = start;
            while end < log.len() && log.offsets[end] - log.offsets[start] < ROWS_PER_BATCH {
                end += 1;
            }
            let frame = events_frame(log, start..end).map_err(|e| Error::polars(path, e))?;
            writer
                .write_batch(&frame)
                .map_err(|e| Error::polars(path, e))?;
            start = end;
        }
        writer.finish().map_err(|e| Error::polars(path, e))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SessionLog {
        let mut log = SessionLog::new();
        log.push_session(
            3,
            &[10, 11, 10],
            &[1_661_200_000, 1_661_200_005, 1_661_200_009],
            &[EventType::Click, EventType::Cart, EventType::Order],
        );
        log.push_session(4, &[12], &[1_661_200_100], &[EventType::Click]);
        log
    }

    #[test]
    fn parquet_round_trip_gives_back_the_same_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        write_events(&sample(), &path).unwrap();
        assert_eq!(read_events(&path).unwrap(), sample());
    }

    #[test]
    fn millisecond_timestamps_and_type_names_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kaggle.parquet");
        let mut df = df![
            "session" => [2i64, 1, 2],
            "aid" => [5i64, 6, 7],
            "ts" => [1_661_200_010_000i64, 1_661_200_000_000, 1_661_200_020_500],
            "type" => ["clicks", "carts", "orders"],
        ]
        .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let log = read_events(&path).unwrap();
        assert_eq!(log.session_ids, vec![1, 2]);
        assert_eq!(log.aids, vec![6, 5, 7]);
        assert_eq!(log.ts, vec![1_661_200_000, 1_661_200_010, 1_661_200_020]);
        assert_eq!(
            log.types,
            vec![EventType::Cart, EventType::Click, EventType::Order]
        );
    }

    #[test]
    fn unknown_type_code_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let mut df = df![
            "session" => [1i32], "aid" => [5i32], "ts" => [1_661_200_000i32], "type" => [7u8],
        ]
        .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let err = read_events(&path).unwrap_err();
        assert!(
            err.to_string().contains("unknown event type code 7"),
            "{err}"
        );
    }
}
