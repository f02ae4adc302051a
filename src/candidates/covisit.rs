//! The co-visitation source: each table's neighbours of the session's history, with their
//! weights aggregated over it.

use super::aggregate::TableAgg;
use super::registry::Retrieval;
use super::{CandidateConfig, NeighbourRanking, RECENT_SOURCES, Seen};
use crate::family::family;
use crate::index::{CovisitTable, Index, NUM_TABLES, TableKind};

/// Each table's neighbours of the session's history, aggregated, in [`TableKind`] order.
#[derive(Clone, Debug)]
pub struct Covisit {
    pub tables: [TableAgg<CovisitAgg>; NUM_TABLES],
}

impl Covisit {
    pub(super) fn find(index: &Index, config: &CandidateConfig, seen: &Seen<'_>) -> Self {
        Covisit {
            tables: aggregate_tables(index, config, &seen.unique, &seen.unique_buys, seen.top_aid),
        }
    }
}

impl Retrieval for Covisit {
    const RANKS: &'static [&'static str] = &[
        "rank_covisit_clicks",
        "rank_covisit_carts_orders",
        "rank_covisit_buy2buy",
        "rank_covisit_click_to_buy",
        "rank_covisit_next",
    ];
    const FEATURES: &'static [&'static str] = &COVISIT_NAMES;

    /// Each table's `config.per_table` best neighbours (ties keep first-seen order).
    fn offer(&self, config: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32)) {
        let key = |a: &CovisitAgg| match config.neighbour_ranking {
            NeighbourRanking::Sum => a.sum,
            NeighbourRanking::Recency => a.recency_sum,
        };
        for (list, agg) in self.tables.iter().enumerate() {
            agg.offer_best(config.per_table, key, list, offer);
        }
    }

    #[inline]
    fn write_features(&self, aid: u32, row: &mut Vec<f32>) {
        for agg in &self.tables {
            row.extend_from_slice(&covisit_values(agg.get(aid).copied().unwrap_or_default()));
        }
    }
}

family! {
    /// The candidate's weights from the history in one co-visitation table; written for
    /// each table, as `covisit_{table}_{part}` ([`COVISIT_NAMES`]).
    pub COVISIT_PARTS;
    fn covisit_values(c: CovisitAgg) {}
    [
        "sum" => c.sum,
        "max" => c.max,
        "count" => c.count as f32,
        "recency_sum" => c.recency_sum,
        "from_last" => c.from_recent[0],
        "from_second" => c.from_recent[1],
        "from_third" => c.from_recent[2],
        "from_top" => c.from_top,
    ]
}

// The family writes the weights from the three most recent aids.
const _: () = assert!(RECENT_SOURCES == 3);

/// The co-visitation features: [`COVISIT_PARTS`] for each table, in [`TableKind`] order
/// (a test checks them against the tables' names).
pub const COVISIT_NAMES: [&str; NUM_TABLES * COVISIT_PARTS.len()] = [
    "covisit_clicks_sum",
    "covisit_clicks_max",
    "covisit_clicks_count",
    "covisit_clicks_recency_sum",
    "covisit_clicks_from_last",
    "covisit_clicks_from_second",
    "covisit_clicks_from_third",
    "covisit_clicks_from_top",
    "covisit_carts_orders_sum",
    "covisit_carts_orders_max",
    "covisit_carts_orders_count",
    "covisit_carts_orders_recency_sum",
    "covisit_carts_orders_from_last",
    "covisit_carts_orders_from_second",
    "covisit_carts_orders_from_third",
    "covisit_carts_orders_from_top",
    "covisit_buy2buy_sum",
    "covisit_buy2buy_max",
    "covisit_buy2buy_count",
    "covisit_buy2buy_recency_sum",
    "covisit_buy2buy_from_last",
    "covisit_buy2buy_from_second",
    "covisit_buy2buy_from_third",
    "covisit_buy2buy_from_top",
    "covisit_click_to_buy_sum",
    "covisit_click_to_buy_max",
    "covisit_click_to_buy_count",
    "covisit_click_to_buy_recency_sum",
    "covisit_click_to_buy_from_last",
    "covisit_click_to_buy_from_second",
    "covisit_click_to_buy_from_third",
    "covisit_click_to_buy_from_top",
    "covisit_next_sum",
    "covisit_next_max",
    "covisit_next_count",
    "covisit_next_recency_sum",
    "covisit_next_from_last",
    "covisit_next_from_second",
    "covisit_next_from_third",
    "covisit_next_from_top",
];

/// A candidate's co-visitation weights from the history in one table.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CovisitAgg {
    /// Σ weight over history aids that list it.
    pub sum: f32,
    /// Largest weight from one history aid.
    pub max: f32,
    /// History aids that list it.
    pub count: u16,
    /// Σ weight / (1 + position of the history aid).
    pub recency_sum: f32,
    /// Weight from the session's most recent distinct aids (newest first).
    pub from_recent: [f32; RECENT_SOURCES],
    /// Weight from the session's most interacted aid.
    pub from_top: f32,
}

/// Aggregates the rows of `sources` (newest first) in `table`.
pub(super) fn aggregate_rows(table: &CovisitTable, sources: &[u32]) -> TableAgg<CovisitAgg> {
    aggregate_rows_marked(table, sources, 0, None)
}

/// [`aggregate_rows`], also recording in the same pass each neighbour's weight from the
/// first `recent` sources (`from_recent`) and from source number `top` (`from_top`).
pub(super) fn aggregate_rows_marked(
    table: &CovisitTable,
    sources: &[u32],
    recent: usize,
    top: Option<usize>,
) -> TableAgg<CovisitAgg> {
    // Sized for every neighbour distinct, so the map never grows while it is filled.
    let pairs: usize = sources.iter().map(|&h| table.neighbors(h).len()).sum();
    let mut agg = TableAgg::<CovisitAgg>::with_capacity(pairs);
    for (p, &h) in sources.iter().enumerate() {
        let (ys, ws) = table.row(h);
        let (is_recent, is_top) = (p < recent, top == Some(p));
        for (&y, &w) in ys.iter().zip(ws) {
            let a = agg.entry(y);
            a.sum += w;
            a.max = a.max.max(w);
            a.count += 1;
            a.recency_sum += w / (1 + p) as f32;
            if is_recent {
                a.from_recent[p] = w;
            }
            if is_top {
                a.from_top = w;
            }
        }
    }
    agg
}

/// Each table's neighbours of the session's most recent distinct aids (its buys, for
/// buy2buy), aggregated, with the weights from the most recent aids and the top aid.
fn aggregate_tables(
    index: &Index,
    config: &CandidateConfig,
    unique: &[u32],
    unique_buys: &[u32],
    top_aid: Option<u32>,
) -> [TableAgg<CovisitAgg>; crate::index::NUM_TABLES] {
    let sources = |kind: TableKind| {
        let sources = if kind == TableKind::Buy2Buy {
            unique_buys
        } else {
            unique
        };
        &sources[..sources.len().min(config.history_for_neighbours)]
    };
    // The rows about to be read: where each row is, fetched for every table at once;
    // the rows themselves one table ahead of the table aggregated.
    for kind in TableKind::ALL {
        sources(kind)
            .iter()
            .for_each(|&x| index.table(kind).prefetch_offsets(x));
    }
    let prefetch_rows = |kind: TableKind| {
        sources(kind)
            .iter()
            .for_each(|&x| index.table(kind).prefetch_row(x));
    };
    prefetch_rows(TableKind::ALL[0]);
    let aggregate = |kind: TableKind| {
        if let Some(&next) = TableKind::ALL.get(kind as usize + 1) {
            prefetch_rows(next);
        }
        let table = index.table(kind);
        let rows = sources(kind);
        // The weights from the most recent aids that lead the rows aggregated (all of
        // them but for buy2buy, whose rows are the buys'), and from the top aid when its
        // row is among them, are recorded in the same pass; the others are read again.
        let recent = rows
            .iter()
            .zip(unique)
            .take(RECENT_SOURCES)
            .take_while(|(a, b)| a == b)
            .count();
        let top = top_aid.and_then(|t| rows.iter().position(|&a| a == t));
        let mut agg = aggregate_rows_marked(table, rows, recent, top);
        let mut from = |source: u32, set: &dyn Fn(&mut CovisitAgg, f32)| {
            let (ys, ws) = table.row(source);
            for (&y, &w) in ys.iter().zip(ws) {
                if let Some(a) = agg.get_mut(y) {
                    set(a, w);
                }
            }
        };
        for (r, &source) in unique.iter().enumerate().take(RECENT_SOURCES).skip(recent) {
            from(source, &|a, w| a.from_recent[r] = w);
        }
        if let (Some(t), None) = (top_aid, top) {
            from(t, &|a, w| a.from_top = w);
        }
        agg
    };
    TableKind::ALL.map(aggregate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_follow_the_tables() {
        let names: Vec<String> = TableKind::ALL
            .iter()
            .flat_map(|kind| {
                COVISIT_PARTS
                    .iter()
                    .map(move |part| format!("covisit_{}_{part}", kind.name()))
            })
            .collect();
        assert_eq!(COVISIT_NAMES.to_vec(), names);
        let ranks: Vec<String> = TableKind::ALL
            .iter()
            .map(|kind| format!("rank_covisit_{}", kind.name()))
            .collect();
        assert_eq!(Covisit::RANKS.to_vec(), ranks);
    }
}
