//! The index: every retrieval source the candidates draw from, and the item statistics the
//! candidates and the ranker need. Built from one log by [`build`].
//!
//! - [`covisit`]: co-visitation tables (docs/architecture.md, "Data flow"), "items seen together" — the three of
//!   the "Candidate ReRank" baseline and two variants top solutions added — counted per
//!   session and aggregated per partition of aid_x;
//! - [`embedding`]: item vectors (skip-gram) and each item's nearest items;
//! - [`sessions`]: past sessions by item, for finding a session's most similar past
//!   sessions (session-based kNN);
//! - [`table`]: the in-RAM form of a neighbour table for the request path (CSR), shared by
//!   the co-visitation tables and the similar items;
//! - [`stats`]: per-item counts and the most popular items per type;
//! - [`ids`]: the positions items are stored at, so memory follows the distinct items,
//!   never the largest id.
//!
//! Pure: the bundle (`crate::bundle`) stores and loads an index.

pub mod covisit;
pub mod embedding;
pub mod ids;
pub mod refit;
pub mod sessions;
pub mod stats;
pub mod table;

use self::embedding::next::{NextItemModel, NextItemParams};
use self::embedding::{EmbeddingParams, ItemEmbeddings};
use self::sessions::{SessionIndex, SessionKnnParams};
use crate::domain::{DAY, HOUR, SessionLog};
use crate::progress::{Progress, Unit};
pub use ids::{ItemIds, Localized};
pub use stats::{ItemRecord, ItemStats, Popular};
pub use table::{CovisitTable, TableError};

/// Which events of a session a table looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventFilter {
    /// Every event.
    #[default]
    All,
    /// Carts and orders only.
    Buys,
}

impl EventFilter {
    /// True when an event of `kind` passes.
    pub fn accepts(self, kind: crate::domain::EventType) -> bool {
        self == EventFilter::All || kind != crate::domain::EventType::Click
    }
}

/// Which pairs of a session's tail count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// y before or after x.
    #[default]
    Both,
    /// y after x (a later position in the session).
    Forward,
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
    /// `1 / |position_x − position_y|`: items seen one after the other count most.
    Proximity,
}

/// The definition of one co-visitation table.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CovisitSpec {
    /// The events of a session the table looks at (its tail is taken after this filter).
    pub events: EventFilter,
    /// The session's most recent events considered (after the filter).
    pub tail: usize,
    /// Pairs further apart than this (seconds) are not counted.
    pub window_seconds: u32,
    pub weighting: Weighting,
    /// Neighbours kept per aid_x.
    pub top_k: usize,
    /// The events of the tail that may be the y of a pair.
    #[serde(default)]
    pub y_events: EventFilter,
    /// Whether y may come before x.
    #[serde(default)]
    pub direction: Direction,
}

/// The tables, in index order: the baseline's three, then the two variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableKind {
    /// Time-weighted, all events, 24 h (the baseline's `clicks` table).
    Clicks = 0,
    /// Type-weighted, all events, 24 h (`carts_orders`).
    CartsOrders = 1,
    /// Carts and orders, 14 days (`buy2buy`).
    Buy2Buy = 2,
    /// x any event, y a cart or order after it within 24 h: what is bought after what
    /// was seen.
    ClickToBuy = 3,
    /// y within the next events after x (1 h), weighted by proximity: what is viewed next.
    Next = 4,
}

/// Number of tables.
pub const NUM_TABLES: usize = TableKind::ALL.len();

impl TableKind {
    pub const ALL: [TableKind; 5] = [
        TableKind::Clicks,
        TableKind::CartsOrders,
        TableKind::Buy2Buy,
        TableKind::ClickToBuy,
        TableKind::Next,
    ];

    /// The baseline's three tables (what the heuristic reads).
    pub const BASELINE: [TableKind; 3] = [
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
            TableKind::ClickToBuy => "click_to_buy",
            TableKind::Next => "next",
        }
    }
}

/// Parameters of `build-index`, with the baseline's values as defaults.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexParams {
    /// Specs in the order of [`TableKind`]. A bundle built before a kind existed lists
    /// fewer; its missing tables are empty.
    pub tables: Vec<CovisitSpec>,
    /// Days at the end of the data that count as "recent" in the item statistics.
    pub recent_days: u32,
    /// Popular items kept per type.
    pub popular: usize,
    /// Upper bound of pair instances held in memory at once by the kernel.
    pub pairs_per_pass: usize,
    /// Item vectors and similar items, when built.
    #[serde(default)]
    pub embedding: Option<EmbeddingParams>,
    /// Past sessions by item (session-based kNN), when built. Absent from the parameters of
    /// a bundle built before they existed.
    #[serde(default)]
    pub sessions: Option<SessionKnnParams>,
    /// The next-item model (a feature scorer, not a source), when built; independent of
    /// the item vectors. A bundle built while it lived beside them has its parameters in
    /// `embedding` instead, and [`adopt_legacy`](Self::adopt_legacy) moves them here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_item: Option<NextItemParams>,
}

impl Default for IndexParams {
    fn default() -> Self {
        IndexParams {
            tables: vec![
                CovisitSpec {
                    events: EventFilter::All,
                    tail: 30,
                    window_seconds: DAY,
                    weighting: Weighting::Time,
                    top_k: 20,
                    y_events: EventFilter::All,
                    direction: Direction::Both,
                },
                CovisitSpec {
                    events: EventFilter::All,
                    tail: 30,
                    window_seconds: DAY,
                    weighting: Weighting::Type,
                    top_k: 15,
                    y_events: EventFilter::All,
                    direction: Direction::Both,
                },
                CovisitSpec {
                    events: EventFilter::Buys,
                    tail: 30,
                    window_seconds: 14 * DAY,
                    weighting: Weighting::Unit,
                    top_k: 15,
                    y_events: EventFilter::All,
                    direction: Direction::Both,
                },
                CovisitSpec {
                    events: EventFilter::All,
                    tail: 30,
                    window_seconds: DAY,
                    weighting: Weighting::Type,
                    top_k: 20,
                    y_events: EventFilter::Buys,
                    direction: Direction::Forward,
                },
                CovisitSpec {
                    events: EventFilter::All,
                    tail: 30,
                    window_seconds: HOUR,
                    weighting: Weighting::Proximity,
                    top_k: 20,
                    y_events: EventFilter::All,
                    direction: Direction::Forward,
                },
            ],
            recent_days: 7,
            popular: 100,
            pairs_per_pass: 150_000_000,
            embedding: None,
            sessions: Some(SessionKnnParams::default()),
            next_item: None,
        }
    }
}

impl IndexParams {
    /// `build-index`'s defaults for a log of `events` events: the default parameters with
    /// the item vectors and the next-item model each as its `auto` rule gives them.
    pub fn auto(events: usize) -> Self {
        IndexParams {
            embedding: embedding::auto(events),
            next_item: embedding::auto_enabled(events).then(|| embedding::next::auto(events)),
            ..IndexParams::default()
        }
    }

    /// Moves the next-item model's parameters of a bundle built while the model lived
    /// beside the item vectors (inside `embedding`) to [`next_item`](Self::next_item),
    /// with the item vectors' `min_count` it was trained with.
    pub fn adopt_legacy(&mut self) {
        if let Some(e) = &mut self.embedding
            && let Some(mut next) = e.legacy_next_item.take()
            && self.next_item.is_none()
        {
            next.min_count = e.min_count;
            self.next_item = Some(next);
        }
    }
}

/// A built index in memory. Every table, statistic and popular list holds item
/// *positions* ([`ItemIds`]); callers with aids convert through `ids`.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    /// The aids the index knows and their positions.
    pub ids: ItemIds,
    /// In the order of [`TableKind`] (an empty table for a kind the parameters lack).
    pub tables: [CovisitTable; NUM_TABLES],
    pub stats: ItemStats,
    pub popular: Popular,
    /// Item vectors and similar items, when the index has them.
    pub embeddings: Option<ItemEmbeddings>,
    /// Past sessions by item, when the index has them.
    pub sessions: Option<SessionIndex>,
    /// The next-item model, when the index has one.
    pub next_item: Option<NextItemModel>,
}

impl Index {
    /// The table of `kind`.
    pub fn table(&self, kind: TableKind) -> &CovisitTable {
        &self.tables[kind as usize]
    }

    /// Starts loading what a feature row reads of `aid` beyond the session's own
    /// aggregates: its statistics and its vector. A hint only: it changes no value.
    #[inline]
    pub fn prefetch_item(&self, aid: u32) {
        self.stats.prefetch(aid);
        if let Some(e) = &self.embeddings {
            e.vectors.prefetch(aid);
        }
        if let Some(next) = &self.next_item {
            next.prefetch(aid);
        }
    }
}

/// A hint to start loading the cache line that holds `value` (nothing off x86-64).
#[inline]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch of a live reference's address; it reads nothing into the program.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            value as *const T as *const i8,
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
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

impl CovisitSpec {
    /// True when `other` forms the same pairs (so both tables count in one pass).
    fn shares_pairs_with(&self, other: &CovisitSpec) -> bool {
        self.events == other.events
            && self.tail == other.tail
            && self.window_seconds == other.window_seconds
            && self.y_events == other.y_events
            && self.direction == other.direction
    }
}

impl IndexParams {
    /// The spec of `kind`, if these parameters have one.
    pub fn spec(&self, kind: TableKind) -> Option<&CovisitSpec> {
        self.tables.get(kind as usize)
    }

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

    /// Checks parameters read from a file, as the command line checks its flags.
    pub fn validate(&self) -> Result<(), String> {
        if self.tables.is_empty() || self.tables.len() > NUM_TABLES {
            return Err(format!(
                "{} tables; expected 1 to {NUM_TABLES}",
                self.tables.len()
            ));
        }
        for (kind, spec) in TableKind::ALL.iter().zip(&self.tables) {
            let bad = |field: &str, problem: String| {
                Err(format!("table {}: {field} {problem}", kind.name()))
            };
            if let Err(e) = Self::tail(spec.tail) {
                return bad("tail", e.to_string());
            }
            if spec.window_seconds == 0 {
                return bad("window_seconds", ParamsError::Zero.to_string());
            }
            if spec.top_k == 0 {
                return bad("top_k", ParamsError::Zero.to_string());
            }
        }
        if self.recent_days == 0 {
            return Err(format!("recent_days {}", ParamsError::Zero));
        }
        if self.popular == 0 {
            return Err(format!("popular {}", ParamsError::Zero));
        }
        if let Some(p) = self.sessions {
            p.validate()
                .map_err(|(field, problem)| format!("sessions: {field} {problem}"))?;
        }
        Ok(())
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

/// Builds the whole index from sessions. Tables whose specs form the same pairs are
/// counted in one pass over them. Sparse aids are counted at their positions: the log's
/// aids are turned into positions for the build and back into aids after it, in place, so
/// no copy of the log is made.
pub fn build(log: &mut SessionLog, params: &IndexParams, progress: &dyn Progress) -> Index {
    let ids = ItemIds::of(&log.aids);
    ids.localize_in_place(log);
    let index = build_at_positions(log, ids, params, progress);
    index.ids.unlocalize_in_place(log);
    index
}

/// The fitted scorers `params` asks for (item vectors with their similar items, the
/// next-item model), on a log at its positions.
pub(crate) fn fit_scorers(
    log: &SessionLog,
    params: &IndexParams,
    progress: &dyn Progress,
) -> (Option<ItemEmbeddings>, Option<NextItemModel>) {
    let embeddings = params
        .embedding
        .as_ref()
        .map(|p| embedding::build(log, p, progress));
    let next_item = params
        .next_item
        .as_ref()
        .map(|p| embedding::next::train(log, p, progress));
    (embeddings, next_item)
}

/// [`build`] on a log whose aids are the positions of `ids`.
fn build_at_positions(
    log: &SessionLog,
    ids: ItemIds,
    params: &IndexParams,
    progress: &dyn Progress,
) -> Index {
    let mut tables: [Option<CovisitTable>; NUM_TABLES] = Default::default();
    let kinds = params.tables.len().min(NUM_TABLES);
    for k in 0..kinds {
        if tables[k].is_some() {
            continue;
        }
        let spec = params.tables[k];
        let group: Vec<usize> = (0..kinds)
            .filter(|&i| tables[i].is_none() && params.tables[i].shares_pairs_with(&spec))
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
    let (embeddings, next_item) = fit_scorers(log, params, progress);
    let sessions = params.sessions.as_ref().map(|p| {
        progress.stage("past sessions by item", 1, Unit::Items);
        let index = SessionIndex::build(log, ids.len(), p).with_idf(&stats);
        progress.finish();
        index
    });
    Index {
        ids,
        tables: tables.map(Option::unwrap_or_default),
        stats,
        popular,
        embeddings,
        sessions,
        next_item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle built while the next-item model lived beside the item vectors keeps its
    /// parameters inside `embedding`: reading them moves them to `next_item`, with the
    /// vectors' `min_count`, and writing them again puts them there only.
    #[test]
    fn the_next_item_parameters_of_an_older_bundle_are_adopted() {
        let mut old = serde_json::to_value(IndexParams {
            embedding: Some(EmbeddingParams {
                min_count: 3,
                ..EmbeddingParams::default()
            }),
            ..IndexParams::default()
        })
        .unwrap();
        old["embedding"]["next_item"] = serde_json::json!({
            "dim": 64, "negatives": 10, "epochs": 30, "learning_rate": 0.15, "seed": 42
        });
        let mut params: IndexParams = serde_json::from_value(old).unwrap();
        assert_eq!(params.next_item, None);
        params.adopt_legacy();
        let next = params.next_item.expect("adopted");
        assert_eq!((next.dim, next.epochs, next.min_count), (64, 30, 3));
        let written = serde_json::to_value(&params).unwrap();
        assert!(written["embedding"].get("next_item").is_none());
        assert_eq!(written["next_item"]["min_count"], 3);
        // Parameters that already have their own are left as they are.
        let again: IndexParams = serde_json::from_value(written).unwrap();
        assert_eq!(again, params);
    }
}
