//! Public session logs in their own formats, read into a [`SessionLog`]:
//!
//! - `yoochoose`: RecSys Challenge 2015, `yoochoose-clicks.dat` (`session,timestamp,item,
//!   category`, ISO 8601 times such as `2014-04-07T10:51:09.277Z`, no header) as clicks, and
//!   optionally `yoochoose-buys.dat` (`session,timestamp,item,price,quantity`) as orders;
//! - `diginetica`: CIKM Cup 2016, `train-item-views.csv` (`;`-separated, a header naming the
//!   session, item, `timeframe` and `eventdate` columns, spelt `sessionId` or `session_id`;
//!   an event's time is its `eventdate` plus `timeframe` milliseconds) as clicks, and
//!   optionally `train-purchases.csv` as orders;
//! - `retailrocket`: `events.csv` (`timestamp,visitorid,event,itemid,transactionid`,
//!   milliseconds) with `view` / `addtocart` / `transaction` as clicks / carts / orders; a
//!   visitor's events become sessions split where more than a gap passes between two;
//! - `csv`: any delimited log with a header, its columns named by [`CsvSpec`].
//!
//! Ids must be unsigned integers below 2^32; a line that breaks its format is an error with
//! its file and line number. A session's events are put in time order (a stable sort, so
//! equal times keep the order of the files, clicks before buys).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::domain::{EventType, SessionLog};
use crate::error::{Error, InputProblem, Result};
use crate::progress::{Progress, Unit};

/// How a timestamp column is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Milliseconds,
    /// ISO 8601 in UTC: `2014-04-07T10:51:09.277Z` (a space for the `T`, no fraction and no
    /// `Z` are accepted too).
    Iso,
}

/// A column of a delimited file: by header name, or by 1-based number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnRef {
    Name(String),
    Number(usize),
}

impl ColumnRef {
    /// A number when `text` is one, a name otherwise.
    pub fn parse(text: &str) -> Self {
        match text.parse::<usize>() {
            Ok(n) if n >= 1 => ColumnRef::Number(n),
            _ => ColumnRef::Name(text.to_string()),
        }
    }
}

/// What a value of the type column stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeTarget {
    Event(EventType),
    /// Events of this type are left out (e.g. removals from the cart).
    Skip,
}

/// The layout of a generic delimited log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvSpec {
    pub delimiter: u8,
    /// False when the first line is data (columns are then numbers).
    pub header: bool,
    pub session: ColumnRef,
    pub aid: ColumnRef,
    pub ts: ColumnRef,
    /// Without a type column every event is a click.
    pub kind: Option<ColumnRef>,
    pub ts_unit: TimeUnit,
    /// Values of the type column; empty: `clicks`/`carts`/`orders` or 0/1/2.
    pub type_map: Vec<(String, TypeTarget)>,
}

/// A public log format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Yoochoose,
    Diginetica,
    Retailrocket,
    Csv(CsvSpec),
}

impl LogFormat {
    /// The format's name, as `--from` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            LogFormat::Yoochoose => "yoochoose",
            LogFormat::Diginetica => "diginetica",
            LogFormat::Retailrocket => "retailrocket",
            LogFormat::Csv(_) => "csv",
        }
    }
}

/// What to read besides the main file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Buys (yoochoose) or purchases (diginetica), read as orders.
    pub orders: Option<PathBuf>,
    /// Retailrocket: the longest pause within a session, in milliseconds.
    pub session_gap_ms: u64,
}

/// One event as read, before grouping: the session (or visitor) key and the time in ms.
#[derive(Clone, Copy, Debug)]
struct RawEvent {
    key: u64,
    ts_ms: u64,
    aid: u32,
    kind: EventType,
}

/// Reads a log in `format` (and the orders file the options name) into sessions.
pub fn read_log(
    format: &LogFormat,
    input: &Path,
    options: &LogOptions,
    progress: &dyn Progress,
) -> Result<SessionLog> {
    let mut events = Vec::new();
    match format {
        LogFormat::Yoochoose => {
            read_lines(
                input,
                progress,
                |n, line, out| {
                    yoochoose_row(line, EventType::Click, out).map_err(|m| parse_error(input, n, m))
                },
                &mut events,
            )?;
            if let Some(buys) = &options.orders {
                read_lines(
                    buys,
                    progress,
                    |n, line, out| {
                        yoochoose_row(line, EventType::Order, out)
                            .map_err(|m| parse_error(buys, n, m))
                    },
                    &mut events,
                )?;
            }
        }
        LogFormat::Diginetica => {
            read_diginetica(input, EventType::Click, progress, &mut events)?;
            if let Some(purchases) = &options.orders {
                read_diginetica(purchases, EventType::Order, progress, &mut events)?;
            }
        }
        LogFormat::Retailrocket => {
            let spec = CsvSpec {
                delimiter: b',',
                header: true,
                session: ColumnRef::Name("visitorid".into()),
                aid: ColumnRef::Name("itemid".into()),
                ts: ColumnRef::Name("timestamp".into()),
                kind: Some(ColumnRef::Name("event".into())),
                ts_unit: TimeUnit::Milliseconds,
                type_map: vec![
                    ("view".into(), TypeTarget::Event(EventType::Click)),
                    ("addtocart".into(), TypeTarget::Event(EventType::Cart)),
                    ("transaction".into(), TypeTarget::Event(EventType::Order)),
                ],
            };
            read_csv(input, &spec, progress, &mut events)?;
        }
        LogFormat::Csv(spec) => read_csv(input, spec, progress, &mut events)?,
    }
    if events.is_empty() {
        return Err(Error::input(input, InputProblem::NoEvents));
    }
    progress.stage("grouping sessions", events.len() as u64, Unit::Items);
    let log = match format {
        LogFormat::Retailrocket => sessions_by_gap(events, options.session_gap_ms),
        _ => sessions_by_key(events, input)?,
    };
    progress.finish();
    Ok(log)
}

fn parse_error(path: &Path, line: usize, message: String) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Calls `row` on every non-empty line of `path` (numbered from 1, without its line end).
fn read_lines(
    path: &Path,
    progress: &dyn Progress,
    mut row: impl FnMut(usize, &[u8], &mut Vec<RawEvent>) -> Result<()>,
    out: &mut Vec<RawEvent>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let bytes = file.metadata().map_err(|e| Error::io(path, e))?.len();
    progress.stage(&format!("reading {}", path.display()), bytes, Unit::Bytes);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(256);
    let mut number = 0;
    let mut unreported = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        number += 1;
        unreported += read as u64;
        if unreported >= 1 << 22 {
            progress.advance(unreported);
            unreported = 0;
        }
        let mut text = &line[..];
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        if !text.is_empty() {
            row(number, text, out)?;
        }
    }
    progress.advance(unreported);
    progress.finish();
    Ok(())
}

/// `session,timestamp,item,...` of yoochoose's clicks and buys.
fn yoochoose_row(
    line: &[u8],
    kind: EventType,
    out: &mut Vec<RawEvent>,
) -> std::result::Result<(), String> {
    let mut fields = line.split(|&b| b == b',');
    let mut next = |what: &str| {
        fields
            .next()
            .ok_or_else(|| format!("expected session,timestamp,item,…: no {what} field"))
    };
    let session = id(next("session")?, "session")?;
    let ts_ms = iso_millis(next("timestamp")?)?;
    let aid = id(next("item")?, "item")?;
    out.push(RawEvent {
        key: session as u64,
        ts_ms,
        aid,
        kind,
    });
    Ok(())
}

/// Diginetica's views or purchases: `;`-separated with a header.
fn read_diginetica(
    path: &Path,
    kind: EventType,
    progress: &dyn Progress,
    out: &mut Vec<RawEvent>,
) -> Result<()> {
    let mut columns: Option<[usize; 4]> = None;
    read_lines(
        path,
        progress,
        |n, line, out| {
            let fields: Vec<&[u8]> = line.split(|&b| b == b';').collect();
            let Some([session, item, timeframe, date]) = columns else {
                // The header: names compared without case and underscores.
                let names: Vec<String> = fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).to_lowercase().replace('_', ""))
                    .collect();
                let find = |name: &str| {
                    names.iter().position(|n| n == name).ok_or_else(|| {
                        parse_error(
                            path,
                            n,
                            format!(
                                "the header has no `{name}` column (found {})",
                                names.join(";")
                            ),
                        )
                    })
                };
                columns = Some([
                    find("sessionid")?,
                    find("itemid")?,
                    find("timeframe")?,
                    find("eventdate")?,
                ]);
                return Ok(());
            };
            let field = |i: usize, what: &str| {
                fields
                    .get(i)
                    .copied()
                    .ok_or_else(|| parse_error(path, n, format!("no {what} field")))
            };
            let fail = |m: String| parse_error(path, n, m);
            let session = id(field(session, "session")?, "session").map_err(fail)?;
            let aid = id(field(item, "item")?, "item").map_err(fail)?;
            let offset = number(field(timeframe, "timeframe")?, "timeframe").map_err(fail)?;
            let day = date_millis(field(date, "eventdate")?).map_err(fail)?;
            out.push(RawEvent {
                key: session as u64,
                ts_ms: day + offset,
                aid,
                kind,
            });
            Ok(())
        },
        out,
    )
}

/// A generic delimited log.
fn read_csv(
    path: &Path,
    spec: &CsvSpec,
    progress: &dyn Progress,
    out: &mut Vec<RawEvent>,
) -> Result<()> {
    let wanted: Vec<&ColumnRef> = [&spec.session, &spec.aid, &spec.ts]
        .into_iter()
        .chain(spec.kind.as_ref())
        .collect();
    let mut columns: Option<Vec<usize>> = if spec.header {
        None
    } else {
        Some(
            wanted
                .iter()
                .map(|c| match c {
                    ColumnRef::Number(k) => Ok(k - 1),
                    ColumnRef::Name(name) => Err(Error::argument(
                        "--columns",
                        format!("{name:?}: without a header, columns are numbers (1 = the first)"),
                    )),
                })
                .collect::<Result<_>>()?,
        )
    };
    read_lines(
        path,
        progress,
        |n, line, out| {
            let fields: Vec<&[u8]> = line.split(|&b| b == spec.delimiter).map(unquote).collect();
            let Some(at) = &columns else {
                let names: Vec<String> = fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).trim().to_string())
                    .collect();
                let find = |c: &ColumnRef| match c {
                    ColumnRef::Number(k) if *k <= names.len() => Ok(k - 1),
                    ColumnRef::Number(k) => Err(parse_error(
                        path,
                        n,
                        format!("the header has {} columns, not {k}", names.len()),
                    )),
                    ColumnRef::Name(name) => {
                        names.iter().position(|h| h == name).ok_or_else(|| {
                            parse_error(
                                path,
                                n,
                                format!(
                                    "the header has no `{name}` column (found {})",
                                    names.join(",")
                                ),
                            )
                        })
                    }
                };
                columns = Some(wanted.iter().map(|c| find(c)).collect::<Result<_>>()?);
                return Ok(());
            };
            let fail = |m: String| parse_error(path, n, m);
            let field = |i: usize| {
                fields.get(at[i]).copied().ok_or_else(|| {
                    fail(format!(
                        "{} fields, but column {} is read",
                        fields.len(),
                        at[i] + 1
                    ))
                })
            };
            let kind = match at.get(3) {
                None => EventType::Click,
                Some(_) => match event_type(field(3)?, &spec.type_map).map_err(fail)? {
                    TypeTarget::Event(kind) => kind,
                    TypeTarget::Skip => return Ok(()),
                },
            };
            let key = id(field(0)?, "session").map_err(fail)? as u64;
            let aid = id(field(1)?, "item").map_err(fail)?;
            let raw = field(2)?;
            let ts_ms = match spec.ts_unit {
                TimeUnit::Seconds => number(raw, "timestamp").map_err(fail)?.saturating_mul(1000),
                TimeUnit::Milliseconds => number(raw, "timestamp").map_err(fail)?,
                TimeUnit::Iso => iso_millis(raw).map_err(fail)?,
            };
            out.push(RawEvent {
                key,
                ts_ms,
                aid,
                kind,
            });
            Ok(())
        },
        out,
    )
}

/// A field without surrounding white space and double quotes.
fn unquote(field: &[u8]) -> &[u8] {
    let field = field.trim_ascii();
    match field {
        [b'"', inner @ .., b'"'] => inner,
        _ => field,
    }
}

/// The event type a type field names.
fn event_type(
    field: &[u8],
    map: &[(String, TypeTarget)],
) -> std::result::Result<TypeTarget, String> {
    let text = std::str::from_utf8(field).unwrap_or("");
    if map.is_empty() {
        return EventType::from_name(text)
            .or_else(|| text.parse().ok().and_then(EventType::from_code))
            .map(TypeTarget::Event)
            .ok_or_else(|| {
                format!("event type {text:?} is not clicks, carts, orders, 0, 1 or 2 (map it with --type-map)")
            });
    }
    map.iter()
        .find(|(name, _)| name == text)
        .map(|&(_, target)| target)
        .ok_or_else(|| {
            let known: Vec<&str> = map.iter().map(|(n, _)| n.as_str()).collect();
            format!(
                "event type {text:?} is not one of {} (add it to --type-map, as {text}=skip to leave it out)",
                known.join(", ")
            )
        })
}

/// An unsigned decimal integer.
fn number(field: &[u8], what: &str) -> std::result::Result<u64, String> {
    let bad = || {
        format!(
            "{what} {:?} is not an unsigned integer",
            String::from_utf8_lossy(field)
        )
    };
    if field.is_empty() || field.len() > 19 {
        return Err(bad());
    }
    let mut value = 0u64;
    for &b in field {
        if !b.is_ascii_digit() {
            return Err(bad());
        }
        value = value * 10 + (b - b'0') as u64;
    }
    Ok(value)
}

/// An id: an unsigned integer below 2^32.
fn id(field: &[u8], what: &str) -> std::result::Result<u32, String> {
    let value = number(field, &format!("{what} id"))?;
    u32::try_from(value).map_err(|_| format!("{what} id {value} is not below 2^32"))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` as milliseconds since the epoch (midnight UTC).
fn date_millis(field: &[u8]) -> std::result::Result<u64, String> {
    let bad = || {
        format!(
            "date {:?} is not YYYY-MM-DD",
            String::from_utf8_lossy(field)
        )
    };
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = field else {
        return Err(bad());
    };
    let digits = |ds: &[u8]| -> Option<i64> {
        ds.iter().try_fold(0i64, |v, &d| {
            d.is_ascii_digit().then(|| v * 10 + (d - b'0') as i64)
        })
    };
    let (year, month, day) = (
        digits(&[*y0, *y1, *y2, *y3]).ok_or_else(bad)?,
        digits(&[*m0, *m1]).ok_or_else(bad)?,
        digits(&[*d0, *d1]).ok_or_else(bad)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) as u64 * 86_400_000)
}

/// An ISO 8601 UTC time (`2014-04-07T10:51:09.277Z`; a space for the `T`, without the
/// fraction or the `Z`) as milliseconds since the epoch.
fn iso_millis(field: &[u8]) -> std::result::Result<u64, String> {
    let bad = || {
        format!(
            "timestamp {:?} is not ISO 8601 (2014-04-07T10:51:09.277Z)",
            String::from_utf8_lossy(field)
        )
    };
    if field.len() < 19 || !matches!(field[10], b'T' | b' ') {
        return Err(bad());
    }
    let day = date_millis(&field[..10]).map_err(|_| bad())?;
    let two = |at: usize| -> Option<u64> {
        let (a, b) = (field[at], field[at + 1]);
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| ((a - b'0') * 10 + (b - b'0')) as u64)
    };
    if field[13] != b':' || field[16] != b':' {
        return Err(bad());
    }
    let (h, m, s) = (
        two(11).ok_or_else(bad)?,
        two(14).ok_or_else(bad)?,
        two(17).ok_or_else(bad)?,
    );
    if h > 23 || m > 59 || s > 60 {
        return Err(bad());
    }
    let mut rest = &field[19..];
    let mut millis = 0u64;
    if let [b'.', tail @ ..] = rest {
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        for (i, &d) in tail[..digits].iter().enumerate() {
            if i < 3 {
                millis = millis * 10 + (d - b'0') as u64;
            }
        }
        for _ in digits..3 {
            millis *= 10;
        }
        rest = &tail[digits..];
    }
    if !matches!(rest, [] | [b'Z']) {
        return Err(bad());
    }
    Ok(day + ((h * 60 + m) * 60 + s) * 1000 + millis)
}

/// Sessions by their key, in ascending key order; a session's events in time order (file
/// order for equal times).
fn sessions_by_key(mut events: Vec<RawEvent>, path: &Path) -> Result<SessionLog> {
    if !events.is_sorted_by_key(|e| e.key) {
        events.sort_by_key(|e| e.key);
    }
    let mut log = SessionLog::new();
    log.reserve(events.len());
    let mut buffers = Buffers::default();
    for group in events.chunk_by(|a, b| a.key == b.key) {
        buffers.push(&mut log, group[0].key as u32, group, path)?;
    }
    Ok(log)
}

/// Sessions from each visitor's events, split where more than `gap_ms` passes between
/// two; numbered from 1 in the order of (visitor, time).
fn sessions_by_gap(mut events: Vec<RawEvent>, gap_ms: u64) -> SessionLog {
    events.sort_by_key(|e| (e.key, e.ts_ms));
    let mut log = SessionLog::new();
    log.reserve(events.len());
    let mut buffers = Buffers::default();
    let mut next_id = 1u32;
    for visitor in events.chunk_by(|a, b| a.key == b.key) {
        for session in visitor.chunk_by(|a, b| b.ts_ms - a.ts_ms <= gap_ms) {
            buffers
                .push(&mut log, next_id, session, Path::new(""))
                .expect("times fit: checked while reading");
            next_id = next_id.wrapping_add(1);
        }
    }
    log
}

/// Reused columns of one session.
#[derive(Default)]
struct Buffers {
    aids: Vec<u32>,
    ts: Vec<u32>,
    millis: Vec<u16>,
    types: Vec<EventType>,
}

impl Buffers {
    fn push(
        &mut self,
        log: &mut SessionLog,
        id: u32,
        events: &[RawEvent],
        path: &Path,
    ) -> Result<()> {
        self.aids.clear();
        self.ts.clear();
        self.millis.clear();
        self.types.clear();
        for e in events {
            let seconds = u32::try_from(e.ts_ms / 1000).map_err(|_| {
                Error::input(
                    path,
                    InputProblem::BadColumn {
                        column: "timestamp".into(),
                        detail: format!(
                            "session {}: {} ms is after 2106 (beyond u32 seconds); is the unit right?",
                            e.key, e.ts_ms
                        ),
                    },
                )
            })?;
            self.aids.push(e.aid);
            self.ts.push(seconds);
            self.millis.push((e.ts_ms % 1000) as u16);
            self.types.push(e.kind);
        }
        log.push_session_millis(id, &self.aids, &self.ts, &self.millis, &self.types);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_and_dates_are_milliseconds_since_the_epoch() {
        // 2014-04-07T10:51:09.277Z, by hand: 16,167 days after 1970-01-01.
        let expected = 16_167 * 86_400_000 + ((10 * 60 + 51) * 60 + 9) * 1000 + 277;
        assert_eq!(iso_millis(b"2014-04-07T10:51:09.277Z"), Ok(expected));
        assert_eq!(iso_millis(b"2014-04-07 10:51:09"), Ok(expected - 277));
        assert_eq!(iso_millis(b"2014-04-07T10:51:09.2Z"), Ok(expected - 77));
        assert_eq!(date_millis(b"1970-01-01"), Ok(0));
        assert_eq!(date_millis(b"2016-03-01"), Ok(16_861 * 86_400_000));
        assert!(iso_millis(b"2014-04-07T25:00:00Z").is_err());
        assert!(iso_millis(b"2014-04-07").is_err());
        assert!(date_millis(b"2016-13-01").is_err());
    }

    #[test]
    fn ids_must_be_unsigned_integers_below_two_to_the_32() {
        assert_eq!(id(b"4294967295", "item"), Ok(u32::MAX));
        assert!(
            id(b"4294967296", "item")
                .unwrap_err()
                .contains("below 2^32")
        );
        assert!(id(b"-3", "item").is_err());
        assert!(id(b"214536500x", "item").is_err());
        assert!(id(b"", "item").is_err());
    }
}
