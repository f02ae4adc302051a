//! `convert`: rewrites an event file in the other format (e.g. a large JSONL as Parquet,
//! once), at the input's precision; or reads a public session log in its own format
//! (`--from`) and writes it as OTTO events.

use crate::cli::ConvertArgs;
use crate::commands::progress::Bars;
use crate::data::atomic::write_atomic;
use crate::data::logs::{
    ColumnRef, CsvSpec, LogFormat, LogOptions, TimeUnit, TypeTarget, read_log,
};
use crate::data::{Format, jsonl, parquet, read_all_events};
use crate::domain::EventType;
use crate::error::{Error, Result};

impl ConvertArgs {
    /// The public log format and options these flags ask for (`None`: an OTTO file).
    fn log_format(&self) -> Result<Option<(LogFormat, LogOptions)>> {
        let Some(from) = &self.from else {
            if let Some(flag) = self.format_flags().first() {
                return Err(Error::argument(flag, "goes with --from"));
            }
            return Ok(None);
        };
        let format = match from.as_str() {
            "yoochoose" => LogFormat::Yoochoose,
            "diginetica" => LogFormat::Diginetica,
            "retailrocket" => LogFormat::Retailrocket,
            "csv" => LogFormat::Csv(self.csv_spec()?),
            other => {
                return Err(Error::argument(
                    "--from",
                    format!("{other:?} is not one of yoochoose, diginetica, retailrocket, csv"),
                ));
            }
        };
        let allowed: &[&str] = match format {
            LogFormat::Yoochoose => &["--buys"],
            LogFormat::Diginetica => &["--purchases"],
            LogFormat::Retailrocket => &["--session-gap"],
            LogFormat::Csv(_) => &[
                "--columns",
                "--ts-unit",
                "--type-map",
                "--delimiter",
                "--no-header",
            ],
        };
        if let Some(flag) = self
            .format_flags()
            .into_iter()
            .find(|f| !allowed.contains(f))
        {
            return Err(Error::argument(
                flag,
                format!("does not apply to --from {}", format.name()),
            ));
        }
        if self.session_gap == 0 {
            return Err(Error::argument(
                "--session-gap",
                "must be at least 1 minute",
            ));
        }
        let options = LogOptions {
            orders: self.buys.clone().or_else(|| self.purchases.clone()),
            session_gap_ms: self.session_gap.saturating_mul(60_000),
        };
        Ok(Some((format, options)))
    }

    /// The format-specific flags given (set to other than their defaults).
    fn format_flags(&self) -> Vec<&'static str> {
        [
            ("--buys", self.buys.is_some()),
            ("--purchases", self.purchases.is_some()),
            ("--session-gap", self.session_gap != 30),
            ("--columns", self.columns.is_some()),
            ("--ts-unit", self.ts_unit != "s"),
            ("--type-map", self.type_map.is_some()),
            ("--delimiter", self.delimiter != ","),
            ("--no-header", self.no_header),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// The layout `--columns`, `--ts-unit`, `--type-map`, `--delimiter` describe.
    fn csv_spec(&self) -> Result<CsvSpec> {
        let Some(columns) = &self.columns else {
            return Err(Error::argument(
                "--columns",
                "--from csv needs session=COL,aid=COL,ts=COL[,type=COL]",
            ));
        };
        let (mut session, mut aid, mut ts, mut kind) = (None, None, None, None);
        for part in columns.split(',') {
            let Some((key, column)) = part.split_once('=') else {
                return Err(Error::argument(
                    "--columns",
                    format!("{part:?} is not KEY=COLUMN"),
                ));
            };
            let slot = match key.trim() {
                "session" => &mut session,
                "aid" => &mut aid,
                "ts" => &mut ts,
                "type" => &mut kind,
                other => {
                    return Err(Error::argument(
                        "--columns",
                        format!("{other:?} is not one of session, aid, ts, type"),
                    ));
                }
            };
            *slot = Some(ColumnRef::parse(column.trim()));
        }
        let need = |slot: Option<ColumnRef>, key: &str| {
            slot.ok_or_else(|| Error::argument("--columns", format!("no {key}=COLUMN")))
        };
        let ts_unit = match self.ts_unit.as_str() {
            "s" => TimeUnit::Seconds,
            "ms" => TimeUnit::Milliseconds,
            "iso" => TimeUnit::Iso,
            other => {
                return Err(Error::argument(
                    "--ts-unit",
                    format!("{other:?} is not one of s, ms, iso"),
                ));
            }
        };
        let delimiter = match self.delimiter.as_str() {
            "tab" | "\\t" => b'\t',
            d if d.len() == 1 && d != "\"" => d.as_bytes()[0],
            other => {
                return Err(Error::argument(
                    "--delimiter",
                    format!("{other:?} is not one character or `tab`"),
                ));
            }
        };
        let mut type_map = Vec::new();
        for part in self.type_map.iter().flat_map(|m| m.split(',')) {
            let target = part.split_once('=').and_then(|(value, name)| {
                let target = match name.trim() {
                    "skip" => TypeTarget::Skip,
                    name => TypeTarget::Event(EventType::from_name(name)?),
                };
                Some((value.trim().to_string(), target))
            });
            let Some(entry) = target else {
                return Err(Error::argument(
                    "--type-map",
                    format!("{part:?} is not VALUE=clicks|carts|orders|skip"),
                ));
            };
            type_map.push(entry);
        }
        if !type_map.is_empty() && kind.is_none() {
            return Err(Error::argument(
                "--type-map",
                "needs a type=COLUMN in --columns",
            ));
        }
        Ok(CsvSpec {
            delimiter,
            header: !self.no_header,
            session: need(session, "session")?,
            aid: need(aid, "aid")?,
            ts: need(ts, "ts")?,
            kind,
            ts_unit,
            type_map,
        })
    }
}

pub fn run(args: ConvertArgs) -> Result<()> {
    let format = Format::of(&args.output)?;
    let bars = Bars::default();
    let log = match args.log_format()? {
        Some((from, options)) => read_log(&from, &args.input, &options, &bars)?,
        None => read_all_events(std::slice::from_ref(&args.input), &bars)?,
    };
    match format {
        Format::Parquet => parquet::write_events(&log, &args.output)?,
        Format::Jsonl => write_atomic(&args.output, |out| {
            jsonl::write_sessions(&log, out).map_err(|e| Error::io(&args.output, e))
        })?,
    }
    let [clicks, carts, orders] = log.type_counts();
    eprintln!(
        "wrote {}: {} sessions, {} events ({clicks} clicks, {carts} carts, {orders} orders)",
        args.output.display(),
        log.len(),
        log.num_events(),
    );
    Ok(())
}
