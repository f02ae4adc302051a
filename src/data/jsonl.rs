//! Kaggle OTTO JSONL: `{"session":42,"events":[{"aid":0,"ts":1661200010000,"type":"clicks"}]}`.
//!
//! Reading streams the file in blocks of lines that are parsed in parallel, so memory stays
//! proportional to the events kept, not to the JSON text. A malformed line is an error that
//! names the file and the line.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::Deserialize;

use crate::domain::{EventType, Session, SessionLog, Timestamp};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Lines parsed per parallel block.
const BLOCK_LINES: usize = 65_536;

#[derive(Deserialize)]
struct RawSession {
    session: u64,
    events: Vec<RawEvent>,
}

#[derive(Deserialize)]
struct RawEvent {
    aid: u64,
    ts: u64,
    #[serde(rename = "type")]
    kind: EventType,
}

/// One parsed line: session id and its events (seconds and milliseconds).
struct Parsed {
    id: u32,
    aids: Vec<u32>,
    ts: Vec<u32>,
    millis: Vec<u16>,
    types: Vec<EventType>,
}

fn parse_line(text: &str) -> std::result::Result<Parsed, String> {
    let raw: RawSession = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let id = u32::try_from(raw.session)
        .map_err(|_| format!("session id {} does not fit in 32 bits", raw.session))?;
    let n = raw.events.len();
    let mut parsed = Parsed {
        id,
        aids: Vec::with_capacity(n),
        ts: Vec::with_capacity(n),
        millis: Vec::with_capacity(n),
        types: Vec::with_capacity(n),
    };
    for event in raw.events {
        let aid = u32::try_from(event.aid)
            .map_err(|_| format!("aid {} does not fit in 32 bits", event.aid))?;
        let ts = Timestamp::from_otto(event.ts)
            .ok_or_else(|| format!("timestamp {} is out of range", event.ts))?;
        parsed.aids.push(aid);
        parsed.ts.push(ts.seconds);
        parsed.millis.push(ts.millis);
        parsed.types.push(event.kind);
    }
    Ok(parsed)
}

/// Reads a Kaggle OTTO JSONL file. Blank lines are skipped; sessions with no events are kept
/// out (they carry nothing to learn from or score).
pub fn read_sessions(path: &Path, progress: &dyn Progress) -> Result<SessionLog> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut log = read_sessions_from(
        BufReader::with_capacity(1 << 20, file),
        path,
        progress,
        bytes / JSON_BYTES_PER_EVENT,
    )?;
    log.shrink_to_fit();
    Ok(log)
}

/// Bytes of Kaggle JSONL per event (an event is ~50 bytes), to size the columns up front.
const JSON_BYTES_PER_EVENT: u64 = 50;

/// Reads Kaggle OTTO JSONL from any reader; `path` names it in errors.
pub fn read_sessions_from(
    mut reader: impl BufRead,
    path: &Path,
    progress: &dyn Progress,
    expected_events: u64,
) -> Result<SessionLog> {
    let mut log = SessionLog::new();
    log.reserve(expected_events as usize);
    let mut line_no = 0usize;
    let mut block: Vec<(usize, String)> = Vec::with_capacity(BLOCK_LINES);
    let mut spare: Vec<String> = Vec::new();
    loop {
        block.clear();
        while block.len() < BLOCK_LINES {
            let mut line = spare.pop().unwrap_or_default();
            line.clear();
            let read = reader
                .read_line(&mut line)
                .map_err(|e| Error::io(path, e))?;
            if read == 0 {
                break;
            }
            line_no += 1;
            progress.advance(read as u64);
            if !line.trim().is_empty() {
                block.push((line_no, line));
            }
        }
        if block.is_empty() {
            break;
        }
        let parsed: Vec<std::result::Result<Parsed, (usize, String)>> = block
            .par_iter()
            .map(|(no, text)| parse_line(text).map_err(|message| (*no, message)))
            .collect();
        for result in parsed {
            let session = result.map_err(|(line, message)| Error::Parse {
                path: path.to_path_buf(),
                line,
                message,
            })?;
            if !session.aids.is_empty() {
                log.push_session_millis(
                    session.id,
                    &session.aids,
                    &session.ts,
                    &session.millis,
                    &session.types,
                );
            }
        }
        spare.extend(block.drain(..).map(|(_, s)| s));
    }
    Ok(log)
}

/// Writes sessions as Kaggle OTTO JSONL (timestamps in milliseconds, with the log's own
/// milliseconds when it has them).
pub fn write_sessions(log: &SessionLog, out: &mut impl Write) -> std::io::Result<()> {
    let mut line = String::with_capacity(4096);
    for session in log.iter() {
        line.clear();
        format_session(&mut line, session);
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn format_session(line: &mut String, session: Session<'_>) {
    use std::fmt::Write as _;
    let _ = write!(line, "{{\"session\":{},\"events\":[", session.id);
    for i in 0..session.len() {
        if i > 0 {
            line.push(',');
        }
        let _ = write!(
            line,
            "{{\"aid\":{},\"ts\":{},\"type\":\"{}\"}}",
            session.aids[i],
            session.timestamp(i).as_millis(),
            session.types[i].name()
        );
    }
    line.push_str("]}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn parse(text: &str) -> Result<SessionLog> {
        read_sessions_from(text.as_bytes(), Path::new("t.jsonl"), &Silent, 0)
    }

    #[test]
    fn milliseconds_become_seconds_and_type_names_become_codes() {
        let log = parse(
            r#"{"session":42,"events":[{"aid":7,"ts":1661200010000,"type":"clicks"},{"aid":8,"ts":1661200020999,"type":"orders"}]}"#,
        )
        .unwrap();
        assert_eq!(log.session_ids, vec![42]);
        assert_eq!(log.aids, vec![7, 8]);
        assert_eq!(log.ts, vec![1_661_200_010, 1_661_200_020]);
        assert_eq!(log.millis, vec![0, 999]);
        assert_eq!(log.types, vec![EventType::Click, EventType::Order]);
    }

    #[test]
    fn second_timestamps_are_kept_as_they_are() {
        let log =
            parse(r#"{"session":1,"events":[{"aid":1,"ts":1661200010,"type":"carts"}]}"#).unwrap();
        assert_eq!(log.ts, vec![1_661_200_010]);
        assert_eq!(log.types, vec![EventType::Cart]);
    }

    #[test]
    fn malformed_line_is_reported_with_its_line_number() {
        let text = concat!(
            r#"{"session":1,"events":[{"aid":1,"ts":1,"type":"clicks"}]}"#,
            "\n\n",
            r#"{"session":2,"events":[{"aid":1,"ts":1,"type":"views"}]}"#,
            "\n"
        );
        let err = parse(text).unwrap_err();
        match &err {
            Error::Parse { line, .. } => assert_eq!(*line, 3),
            other => panic!("expected a parse error, got {other:?}"),
        }
        assert!(err.to_string().contains("t.jsonl: line 3"), "{err}");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn truncated_json_is_an_error_not_a_panic() {
        let err = parse(r#"{"session":1,"events":[{"aid":1,"#).unwrap_err();
        assert!(matches!(err, Error::Parse { line: 1, .. }));
    }

    #[test]
    fn empty_input_gives_an_empty_log() {
        let log = parse("").unwrap();
        assert!(log.is_empty());
        assert_eq!(log.num_events(), 0);
    }

    #[test]
    fn events_out_of_time_order_are_stably_sorted() {
        let log = parse(
            r#"{"session":3,"events":[{"aid":1,"ts":20,"type":"clicks"},{"aid":2,"ts":10,"type":"clicks"},{"aid":3,"ts":20,"type":"carts"}]}"#,
        )
        .unwrap();
        assert_eq!(log.aids, vec![2, 1, 3]);
    }

    #[test]
    fn written_jsonl_reads_back_identically() {
        let log = parse(concat!(
            r#"{"session":5,"events":[{"aid":1,"ts":1661200010000,"type":"clicks"},{"aid":2,"ts":1661200011017,"type":"carts"}]}"#,
            "\n",
            r#"{"session":6,"events":[{"aid":3,"ts":1661200012000,"type":"orders"}]}"#
        ))
        .unwrap();
        let mut out = Vec::new();
        write_sessions(&log, &mut out).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            text.contains("1661200011017"),
            "milliseconds are kept: {text}"
        );
        assert_eq!(parse(text).unwrap(), log);
    }
}
