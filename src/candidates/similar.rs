//! The similar-items source and the session's vectors: the nearest items (by item vector)
//! of the session's most recent aids, and the vectors the embedding features compare each
//! candidate with.

use super::aggregate::TableAgg;
use super::covisit::{CovisitAgg, aggregate_rows};
use super::{BUY_VECTORS, CandidateConfig, RECENT_VECTORS, SessionVectors};
use crate::domain::Session;
use crate::index::embedding::{ItemEmbeddings, dot};

/// The similar items of the session's `config.similar_history` most recent distinct aids,
/// aggregated like a table's neighbours, and the session's vectors.
pub(super) fn aggregate<'a>(
    e: &'a ItemEmbeddings,
    config: &CandidateConfig,
    session: Session<'a>,
    unique: &[u32],
    unique_buys: &[u32],
) -> (TableAgg<CovisitAgg>, SessionVectors<'a>) {
    let n = unique.len().min(config.similar_history);
    let similar = aggregate_rows(&e.similar, &unique[..n]);
    let v = &e.vectors;
    let recent: Vec<&[f32]> = unique
        .iter()
        .take(RECENT_VECTORS)
        .filter_map(|&a| v.vector(a))
        .collect();
    let mut mean = vec![0f32; v.dim()];
    for (p, &a) in unique.iter().take(RECENT_VECTORS).enumerate() {
        if let Some(x) = v.vector(a) {
            let w = 1.0 / (1 + p) as f32;
            mean.iter_mut().zip(x).for_each(|(m, x)| *m += w * x);
        }
    }
    let norm = dot(&mean, &mean).sqrt();
    let vectors = SessionVectors {
        last: session.aids.last().and_then(|&a| v.vector(a)),
        mean: (norm > 0.0).then(|| mean.iter().map(|m| m / norm).collect()),
        recent,
        buys: unique_buys
            .iter()
            .take(BUY_VECTORS)
            .filter_map(|&a| v.vector(a))
            .collect(),
    };
    (similar, vectors)
}
