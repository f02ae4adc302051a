//! The similar-items source: the nearest items (by item vector) of the session's most
//! recent aids, aggregated like a co-visitation table's neighbours.

use super::aggregate::TableAgg;
use super::covisit::{CovisitAgg, aggregate_rows};
use super::registry::Retrieval;
use super::{CandidateConfig, Seen};
use crate::family::family;
use crate::index::Index;

/// The similar items of the session's most recent aids (none without item vectors).
#[derive(Clone, Debug, Default)]
pub struct Similar {
    pub agg: TableAgg<CovisitAgg>,
}

impl Similar {
    /// The similar items of the session's `config.similar_history` most recent distinct
    /// aids.
    pub(super) fn find(index: &Index, config: &CandidateConfig, seen: &Seen<'_>) -> Self {
        match &index.embeddings {
            Some(e) => {
                let n = seen.unique.len().min(config.similar_history);
                Similar {
                    agg: aggregate_rows(&e.similar, &seen.unique[..n]),
                }
            }
            None => Similar::default(),
        }
    }
}

family! {
    /// The candidate among the similar items (zeros when it is not one).
    SIMILAR_NAMES;
    fn similar_values(similar: CovisitAgg) {}
    [
        "similar_recency_sum" => similar.recency_sum,
        "similar_count" => similar.count as f32,
    ]
}

impl Retrieval for Similar {
    const RANKS: &'static [&'static str] = &["rank_similar"];
    const FEATURES: &'static [&'static str] = &SIMILAR_NAMES;

    /// The `config.similar` best by recency-weighted cosine.
    fn offer(&self, config: &CandidateConfig, offer: &mut impl FnMut(usize, usize, u32)) {
        self.agg
            .offer_best(config.similar, |a| a.recency_sum, 0, offer);
    }

    #[inline]
    fn write_features(&self, aid: u32, row: &mut Vec<f32>) {
        row.extend_from_slice(&similar_values(
            self.agg.get(aid).copied().unwrap_or_default(),
        ));
    }
}
