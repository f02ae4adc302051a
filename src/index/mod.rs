//! The co-visitation index (design.md §2): three tables of "items seen together" and the
//! item statistics the candidates and the ranker need.
//!
//! - [`covisit`]: the counting kernel (pairs per session, aggregated per partition of aid_x);
//! - [`table`]: the in-RAM form of a table for the request path (CSR);
//! - [`stats`]: per-item counts and the most popular items per type;
//! - [`store`]: the model directory on disk (Parquet files and a checked manifest).

pub mod covisit;
pub mod stats;
pub mod store;
pub mod table;

use indicatif::ProgressBar;

use crate::data::SessionLog;
use crate::data::split::DAY;
pub use stats::{ItemStats, Popular};
pub use table::CovisitTable;

/// Which events of a session a table looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventFilter {
    /// Every event.
    All,
    /// Carts and orders only.
    Buys,
}

/// How a pair (x, y) is weighted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// `1 + 3·(ts_x − ts_min)/(ts_max − ts_min)`: recent co-visits count more.
    Time,
    /// `{click: 1, cart: 6, order: 3}[type_y]`.
    Type,
    /// 1 for every pair.
    Unit,
}

/// Weight of y's event type in the type-weighted table and in the heuristic's history
/// scores: click 1, cart 6, order 3 (the "Candidate ReRank" baseline).
pub const TYPE_WEIGHTS: [f32; 3] = [1.0, 6.0, 3.0];

/// The definition of one co-visitation table.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CovisitSpec {
    pub events: EventFilter,
    /// The session's most recent events considered (after the filter).
    pub tail: usize,
    /// Pairs further apart than this (seconds) are not counted.
    pub window_seconds: u32,
    pub weighting: Weighting,
    /// Neighbours kept per aid_x.
    pub top_k: usize,
}

/// The three tables, in the order of [`TableKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Clicks = 0,
    CartsOrders = 1,
    Buy2Buy = 2,
}

impl TableKind {
    pub const ALL: [TableKind; 3] = [
        TableKind::Clicks,
        TableKind::CartsOrders,
        TableKind::Buy2Buy,
    ];

    /// Short name, used in file and feature names.
    pub fn name(self) -> &'static str {
        match self {
            TableKind::Clicks => "clicks",
            TableKind::CartsOrders => "carts_orders",
            TableKind::Buy2Buy => "buy2buy",
        }
    }
}

/// Parameters of `build-index`, with the baseline's values as defaults.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexParams {
    /// Specs in the order of [`TableKind`].
    pub tables: [CovisitSpec; 3],
    /// Days at the end of the data that count as "recent" in the item statistics.
    pub recent_days: u32,
    /// Popular items kept per type.
    pub popular: usize,
    /// Upper bound of pair instances held in memory at once by the kernel.
    pub pairs_per_pass: usize,
}

impl Default for IndexParams {
    fn default() -> Self {
        IndexParams {
            tables: [
                CovisitSpec {
                    events: EventFilter::All,
                    tail: 30,
                    window_seconds: DAY,
                    weighting: Weighting::Time,
                    top_k: 20,
                },
                CovisitSpec {
                    events: EventFilter::All,
                    tail: 30,
                    window_seconds: DAY,
                    weighting: Weighting::Type,
                    top_k: 15,
                },
                CovisitSpec {
                    events: EventFilter::Buys,
                    tail: 30,
                    window_seconds: 14 * DAY,
                    weighting: Weighting::Unit,
                    top_k: 15,
                },
            ],
            recent_days: 7,
            popular: 100,
            pairs_per_pass: 150_000_000,
        }
    }
}

/// A built index in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    /// In the order of [`TableKind`].
    pub tables: [CovisitTable; 3],
    pub stats: ItemStats,
    pub popular: Popular,
}

impl Index {
    /// The table of `kind`.
    pub fn table(&self, kind: TableKind) -> &CovisitTable {
        &self.tables[kind as usize]
    }
}

/// Builds the whole index from sessions. Tables whose specs share events, tail and window
/// are counted in one pass over the pairs.
pub fn build(
    log: &SessionLog,
    params: &IndexParams,
    progress: &dyn Fn(&str, u64) -> ProgressBar,
) -> Index {
    let mut tables: [Option<CovisitTable>; 3] = [None, None, None];
    for kind in TableKind::ALL {
        if tables[kind as usize].is_some() {
            continue;
        }
        let spec = params.tables[kind as usize];
        let group: Vec<usize> = (0..3)
            .filter(|&i| {
                let s = params.tables[i];
                tables[i].is_none()
                    && s.events == spec.events
                    && s.tail == spec.tail
                    && s.window_seconds == spec.window_seconds
            })
            .collect();
        let specs: Vec<CovisitSpec> = group.iter().map(|&i| params.tables[i]).collect();
        let names: Vec<&str> = group.iter().map(|&i| TableKind::ALL[i].name()).collect();
        let bar = progress(
            &format!("co-visitation {}", names.join(" + ")),
            log.len() as u64,
        );
        let built = covisit::count(log, &specs, params.pairs_per_pass, &bar);
        bar.finish_and_clear();
        for (i, table) in group.into_iter().zip(built) {
            tables[i] = Some(table);
        }
    }
    let stats = ItemStats::from_log(log, params.recent_days);
    let popular = Popular::from_stats(&stats, params.popular);
    Index {
        tables: tables.map(|t| t.expect("every table built")),
        stats,
        popular,
    }
}
