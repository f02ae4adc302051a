//! The co-visitation index (design.md §2): three tables of "items seen together" and the
//! item statistics the candidates and the ranker need.
//!
//! - [`covisit`]: the counting kernel (pairs per session, aggregated per partition of aid_x);
//! - [`table`]: the in-RAM form of a table for the request path (CSR);
//! - [`stats`]: per-item counts and the most popular items per type.
//!
//! Pure: the bundle (`crate::bundle`) stores and loads an index.

pub mod covisit;
pub mod stats;
pub mod table;

use crate::domain::{DAY, HOUR, SessionLog};
use crate::progress::{Progress, Unit};
pub use stats::{ItemStats, Popular};
pub use table::{CovisitTable, TableError};

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
    /// `{click: 1, cart: 6, order: 3}[type_y]` ([`EVENT_TYPE_WEIGHTS`](crate::domain::EVENT_TYPE_WEIGHTS)).
    Type,
    /// 1 for every pair.
    Unit,
}

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

/// Most recent events per session a table may pair: the pairs of a session grow with its
/// square, so a larger tail is refused rather than allowed to exhaust memory.
pub const MAX_TAIL: usize = 1_000;

/// Why index parameters are unusable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("must be between 1 and {MAX_TAIL}")]
    Tail,
    #[error("must be at least 1")]
    Zero,
    #[error("is too large: the window must fit 2^32 seconds (136 years)")]
    WindowOverflow,
}

impl IndexParams {
    /// A window of `hours`, in seconds, checked.
    pub fn hours(hours: u32) -> Result<u32, ParamsError> {
        if hours == 0 {
            return Err(ParamsError::Zero);
        }
        hours.checked_mul(HOUR).ok_or(ParamsError::WindowOverflow)
    }

    /// A window of `days`, in seconds, checked.
    pub fn days(days: u32) -> Result<u32, ParamsError> {
        if days == 0 {
            return Err(ParamsError::Zero);
        }
        days.checked_mul(DAY).ok_or(ParamsError::WindowOverflow)
    }

    /// A tail length, checked.
    pub fn tail(tail: usize) -> Result<usize, ParamsError> {
        if (1..=MAX_TAIL).contains(&tail) {
            Ok(tail)
        } else {
            Err(ParamsError::Tail)
        }
    }
}

/// Builds the whole index from sessions. Tables whose specs share events, tail and window
/// are counted in one pass over the pairs.
pub fn build(log: &SessionLog, params: &IndexParams, progress: &dyn Progress) -> Index {
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
        progress.stage(
            &format!("co-visitation {}", names.join(" + ")),
            log.len() as u64,
            Unit::Items,
        );
        let built = covisit::count(log, &specs, params.pairs_per_pass, progress);
        progress.finish();
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
