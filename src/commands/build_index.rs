//! `build-index`: reads event files, builds the co-visitation tables and item statistics,
//! and writes them as the bundle in the model directory (keeping its compatible rankers).

use crate::bundle::{self, OldRankers};
use crate::cli::BuildIndexArgs;
use crate::commands::progress::Bars;
use crate::data::read_all_events;
use crate::error::{Error, Result};
use crate::index::embedding::next::{self, NextItemParams};
use crate::index::embedding::{self, EmbeddingParams};
use crate::index::sessions::SessionKnnParams;
use crate::index::{Index, IndexParams, TableKind};

impl BuildIndexArgs {
    /// The next-item model these flags ask for on an input of `events` events, checked.
    fn next_item(&self, events: usize) -> Result<Option<NextItemParams>> {
        let enabled = match self.next_item.as_str() {
            _ if self.no_next_item => false,
            "on" => true,
            "off" => false,
            "auto" => embedding::auto_enabled(events),
            other => {
                return Err(Error::argument(
                    "--next-item",
                    format!("{other:?} is not on, off or auto"),
                ));
            }
        };
        if !enabled {
            return Ok(None);
        }
        let epochs = match self.next_item_epochs.as_str() {
            "auto" => next::auto_epochs(events),
            n => match n.parse() {
                Ok(e) if e >= 1 => e,
                _ => {
                    return Err(Error::argument(
                        "--next-item-epochs",
                        format!("{n:?} is not auto or a number of at least 1"),
                    ));
                }
            },
        };
        if !(1..=256).contains(&self.next_item_dim) {
            return Err(Error::argument(
                "--next-item-dim",
                "must be between 1 and 256",
            ));
        }
        if !(1..=100).contains(&self.next_item_negatives) {
            return Err(Error::argument(
                "--next-item-negatives",
                "must be between 1 and 100",
            ));
        }
        Ok(Some(NextItemParams {
            dim: self.next_item_dim,
            negatives: self.next_item_negatives,
            epochs,
            seed: self.embedding_seed,
            min_count: self.embedding_min_count,
            ..NextItemParams::default()
        }))
    }

    /// The index parameters these flags ask for on an input of `events` events (the
    /// `auto` choices depend on it), checked.
    pub fn params(&self, events: usize) -> Result<IndexParams> {
        let positive = |value: usize, flag: &'static str| {
            if value == 0 {
                Err(Error::argument(flag, "must be at least 1"))
            } else {
                Ok(value)
            }
        };
        let tail =
            IndexParams::tail(self.tail).map_err(|e| Error::argument("--tail", e.to_string()))?;
        let window = IndexParams::hours(self.window_hours)
            .map_err(|e| Error::argument("--window-hours", e.to_string()))?;
        let buy2buy_window = IndexParams::days(self.buy2buy_window_days)
            .map_err(|e| Error::argument("--buy2buy-window-days", e.to_string()))?;
        let mut params = IndexParams::default();
        for spec in &mut params.tables {
            spec.tail = tail;
        }
        params.tables[TableKind::Clicks as usize].window_seconds = window;
        params.tables[TableKind::CartsOrders as usize].window_seconds = window;
        params.tables[TableKind::Buy2Buy as usize].window_seconds = buy2buy_window;
        params.tables[TableKind::Clicks as usize].top_k =
            positive(self.clicks_top_k, "--clicks-top-k")?;
        params.tables[TableKind::CartsOrders as usize].top_k =
            positive(self.carts_orders_top_k, "--carts-orders-top-k")?;
        params.tables[TableKind::Buy2Buy as usize].top_k =
            positive(self.buy2buy_top_k, "--buy2buy-top-k")?;
        params.recent_days = positive(self.recent_days as usize, "--recent-days")? as u32;
        params.pairs_per_pass = positive(self.pairs_per_pass, "--pairs-per-pass")?;
        let enabled = match self.embeddings.as_str() {
            "on" => true,
            "off" => false,
            "auto" => embedding::auto_enabled(events),
            other => {
                return Err(Error::argument(
                    "--embeddings",
                    format!("{other:?} is not on, off or auto"),
                ));
            }
        };
        let epochs = match self.embedding_epochs.as_str() {
            "auto" => embedding::auto_epochs(events),
            n => n.parse().map_err(|_| {
                Error::argument(
                    "--embedding-epochs",
                    format!("{n:?} is not auto or a number"),
                )
            })?,
        };
        params.embedding = if !enabled {
            None
        } else {
            let embedding = EmbeddingParams {
                dim: self.embedding_dim,
                window: self.embedding_window,
                negatives: self.embedding_negatives,
                epochs,
                min_count: self.embedding_min_count,
                sample: self.embedding_sample,
                seed: self.embedding_seed,
                similar: self.similar_items,
                ..EmbeddingParams::default()
            };
            Some(embedding.validate().map_err(|e| {
                let flag = match e.field {
                    "dim" => "--embedding-dim",
                    "window" => "--embedding-window",
                    "negatives" => "--embedding-negatives",
                    "epochs" => "--embedding-epochs",
                    "similar" => "--similar-items",
                    "sample" => "--embedding-sample",
                    _ => "--embedding-*",
                };
                Error::argument(flag, e.problem)
            })?)
        };
        params.sessions = if self.no_sessions {
            None
        } else {
            let sessions = SessionKnnParams {
                sessions_per_item: self.sessions_per_item,
                items_per_session: self.items_per_session,
            };
            Some(sessions.validate().map_err(|(field, problem)| {
                let flag = match field {
                    "sessions_per_item" => "--sessions-per-item",
                    _ => "--items-per-session",
                };
                Error::argument(flag, problem)
            })?)
        };
        params.next_item = self.next_item(events)?;
        Ok(params)
    }
}

pub fn run(args: BuildIndexArgs) -> Result<()> {
    // The flags are checked before the input is read; the choices that depend on its size
    // are made once it is.
    let params = args.params(0)?;
    let rankers = if args.drop_rankers {
        OldRankers::Drop
    } else {
        OldRankers::Keep
    };
    let (built, started, source) = match &args.from_tables {
        Some(tables) => {
            // The vectors and the next-item model are `auto` by default; only asking for
            // them is an index flag.
            let mut index_flags = params.clone();
            index_flags.embedding = None;
            index_flags.next_item = None;
            if index_flags != IndexParams::default()
                || args.embeddings == "on"
                || args.next_item == "on"
            {
                return Err(Error::argument(
                    "--from-tables",
                    "takes the parameters the tables were built with (their index.json); give index flags to the job instead",
                ));
            }
            let started = std::time::Instant::now();
            let built = bundle::import(&args.model_dir, tables, rankers)?;
            let source = format!(" from the tables in {}", tables.display());
            (built, started, source)
        }
        None => {
            let bars = Bars::default();
            let mut log = read_all_events(&args.input, &bars)?;
            let params = args.params(log.num_events())?;
            let started = std::time::Instant::now();
            let built = bundle::build(
                &args.model_dir,
                &mut log,
                &params,
                &args.input,
                rankers,
                &bars,
            )?;
            (built, started, String::new())
        }
    };
    eprintln!(
        "wrote {} in {:.1} s{source}: {} sessions, {} events; {}",
        args.model_dir.display(),
        started.elapsed().as_secs_f64(),
        built.manifest.input.sessions,
        built.manifest.input.events,
        pair_counts(&built.index),
    );
    match &built.index.embeddings {
        Some(e) => eprintln!(
            "item vectors: {} items of {} dimensions; similar items: {} pairs",
            e.vectors.count(),
            e.vectors.dim(),
            e.similar.num_pairs(),
        ),
        None => eprintln!("no item embeddings (--embeddings on adds them)"),
    }
    match &built.index.next_item {
        Some(m) => eprintln!("next-item model of {} dimensions", m.dim()),
        None => eprintln!("no next-item model (--next-item on adds it)"),
    }
    if built.kept_rankers {
        eprintln!("kept the bundle's rankers: they read the same features from the new index");
    }
    Ok(())
}

/// "pairs: clicks N, carts_orders N, ..." over the index's tables.
fn pair_counts(index: &Index) -> String {
    let counts: Vec<String> = TableKind::ALL
        .iter()
        .map(|&k| format!("{} {}", k.name(), index.table(k).num_pairs()))
        .collect();
    format!("pairs: {}", counts.join(", "))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};
    use crate::index::IndexParams;
    use crate::index::embedding;
    use crate::index::embedding::next;

    /// `build-index` without flags indexes with the library's default parameters (the
    /// `auto` choices resolved for the input's size): the help's defaults and the behaviour
    /// cannot drift apart.
    #[test]
    fn the_flags_defaults_are_the_librarys() {
        let cli = Cli::try_parse_from([
            "otto-rec",
            "build-index",
            "--input",
            "x",
            "--model-dir",
            "m",
        ])
        .unwrap();
        let Command::BuildIndex(args) = cli.command else {
            panic!("not build-index")
        };
        for events in [1_000_000, embedding::AUTO_MAX_EVENTS + 1] {
            assert_eq!(
                args.params(events).unwrap(),
                IndexParams::auto(events),
                "{events} events"
            );
        }
        // The auto rules themselves: vectors and the next-item model up to 50M events.
        let small = IndexParams::auto(1_000_000);
        assert_eq!(
            small.embedding.map(|e| e.epochs),
            Some(embedding::auto_epochs(1_000_000))
        );
        assert_eq!(
            small.next_item.map(|n| n.epochs),
            Some(next::auto_epochs(1_000_000))
        );
        let large = IndexParams::auto(embedding::AUTO_MAX_EVENTS + 1);
        assert_eq!((large.embedding, large.next_item), (None, None));
    }
}
