//! The fitted scorers of an index (item vectors with their similar items, the next-item
//! model) carried over to an index of a later part of the same log.
//!
//! Training indexes the log as it was at each labelled period. The co-visitation tables,
//! statistics and past sessions are counts, cheap to redo per period; the vectors are
//! fitted by passes of SGD, the dearest part of a period's index. Vectors fitted on the
//! events before the *oldest* of several periods have seen none of those periods' labels,
//! so they can serve all of them: [`FittedScorers::fit`] once, then
//! [`FittedScorers::index`] for each period. An item the vectors never saw (it first
//! appears later) has no vector in the later period's index, as a rare item has none.

use super::embedding::next::NextItemModel;
use super::embedding::{Embeddings, ItemEmbeddings};
use super::{CovisitTable, Index, IndexParams, ItemIds, build, fit_scorers};
use crate::domain::SessionLog;
use crate::progress::Progress;

/// Scorers fitted on one log, and the ids of their positions.
pub struct FittedScorers {
    ids: ItemIds,
    embeddings: Option<ItemEmbeddings>,
    next_item: Option<NextItemModel>,
}

impl FittedScorers {
    /// Fits the scorers `params` asks for on `log`.
    pub fn fit(log: &mut SessionLog, params: &IndexParams, progress: &dyn Progress) -> Self {
        let ids = ItemIds::of(&log.aids);
        ids.localize_in_place(log);
        let (embeddings, next_item) = fit_scorers(log, params, progress);
        ids.unlocalize_in_place(log);
        FittedScorers {
            ids,
            embeddings,
            next_item,
        }
    }

    /// The index of `log` (a later part of the log the scorers were fitted on) with
    /// `params`, its scorers these instead of ones fitted on `log`.
    pub fn index(
        &self,
        log: &mut SessionLog,
        params: &IndexParams,
        progress: &dyn Progress,
    ) -> Index {
        let counts_only = IndexParams {
            embedding: None,
            next_item: None,
            ..params.clone()
        };
        let mut index = build(log, &counts_only, progress);
        let map = PositionMap::new(&self.ids, &index.ids);
        index.embeddings = self.embeddings.as_ref().map(|e| ItemEmbeddings {
            vectors: map.embeddings(&e.vectors),
            similar: map.table(&e.similar),
        });
        index.next_item = self.next_item.as_ref().map(|m| map.next_item(m));
        index
    }
}

/// For each position of one index, its position in another (`None`: the other does not
/// know the aid). Positions follow the aids' order in both, so the map keeps order.
struct PositionMap {
    to: Vec<Option<u32>>,
    len: usize,
}

impl PositionMap {
    fn new(from: &ItemIds, to: &ItemIds) -> Self {
        PositionMap {
            to: (0..from.len() as u32)
                .map(|p| to.position(from.aid(p)))
                .collect(),
            len: to.len(),
        }
    }

    /// Rows of `dim` floats moved to their new positions (zero rows where none).
    fn rows(&self, rows: &[f32], dim: usize) -> Vec<f32> {
        let mut out = vec![0f32; self.len * dim];
        for (p, row) in rows.chunks_exact(dim).enumerate() {
            if let Some(Some(q)) = self.to.get(p) {
                let q = *q as usize;
                out[q * dim..(q + 1) * dim].copy_from_slice(row);
            }
        }
        out
    }

    fn embeddings(&self, e: &Embeddings) -> Embeddings {
        Embeddings::from_unit_rows(e.dim(), self.rows(e.rows(), e.dim()))
    }

    fn next_item(&self, m: &NextItemModel) -> NextItemModel {
        let (input, output) = m.rows();
        NextItemModel::from_rows(
            m.dim(),
            self.rows(input, m.dim()),
            self.rows(output, m.dim()),
        )
    }

    /// The table's pairs at the new positions; a pair with an unknown end is dropped. The
    /// map keeps order, so rows stay sorted and best first.
    fn table(&self, t: &CovisitTable) -> CovisitTable {
        let (xs, ys, ws) = t.to_rows();
        let (mut x2, mut y2, mut w2) = (Vec::new(), Vec::new(), Vec::new());
        for ((x, y), w) in xs.into_iter().zip(ys).zip(ws) {
            if let (Some(Some(x)), Some(Some(y))) =
                (self.to.get(x as usize), self.to.get(y as usize))
            {
                x2.push(*x);
                y2.push(*y);
                w2.push(w);
            }
        }
        CovisitTable::from_rows(&x2, &y2, &w2).expect("an order-keeping map keeps a table valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType::Click;
    use crate::index::embedding::EmbeddingParams;
    use crate::index::embedding::next::NextItemParams;
    use crate::progress::Silent;

    /// Sessions of 6 items of one of `categories` categories of 8 items each, with sparse
    /// aids (positions are ranks, not the aids), one session a minute.
    fn log(sessions: usize, categories: u32) -> SessionLog {
        let mut log = SessionLog::new();
        let mut state = 7u64;
        for i in 0..sessions {
            let mut next = || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as u32
            };
            let category = next() % categories;
            let aids: Vec<u32> = (0..6)
                .map(|_| 100_000_000 + (category * 8 + next() % 8) * 7_919)
                .collect();
            let t = 60 * i as u32;
            let ts: Vec<u32> = (0..6).map(|j| t + j).collect();
            log.push_session(i as u32, &aids, &ts, &[Click; 6]);
        }
        log
    }

    /// Scorers fitted on an early log, carried to the index of a later one that knows more
    /// items: every item keeps its vectors, its similar items and its next-item rows under
    /// its new position, and the items first seen later have none.
    #[test]
    fn carried_scorers_keep_every_items_vectors_under_its_new_position() {
        let params = IndexParams {
            embedding: Some(EmbeddingParams {
                min_count: 1,
                ..EmbeddingParams::default()
            }),
            next_item: Some(NextItemParams {
                min_count: 1,
                epochs: 2,
                ..NextItemParams::default()
            }),
            ..IndexParams::default()
        };
        let mut early = log(300, 4);
        let scorers = FittedScorers::fit(&mut early, &params, &Silent);
        let mut later = log(600, 6);
        let index = scorers.index(&mut later, &params, &Silent);
        assert!(
            index.ids.len() > scorers.ids.len(),
            "the later log knows more items"
        );
        let (old_e, new_e) = (
            scorers.embeddings.as_ref().unwrap(),
            index.embeddings.as_ref().unwrap(),
        );
        let (old_n, new_n) = (
            scorers.next_item.as_ref().unwrap(),
            index.next_item.as_ref().unwrap(),
        );
        let mut carried = 0;
        for p in 0..index.ids.len() as u32 {
            let aid = index.ids.aid(p);
            match scorers.ids.position(aid) {
                Some(q) => {
                    assert_eq!(new_e.vectors.vector(p), old_e.vectors.vector(q));
                    assert_eq!(new_n.output(p), old_n.output(q));
                    let aids_of = |ids: &ItemIds, t: &CovisitTable, x: u32| -> Vec<u32> {
                        t.neighbors(x).iter().map(|&y| ids.aid(y)).collect()
                    };
                    assert_eq!(
                        aids_of(&index.ids, &new_e.similar, p),
                        aids_of(&scorers.ids, &old_e.similar, q)
                    );
                    carried += old_e.vectors.vector(q).is_some() as usize;
                }
                None => {
                    assert_eq!(new_e.vectors.vector(p), None);
                    assert_eq!(new_n.output(p), None);
                    assert!(new_e.similar.neighbors(p).is_empty());
                }
            }
        }
        assert_eq!(carried, scorers.ids.len(), "every early item had a vector");
    }

    #[test]
    fn positions_move_with_their_aids_and_unknown_ones_drop() {
        let from = ItemIds::from_sorted(vec![10, 500, 9_000]).unwrap();
        let to = ItemIds::from_sorted(vec![3, 10, 77, 500, 9_000, 12_000]).unwrap();
        let map = PositionMap::new(&from, &to);
        assert_eq!(map.to, vec![Some(1), Some(3), Some(4)]);
        let rows = map.rows(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2);
        assert_eq!(rows, vec![0., 0., 1., 2., 0., 0., 3., 4., 5., 6., 0., 0.]);
        let table =
            CovisitTable::from_lists([vec![(1, 0.9), (2, 0.5)], vec![(0, 0.9)], vec![(0, 0.5)]]);
        let moved = map.table(&table);
        assert_eq!(moved.row(1), (&[3, 4][..], &[0.9, 0.5][..]));
        assert_eq!(moved.row(3), (&[1][..], &[0.9][..]));
        assert_eq!(moved.row(4), (&[1][..], &[0.5][..]));
        assert!(moved.neighbors(0).is_empty());
        // An aid the later index does not know loses its rows and its pairs.
        let smaller = ItemIds::from_sorted(vec![10, 9_000]).unwrap();
        let dropped = PositionMap::new(&from, &smaller).table(&table);
        assert_eq!(dropped.row(0), (&[1][..], &[0.5][..]));
        assert_eq!(dropped.row(1), (&[0][..], &[0.5][..]));
    }
}
