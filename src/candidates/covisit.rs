//! The co-visitation source: each table's neighbours of the session's history, with their
//! weights aggregated over it.

use super::RECENT_SOURCES;
use super::aggregate::TableAgg;
use crate::index::CovisitTable;

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
