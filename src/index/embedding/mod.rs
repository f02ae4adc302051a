//! Item embeddings: word2vec's skip-gram with negative sampling (Mikolov et al. 2013)
//! trained on sessions as sentences of aids ([`sgns`]), and for every item with a vector
//! its nearest items by cosine similarity, found with an HNSW index ([`ann`]). The
//! original service's second retrieval channel: similar items become candidates, and
//! cosine similarities between a candidate and the session become ranker features.

pub mod ann;
pub mod next;
pub mod sgns;

use serde::{Deserialize, Serialize};

use self::next::NextItemParams;
use super::{CovisitTable, prefetch};
use crate::domain::SessionLog;
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
    /// Where a bundle built while the next-item model lived beside the vectors keeps its
    /// parameters: read, never written; reading a manifest moves it to
    /// [`IndexParams::next_item`](crate::index::IndexParams::next_item).
    #[serde(default, rename = "next_item", skip_serializing)]
    pub legacy_next_item: Option<NextItemParams>,
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
            legacy_next_item: None,
        }
    }
}

/// Largest log (events) that gets item vectors when `build-index` is not told: at Kaggle
/// scale (216M events) the vectors and the similar-items graph take 15 of the build's 18
/// minutes (BENCHMARKS.md), while on a small real log they pay (Diginetica: +0.5 HR@20).
pub const AUTO_MAX_EVENTS: usize = 50_000_000;

/// Events the trainer passes over when its epochs are not given: a small log gets several
/// passes (Diginetica's 906,000 clicks the cap), a log of this size or more one.
pub const AUTO_EPOCH_EVENTS: usize = 10_000_000;

/// Most passes [`auto_epochs`] gives (Diginetica: 10 passes +0.50 HR@20 over one, 30 only
/// +0.06 more for three times the time).
pub const AUTO_MAX_EPOCHS: u32 = 10;

/// Passes over a log of `events` events: enough for [`AUTO_EPOCH_EVENTS`], 1 to
/// [`AUTO_MAX_EPOCHS`].
pub fn auto_epochs(events: usize) -> u32 {
    let epochs = AUTO_EPOCH_EVENTS.div_ceil(events.max(1));
    epochs.clamp(1, AUTO_MAX_EPOCHS as usize) as u32
}

/// Whether a log of `events` events gets item vectors when not told: up to
/// [`AUTO_MAX_EVENTS`].
pub fn auto_enabled(events: usize) -> bool {
    events <= AUTO_MAX_EVENTS
}

/// The item vectors a log of `events` events gets when not told: the default parameters
/// with [`auto_epochs`] passes, if [`auto_enabled`].
pub fn auto(events: usize) -> Option<EmbeddingParams> {
    auto_enabled(events).then(|| EmbeddingParams {
        epochs: auto_epochs(events),
        ..EmbeddingParams::default()
    })
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

    /// Starts loading the vector of `aid`: every cache line of its row. A feature row reads
    /// each candidate's vector once, and the candidates' rows are scattered over the table;
    /// prefetching all of them before reading any lets those loads overlap. A hint only: it
    /// changes no value.
    #[inline]
    pub fn prefetch(&self, aid: u32) {
        let a = aid as usize;
        if a >= self.aid_bound() {
            return;
        }
        let row = &self.vectors[a * self.dim..(a + 1) * self.dim];
        for line in row.chunks(16) {
            prefetch(&line[0]);
        }
        prefetch(&row[self.dim - 1]);
    }

    /// Cosine similarity of two aids, if both have vectors.
    pub fn cosine(&self, a: u32, b: u32) -> Option<f32> {
        Some(dot(self.vector(a)?, self.vector(b)?))
    }
}

/// Σ a·b, summed in eight interleaved lanes (so the compiler keeps it in SIMD registers)
/// and then pairwise: one fixed order, so every caller gets the same bits. On a CPU with
/// AVX the eight lanes are one 256-bit register (the same operations in the same order,
/// so the same bits; a feature row computes a dozen of these per candidate).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX.
        return unsafe { dot_avx(a, b) };
    }
    dot_lanes(a, b)
}

/// `out[i] = dot(a, others[i])` for every `i`, with the same bits as [`dot`]: one call for
/// a candidate's cosines to all of a session's vectors (with AVX, one function in which
/// each dot is inlined).
pub fn dots(a: &[f32], others: &[&[f32]], out: &mut [f32]) {
    debug_assert_eq!(others.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX.
        return unsafe { dots_avx(a, others, out) };
    }
    for (o, b) in out.iter_mut().zip(others) {
        *o = dot_lanes(a, b);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn dots_avx(a: &[f32], others: &[&[f32]], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(others) {
        *o = dot_avx(a, b);
    }
}

/// [`dot`] with the eight lanes in one AVX register: each lane adds its products in the
/// same order as [`dot_lanes`], so the bits are the same.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
fn dot_avx(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let whole = n / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    for i in (0..whole).step_by(8) {
        // SAFETY: i + 8 <= n, the length of both slices' prefixes read.
        let (x, y) = unsafe {
            (
                _mm256_loadu_ps(a.as_ptr().add(i)),
                _mm256_loadu_ps(b.as_ptr().add(i)),
            )
        };
        acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
    }
    if whole == n {
        // `reduce` in registers: lanes k + k+4, then (0 + 2) + (1 + 3).
        let quads = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let pairs = _mm_add_ps(quads, _mm_movehl_ps(quads, quads));
        return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)));
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds eight f32.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    for (k, (x, y)) in a[whole..n].iter().zip(&b[whole..n]).enumerate() {
        lanes[k] += x * y;
    }
    reduce(lanes)
}

/// [`dot`] in portable Rust.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
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
    reduce(lanes)
}

/// The eight lanes' sum, pairwise.
#[inline(always)]
fn reduce(lanes: [f32; 8]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Small logs get up to 10 passes, a log of 10M events or more one, and a log past
    /// 50M events none unless asked.
    #[test]
    fn auto_epochs_and_auto_enabled_follow_the_events() {
        assert_eq!(auto_epochs(0), 10);
        assert_eq!(auto_epochs(906_140), 10);
        assert_eq!(auto_epochs(3_456_740), 3);
        assert_eq!(auto_epochs(9_999_999), 2);
        assert_eq!(auto_epochs(10_000_000), 1);
        assert_eq!(auto_epochs(216_000_000), 1);
        assert_eq!(auto(3_456_740).map(|p| p.epochs), Some(3));
        assert!(auto(50_000_000).is_some());
        assert!(auto(50_000_001).is_none());
    }

    #[test]
    fn dots_give_dot_bits() {
        let a: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
        let others: Vec<Vec<f32>> = (0..17)
            .map(|j| (0..32).map(|i| ((i * j) as f32 * 0.11).cos()).collect())
            .collect();
        let refs: Vec<&[f32]> = others.iter().map(Vec::as_slice).collect();
        let mut out = vec![0f32; refs.len()];
        dots(&a, &refs, &mut out);
        for (o, b) in out.iter().zip(&refs) {
            assert_eq!(o.to_bits(), dot(&a, b).to_bits());
        }
    }

    #[test]
    fn every_dot_kernel_gives_the_portable_bits_at_every_length() {
        // Values of mixed sign and magnitude, so that the order of the additions shows.
        let value = |i: usize, s: u64| {
            let x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15 ^ s);
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * (1 + i % 7) as f32
        };
        for n in 0..70 {
            let a: Vec<f32> = (0..n).map(|i| value(i, 1)).collect();
            let b: Vec<f32> = (0..n + 3).map(|i| value(i, 2)).collect();
            let portable = dot_lanes(&a, &b);
            assert_eq!(dot(&a, &b).to_bits(), portable.to_bits(), "length {n}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx") {
                // SAFETY: the CPU has AVX.
                let avx = unsafe { dot_avx(&a, &b) };
                assert_eq!(avx.to_bits(), portable.to_bits(), "length {n}");
            }
        }
        // A different order of the same additions gives other bits on these inputs, so
        // the test can tell orders apart.
        let a: Vec<f32> = (0..64).map(|i| value(i, 1)).collect();
        let b: Vec<f32> = (0..64).map(|i| value(i, 2)).collect();
        let sequential = a.iter().zip(&b).fold(0f32, |s, (x, y)| s + x * y);
        assert_ne!(sequential.to_bits(), dot(&a, &b).to_bits());
    }
}
