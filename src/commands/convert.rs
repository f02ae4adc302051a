//! `convert`: rewrites an event file in the other format (e.g. a large JSONL as Parquet,
//! once), at the input's precision.

use crate::cli::ConvertArgs;
use crate::commands::progress::Bars;
use crate::data::atomic::write_atomic;
use crate::data::{Format, jsonl, parquet, read_all_events};
use crate::error::{Error, Result};

pub fn run(args: ConvertArgs) -> Result<()> {
    let format = Format::of(&args.output)?;
    let log = read_all_events(std::slice::from_ref(&args.input), &Bars::default())?;
    match format {
        Format::Parquet => parquet::write_events(&log, &args.output)?,
        Format::Jsonl => write_atomic(&args.output, |out| {
            jsonl::write_sessions(&log, out).map_err(|e| Error::io(&args.output, e))
        })?,
    }
    eprintln!(
        "wrote {}: {} sessions, {} events",
        args.output.display(),
        log.len(),
        log.num_events()
    );
    Ok(())
}
