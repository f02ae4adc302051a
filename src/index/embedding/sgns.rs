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
//! Sessions are trained in synchronous rounds (`passes`): a fixed number of parts, each
//! with its own random stream and its own copy of the rows it changes, merged in a fixed
//! order at the round's end. The same log, parameters and seed give the same vectors on
//! any number of threads.

use rayon::prelude::*;

use super::{EmbeddingParams, Embeddings, dot};
use crate::domain::SessionLog;
use crate::progress::{Progress, Unit};
use crate::rng::Rng;

/// Dot products beyond ±this saturate the sigmoid (word2vec's MAX_EXP).
pub(super) const MAX_EXP: f32 = 6.0;

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

/// The weights: an input and an output vector per word, row-major, the input rows first.
/// Written only between rounds of [`passes`], by merging the parts' [`Rows`].
pub(super) struct Weights {
    pub(super) dim: usize,
    words: usize,
    values: Vec<f32>,
}

/// Which of a word's two vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Vector {
    Input,
    Output,
}

impl Weights {
    /// word2vec's start: input vectors uniform in ±0.5 / `dim`, output vectors zero.
    pub(super) fn new(words: usize, dim: usize, seed: u64) -> Weights {
        let mut init = Rng::new(seed);
        let mut values: Vec<f32> = (0..words * dim)
            .map(|_| ((init.next_f64() - 0.5) / dim as f64) as f32)
            .collect();
        values.resize(2 * words * dim, 0.0);
        Weights { dim, words, values }
    }

    /// The row number of a word's vector.
    fn key(&self, vector: Vector, word: u32) -> u32 {
        match vector {
            Vector::Input => word,
            Vector::Output => self.words as u32 + word,
        }
    }

    fn row(&self, key: u32) -> &[f32] {
        let at = key as usize * self.dim;
        &self.values[at..at + self.dim]
    }

    /// Adds every part's changes, part by part in the parts' order, so each row's sum is
    /// taken in one order whatever the threads; the rows are split among the threads.
    fn merge(&mut self, parts: &[Rows]) {
        let dim = self.dim;
        let per = (2 * self.words)
            .div_ceil(rayon::current_num_threads())
            .max(1);
        self.values
            .par_chunks_mut(per * dim)
            .enumerate()
            .for_each(|(shard, values)| {
                let range = (shard * per) as u32..((shard + 1) * per) as u32;
                for part in parts {
                    for (&key, delta) in part.keys.iter().zip(part.deltas.chunks_exact(dim)) {
                        if range.contains(&key) {
                            let row = &mut values[(key - range.start) as usize * dim..][..dim];
                            row.iter_mut().zip(delta).for_each(|(v, d)| *v += d);
                        }
                    }
                }
            });
    }

    /// The vectors of one kind as rows by aid (`bound × dim`; zero rows for aids without a
    /// word).
    pub(super) fn rows_by_aid(&self, vector: Vector, vocab: &Vocab, bound: usize) -> Vec<f32> {
        let dim = self.dim;
        let mut rows = vec![0f32; bound * dim];
        for (w, &aid) in vocab.aids.iter().enumerate() {
            let a = aid as usize * dim;
            rows[a..a + dim].copy_from_slice(self.row(self.key(vector, w as u32)));
        }
        rows
    }
}

/// One part's changes to the weights during a round: a row of changes per row it has
/// written, added to the weights at the round's end. The part reads every row as the round
/// found it plus its own changes: it sees its own updates at once and the other parts'
/// from the next round on, whatever the threads (synchronous rounds instead of word2vec's
/// lock-free "Hogwild" updates, which make the vectors depend on the thread count and the
/// scheduling).
pub(super) struct Rows {
    /// Per row of the weights: its slot in `deltas`, or `u32::MAX` when not written.
    slot_of: Vec<u32>,
    /// The rows written, in the order of their first write, and their changes.
    keys: Vec<u32>,
    deltas: Vec<f32>,
}

impl Rows {
    fn new(weights: &Weights) -> Rows {
        Rows {
            slot_of: vec![u32::MAX; 2 * weights.words],
            keys: Vec::new(),
            deltas: Vec::new(),
        }
    }

    /// Forgets every change (after a merge).
    fn clear(&mut self) {
        for &key in &self.keys {
            self.slot_of[key as usize] = u32::MAX;
        }
        self.keys.clear();
        self.deltas.clear();
    }
}

/// A part's [`Rows`] over the weights of the round.
pub(super) struct View<'a> {
    weights: &'a Weights,
    rows: &'a mut Rows,
}

impl View<'_> {
    /// Copies a word's vector into `out`.
    pub(super) fn load(&self, vector: Vector, word: u32, out: &mut [f32]) {
        let key = self.weights.key(vector, word);
        let row = self.weights.row(key);
        match self.rows.slot_of[key as usize] {
            u32::MAX => out.copy_from_slice(row),
            slot => {
                let delta = &self.rows.deltas[slot as usize * out.len()..][..out.len()];
                for ((o, &w), &d) in out.iter_mut().zip(row).zip(delta) {
                    *o = w + d;
                }
            }
        }
    }

    /// The changes to a row, zero at its first write.
    fn delta(&mut self, key: u32) -> &mut [f32] {
        let dim = self.weights.dim;
        let mut slot = self.rows.slot_of[key as usize];
        if slot == u32::MAX {
            slot = self.rows.keys.len() as u32;
            self.rows.slot_of[key as usize] = slot;
            self.rows.keys.push(key);
            self.rows.deltas.resize(self.rows.deltas.len() + dim, 0.0);
        }
        &mut self.rows.deltas[slot as usize * dim..][..dim]
    }

    /// Sets a word's vector.
    pub(super) fn store(&mut self, vector: Vector, word: u32, values: &[f32]) {
        let key = self.weights.key(vector, word);
        let weights = self.weights;
        let row = weights.row(key);
        for ((d, &v), &w) in self.delta(key).iter_mut().zip(values).zip(row) {
            *d = v - w;
        }
    }

    /// Adds `delta` to a word's vector.
    pub(super) fn add(&mut self, vector: Vector, word: u32, delta: &[f32]) {
        let key = self.weights.key(vector, word);
        self.delta(key)
            .iter_mut()
            .zip(delta)
            .for_each(|(v, d)| *v += d);
    }
}

/// Sessions a part handles in a round.
pub(super) const PART_SESSIONS: usize = 8;
/// Parts of a round: a fixed number, whatever the threads, so the vectors are the same on
/// any machine (threads beyond it add no speed).
pub(super) const PARTS: usize = 16;

/// Runs `epochs` passes over the sessions of `log` in rounds of [`PARTS`] parts of
/// [`PART_SESSIONS`] sessions each, the parts of a round in parallel, each with its own
/// random stream (from `seed`, `salt`, the pass and the part's place in the log) and its
/// own [`View`] of `weights`, merged at the round's end in the parts' order. `visit` gets
/// the stream, a session's aids, the learning rate — `learning_rate` decayed linearly with
/// the events before the session, to 0.01 % of it — the part's scratch space (made by
/// `scratch`) and its view. The result depends on the inputs alone, not on the threads.
#[allow(clippy::too_many_arguments)]
pub(super) fn passes<S: Send>(
    log: &SessionLog,
    weights: &mut Weights,
    epochs: u32,
    learning_rate: f32,
    (seed, salt): (u64, u64),
    stage: &str,
    progress: &dyn Progress,
    scratch: impl Fn() -> S,
    visit: impl Fn(&mut Rng, &[u32], f32, &mut S, &mut View) + Sync,
) {
    let sessions = log.len();
    let events = log.num_events().max(1) as f64;
    let total_work = events * epochs as f64;
    let mut parts: Vec<Rows> = (0..PARTS).map(|_| Rows::new(weights)).collect();
    let mut spaces: Vec<S> = (0..PARTS).map(|_| scratch()).collect();
    progress.stage(stage, sessions as u64 * epochs as u64, Unit::Items);
    for epoch in 0..epochs {
        let stream_seed = seed ^ (epoch as u64) << 40 ^ salt;
        for round in (0..sessions).step_by(PARTS * PART_SESSIONS) {
            let shared = &*weights;
            parts
                .par_iter_mut()
                .zip(spaces.par_iter_mut())
                .enumerate()
                .for_each(|(p, (rows, space))| {
                    let lo = (round + p * PART_SESSIONS).min(sessions);
                    let hi = (lo + PART_SESSIONS).min(sessions);
                    let mut rng = Rng::for_stream(stream_seed, (lo / PART_SESSIONS) as u64);
                    let mut view = View {
                        weights: shared,
                        rows,
                    };
                    for i in lo..hi {
                        let done = epoch as f64 * events + log.offsets[i + 1] as f64;
                        let alpha = learning_rate * (1.0 - (done / total_work) as f32).max(1e-4);
                        visit(&mut rng, log.session(i).aids, alpha, space, &mut view);
                    }
                    progress.advance((hi - lo) as u64);
                });
            weights.merge(&parts);
            parts.iter_mut().for_each(Rows::clear);
        }
    }
    progress.finish();
}

/// Per-part scratch space.
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

/// Writes `loaded + delta` of every distinct word of `words` back to its `vector`, summing
/// the deltas of a word that occurs more than once (so no update overwrites another).
fn store_updates(
    view: &mut View,
    vector: Vector,
    dim: usize,
    words: &[u32],
    loaded: &[f32],
    deltas: &mut [f32],
) {
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
        view.store(vector, w, row);
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
    view: &mut View,
    dim: usize,
    target: u32,
    negatives: usize,
    table: &AliasTable,
    sigmoid: &SigmoidTable,
    alpha: f32,
    rng: &mut Rng,
    s: &mut Scratch,
) {
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
        view.load(Vector::Input, w, &mut s.inputs[c * dim..(c + 1) * dim]);
    }
    for (o, &w) in s.samples.iter().enumerate() {
        view.load(Vector::Output, w, &mut s.outputs[o * dim..(o + 1) * dim]);
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
        view,
        Vector::Output,
        dim,
        &s.samples,
        &s.outputs,
        &mut s.output_deltas,
    );
    store_updates(
        view,
        Vector::Input,
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
    let mut weights = Weights::new(words, dim, params.seed);
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
        &mut weights,
        params.epochs,
        params.learning_rate,
        (params.seed, 0),
        "item vectors",
        progress,
        Scratch::default,
        |rng, aids, alpha, s, view| {
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
                    view,
                    dim,
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
    let rows = weights.rows_by_aid(Vector::Input, &vocab, log.aid_bound());
    Embeddings::from_rows(dim, rows)
}

#[cfg(test)]
pub(super) mod tests {
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

    /// Runs `train` on pools of 1, 2 and 4 threads; the results, in that order.
    pub(in crate::index::embedding) fn on_threads<T: Send>(train: impl Fn() -> T + Sync) -> Vec<T> {
        [1, 2, 4]
            .iter()
            .map(|&threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(&train)
            })
            .collect()
    }

    #[test]
    fn any_number_of_threads_and_one_seed_give_the_same_vectors() {
        let log = simulate(WorldConfig {
            sessions: 5_000,
            items: 1_000,
            seed: 3,
        });
        let params = EmbeddingParams::default();
        let runs = on_threads(|| train(&log, &params, &Silent));
        assert!(
            runs[0].count() > 500,
            "{} items have vectors",
            runs[0].count()
        );
        assert_eq!(runs[0], runs[1], "1 and 2 threads");
        assert_eq!(runs[0], runs[2], "1 and 4 threads");
        let other = train(&log, &EmbeddingParams { seed: 7, ..params }, &Silent);
        assert_ne!(runs[0], other);
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
