//! Kaggle submission CSV: header `session_type,labels`, three rows per session
//! (`42_clicks,1 2 3`), at most 20 aids each.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use crate::domain::EventType;
use crate::error::{Error, Result};
use crate::metric::{CUTOFF, Predictions};

/// Writes the submission header.
pub fn write_header(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(b"session_type,labels\n")
}

/// Writes the three rows of one session; aids beyond 20 are not written.
pub fn write_session(
    out: &mut impl Write,
    session: u32,
    per_type: [&[u32]; 3],
) -> std::io::Result<()> {
    // Each row is put together in one buffer and written at once: `write!` per number
    // costs more than the rest of a batch's output.
    let mut row = Vec::with_capacity(16 + CUTOFF * 11);
    for kind in EventType::ALL {
        row.clear();
        push_decimal(&mut row, session);
        row.push(b'_');
        row.extend_from_slice(kind.name().as_bytes());
        row.push(b',');
        for (i, &aid) in per_type[kind.index()].iter().take(CUTOFF).enumerate() {
            if i > 0 {
                row.push(b' ');
            }
            push_decimal(&mut row, aid);
        }
        row.push(b'\n');
        out.write_all(&row)?;
    }
    Ok(())
}

/// Appends `value` in decimal.
fn push_decimal(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Reads a submission CSV; a malformed row is reported with its line number.
pub fn read_submission(path: &Path) -> Result<Predictions> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut predictions = Predictions::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        let line_no = i + 1;
        let fail = |message: String| Error::Parse {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        if i == 0 {
            if line.trim() != "session_type,labels" {
                return Err(fail(format!(
                    "expected the header `session_type,labels`, found {line:?}"
                )));
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let (key, aids) = line
            .split_once(',')
            .ok_or_else(|| fail("expected `<session>_<type>,<aids>`".into()))?;
        let (session, kind) = key
            .split_once('_')
            .ok_or_else(|| fail(format!("bad session_type {key:?}")))?;
        let session: u32 = session
            .parse()
            .map_err(|_| fail(format!("bad session id {session:?}")))?;
        let kind = EventType::from_name(kind).ok_or_else(|| fail(format!("bad type {kind:?}")))?;
        let aids = aids
            .split_whitespace()
            .map(|a| a.parse::<u32>().map_err(|_| fail(format!("bad aid {a:?}"))))
            .collect::<Result<Vec<u32>>>()?;
        predictions.entry(session).or_default()[kind.index()] = aids;
    }
    Ok(predictions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_at_most_twenty_aids_and_read_back() {
        let long: Vec<u32> = (0..25).collect();
        let mut out = Vec::new();
        write_header(&mut out).unwrap();
        write_session(&mut out, 42, [&long, &[1, 2], &[]]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "session_type,labels");
        assert_eq!(lines[1].split(',').nth(1).unwrap().split(' ').count(), 20);
        assert_eq!(lines[2], "42_carts,1 2");
        assert_eq!(lines[3], "42_orders,");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, &text).unwrap();
        let read = read_submission(&path).unwrap();
        assert_eq!(read[&42][0], (0..20).collect::<Vec<u32>>());
        assert_eq!(read[&42][1], vec![1, 2]);
    }

    #[test]
    fn numbers_are_written_in_decimal_at_every_width() {
        let mut out = Vec::new();
        let aids = [0, 7, 10, 99, 100, 1_000_000, u32::MAX];
        write_session(&mut out, u32::MAX, [&aids, &[], &[5]]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "4294967295_clicks,0 7 10 99 100 1000000 4294967295\n\
             4294967295_carts,\n\
             4294967295_orders,5\n"
        );
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, "session_type,labels\n1_clicks,3 4\n1_views,5\n").unwrap();
        let err = read_submission(&path).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
