//! Labels files: `{"session":42,"labels":{"clicks":7,"carts":[1,2],"orders":[2]}}` per line,
//! keys absent when empty (the official OTTO format). Repeated aids in a list count once.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Deserialize;

use crate::domain::SessionLabels;
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct RawLabels {
    session: u64,
    labels: RawTruth,
}

#[derive(Deserialize)]
struct RawTruth {
    clicks: Option<u64>,
    #[serde(default)]
    carts: Vec<u64>,
    #[serde(default)]
    orders: Vec<u64>,
}

fn to_u32(v: u64, what: &str) -> std::result::Result<u32, String> {
    u32::try_from(v).map_err(|_| format!("{what} {v} does not fit in 32 bits"))
}

/// Writes labels as JSONL.
pub fn write_labels(labels: &[SessionLabels], out: &mut impl Write) -> std::io::Result<()> {
    for l in labels {
        let mut truth = serde_json::Map::new();
        if let Some(click) = l.clicks {
            truth.insert("clicks".into(), click.into());
        }
        if !l.carts.is_empty() {
            truth.insert("carts".into(), l.carts.clone().into());
        }
        if !l.orders.is_empty() {
            truth.insert("orders".into(), l.orders.clone().into());
        }
        let line = serde_json::json!({"session": l.session, "labels": truth});
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn parse_line(line: &str) -> std::result::Result<SessionLabels, String> {
    let raw: RawLabels = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let list = |v: Vec<u64>| {
        v.into_iter()
            .map(|a| to_u32(a, "aid"))
            .collect::<std::result::Result<Vec<u32>, String>>()
    };
    Ok(SessionLabels {
        session: to_u32(raw.session, "session")?,
        clicks: raw.labels.clicks.map(|c| to_u32(c, "aid")).transpose()?,
        carts: list(raw.labels.carts)?,
        orders: list(raw.labels.orders)?,
    }
    .into_sets())
}

/// Reads a labels JSONL file; a malformed line is reported with its number.
pub fn read_labels(path: &Path) -> Result<Vec<SessionLabels>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut labels = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        labels.push(parse_line(&line).map_err(|message| Error::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        })?);
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_jsonl_with_empty_keys_absent() {
        let labels = vec![
            SessionLabels {
                session: 1,
                clicks: Some(7),
                carts: vec![1, 2],
                orders: vec![2],
            },
            SessionLabels {
                session: 2,
                clicks: None,
                carts: vec![],
                orders: vec![3],
            },
        ];
        let mut out = Vec::new();
        write_labels(&labels, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            r#"{"labels":{"orders":[3]},"session":2}"#
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.jsonl");
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_labels(&path).unwrap(), labels);
    }

    #[test]
    fn a_repeated_label_aid_is_read_once_and_aid_zero_is_kept() {
        let l = parse_line(r#"{"session":3,"labels":{"clicks":0,"carts":[4,4,5],"orders":[6,6]}}"#)
            .unwrap();
        assert_eq!(l.clicks, Some(0));
        assert_eq!(l.carts, vec![4, 5]);
        assert_eq!(l.orders, vec![6]);
    }
}
