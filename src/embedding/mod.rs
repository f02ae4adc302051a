//! Item embeddings: word2vec's skip-gram with negative sampling (Mikolov et al. 2013)
//! trained on sessions as sentences of aids ([`sgns`]), and for every item with a vector
//! its nearest items by cosine similarity, found with an HNSW index ([`ann`]). The
//! original service's second retrieval channel: similar items become candidates, and
//! cosine similarities between a candidate and the session become ranker features.

pub mod ann;
pub mod sgns;

use serde::{Deserialize, Serialize};

use crate::domain::SessionLog;
use crate::index::CovisitTable;
use crate::progress::Progress;

/// Parameters of the item vectors and the similar-items table, with their defaults
/// (gensim's word2vec defaults where they apply; measured choices documented in
/// BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingParams {
    /// Dimensions of a vector.
    pub dim: usize,
    /// Largest distance (in events) between an item and a context item.
    pub window: usize,
    /// Negative samples per positive pair.
    pub negatives: usize,
    /// Passes over the sessions.
    pub epochs: u32,
    /// Items with fewer events get no vector.
    pub min_count: u32,
    /// Subsampling of frequent items: an event of an item with frequency f is kept with
    /// probability (√(f/t) + 1)·t/f, t = `sample` (word2vec's formula).
    pub sample: f64,
    /// Initial learning rate, decayed linearly to 0.01 % of it.
    pub learning_rate: f32,
    pub seed: u64,
    /// Similar items kept per item.
    pub similar: usize,
}

impl Default for EmbeddingParams {
    fn default() -> Self {
        EmbeddingParams {
            dim: 32,
            window: 5,
            negatives: 5,
            epochs: 1,
            min_count: 5,
            sample: 1e-3,
            learning_rate: 0.025,
            seed: 42,
            similar: 20,
        }
    }
}

/// Why embedding parameters are unusable: the parameter and the problem.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct EmbeddingParamsError {
    /// The [`EmbeddingParams`] field at fault.
    pub field: &'static str,
    pub problem: &'static str,
}

fn invalid(field: &'static str, problem: &'static str) -> EmbeddingParamsError {
    EmbeddingParamsError { field, problem }
}

impl EmbeddingParams {
    /// The same parameters, checked.
    pub fn validate(self) -> Result<Self, EmbeddingParamsError> {
        if !(1..=256).contains(&self.dim) {
            return Err(invalid("dim", "must be between 1 and 256"));
        }
        if self.window == 0 || self.window > 100 {
            return Err(invalid("window", "must be between 1 and 100"));
        }
        if self.negatives == 0 || self.negatives > 100 {
            return Err(invalid("negatives", "must be between 1 and 100"));
        }
        if self.epochs == 0 {
            return Err(invalid("epochs", "must be at least 1"));
        }
        if !(self.sample >= 0.0 && self.sample <= 1.0) {
            return Err(invalid("sample", "must be in [0, 1]"));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(invalid("learning_rate", "must be in (0, 1]"));
        }
        if self.similar == 0 {
            return Err(invalid("similar", "must be at least 1"));
        }
        Ok(self)
    }
}

/// Unit-length vectors per aid; an aid without a vector (too rare, or beyond the table)
/// has none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embeddings {
    dim: usize,
    /// `aids × dim`, row-major; zero rows for aids without a vector.
    vectors: Vec<f32>,
    present: Vec<bool>,
}

impl Embeddings {
    /// Vectors from rows (`aids × dim`), normalised to unit length; all-zero (or
    /// non-finite) rows mean "no vector".
    pub fn from_rows(dim: usize, mut vectors: Vec<f32>) -> Self {
        assert!(dim > 0 && vectors.len().is_multiple_of(dim));
        let mut present = Vec::with_capacity(vectors.len() / dim);
        for row in vectors.chunks_exact_mut(dim) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 && norm.is_finite() {
                row.iter_mut().for_each(|v| *v /= norm);
                present.push(true);
            } else {
                row.iter_mut().for_each(|v| *v = 0.0);
                present.push(false);
            }
        }
        Embeddings {
            dim,
            vectors,
            present,
        }
    }

    /// Vectors already of unit length (as [`rows`](Self::rows) gives them), taken as they
    /// are; all-zero rows mean "no vector".
    pub fn from_unit_rows(dim: usize, vectors: Vec<f32>) -> Self {
        assert!(dim > 0 && vectors.len().is_multiple_of(dim));
        let present = vectors
            .chunks_exact(dim)
            .map(|row| row.iter().any(|&v| v != 0.0))
            .collect();
        Embeddings {
            dim,
            vectors,
            present,
        }
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One past the largest aid with a slot.
    pub fn aid_bound(&self) -> usize {
        self.present.len()
    }

    /// The aids with a vector, ascending.
    pub fn aids(&self) -> Vec<u32> {
        (0..self.aid_bound() as u32)
            .filter(|&a| self.present[a as usize])
            .collect()
    }

    /// Aids with a vector.
    pub fn count(&self) -> usize {
        self.present.iter().filter(|&&p| p).count()
    }

    /// All rows, `aid_bound × dim` (zero rows for aids without a vector).
    pub fn rows(&self) -> &[f32] {
        &self.vectors
    }

    /// The unit vector of `aid`, if it has one.
    pub fn vector(&self, aid: u32) -> Option<&[f32]> {
        let a = aid as usize;
        if self.present.get(a).copied().unwrap_or(false) {
            Some(&self.vectors[a * self.dim..(a + 1) * self.dim])
        } else {
            None
        }
    }

    /// Cosine similarity of two aids, if both have vectors.
    pub fn cosine(&self, a: u32, b: u32) -> Option<f32> {
        Some(dot(self.vector(a)?, self.vector(b)?))
    }
}

/// Σ a·b, summed in eight interleaved lanes (so the compiler keeps it in SIMD registers)
/// and then pairwise: one fixed order, so every caller gets the same bits.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    for (k, (x, y)) in ra.iter().zip(rb).enumerate() {
        lanes[k] += x * y;
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (quads[0] + quads[2]) + (quads[1] + quads[3])
}

/// Vectors and the similar-items table built from them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemEmbeddings {
    pub vectors: Embeddings,
    /// For every item with a vector, its nearest items, best first, weight = cosine.
    pub similar: CovisitTable,
}

/// Trains the vectors on `log` and finds every item's similar items.
pub fn build(
    log: &SessionLog,
    params: &EmbeddingParams,
    progress: &dyn Progress,
) -> ItemEmbeddings {
    let vectors = sgns::train(log, params, progress);
    let similar = ann::similar_items(&vectors, params.similar, progress);
    ItemEmbeddings { vectors, similar }
}
