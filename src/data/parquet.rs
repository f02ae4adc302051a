//! Event-per-row Parquet: columns `session`, `aid` (int32 or int64), `ts` (int32 seconds
//! or int64 milliseconds) and `type` (integer code 0/1/2 or the OTTO names).
//!
//! Written as int32/int32/uint8 with `ts` as int32 seconds, or int64 milliseconds when the
//! events have milliseconds: the compact form otto-rec converts large JSONL files to once,
//! at the input's precision.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use polars::prelude::*;

use super::atomic::write_atomic;
use crate::domain::{EventType, SessionLog, Timestamp};
use crate::error::{Error, InputProblem, Result};
use crate::progress::Progress;

/// Events per row group when writing.
const ROWS_PER_BATCH: usize = 4_000_000;

/// Reads every value of one column chunk, refusing nulls.
fn read_values<T: DataType>(
    reader: &mut ColumnReaderImpl<T>,
    rows: usize,
    nullable: bool,
    name: &str,
    path: &Path,
) -> Result<Vec<T::T>> {
    let mut values = Vec::with_capacity(rows);
    let mut levels = Vec::with_capacity(if nullable { rows } else { 0 });
    let mut read = 0;
    while read < rows {
        let (records, _, _) = reader
            .read_records(
                rows - read,
                nullable.then_some(&mut levels),
                None,
                &mut values,
            )
            .map_err(|e| bad_column(path, name, e.to_string()))?;
        if records == 0 {
            break;
        }
        read += records;
    }
    if read != rows || values.len() != rows {
        return Err(bad_column(path, name, "has nulls or missing values".into()));
    }
    Ok(values)
}

/// Reads an integer column chunk (int32 or int64) as i64.
fn read_integers(
    column: ColumnReader,
    rows: usize,
    nullable: bool,
    name: &str,
    path: &Path,
) -> Result<Vec<i64>> {
    match column {
        ColumnReader::Int32ColumnReader(mut r) => {
            Ok(read_values(&mut r, rows, nullable, name, path)?
                .into_iter()
                .map(i64::from)
                .collect())
        }
        ColumnReader::Int64ColumnReader(mut r) => read_values(&mut r, rows, nullable, name, path),
        _ => Err(bad_column(path, name, "is not an integer column".into())),
    }
}

fn to_u32(
    values: &[i64],
    first_row: usize,
    name: &str,
    path: &Path,
    out: &mut Vec<u32>,
) -> Result<()> {
    for (i, &v) in values.iter().enumerate() {
        let v = u32::try_from(v).map_err(|_| {
            bad_row(
                path,
                first_row + i,
                format!("{name} {v} is negative or too large"),
            )
        })?;
        out.push(v);
    }
    Ok(())
}

fn bad_column(path: &Path, column: &str, detail: String) -> Error {
    Error::input(
        path,
        InputProblem::BadColumn {
            column: column.to_string(),
            detail,
        },
    )
}

fn bad_row(path: &Path, row: usize, detail: String) -> Error {
    Error::input(path, InputProblem::BadRow { row, detail })
}

/// Reads an event-per-row Parquet file, one row group at a time so memory stays near the
/// compact columns (13 bytes an event) rather than the decoded file. Rows of one session
/// need not be adjacent; within a session, events are ordered by timestamp (stable).
pub fn read_events(path: &Path) -> Result<SessionLog> {
    Ok(group_rows(read_rows(path)?))
}

/// Reads several event-per-row Parquet files as one: the parts of one data set, as a
/// cluster job writes them. A session's events may be spread over several files; events
/// with equal timestamps keep the order of the files, then of the rows.
pub fn read_events_parts(paths: &[PathBuf], progress: &dyn Progress) -> Result<SessionLog> {
    let mut all: Option<Rows> = None;
    for path in paths {
        let rows = read_rows(path)?;
        progress.advance(std::fs::metadata(path).map_or(0, |m| m.len()));
        match &mut all {
            None => all = Some(rows),
            Some(all) => all.append(rows),
        }
    }
    Ok(all.map(group_rows).unwrap_or_default())
}

fn read_rows(path: &Path) -> Result<Rows> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| Error::input(path, InputProblem::NotParquet(e.to_string())))?;
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let find = |name: &str| {
        (0..schema.num_columns())
            .find(|&i| schema.column(i).name() == name)
            .ok_or_else(|| Error::input(path, InputProblem::MissingColumn(name.to_string())))
    };
    let columns = [find("session")?, find("aid")?, find("ts")?, find("type")?];
    let nullable = columns.map(|c| schema.column(c).max_def_level() > 0);
    let total = usize::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    let (mut sessions, mut aids, mut ts, mut millis, mut types) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::new(),
        Vec::with_capacity(total),
    );
    let mut has_millis = false;
    let bad = |e: parquet::errors::ParquetError| {
        Error::input(
            path,
            InputProblem::NotParquet(format!("unreadable row group: {e}")),
        )
    };
    for g in 0..meta.num_row_groups() {
        let group = reader.get_row_group(g).map_err(bad)?;
        let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        let first_row = sessions.len();
        let column = |i: usize| group.get_column_reader(columns[i]).map_err(bad);
        to_u32(
            &read_integers(column(0)?, rows, nullable[0], "session", path)?,
            first_row,
            "session",
            path,
            &mut sessions,
        )?;
        to_u32(
            &read_integers(column(1)?, rows, nullable[1], "aid", path)?,
            first_row,
            "aid",
            path,
            &mut aids,
        )?;
        for (i, t) in read_integers(column(2)?, rows, nullable[2], "ts", path)?
            .into_iter()
            .enumerate()
        {
            let stamp = u64::try_from(t)
                .ok()
                .and_then(Timestamp::from_otto)
                .ok_or_else(|| {
                    bad_row(path, first_row + i, format!("timestamp {t} out of range"))
                })?;
            if stamp.millis != 0 && !has_millis {
                has_millis = true;
                millis.resize(ts.len(), 0);
            }
            ts.push(stamp.seconds);
            if has_millis {
                millis.push(stamp.millis);
            }
        }
        match column(3)? {
            ColumnReader::ByteArrayColumnReader(mut r) => {
                for (i, name) in read_values(&mut r, rows, nullable[3], "type", path)?
                    .iter()
                    .enumerate()
                {
                    let text = std::str::from_utf8(name.data()).unwrap_or("");
                    types.push(EventType::from_name(text).ok_or_else(|| {
                        bad_row(path, first_row + i, format!("unknown event type {text:?}"))
                    })?);
                }
            }
            other => {
                for (i, code) in read_integers(other, rows, nullable[3], "type", path)?
                    .into_iter()
                    .enumerate()
                {
                    types.push(EventType::from_code(code).ok_or_else(|| {
                        bad_row(
                            path,
                            first_row + i,
                            format!("unknown event type code {code}"),
                        )
                    })?);
                }
            }
        }
    }
    Ok(Rows {
        sessions,
        aids,
        ts,
        millis,
        types,
    })
}

/// Event rows as read, one entry per event (`millis` empty: whole seconds).
struct Rows {
    sessions: Vec<u32>,
    aids: Vec<u32>,
    ts: Vec<u32>,
    millis: Vec<u16>,
    types: Vec<EventType>,
}

impl Rows {
    /// Appends `other`'s rows after these.
    fn append(&mut self, mut other: Rows) {
        if self.millis.is_empty() != other.millis.is_empty() {
            self.millis.resize(self.ts.len(), 0);
            other.millis.resize(other.ts.len(), 0);
        }
        self.sessions.append(&mut other.sessions);
        self.aids.append(&mut other.aids);
        self.ts.append(&mut other.ts);
        self.millis.append(&mut other.millis);
        self.types.append(&mut other.types);
    }

    fn permute(&self, order: &[usize]) -> Rows {
        let take = |v: &[u32]| order.iter().map(|&i| v[i]).collect::<Vec<u32>>();
        Rows {
            sessions: take(&self.sessions),
            aids: take(&self.aids),
            ts: take(&self.ts),
            millis: if self.millis.is_empty() {
                Vec::new()
            } else {
                order.iter().map(|&i| self.millis[i]).collect()
            },
            types: order.iter().map(|&i| self.types[i]).collect(),
        }
    }
}

/// Groups event rows into sessions. Rows sorted by session (as OTTO's Parquet files are)
/// become the log's columns without a copy; other orders are sorted by session first.
/// Within a session, events are put in time order (stable).
fn group_rows(rows: Rows) -> SessionLog {
    if !rows.sessions.is_sorted() {
        let mut order: Vec<usize> = (0..rows.sessions.len()).collect();
        order.sort_by_key(|&i| rows.sessions[i]);
        return group_rows(rows.permute(&order));
    }
    let sessions = rows.sessions;
    let mut log = SessionLog {
        session_ids: Vec::new(),
        offsets: vec![0],
        aids: rows.aids,
        ts: rows.ts,
        millis: rows.millis,
        types: rows.types,
    };
    let mut start = 0;
    while start < sessions.len() {
        let id = sessions[start];
        let end = start + sessions[start..].partition_point(|&s| s == id);
        let key = |i: usize| (log.ts[i], log.millis.get(i).copied().unwrap_or(0));
        if !(start + 1..end).all(|i| key(i - 1) <= key(i)) {
            let mut order: Vec<usize> = (start..end).collect();
            order.sort_by_key(|&i| key(i));
            let a: Vec<u32> = order.iter().map(|&i| log.aids[i]).collect();
            let t: Vec<u32> = order.iter().map(|&i| log.ts[i]).collect();
            let y: Vec<EventType> = order.iter().map(|&i| log.types[i]).collect();
            log.aids[start..end].copy_from_slice(&a);
            log.ts[start..end].copy_from_slice(&t);
            log.types[start..end].copy_from_slice(&y);
            if !log.millis.is_empty() {
                let m: Vec<u16> = order.iter().map(|&i| log.millis[i]).collect();
                log.millis[start..end].copy_from_slice(&m);
            }
        }
        log.session_ids.push(id);
        log.offsets.push(end);
        start = end;
    }
    log
}

/// An id column: int32 while every id fits it, int64 otherwise (ids of real logs may be
/// anywhere in u32; every Parquet reader takes both).
fn id_column(name: &str, ids: impl Iterator<Item = u32>, wide: bool) -> Column {
    if wide {
        Column::new(name.into(), ids.map(i64::from).collect::<Vec<i64>>())
    } else {
        Column::new(name.into(), ids.map(|v| v as i32).collect::<Vec<i32>>())
    }
}

/// Which id columns of `log` need int64: (sessions, aids).
fn wide_ids(log: &SessionLog) -> (bool, bool) {
    let wide = |ids: &[u32]| ids.iter().any(|&v| v > i32::MAX as u32);
    (wide(&log.session_ids), wide(&log.aids))
}

fn events_frame(
    log: &SessionLog,
    sessions: std::ops::Range<usize>,
    (wide_sessions, wide_aids): (bool, bool),
) -> PolarsResult<DataFrame> {
    let events = log.offsets[sessions.start]..log.offsets[sessions.end];
    let session_col = id_column(
        "session",
        sessions.flat_map(|i| {
            std::iter::repeat_n(log.session_ids[i], log.offsets[i + 1] - log.offsets[i])
        }),
        wide_sessions,
    );
    let aid = id_column("aid", log.aids[events.clone()].iter().copied(), wide_aids);
    let kind: Vec<u8> = log.types[events.clone()].iter().map(|&t| t as u8).collect();
    let ts = if log.has_millis() {
        let ms: Vec<i64> = events
            .map(|e| log.ts[e] as i64 * 1000 + log.millis[e] as i64)
            .collect();
        Column::new("ts".into(), ms)
    } else {
        let seconds: Vec<i32> = log.ts[events].iter().map(|&t| t as i32).collect();
        Column::new("ts".into(), seconds)
    };
    DataFrame::new_infer_height(vec![session_col, aid, ts, Column::new("type".into(), kind)])
}

/// Writes events one row per event (`session`, `aid` int32, or int64 when an id needs it;
/// `ts` int32 seconds, or int64 milliseconds when the log has milliseconds; `type`
/// uint8), atomically, in row groups so memory stays bounded.
pub fn write_events(log: &SessionLog, path: &Path) -> Result<()> {
    let wide = wide_ids(log);
    write_atomic(path, |out| {
        let first = events_frame(log, 0..0, wide).map_err(|e| Error::polars(path, e))?;
        let mut writer = ParquetWriter::new(out)
            .batched(first.schema())
            .map_err(|e| Error::polars(path, e))?;
        let mut start = 0;
        while start < log.len() {
            let mut end = start;
            while end < log.len() && log.offsets[end] - log.offsets[start] < ROWS_PER_BATCH {
                end += 1;
            }
            let frame = events_frame(log, start..end, wide).map_err(|e| Error::polars(path, e))?;
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
    fn ids_beyond_int32_round_trip_through_int64_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.parquet");
        let mut log = SessionLog::new();
        let t = [1_661_200_000, 1_661_200_005];
        log.push_session(u32::MAX, &[u32::MAX, 1 << 31], &t, &[EventType::Click; 2]);
        log.push_session(7, &[3, 4], &t, &[EventType::Cart; 2]);
        write_events(&log, &path).unwrap();
        let back = read_events(&path).unwrap();
        assert_eq!(back.session_ids, vec![7, u32::MAX], "sessions in id order");
        assert_eq!(back.aids, vec![3, 4, u32::MAX, 1 << 31]);
    }

    #[test]
    fn millisecond_timestamps_and_type_names_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kaggle.parquet");
        let mut df = df![
            "session" => [2i64, 1, 2],
            "aid" => [5i64, 6, 7],
            "ts" => [1_661_200_010_000i64, 1_661_200_000_001, 1_661_200_020_500],
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
        assert_eq!(log.millis, vec![1, 0, 500]);
        assert_eq!(
            log.types,
            vec![EventType::Cart, EventType::Click, EventType::Order]
        );
        // Written back, the milliseconds survive.
        let again = dir.path().join("again.parquet");
        write_events(&log, &again).unwrap();
        assert_eq!(read_events(&again).unwrap(), log);
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
