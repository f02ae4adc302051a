//! A next-item model over sessions: the session so far is the recency-weighted mean of its
//! last [`CONTEXT`] items' input vectors, and the next item's score is that mean's dot
//! product with the item's output vector. Trained on every prefix of every session of the
//! log (the target: the item that follows), with negative sampling from the unigram
//! distribution raised to 3/4 — word2vec's CBOW made to look forward only, the shape of
//! the session models that predict the next item (the "short-term memory" of Liu et al.
//! 2018, STAMP, without its attention). Its score says how well a candidate continues the
//! sequence, which the co-visitation weights (pairs) and the item vectors (similarity)
//! say only in part.
//!
//! Threads update the shared vectors without locks, as in [`super::sgns`]; on one thread
//! the same seed gives the same vectors.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use rayon::prelude::*;

use super::dot;
use super::sgns::{AliasTable, CHUNK, MAX_EXP, SigmoidTable, Vocab};
use crate::domain::SessionLog;
use crate::progress::{Progress, Unit};
use crate::rng::Rng;

/// Most recent items (consecutive repeats folded) in a session's vector.
pub const CONTEXT: usize = 5;

/// Weight of the item `back` steps before the end (0: the last) in a session's vector.
fn weight(back: usize) -> f32 {
    1.0 / (1 + back) as f32
}

/// Parameters of the next-item model.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NextItemParams {
    pub dim: usize,
    /// Negative samples per target.
    pub negatives: usize,
    pub epochs: u32,
    /// Initial learning rate, decayed linearly to 0.01 % of it.
    pub learning_rate: f32,
    pub seed: u64,
}

impl Default for NextItemParams {
    fn default() -> Self {
        NextItemParams {
            dim: 64,
            negatives: 10,
            epochs: AUTO_MAX_EPOCHS,
            learning_rate: 0.15,
            seed: 42,
        }
    }
}

/// Events the model passes over when its epochs are not given (a log of this size or more
/// gets one pass).
pub const AUTO_EPOCH_EVENTS: usize = 30_000_000;
/// Most passes [`auto`] gives (Diginetica's 906,000 clicks get them).
pub const AUTO_MAX_EPOCHS: u32 = 30;

/// The default parameters with enough passes for [`AUTO_EPOCH_EVENTS`], 1 to
/// [`AUTO_MAX_EPOCHS`].
pub fn auto(events: usize) -> NextItemParams {
    let epochs = AUTO_EPOCH_EVENTS.div_ceil(events.max(1));
    NextItemParams {
        epochs: epochs.clamp(1, AUTO_MAX_EPOCHS as usize) as u32,
        ..NextItemParams::default()
    }
}

/// The model: an input and an output vector per aid (zero rows for aids it has not
/// learnt: too rare, or beyond the table).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NextItemModel {
    dim: usize,
    /// `aids × dim` each, row-major.
    input: Vec<f32>,
    output: Vec<f32>,
    present: Vec<bool>,
}

impl NextItemModel {
    /// A model from its rows (`aids × dim` each); an aid whose two rows are all zero has
    /// not been learnt.
    pub fn from_rows(dim: usize, input: Vec<f32>, output: Vec<f32>) -> Self {
        assert!(dim > 0 && input.len() == output.len() && input.len().is_multiple_of(dim));
        let present = input
            .chunks_exact(dim)
            .zip(output.chunks_exact(dim))
            .map(|(i, o)| i.iter().chain(o).any(|&v| v != 0.0))
            .collect();
        NextItemModel {
            dim,
            input,
            output,
            present,
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One past the largest aid with a slot.
    pub fn aid_bound(&self) -> usize {
        self.present.len()
    }

    /// The input rows, then the output rows.
    pub fn rows(&self) -> (&[f32], &[f32]) {
        (&self.input, &self.output)
    }

    fn row<'a>(&self, v: &'a [f32], aid: u32) -> Option<&'a [f32]> {
        let a = aid as usize;
        if self.present.get(a).copied().unwrap_or(false) {
            Some(&v[a * self.dim..(a + 1) * self.dim])
        } else {
            None
        }
    }

    /// The output vector of `aid`, if the model has learnt it.
    pub fn output(&self, aid: u32) -> Option<&[f32]> {
        self.row(&self.output, aid)
    }

    /// The vector of a session whose aids, in event order, are `aids`: the weighted mean
    /// of the input vectors of its last [`CONTEXT`] items (consecutive repeats folded), as
    /// the model was trained; `None` when none of them has a vector.
    pub fn session_vector(&self, aids: &[u32]) -> Option<Vec<f32>> {
        let mut h = vec![0f32; self.dim];
        let (mut total, mut back, mut previous) = (0f32, 0, None);
        for &aid in aids.iter().rev() {
            if previous == Some(aid) {
                continue;
            }
            previous = Some(aid);
            if let Some(x) = self.row(&self.input, aid) {
                let w = weight(back);
                h.iter_mut().zip(x).for_each(|(h, x)| *h += w * x);
                total += w;
            }
            back += 1;
            if back == CONTEXT {
                break;
            }
        }
        (total > 0.0).then(|| {
            h.iter_mut().for_each(|h| *h /= total);
            h
        })
    }

    /// The score of `aid` following a session of vector `h`.
    pub fn score(&self, h: &[f32], aid: u32) -> Option<f32> {
        Some(dot(h, self.output(aid)?))
    }

    /// Starts loading the output vector of `aid`. A hint only: it changes no value.
    #[inline]
    pub fn prefetch(&self, aid: u32) {
        let a = aid as usize;
        if a >= self.aid_bound() {
            return;
        }
        let row = &self.output[a * self.dim..(a + 1) * self.dim];
        for line in row.chunks(16) {
            crate::index::prefetch(&line[0]);
        }
    }
}

fn load(v: &[AtomicU32], at: usize, out: &mut [f32]) {
    let n = out.len();
    for (o, a) in out.iter_mut().zip(&v[at..at + n]) {
        *o = f32::from_bits(a.load(Relaxed));
    }
}

fn add(v: &[AtomicU32], at: usize, delta: &[f32]) {
    for (a, &d) in v[at..at + delta.len()].iter().zip(delta) {
        a.store((f32::from_bits(a.load(Relaxed)) + d).to_bits(), Relaxed);
    }
}

/// Trains the model on the sessions of `log`; items with fewer than `min_count` events get
/// no vectors.
pub fn train(
    log: &SessionLog,
    params: &NextItemParams,
    min_count: u32,
    progress: &dyn Progress,
) -> NextItemModel {
    let dim = params.dim;
    let vocab = Vocab::new(log, min_count);
    let words = vocab.aids.len();
    let bound = log.aid_bound();
    if words < 2 {
        return NextItemModel::from_rows(dim, vec![0.0; bound * dim], vec![0.0; bound * dim]);
    }
    let table = AliasTable::new(&vocab.counts);
    let sigmoid = SigmoidTable::new();
    let mut init = Rng::new(params.seed);
    let input: Vec<AtomicU32> = (0..words * dim)
        .map(|_| AtomicU32::new((((init.next_f64() - 0.5) / dim as f64) as f32).to_bits()))
        .collect();
    let output: Vec<AtomicU32> = (0..words * dim).map(|_| AtomicU32::new(0)).collect();
    let total_work = vocab.total as f64 * params.epochs as f64;
    let done = AtomicU64::new(0);
    progress.stage(
        "next-item vectors",
        log.len() as u64 * params.epochs as u64,
        Unit::Items,
    );
    for epoch in 0..params.epochs {
        log.session_ids
            .par_chunks(CHUNK)
            .enumerate()
            .for_each(|(c, ids)| {
                let mut rng =
                    Rng::for_stream(params.seed ^ (epoch as u64) << 40 ^ 0x6e78, c as u64);
                let mut sentence: Vec<u32> = Vec::new();
                let (mut h, mut grad, mut out, mut delta) = (
                    vec![0f32; dim],
                    vec![0f32; dim],
                    vec![0f32; dim],
                    vec![0f32; dim],
                );
                let mut context = vec![0f32; CONTEXT * dim];
                for k in 0..ids.len() {
                    let session = log.session(c * CHUNK + k);
                    done.fetch_add(session.len() as u64, Relaxed);
                    sentence.clear();
                    for &aid in session.aids {
                        let w = vocab.word_of[aid as usize];
                        if w != u32::MAX && sentence.last() != Some(&w) {
                            sentence.push(w);
                        }
                    }
                    let share = done.load(Relaxed) as f64 / total_work;
                    let alpha = params.learning_rate * (1.0 - share as f32).max(1e-4);
                    for i in 1..sentence.len() {
                        let m = i.min(CONTEXT);
                        let norm: f32 = (0..m).map(weight).sum();
                        h.iter_mut().for_each(|x| *x = 0.0);
                        for back in 0..m {
                            let row = &mut context[back * dim..(back + 1) * dim];
                            load(&input, sentence[i - 1 - back] as usize * dim, row);
                            let w = weight(back) / norm;
                            h.iter_mut().zip(row.iter()).for_each(|(h, x)| *h += w * x);
                        }
                        grad.iter_mut().for_each(|g| *g = 0.0);
                        let target = sentence[i];
                        for s in 0..=params.negatives {
                            let (word, label) = if s == 0 {
                                (target, 1.0)
                            } else {
                                let w = table.draw(&mut rng);
                                if w == target {
                                    continue;
                                }
                                (w, 0.0)
                            };
                            load(&output, word as usize * dim, &mut out);
                            let f = dot(&h, &out);
                            let g = alpha
                                * if f > MAX_EXP {
                                    label - 1.0
                                } else if f < -MAX_EXP {
                                    label
                                } else {
                                    label - sigmoid.at(f)
                                };
                            grad.iter_mut().zip(&out).for_each(|(d, &o)| *d += g * o);
                            delta.iter_mut().zip(&h).for_each(|(d, &x)| *d = g * x);
                            add(&output, word as usize * dim, &delta);
                        }
                        for back in 0..m {
                            let w = weight(back) / norm;
                            delta.iter_mut().zip(&grad).for_each(|(d, &g)| *d = w * g);
                            add(&input, sentence[i - 1 - back] as usize * dim, &delta);
                        }
                    }
                }
                progress.advance(ids.len() as u64);
            });
    }
    progress.finish();
    let (mut input_rows, mut output_rows) = (vec![0f32; bound * dim], vec![0f32; bound * dim]);
    for (w, &aid) in vocab.aids.iter().enumerate() {
        let a = aid as usize * dim;
        for k in 0..dim {
            input_rows[a + k] = f32::from_bits(input[w * dim + k].load(Relaxed));
            output_rows[a + k] = f32::from_bits(output[w * dim + k].load(Relaxed));
        }
    }
    NextItemModel::from_rows(dim, input_rows, output_rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::synthetic::{WorldConfig, simulate};

    fn log() -> SessionLog {
        simulate(WorldConfig {
            sessions: 20_000,
            items: 2_000,
            seed: 3,
        })
    }

    fn params() -> NextItemParams {
        NextItemParams {
            epochs: 5,
            ..NextItemParams::default()
        }
    }

    /// The model learns what follows what: the item that comes next in a session scores
    /// above a random item far more often than the half that chance gives.
    #[test]
    fn the_next_item_outscores_a_random_item() {
        let log = log();
        let model = train(&log, &params(), 5, &Silent);
        let mut rng = Rng::new(11);
        let items = model.aid_bound() as u64;
        let (mut wins, mut trials) = (0, 0);
        for i in (0..log.len()).step_by(7) {
            let s = log.session(i);
            for cut in 1..s.aids.len() {
                let target = s.aids[cut];
                if s.aids[cut - 1] == target {
                    continue;
                }
                let Some(h) = model.session_vector(&s.aids[..cut]) else {
                    continue;
                };
                let other = rng.below(items) as u32;
                let (Some(a), Some(b)) = (model.score(&h, target), model.score(&h, other)) else {
                    continue;
                };
                trials += 1;
                wins += (a > b) as u32;
            }
        }
        let share = wins as f64 / trials as f64;
        assert!(trials > 5_000, "{trials} comparisons");
        assert!(share > 0.8, "the next item wins {share:.3} of {trials}");
    }

    #[test]
    fn one_thread_and_one_seed_give_the_same_model() {
        let log = simulate(WorldConfig {
            sessions: 3_000,
            items: 1_000,
            seed: 3,
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = pool.install(|| train(&log, &params(), 5, &Silent));
        let b = pool.install(|| train(&log, &params(), 5, &Silent));
        assert_eq!(a, b);
        let other = NextItemParams {
            seed: 7,
            ..params()
        };
        let c = pool.install(|| train(&log, &other, 5, &Silent));
        assert_ne!(a, c);
    }

    /// A session's vector folds consecutive repeats, weighs the newest most and reads at
    /// most [`CONTEXT`] items.
    #[test]
    fn the_session_vector_is_the_weighted_mean_of_the_last_items() {
        // One dimension: aid a's input is a + 1; every aid has an output.
        let model =
            NextItemModel::from_rows(1, (0..10).map(|a| a as f32 + 1.0).collect(), vec![1.0; 10]);
        let h = model.session_vector(&[3, 3, 5]).unwrap();
        // 5 (weight 1), 3 (weight 1/2): (6 + 4 / 2) / 1.5.
        assert!((h[0] - 8.0 / 1.5).abs() < 1e-6, "{h:?}");
        let long = model.session_vector(&[9, 0, 1, 2, 3, 4]).unwrap();
        let five = model.session_vector(&[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(long, five, "the sixth item from the end is not read");
        assert_eq!(model.session_vector(&[]), None);
        assert!((model.score(&h, 2).unwrap() - h[0]).abs() < 1e-6);
        assert_eq!(
            model.score(&h, 10),
            None,
            "an aid beyond the table has no score"
        );
        let unlearnt = NextItemModel::from_rows(1, vec![1.0, 0.0], vec![1.0, 0.0]);
        assert_eq!(
            unlearnt.score(&h, 1),
            None,
            "an aid with two zero rows has no score"
        );
    }
}
