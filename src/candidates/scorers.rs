//! The feature scorers: the item vectors' cosines between each candidate and the session,
//! and the next-item model's score of each candidate after the session. They offer no
//! candidates and score every candidate, whichever sources are on.

use super::registry::Scorer;
use super::{BUY_VECTORS, RECENT_VECTORS, Seen};
use crate::family::family;
use crate::index::Index;
use crate::index::embedding::next::NextItemModel;
use crate::index::embedding::{Embeddings, dot, dots};

/// What the item vectors say about a session.
#[derive(Clone, Debug, Default)]
pub struct SessionVectors<'a> {
    /// The unit vector of the session's last aid.
    pub last: Option<&'a [f32]>,
    /// The recency-weighted mean of its most recent aids' vectors, unit length.
    pub mean: Option<Vec<f32>>,
    /// Vectors of its most recent distinct aids.
    pub recent: Vec<&'a [f32]>,
    /// Vectors of its most recent distinct carted or ordered aids.
    pub buys: Vec<&'a [f32]>,
}

/// The item-vector scorer: the session's vectors, and the item vectors a candidate's are
/// read from (none without item vectors: every cosine is then missing).
#[derive(Clone, Debug, Default)]
pub struct Vectors<'a> {
    items: Option<&'a Embeddings>,
    pub session: SessionVectors<'a>,
}

impl<'a> Vectors<'a> {
    pub(super) fn find(index: &'a Index, seen: &Seen<'a>) -> Self {
        let Some(e) = &index.embeddings else {
            return Vectors::default();
        };
        let v = &e.vectors;
        let unique = &seen.unique;
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
        let session = SessionVectors {
            last: seen.session.aids.last().and_then(|&a| v.vector(a)),
            mean: (norm > 0.0).then(|| mean.iter().map(|m| m / norm).collect()),
            recent,
            buys: seen
                .unique_buys
                .iter()
                .take(BUY_VECTORS)
                .filter_map(|&a| v.vector(a))
                .collect(),
        };
        Vectors {
            items: Some(v),
            session,
        }
    }
}

/// The cosines between the candidate's item vector and the session's: the last aid's, the
/// mean's, the most recent aids', the buys' (an absent vector is an empty slice, never
/// read).
const SESSION_VECTORS: usize = 2 + RECENT_VECTORS + BUY_VECTORS;

family! {
    /// The candidate's cosines with the session's vectors (NaN without item vectors):
    /// `cosines` holds them ([`SESSION_VECTORS`]: last, mean, `recent` recent aids, then
    /// the buys, `used` in all), `own` whether the candidate has a vector.
    VECTOR_NAMES;
    fn vector_values(
        v: &SessionVectors<'_>,
        cosines: &[f32; SESSION_VECTORS],
        own: bool,
        recent: usize,
        used: usize,
    ) {
        let cos = |i: usize, present: bool| if present { cosines[i] } else { f32::NAN };
        let max_cos = |range: std::ops::Range<usize>| {
            if own && !range.is_empty() {
                cosines[range].iter().copied().fold(f32::NEG_INFINITY, f32::max)
            } else {
                f32::NAN
            }
        };
    }
    [
        "emb_cos_last" => cos(0, v.last.is_some()),
        "emb_cos_session" => cos(1, v.mean.is_some()),
        "emb_cos_max_recent" => max_cos(2..2 + recent),
        "emb_cos_max_buys" => max_cos(2 + recent..used),
    ]
}

impl Scorer for Vectors<'_> {
    const FEATURES: &'static [&'static str] = &VECTOR_NAMES;

    #[inline]
    fn write_features(&self, aid: u32, row: &mut Vec<f32>) {
        let v = &self.session;
        let own = self.items.and_then(|e| e.vector(aid));
        // The candidate's cosines to the session's vectors, in one call.
        let mut others: [&[f32]; SESSION_VECTORS] = [&[]; SESSION_VECTORS];
        let mut cosines = [f32::NAN; SESSION_VECTORS];
        let (recent, buys) = (v.recent.len(), v.buys.len());
        let [last, mean, rest @ ..] = &mut others;
        *last = v.last.unwrap_or_default();
        *mean = v.mean.as_deref().unwrap_or_default();
        rest[..recent].copy_from_slice(&v.recent);
        rest[recent..recent + buys].copy_from_slice(&v.buys);
        let used = 2 + recent + buys;
        if let Some(a) = own {
            dots(a, &others[..used], &mut cosines[..used]);
        }
        row.extend_from_slice(&vector_values(v, &cosines, own.is_some(), recent, used));
    }
}

/// The next-item scorer: the model and the session's vector in it (none without the
/// model).
#[derive(Clone, Debug, Default)]
pub struct NextItem<'a> {
    model: Option<&'a NextItemModel>,
    pub vector: Option<Vec<f32>>,
}

impl<'a> NextItem<'a> {
    pub(super) fn find(index: &'a Index, seen: &Seen<'a>) -> Self {
        let model = index.next_item.as_ref();
        NextItem {
            model,
            vector: model.and_then(|m| m.session_vector(seen.session.aids)),
        }
    }
}

family! {
    /// The next-item model's score of the candidate after the session (NaN without it).
    NEXT_ITEM_NAMES;
    fn next_item_values(next: &NextItem<'_>, aid: u32) {}
    [
        "next_item_score" => next
            .model
            .zip(next.vector.as_deref())
            .and_then(|(m, h)| m.score(h, aid))
            .unwrap_or(f32::NAN),
    ]
}

impl Scorer for NextItem<'_> {
    const FEATURES: &'static [&'static str] = &NEXT_ITEM_NAMES;

    #[inline]
    fn write_features(&self, aid: u32, row: &mut Vec<f32>) {
        row.extend_from_slice(&next_item_values(self, aid));
    }
}
