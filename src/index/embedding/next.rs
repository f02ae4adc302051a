//! A next-item model over sessions: the session so far is the recency-weighted mean of its
//! last [`CONTEXT`] items' input vectors, and the next item's score is that mean's dot
//! product with the item's output vector. Trained on every prefix of every session of the
//! log (the target: the item that follows), with negative sampling from the unigram
//! distribution raised to 3/4 (the negatives shared by the prefixes of a session):
//! word2vec's CBOW made to look forward only, the shape of the session models that predict
//! the next item (the "short-term memory" of Liu et al.
//! 2018, STAMP, without its attention). Its score says how well a candidate continues the
//! sequence, which the co-visitation weights (pairs) and the item vectors (similarity)
//! say only in part.
//!
//! Trained in synchronous rounds, as in [`super::sgns`]: the same seed gives the same
//! vectors on any number of threads.

use super::dot;
use super::sgns::{AliasTable, SigmoidTable, Vector, Vocab, Weights, passes};
use crate::domain::SessionLog;
use crate::progress::Progress;

/// Most recent items (consecutive repeats folded) in a session's vector.
pub const CONTEXT: usize = 5;

/// Weight of the item `back` steps before the end (0: the last) in a session's vector.
pub fn weight(back: usize) -> f32 {
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
    /// Items with fewer events get no input or output vector. Absent from the parameters
    /// of a bundle built while the model shared the item vectors' setting (the same value).
    #[serde(default = "default_min_count")]
    pub min_count: u32,
}

fn default_min_count() -> u32 {
    DEFAULT_MIN_COUNT
}

/// Items with fewer events get no vector, by default (as for the item vectors).
pub const DEFAULT_MIN_COUNT: u32 = 5;

impl Default for NextItemParams {
    fn default() -> Self {
        NextItemParams {
            dim: 64,
            negatives: 10,
            epochs: AUTO_MAX_EPOCHS,
            learning_rate: 0.15,
            seed: 42,
            min_count: DEFAULT_MIN_COUNT,
        }
    }
}

/// Events the model passes over when its epochs are not given (a log of this size or more
/// gets one pass).
pub const AUTO_EPOCH_EVENTS: usize = 30_000_000;
/// Most passes [`auto`] gives (Diginetica's 906,000 clicks get them).
pub const AUTO_MAX_EPOCHS: u32 = 30;

/// The parameters when not told: negative sampling with [`auto_epochs`] passes.
pub fn auto(events: usize) -> NextItemParams {
    NextItemParams {
        epochs: auto_epochs(events),
        ..NextItemParams::default()
    }
}

/// Passes over a log of `events` events when not told: enough for [`AUTO_EPOCH_EVENTS`],
/// 1 to [`AUTO_MAX_EPOCHS`].
pub fn auto_epochs(events: usize) -> u32 {
    let epochs = AUTO_EPOCH_EVENTS.div_ceil(events.max(1));
    epochs.clamp(1, AUTO_MAX_EPOCHS as usize) as u32
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

/// Per-part scratch space of [`train`].
struct Scratch {
    sentence: Vec<u32>,
    /// The session vector, its gradient, a sample's output vector and an update.
    h: Vec<f32>,
    grad: Vec<f32>,
    out: Vec<f32>,
    delta: Vec<f32>,
    /// The context's input vectors (`CONTEXT × dim`).
    context: Vec<f32>,
    /// The session's negatives, their output vectors as loaded and as updated.
    negatives: Vec<u32>,
    loaded: Vec<f32>,
    updated: Vec<f32>,
}

impl Scratch {
    fn new(dim: usize) -> Scratch {
        Scratch {
            sentence: Vec::new(),
            h: vec![0.0; dim],
            grad: vec![0.0; dim],
            out: vec![0.0; dim],
            delta: vec![0.0; dim],
            context: vec![0.0; CONTEXT * dim],
            negatives: Vec::new(),
            loaded: Vec::new(),
            updated: Vec::new(),
        }
    }
}

/// Trains the model on the sessions of `log`; items with fewer than `min_count` events get
/// no vectors.
pub fn train(log: &SessionLog, params: &NextItemParams, progress: &dyn Progress) -> NextItemModel {
    let dim = params.dim;
    let vocab = Vocab::new(log, params.min_count);
    let bound = log.aid_bound();
    if vocab.aids.len() < 2 {
        return NextItemModel::from_rows(dim, vec![0.0; bound * dim], vec![0.0; bound * dim]);
    }
    let table = AliasTable::new(&vocab.counts);
    let sigmoid = SigmoidTable::new();
    let mut weights = Weights::new(vocab.aids.len(), dim, params.seed);
    passes(
        log,
        &mut weights,
        params.epochs,
        params.learning_rate,
        (params.seed, 0x6e78),
        "next-item vectors",
        progress,
        || Scratch::new(dim),
        |rng, aids, alpha, s, view| {
            s.sentence.clear();
            for &aid in aids {
                let w = vocab.word_of[aid as usize];
                if w != u32::MAX && s.sentence.last() != Some(&w) {
                    s.sentence.push(w);
                }
            }
            if s.sentence.len() < 2 {
                return;
            }
            // The negatives are drawn once per session and shared by its prefixes (as the
            // item vectors share a window's): each one's output vector is read and written
            // once per session instead of once per prefix.
            s.negatives.clear();
            for _ in 0..params.negatives {
                let w = table.draw(rng);
                if !s.negatives.contains(&w) {
                    s.negatives.push(w);
                }
            }
            s.loaded.resize(s.negatives.len() * dim, 0.0);
            for (j, &w) in s.negatives.iter().enumerate() {
                view.load(Vector::Output, w, &mut s.loaded[j * dim..(j + 1) * dim]);
            }
            s.updated.clear();
            s.updated.extend_from_slice(&s.loaded);
            for i in 1..s.sentence.len() {
                let m = i.min(CONTEXT);
                let norm: f32 = (0..m).map(weight).sum();
                s.h.iter_mut().for_each(|x| *x = 0.0);
                for back in 0..m {
                    let row = &mut s.context[back * dim..(back + 1) * dim];
                    view.load(Vector::Input, s.sentence[i - 1 - back], row);
                    let w = weight(back) / norm;
                    s.h.iter_mut()
                        .zip(row.iter())
                        .for_each(|(h, x)| *h += w * x);
                }
                let target = s.sentence[i];
                view.load(Vector::Output, target, &mut s.out);
                let g = alpha * sigmoid.gradient(dot(&s.h, &s.out), 1.0);
                s.grad.iter_mut().zip(&s.out).for_each(|(d, &o)| *d = g * o);
                s.delta.iter_mut().zip(&s.h).for_each(|(d, &x)| *d = g * x);
                view.add(Vector::Output, target, &s.delta);
                for (j, &w) in s.negatives.iter().enumerate() {
                    if w == target {
                        continue;
                    }
                    let out = &mut s.updated[j * dim..(j + 1) * dim];
                    let g = alpha * sigmoid.gradient(dot(&s.h, out), 0.0);
                    s.grad
                        .iter_mut()
                        .zip(out.iter())
                        .for_each(|(d, &o)| *d += g * o);
                    out.iter_mut().zip(&s.h).for_each(|(o, &x)| *o += g * x);
                }
                for back in 0..m {
                    let w = weight(back) / norm;
                    s.delta
                        .iter_mut()
                        .zip(&s.grad)
                        .for_each(|(d, &g)| *d = w * g);
                    view.add(Vector::Input, s.sentence[i - 1 - back], &s.delta);
                }
            }
            // Added as changes, not stored: a negative that is also a target here keeps
            // the target's updates.
            for (j, &w) in s.negatives.iter().enumerate() {
                let range = j * dim..(j + 1) * dim;
                s.delta
                    .iter_mut()
                    .zip(&s.updated[range.clone()])
                    .zip(&s.loaded[range])
                    .for_each(|((d, &u), &l)| *d = u - l);
                view.add(Vector::Output, w, &s.delta);
            }
        },
    );
    NextItemModel::from_rows(
        dim,
        weights.rows_by_aid(Vector::Input, &vocab, bound),
        weights.rows_by_aid(Vector::Output, &vocab, bound),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::rng::Rng;
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

    /// Over the cuts of every 7th session of `log` (a repeat of the last item skipped):
    /// how often the item that comes next outscores a random item, and of how many
    /// comparisons.
    pub(super) fn wins_over_random_items(model: &NextItemModel, log: &SessionLog) -> (u32, u32) {
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
        (wins, trials)
    }

    /// The model learns what follows what: the item that comes next in a session scores
    /// above a random item far more often than the half that chance gives.
    #[test]
    fn the_next_item_outscores_a_random_item() {
        let log = log();
        let model = train(&log, &params(), &Silent);
        let (wins, trials) = wins_over_random_items(&model, &log);
        let share = wins as f64 / trials as f64;
        assert!(trials > 5_000, "{trials} comparisons");
        assert!(share > 0.8, "the next item wins {share:.3} of {trials}");
    }

    #[test]
    fn any_number_of_threads_and_one_seed_give_the_same_model() {
        let log = simulate(WorldConfig {
            sessions: 5_000,
            items: 1_000,
            seed: 3,
        });
        let runs = super::super::sgns::tests::on_threads(|| train(&log, &params(), &Silent));
        assert_eq!(runs[0], runs[1], "1 and 2 threads");
        assert_eq!(runs[0], runs[2], "1 and 4 threads");
        let other = NextItemParams {
            seed: 7,
            ..params()
        };
        assert_ne!(runs[0], train(&log, &other, &Silent));
    }

    /// Enough passes for 30M events, at least one, at most thirty.
    #[test]
    fn auto_epochs_follow_the_events() {
        assert_eq!(auto_epochs(906_140), 30);
        assert_eq!(auto_epochs(3_000_000), 10);
        assert_eq!(auto_epochs(216_000_000), 1);
        assert_eq!(auto(906_140).epochs, 30);
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
