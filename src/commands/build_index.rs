use std::path::{Path, PathBuf};

use crate::cli::BuildIndexArgs;
use crate::data::split::DAY;
use crate::data::{SessionLog, read_all_events};
use crate::error::{Error, Result};
use crate::index::store::{InputSummary, Manifest, save};
use crate::index::{self, Index, IndexParams, TableKind};
use crate::progress;

impl BuildIndexArgs {
    /// The index parameters these flags ask for, checked.
    pub fn params(&self) -> Result<IndexParams> {
        let positive = |value: usize, flag: &str| {
            if value == 0 {
                Err(Error::InvalidArgument(format!("{flag} must be at least 1")))
            } else {
                Ok(value)
            }
        };
        if self.tail > u16::MAX as usize {
            return Err(Error::InvalidArgument(
                "--tail must be at most 65535".into(),
            ));
        }
        let mut params = IndexParams::default();
        for spec in &mut params.tables {
            spec.tail = positive(self.tail, "--tail")?;
        }
        let hours = positive(self.window_hours as usize, "--window-hours")? as u32;
        params.tables[TableKind::Clicks as usize].window_seconds = hours * 3600;
        params.tables[TableKind::CartsOrders as usize].window_seconds = hours * 3600;
        params.tables[TableKind::Buy2Buy as usize].window_seconds =
            positive(self.buy2buy_window_days as usize, "--buy2buy-window-days")? as u32 * DAY;
        params.tables[TableKind::Clicks as usize].top_k =
            positive(self.clicks_top_k, "--clicks-top-k")?;
        params.tables[TableKind::CartsOrders as usize].top_k =
            positive(self.carts_orders_top_k, "--carts-orders-top-k")?;
        params.tables[TableKind::Buy2Buy as usize].top_k =
            positive(self.buy2buy_top_k, "--buy2buy-top-k")?;
        params.recent_days = positive(self.recent_days as usize, "--recent-days")? as u32;
        params.pairs_per_pass = positive(self.pairs_per_pass, "--pairs-per-pass")?;
        Ok(params)
    }
}

pub fn run(args: BuildIndexArgs) -> Result<()> {
    let params = args.params()?;
    let log = read_all_events(&args.input)?;
    let started = std::time::Instant::now();
    let index = build_and_save(&log, &params, &args.model_dir, &args.input)?;
    eprintln!(
        "wrote {} in {:.1} s: {} sessions, {} events; pairs: clicks {}, carts_orders {}, buy2buy {}",
        args.model_dir.display(),
        started.elapsed().as_secs_f64(),
        log.len(),
        log.num_events(),
        index.table(TableKind::Clicks).num_pairs(),
        index.table(TableKind::CartsOrders).num_pairs(),
        index.table(TableKind::Buy2Buy).num_pairs(),
    );
    Ok(())
}

/// Builds the index of `log` and writes it with its manifest into `dir`.
pub fn build_and_save(
    log: &SessionLog,
    params: &IndexParams,
    dir: &Path,
    inputs: &[PathBuf],
) -> Result<Index> {
    let Some((ts_min, ts_max)) = log.ts_range() else {
        let path = inputs.first().cloned().unwrap_or_default();
        return Err(Error::invalid_input(path, "no events to index"));
    };
    let index = index::build(log, params, &|message, len| progress::items(len, message));
    let input = InputSummary {
        files: inputs.iter().map(|p| p.display().to_string()).collect(),
        sessions: log.len() as u64,
        events: log.num_events() as u64,
        ts_min,
        ts_max,
    };
    save(dir, &index, Manifest::new(params.clone(), input))?;
    Ok(index)
}
