//! Ground truth of a truncated session: what it clicked, carted and ordered after the cut.
//! File form: `{"session":42,"labels":{"clicks":7,"carts":[1,2],"orders":[2]}}`, keys
//! absent when empty (the official OTTO format).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Deserialize;

use super::{EventType, Session};
use crate::error::{Error, Result};

/// What a session did after its cut point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionLabels {
    pub session: u32,
    /// The first aid clicked after the cut.
    pub clicks: Option<u32>,
    /// Distinct aids carted after the cut, in order of first occurrence.
    pub carts: Vec<u32>,
    /// Distinct aids ordered after the cut, in order of first occurrence.
    pub orders: Vec<u32>,
}

impl SessionLabels {
    /// The labels of `session` for the events after its first `kept` events.
    pub fn after(session: Session<'_>, kept: usize) -> Self {
        let mut labels = SessionLabels {
            session: session.id,
            ..Default::default()
        };
        for (&aid, &kind) in session.aids[kept..].iter().zip(&session.types[kept..]) {
            match kind {
                EventType::Click => {
                    labels.clicks.get_or_insert(aid);
                }
                EventType::Cart if !labels.carts.contains(&aid) => labels.carts.push(aid),
                EventType::Order if !labels.orders.contains(&aid) => labels.orders.push(aid),
                _ => {}
            }
        }
        labels
    }

    /// The truth for one objective, as a slice (the click as a one-element slice).
    pub fn truth(&self, objective: EventType) -> &[u32] {
        match objective {
            EventType::Click => self.clicks.as_slice(),
            EventType::Cart => &self.carts,
            EventType::Order => &self.orders,
        }
    }

    /// True when nothing happened after the cut.
    pub fn is_empty(&self) -> bool {
        self.clicks.is_none() && self.carts.is_empty() && self.orders.is_empty()
    }
}

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

/// Reads a labels JSONL file; a malformed line is reported with its number.
pub fn read_labels(path: &Path) -> Result<Vec<SessionLabels>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut labels = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let parse = || -> std::result::Result<SessionLabels, String> {
            let raw: RawLabels = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            Ok(SessionLabels {
                session: to_u32(raw.session, "session")?,
                clicks: raw.labels.clicks.map(|c| to_u32(c, "aid")).transpose()?,
                carts: raw
                    .labels
                    .carts
                    .into_iter()
                    .map(|a| to_u32(a, "aid"))
                    .collect::<std::result::Result<_, _>>()?,
                orders: raw
                    .labels
                    .orders
                    .into_iter()
                    .map(|a| to_u32(a, "aid"))
                    .collect::<std::result::Result<_, _>>()?,
            })
        };
        labels.push(parse().map_err(|message| Error::Parse {
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
}
