//! `split`: the official local-validation split of an event file into train, test and
//! labels files (Kaggle format, at the input's precision).

use std::io::Write;
use std::path::Path;

use crate::cli::SplitArgs;
use crate::commands::progress::Bars;
use crate::data::atomic::write_atomic;
use crate::data::labels::write_labels;
use crate::data::{jsonl, read_all_events};
use crate::domain::{SessionLabels, SessionLog};
use crate::error::{Error, Result};
use crate::split::{SplitConfig, split};

pub fn run(args: SplitArgs) -> Result<()> {
    if args.days == 0 {
        return Err(Error::argument("--days", "must be at least 1"));
    }
    let log = read_all_events(std::slice::from_ref(&args.input), &Bars::default())?;
    let split = split(
        &log,
        SplitConfig {
            days: args.days,
            seed: args.seed,
        },
    );
    write_split(&args.out, &split.train, &split.test, &split.labels)?;
    eprintln!(
        "wrote {}: {} train sessions, {} test sessions",
        args.out.display(),
        split.train.len(),
        split.test.len()
    );
    Ok(())
}

/// Writes DIR/train.jsonl, DIR/test.jsonl and DIR/test_labels.jsonl, each atomically.
pub fn write_split(
    dir: &Path,
    train: &SessionLog,
    test: &SessionLog,
    labels: &[SessionLabels],
) -> Result<()> {
    for (name, log) in [("train.jsonl", train), ("test.jsonl", test)] {
        let path = dir.join(name);
        write_atomic(&path, |out| {
            jsonl::write_sessions(log, out).map_err(|e| Error::io(&path, e))
        })?;
    }
    let path = dir.join("test_labels.jsonl");
    write_atomic(&path, |out| {
        write_labels(labels, out)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io(&path, e))
    })
}
