//! Skip-gram with negative sampling over sessions (word2vec, Mikolov et al. 2013, as its C
//! reference implementation and gensim do it): each session is a sentence of aids in event
//! order (consecutive repeats of one aid folded into one); for every item and every context
//! item within a randomly shrunk window, the context item's input vector is pulled toward
//! the item's output vector and pushed away from `negatives` items drawn from the unigram
//! distribution raised to 3/4. Frequent items are subsampled; the learning rate decays
//! linearly. The negatives are drawn once per window and shared by its context items
//! (Ji et al. 2016), which turns a window's updates into small dense blocks and reads
//! each output vector once per window: the speed-up that makes Kaggle scale affordable.
//!
//! Threads update the shared vectors without locks ("Hogwild", as the reference does):
//! every component is an `AtomicU32` holding an f32's bits, read and written with relaxed
//! ordering — plain loads and stores on x86 — so concurrent updates may overwrite one
//! another (the algorithm tolerates it) but never tear or race undefinedly. On one thread
//! the same seed gives the same vectors.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;

use super::{EmbeddingParams, Embeddings, dot};
use crate::domain::SessionLog;
use crate::progress::{Progress, Unit};
use crate::rng::Rng;

/// Dot products beyond ±this saturate the sigmoid (word2vec's MAX_EXP).
pub(super) const MAX_EXP: f32 = 6.0;
/// Sessions per parallel chunk (each with its own random stream).
pub(super) const CHUNK: usize = 2_048;

/// The vocabulary: items with at least `min_count` events, by aid.
pub(super) struct Vocab {
    /// Per aid: its word index, or `u32::MAX` when it has too few events.
    pub(super) word_of: Vec<u32>,
    /// Per word: its aid and its event count.
    pub(super) aids: Vec<u32>,
    pub(super) counts: Vec<u64>,
    pub(super) total: u64,
}

impl Vocab {
    pub(super) fn new(log: &SessionLog, min_count: u32) -> Vocab {
        let mut counts = vec![0u64; log.aid_bound()];
        for &a in &log.aids {
            counts[a as usize] += 1;
        }
        let mut vocab = Vocab {
            word_of: vec![u32::MAX; counts.len()],
            aids: Vec::new(),
            counts: Vec::new(),
            total: 0,
        };
        for (aid, &c) in counts.iter().enumerate() {
            if c >= min_count.max(1) as u64 {
                vocab.word_of[aid] = vocab.aids.len() as u32;
                vocab.aids.push(aid as u32);
                vocab.counts.push(c);
                vocab.total += c;
            }
        }
        vocab
    }
}

/// The logistic function tabulated on [−MAX_EXP, MAX_EXP], as word2vec's EXP_TABLE.
pub(super) struct SigmoidTable(Vec<f32>);

impl SigmoidTable {
    const SIZE: usize = 1_000;

    pub(super) fn new() -> SigmoidTable {
        SigmoidTable(
            (0..Self::SIZE)
                .map(|i| {
                    let x = (i as f32 / Self::SIZE as f32 * 2.0 - 1.0) * MAX_EXP;
                    1.0 / (1.0 + (-x).exp())
                })
                .collect(),
        )
    }

    /// σ(f) for |f| ≤ MAX_EXP.
    pub(super) fn at(&self, f: f32) -> f32 {
        let i = ((f + MAX_EXP) * (Self::SIZE as f32 / MAX_EXP / 2.0)) as usize;
        self.0[i.min(Self::SIZE - 1)]
    }

    /// The logistic loss's gradient for a dot product `f` and a label (1: the target, 0: a
    /// negative), saturated beyond ±[`MAX_EXP`] as word2vec does.
    pub(super) fn gradient(&self, f: f32, label: f32) -> f32 {
        if f > MAX_EXP {
            label - 1.0
        } else if f < -MAX_EXP {
            label
        } else {
            label - self.at(f)
        }
    }
}

/// Walker's alias table: draws a word with probability ∝ count^0.75 in O(1).
pub(super) struct AliasTable {
    prob: Vec<f32>,
    alias: Vec<u32>,
}

impl AliasTable {
    pub(super) fn new(counts: &[u64]) -> AliasTable {
        let n = counts.len();
        let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(0.75)).collect();
        let sum: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let mut prob = vec![1f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s] as f32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        AliasTable { prob, alias }
    }

    pub(super) fn draw(&self, rng: &mut Rng) -> u32 {
        let i = rng.below(self.prob.len() as u64) as usize;
        if (rng.next_f64() as f32) < self.prob[i] {
            i as u32
        } else {
            self.alias[i]
        }
    }
}

/// Shared weights, updated lock-free: an input and an output vector per word.
pub(super) struct Weights {
    pub(super) dim: usize,
    pub(super) input: Vec<AtomicU32>,
    pub(super) output: Vec<AtomicU32>,
}

impl Weights {
    /// word2vec's start: input vectors uniform in ±0.5 / `dim`, output vectors zero.
    pub(super) fn new(words: usize, dim: usize, seed: u64) -> Weights {
        let mut init = Rng::new(seed);
        Weights {
            dim,
            input: (0..words * dim)
                .map(|_| AtomicU32::new((((init.next_f64() - 0.5) / dim as f64) as f32).to_bits()))
                .collect(),
            output: (0..words * dim).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    pub(super) fn load(v: &[AtomicU32], at: usize, out: &mut [f32]) {
        let n = out.len();
        for (o, a) in out.iter_mut().zip(&v[at..at + n]) {
            *o = f32::from_bits(a.load(Relaxed));
        }
    }

    fn store(v: &[AtomicU32], at: usize, values: &[f32]) {
        for (a, &x) in v[at..at + values.len()].iter().zip(values) {
            a.store(x.to_bits(), Relaxed);
        }
    }

    /// Adds `delta` to the vector at `at` (a read and a write, not one atomic step).
    pub(super) fn add(v: &[AtomicU32], at: usize, delta: &[f32]) {
        for (a, &d) in v[at..at + delta.len()].iter().zip(delta) {
            a.store((f32::from_bits(a.load(Relaxed)) + d).to_bits(), Relaxed);
        }
    }

    /// The vectors of `v` as rows by aid (`bound × dim`; zero rows for aids without a word).
    pub(super) fn rows_by_aid(&self, v: &[AtomicU32], vocab: &Vocab, bound: usize) -> Vec<f32> {
        let dim = self.dim;
        let mut rows = vec![0f32; bound * dim];
        for (w, &aid) in vocab.aids.iter().enumerate() {
            let a = aid as usize * dim;
            for k in 0..dim {
                rows[a + k] = f32::from_bits(v[w * dim + k].load(Relaxed));
            }
        }
        rows
    }
}

/// Runs `epochs` passes over the sessions of `log`, chunks of [`CHUNK`] sessions in
/// parallel, each chunk with its own random stream (from `seed`, `salt`, the pass and the
/// chunk). `visit` gets the stream, a session's aids, the learning rate — `learning_rate`
/// decayed linearly with the events done, to 0.01 % of it — and the chunk's scratch space
/// (made by `scratch`).
#[allow(clippy::too_many_arguments)]
pub(super) fn passes<S>(
    log: &SessionLog,
    vocab: &Vocab,
    epochs: u32,
    learning_rate: f32,
    (seed, salt): (u64, u64),
    stage: &str,
    progress: &dyn Progress,
    scratch: impl Fn() -> S + Sync,
    visit: impl Fn(&mut Rng, &[u32], f32, &mut S) + Sync,
) {
    let total_work = vocab.total as f64 * epochs as f64;
    let done = AtomicU64::new(0);
    progress.stage(stage, log.len() as u64 * epochs as u64, Unit::Items);
    for epoch in 0..epochs {
        log.session_ids
            .par_chunks(CHUNK)
            .enumerate()
            .for_each(|(c, ids)| {
                let mut rng = Rng::for_stream(seed ^ (epoch as u64) << 40 ^ salt, c as u64);
                let mut space = scratch();
                for k in 0..ids.len() {
                    let session = log.session(c * CHUNK + k);
                    done.fetch_add(session.len() as u64, Relaxed);
                    let share = done.load(Relaxed) as f64 / total_work;
                    let alpha = learning_rate * (1.0 - share as f32).max(1e-4);
                    visit(&mut rng, session.aids, alpha, &mut space);
                }
                progress.advance(ids.len() as u64);
            });
    }
    progress.finish();
}

/// Per-thread scratch space.
#[derive(Default)]
struct Scratch {
    sentence: Vec<u32>,
    /// The window's context words and their input vectors (`contexts × dim`).
    contexts: Vec<u32>,
    inputs: Vec<f32>,
    /// Changes to the input vectors.
    input_deltas: Vec<f32>,
    /// The centre word and its negatives, their labels and output vectors.
    samples: Vec<u32>,
    labels: Vec<f32>,
    outputs: Vec<f32>,
    output_deltas: Vec<f32>,
    /// Gradient per (context, sample).
    gradients: Vec<f32>,
}

/// Writes `loaded + delta` of every distinct word of `words` back to `v`, summing the
/// deltas of a word that occurs more than once (so no update overwrites another).
fn store_updates(v: &[AtomicU32], dim: usize, words: &[u32], loaded: &[f32], deltas: &mut [f32]) {
    for i in 0..words.len() {
        if let Some(first) = words[..i].iter().position(|&w| w == words[i]) {
            for k in 0..dim {
                deltas[first * dim + k] += deltas[i * dim + k];
            }
        }
    }
    for (i, &w) in words.iter().enumerate() {
        if words[..i].contains(&w) {
            continue;
        }
        let row = &mut deltas[i * dim..(i + 1) * dim];
        for (d, &x) in row.iter_mut().zip(&loaded[i * dim..(i + 1) * dim]) {
            *d += x;
        }
        Weights::store(v, w as usize * dim, row);
    }
}

/// One centre word `target` with the context words of its window (in `s.contexts`),
/// the negatives shared by the whole window (Ji et al. 2016, "Parallelizing Word2Vec in
/// Shared and Distributed Memory"): every context word's input vector is pulled toward
/// the centre's output vector and pushed from the negatives' — the same updates as
/// word2vec's pair by pair, with each output vector read and written once per window
/// instead of once per pair.
#[allow(clippy::too_many_arguments)]
fn train_window(
    weights: &Weights,
    target: u32,
    negatives: usize,
    table: &AliasTable,
    sigmoid: &SigmoidTable,
    alpha: f32,
    rng: &mut Rng,
    s: &mut Scratch,
) {
    let dim = weights.dim;
    let m = s.contexts.len();
    if m == 0 {
        return;
    }
    s.samples.clear();
    s.labels.clear();
    s.samples.push(target);
    s.labels.push(1.0);
    for _ in 0..negatives {
        let w = table.draw(rng);
        if w != target {
            s.samples.push(w);
            s.labels.push(0.0);
        }
    }
    let n = s.samples.len();
    s.inputs.resize(m * dim, 0.0);
    s.outputs.resize(n * dim, 0.0);
    for (c, &w) in s.contexts.iter().enumerate() {
        Weights::load(
            &weights.input,
            w as usize * dim,
            &mut s.inputs[c * dim..(c + 1) * dim],
        );
    }
    for (o, &w) in s.samples.iter().enumerate() {
        Weights::load(
            &weights.output,
            w as usize * dim,
            &mut s.outputs[o * dim..(o + 1) * dim],
        );
    }
    s.gradients.clear();
    for c in 0..m {
        let input = &s.inputs[c * dim..(c + 1) * dim];
        for o in 0..n {
            let f = dot(input, &s.outputs[o * dim..(o + 1) * dim]);
            s.gradients.push(sigmoid.gradient(f, s.labels[o]) * alpha);
        }
    }
    s.input_deltas.clear();
    s.input_deltas.resize(m * dim, 0.0);
    s.output_deltas.clear();
    s.output_deltas.resize(n * dim, 0.0);
    for c in 0..m {
        for o in 0..n {
            let g = s.gradients[c * n + o];
            let (input, output) = (
                &s.inputs[c * dim..(c + 1) * dim],
                &s.outputs[o * dim..(o + 1) * dim],
            );
            let input_delta = &mut s.input_deltas[c * dim..(c + 1) * dim];
            for (d, &x) in input_delta.iter_mut().zip(output) {
                *d += g * x;
            }
            let output_delta = &mut s.output_deltas[o * dim..(o + 1) * dim];
            for (d, &x) in output_delta.iter_mut().zip(input) {
                *d += g * x;
            }
        }
    }
    store_updates(
        &weights.output,
        dim,
        &s.samples,
        &s.outputs,
        &mut s.output_deltas,
    );
    store_updates(
        &weights.input,
        dim,
        &s.contexts,
        &s.inputs,
        &mut s.input_deltas,
    );
}

/// Trains item vectors on the sessions of `log`.
pub fn train(log: &SessionLog, params: &EmbeddingParams, progress: &dyn Progress) -> Embeddings {
    let dim = params.dim;
    let vocab = Vocab::new(log, params.min_count);
    let words = vocab.aids.len();
    if words < 2 {
        return Embeddings::from_rows(dim, vec![0.0; log.aid_bound() * dim]);
    }
    let table = AliasTable::new(&vocab.counts);
    let sigmoid = SigmoidTable::new();
    let weights = Weights::new(words, dim, params.seed);
    // Subsampling: keep probability per word.
    let threshold = params.sample * vocab.total as f64;
    let keep: Vec<f32> = vocab
        .counts
        .iter()
        .map(|&c| {
            if params.sample <= 0.0 {
                1.0
            } else {
                (((c as f64 / threshold).sqrt() + 1.0) * threshold / c as f64).min(1.0) as f32
            }
        })
        .collect();
    passes(
        log,
        &vocab,
        params.epochs,
        params.learning_rate,
        (params.seed, 0),
        "item vectors",
        progress,
        Scratch::default,
        |rng, aids, alpha, s| {
            s.sentence.clear();
            for &aid in aids {
                let w = vocab.word_of[aid as usize];
                if w == u32::MAX
                    || s.sentence.last() == Some(&w)
                    || (rng.next_f64() as f32) >= keep[w as usize]
                {
                    continue;
                }
                s.sentence.push(w);
            }
            let n = s.sentence.len();
            for i in 0..n {
                let reduced = params.window - rng.below(params.window as u64) as usize;
                let (lo, hi) = (i.saturating_sub(reduced), (i + reduced + 1).min(n));
                s.contexts.clear();
                s.contexts
                    .extend((lo..hi).filter(|&j| j != i).map(|j| s.sentence[j]));
                train_window(
                    &weights,
                    s.sentence[i],
                    params.negatives,
                    &table,
                    &sigmoid,
                    alpha,
                    rng,
                    s,
                );
            }
        },
    );
    let rows = weights.rows_by_aid(&weights.input, &vocab, log.aid_bound());
    Embeddings::from_rows(dim, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::synthetic::{WorldConfig, categories, simulate};

    fn world() -> (SessionLog, Vec<u32>) {
        let config = WorldConfig {
            sessions: 20_000,
            items: 2_000,
            seed: 3,
        };
        (simulate(config), categories(config))
    }

    /// The trainer learns the world's structure: items of one category (the generator
    /// browses them in sequence) are far more similar to each other than to random items.
    #[test]
    fn items_of_a_category_end_up_closer_than_random_items() {
        let (log, category) = world();
        let e = train(&log, &EmbeddingParams::default(), &Silent);
        assert!(e.count() > 1_000, "{} items have vectors", e.count());
        let mut members: std::collections::HashMap<u32, Vec<u32>> = Default::default();
        for (aid, &c) in category.iter().enumerate() {
            if e.vector(aid as u32).is_some() {
                members.entry(c).or_default().push(aid as u32);
            }
        }
        let with_vector: Vec<u32> = members.values().flatten().copied().collect();
        let mut rng = Rng::new(9);
        let pick = |v: &[u32], rng: &mut Rng| v[rng.below(v.len() as u64) as usize];
        let (mut same, mut random) = (0.0, 0.0);
        let pairs = 5_000;
        for _ in 0..pairs {
            let a = pick(&with_vector, &mut rng);
            let b = pick(&members[&category[a as usize]], &mut rng);
            same += e.cosine(a, b).unwrap();
            let c = pick(&with_vector, &mut rng);
            random += e.cosine(a, c).unwrap();
        }
        let (same, random) = (same / pairs as f32, random / pairs as f32);
        assert!(
            same > random + 0.3,
            "mean cosine within a category {same:.3}, of random pairs {random:.3}"
        );
    }

    #[test]
    fn one_thread_and_one_seed_give_the_same_vectors() {
        let log = simulate(WorldConfig {
            sessions: 3_000,
            items: 1_000,
            seed: 3,
        });
        let params = EmbeddingParams::default();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = pool.install(|| train(&log, &params, &Silent));
        let b = pool.install(|| train(&log, &params, &Silent));
        assert_eq!(a, b);
        let c = pool.install(|| train(&log, &EmbeddingParams { seed: 7, ..params }, &Silent));
        assert_ne!(a, c);
    }

    #[test]
    fn the_alias_table_draws_in_proportion_to_count_to_the_three_quarters() {
        let table = AliasTable::new(&[1, 16, 81]);
        let mut rng = Rng::new(1);
        let mut hits = [0u32; 3];
        for _ in 0..300_000 {
            hits[table.draw(&mut rng) as usize] += 1;
        }
        // 1, 8, 27 out of 36.
        for (i, expected) in [1.0, 8.0, 27.0].iter().enumerate() {
            let share = hits[i] as f64 / 300_000.0;
            assert!((share - expected / 36.0).abs() < 0.01, "{i}: {share}");
        }
    }
}
