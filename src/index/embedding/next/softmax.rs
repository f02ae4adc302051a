//! The next-item model trained as the neural session models train (NARM, SR-GNN): every
//! prefix of every session against many items at once, with a softmax, in mini-batches of
//! [`BATCH`] prefixes with Adam. The softmax of a batch runs over its own targets and
//! `draws` items drawn from count^0.75, shared by the batch, each logit less the log of its
//! item's share of the draws (the sampled softmax with the logQ correction of Bengio &
//! Senécal 2008 and Jean et al. 2015): the full softmax's training at a small part of its
//! cost (BENCHMARKS.md). Each item also learns a bias, kept in the model as one more
//! dimension: 1 in every input row (so in every session vector), the bias in the output row.
//!
//! Deterministic: one random stream, and every sum over threads reduced in a fixed order,
//! so any number of threads gives the same model.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{CONTEXT, NextItemModel, NextItemParams, weight};
use crate::domain::SessionLog;
use crate::index::embedding::dot;
use crate::index::embedding::sgns::{AliasTable, Vocab};
use crate::progress::{Progress, Unit};
use crate::rng::Rng;

/// Prefixes per mini-batch.
pub const BATCH: usize = 512;
/// Adam's step size.
pub const LEARNING_RATE: f32 = 0.01;
/// Items per block of a batch's pass over its items (a block's output rows stay in cache
/// while every session of the batch reads them); also the unit of parallel work.
const BLOCK: usize = 256;
const B1: f32 = 0.9;
const B2: f32 = 0.999;

/// Trains the model on the sessions of `log` with `params.softmax_draws` shared draws per
/// batch; items with fewer than `min_count` events get no vectors.
pub(super) fn train(
    log: &SessionLog,
    params: &NextItemParams,
    min_count: u32,
    progress: &dyn Progress,
) -> NextItemModel {
    let dim = params.dim;
    let wide = dim + 1;
    let vocab = Vocab::new(log, min_count);
    let bound = log.aid_bound();
    let words = vocab.aids.len();
    if words < 2 {
        return NextItemModel::from_rows(wide, vec![0.0; bound * wide], vec![0.0; bound * wide]);
    }
    // Every session as a sentence of words (consecutive repeats folded), and every prefix
    // as the end of its context in `text` (its target is the word at the end).
    let mut text: Vec<u32> = Vec::with_capacity(log.aids.len());
    let mut prefixes: Vec<(u32, u32)> = Vec::new();
    for i in 0..log.len() {
        let start = text.len();
        for &aid in log.session(i).aids {
            let w = vocab.word_of[aid as usize];
            if w != u32::MAX && (text.len() == start || text.last() != Some(&w)) {
                text.push(w);
            }
        }
        prefixes.extend((start + 1..text.len()).map(|end| (start as u32, end as u32)));
    }
    let table = AliasTable::new(&vocab.counts);
    let shares: Vec<f64> = vocab
        .counts
        .iter()
        .map(|&c| (c as f64).powf(0.75))
        .collect();
    let total: f64 = shares.iter().sum();
    let log_q: Vec<f32> = shares.iter().map(|s| (s / total).ln() as f32).collect();

    let mut rng = Rng::new(params.seed ^ 0x736f_6674);
    let mut init = |fixed: f32| -> Vec<f32> {
        let mut rows = vec![fixed; words * wide];
        for row in rows.chunks_exact_mut(wide) {
            for x in &mut row[..dim] {
                *x = (rng.next_f64() as f32 - 0.5) * 0.2;
            }
        }
        rows
    };
    // Input rows end in a fixed 1, output rows in the bias (0 at the start).
    let mut input = Rows::new(init(1.0), wide);
    let mut output = Rows::new(init(0.0), wide);
    let kernels = Kernels::detect();

    let batches = prefixes.len().div_ceil(BATCH) as u64;
    progress.stage(
        "next-item vectors (sampled softmax)",
        batches * params.epochs as u64,
        Unit::Items,
    );
    let mut order: Vec<u32> = (0..prefixes.len() as u32).collect();
    let mut batch = Batch::default();
    for _ in 0..params.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for chunk in order.chunks(BATCH) {
            batch.clear();
            for &p in chunk {
                let (start, end) = prefixes[p as usize];
                batch.push(&text[start as usize..end as usize], text[end as usize]);
            }
            // The batch's targets and the draws, each row once, as rows of their own.
            let mut rows: Vec<u32> = batch.targets.clone();
            rows.extend((0..params.softmax_draws).map(|_| table.draw(&mut rng)));
            rows.sort_unstable();
            rows.dedup();
            for t in &mut batch.targets {
                *t = rows.binary_search(t).expect("a target is among the rows") as u32;
            }
            let offset: Vec<f32> = rows.iter().map(|&r| log_q[r as usize]).collect();
            let mut part = output.gather(&rows);
            step(kernels, &mut input, &mut part, &offset, &batch, dim);
            output.scatter(&rows, &part);
            progress.advance(1);
        }
    }
    progress.finish();
    let by_aid = |rows: &Rows| {
        let mut out = vec![0f32; bound * wide];
        for (w, &aid) in vocab.aids.iter().enumerate() {
            out[aid as usize * wide..(aid as usize + 1) * wide]
                .copy_from_slice(&rows.values[w * wide..(w + 1) * wide]);
        }
        out
    };
    NextItemModel::from_rows(wide, by_aid(&input), by_aid(&output))
}

/// A batch: each prefix's context as (word, weight) pairs, weights summing to 1, and its
/// target.
#[derive(Default)]
struct Batch {
    /// Per prefix, the end of its context in `context`.
    ends: Vec<usize>,
    context: Vec<(u32, f32)>,
    targets: Vec<u32>,
}

impl Batch {
    fn clear(&mut self) {
        self.ends.clear();
        self.context.clear();
        self.targets.clear();
    }

    fn push(&mut self, sentence: &[u32], target: u32) {
        let m = sentence.len().min(CONTEXT);
        let norm: f32 = (0..m).map(weight).sum();
        self.context
            .extend((0..m).map(|back| (sentence[sentence.len() - 1 - back], weight(back) / norm)));
        self.ends.push(self.context.len());
        self.targets.push(target);
    }

    fn len(&self) -> usize {
        self.targets.len()
    }

    fn context(&self, i: usize) -> &[(u32, f32)] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.context[start..self.ends[i]]
    }
}

/// A matrix of rows with Adam's moments and a step count per row (a row takes a step only
/// when a batch reads it).
struct Rows {
    wide: usize,
    values: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: Vec<i32>,
}

impl Rows {
    fn new(values: Vec<f32>, wide: usize) -> Rows {
        let n = values.len() / wide;
        Rows {
            wide,
            m: vec![0.0; values.len()],
            v: vec![0.0; values.len()],
            values,
            steps: vec![0; n],
        }
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.wide..(r + 1) * self.wide]
    }

    fn all(&mut self) -> RowsMut<'_> {
        RowsMut {
            wide: self.wide,
            values: &mut self.values,
            m: &mut self.m,
            v: &mut self.v,
            steps: &mut self.steps,
        }
    }

    /// The rows `rows`, in that order, as a matrix of their own.
    fn gather(&self, rows: &[u32]) -> Rows {
        let w = self.wide;
        let take = |v: &[f32]| -> Vec<f32> {
            rows.iter()
                .flat_map(|&r| &v[r as usize * w..(r as usize + 1) * w])
                .copied()
                .collect()
        };
        Rows {
            wide: w,
            values: take(&self.values),
            m: take(&self.m),
            v: take(&self.v),
            steps: rows.iter().map(|&r| self.steps[r as usize]).collect(),
        }
    }

    /// Writes back the rows that [`Rows::gather`] took.
    fn scatter(&mut self, rows: &[u32], part: &Rows) {
        let w = self.wide;
        for (k, &r) in rows.iter().enumerate() {
            let (to, from) = (r as usize * w..(r as usize + 1) * w, k * w..(k + 1) * w);
            self.values[to.clone()].copy_from_slice(&part.values[from.clone()]);
            self.m[to.clone()].copy_from_slice(&part.m[from.clone()]);
            self.v[to].copy_from_slice(&part.v[from]);
            self.steps[r as usize] = part.steps[k];
        }
    }
}

/// One Adam step of the values `w` (moments `m`, `v`, step count `t`) by `grad`.
fn adam_step(w: &mut [f32], m: &mut [f32], v: &mut [f32], t: &mut i32, grad: &[f32]) {
    *t += 1;
    let (c1, c2) = (1.0 - B1.powi(*t), 1.0 - B2.powi(*t));
    for (((w, m), v), &g) in w.iter_mut().zip(m).zip(v).zip(grad) {
        *m = B1 * *m + (1.0 - B1) * g;
        *v = B2 * *v + (1.0 - B2) * g * g;
        *w -= LEARNING_RATE * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
    }
}

/// Rows of a [`Rows`] borrowed for their updates.
struct RowsMut<'a> {
    wide: usize,
    values: &'a mut [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    steps: &'a mut [i32],
}

impl RowsMut<'_> {
    /// One Adam step of row `r`'s first `grad.len()` values by `grad`.
    fn step(&mut self, r: usize, grad: &[f32]) {
        let at = r * self.wide..r * self.wide + grad.len();
        adam_step(
            &mut self.values[at.clone()],
            &mut self.m[at.clone()],
            &mut self.v[at],
            &mut self.steps[r],
            grad,
        );
    }
}

/// One mini-batch: the session vectors, the logits of every row of `side` (less `offset`),
/// the softmax's gradients, and an Adam step of every row read.
fn step(
    kernels: Kernels,
    input: &mut Rows,
    side: &mut Rows,
    offset: &[f32],
    batch: &Batch,
    dim: usize,
) {
    let (n, b, wide) = (side.steps.len(), batch.len(), side.wide);
    let mut h = vec![0f32; b * wide];
    for (i, h) in h.chunks_exact_mut(wide).enumerate() {
        for &(word, w) in batch.context(i) {
            axpy(h, w, input.row(word as usize));
        }
    }
    // Logits, row-major by item (`n × b`), and per session the max and the sum of
    // exponentials, combined over blocks in order.
    let mut logits = vec![0f32; n * b];
    let partials: Vec<(Vec<f32>, Vec<f32>)> = logits
        .par_chunks_mut(BLOCK * b)
        .enumerate()
        .map(|(k, block)| {
            let rows = &side.values[k * BLOCK * wide..((k + 1) * BLOCK * wide).min(n * wide)];
            kernels.forward(rows, &offset[k * BLOCK..], &h, block, b)
        })
        .collect();
    let mut mx = vec![f32::NEG_INFINITY; b];
    let mut sum = vec![0f32; b];
    for (pm, ps) in &partials {
        for i in 0..b {
            let m = mx[i].max(pm[i]);
            sum[i] = sum[i] * (mx[i] - m).exp() + ps[i] * (pm[i] - m).exp();
            mx[i] = m;
        }
    }
    let mut targets: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, &t) in batch.targets.iter().enumerate() {
        targets.entry(t).or_default().push(i);
    }
    // Gradients: of the logits, (p - y) / b; of every row of `side`, taking its Adam step
    // in place; and of the session vectors, summed over blocks in order.
    let parts: Vec<Vec<f32>> = logits
        .par_chunks_mut(BLOCK * b)
        .zip(side.values.par_chunks_mut(BLOCK * wide))
        .zip(side.m.par_chunks_mut(BLOCK * wide))
        .zip(side.v.par_chunks_mut(BLOCK * wide))
        .zip(side.steps.par_chunks_mut(BLOCK))
        .enumerate()
        .map(|(k, ((((block, values), m), v), steps))| {
            let mut rows = RowsMut {
                wide,
                values,
                m,
                v,
                steps,
            };
            kernels.backward(k, block, &mut rows, &h, (&mx, &sum), &targets, b)
        })
        .collect();
    let mut dh = vec![0f32; b * wide];
    for part in &parts {
        axpy(&mut dh, 1.0, part);
    }
    // Each input row the batch read takes one step by its summed gradient (its fixed last
    // value none).
    let mut grads: HashMap<u32, Vec<f32>> = HashMap::new();
    for i in 0..b {
        for &(word, w) in batch.context(i) {
            let g = grads.entry(word).or_insert_with(|| vec![0.0; dim]);
            axpy(g, w, &dh[i * wide..i * wide + dim]);
        }
    }
    let mut rows: Vec<_> = grads.into_iter().collect();
    rows.sort_unstable_by_key(|r| r.0);
    let mut all = input.all();
    for (word, g) in rows {
        all.step(word as usize, &g);
    }
}

/// The inner loops, compiled for AVX2 where the CPU has it (the same arithmetic either way:
/// no fused multiply-adds, so both give the same bits).
#[derive(Clone, Copy)]
struct Kernels {
    avx2: bool,
}

impl Kernels {
    fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Kernels { avx2 }
    }

    fn forward(
        self,
        rows: &[f32],
        offset: &[f32],
        h: &[f32],
        block: &mut [f32],
        b: usize,
    ) -> (Vec<f32>, Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the CPU has AVX2 (checked in `detect`).
            return unsafe { forward_avx2(rows, offset, h, block, b) };
        }
        forward_block(rows, offset, h, block, b)
    }

    #[allow(clippy::too_many_arguments)]
    fn backward(
        self,
        k: usize,
        block: &mut [f32],
        rows: &mut RowsMut,
        h: &[f32],
        norm: (&[f32], &[f32]),
        targets: &HashMap<u32, Vec<usize>>,
        b: usize,
    ) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the CPU has AVX2 (checked in `detect`).
            return unsafe { backward_avx2(k, block, rows, h, norm, targets, b) };
        }
        backward_block(k, block, rows, h, norm, targets, b)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn forward_avx2(
    rows: &[f32],
    offset: &[f32],
    h: &[f32],
    block: &mut [f32],
    b: usize,
) -> (Vec<f32>, Vec<f32>) {
    forward_block(rows, offset, h, block, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn backward_avx2(
    k: usize,
    block: &mut [f32],
    rows: &mut RowsMut,
    h: &[f32],
    norm: (&[f32], &[f32]),
    targets: &HashMap<u32, Vec<usize>>,
    b: usize,
) -> Vec<f32> {
    backward_block(k, block, rows, h, norm, targets, b)
}

/// The logits of one block of rows for every session of the batch, and per session their
/// max and sum of exponentials.
#[inline(always)]
fn forward_block(
    rows: &[f32],
    offset: &[f32],
    h: &[f32],
    block: &mut [f32],
    b: usize,
) -> (Vec<f32>, Vec<f32>) {
    let wide = h.len() / b;
    for ((logits, o), &off) in block
        .chunks_exact_mut(b)
        .zip(rows.chunks_exact(wide))
        .zip(offset)
    {
        for (l, h) in logits.iter_mut().zip(h.chunks_exact(wide)) {
            *l = dot(h, o) - off;
        }
    }
    let mut mx = vec![f32::NEG_INFINITY; b];
    for logits in block.chunks_exact(b) {
        mx.iter_mut().zip(logits).for_each(|(m, &l)| *m = m.max(l));
    }
    let mut sum = vec![0f32; b];
    for logits in block.chunks_exact(b) {
        for ((s, &l), &m) in sum.iter_mut().zip(logits).zip(&mx) {
            *s += (l - m).exp();
        }
    }
    (mx, sum)
}

/// The gradients of one block (block `k`) of rows: its logits become (p - y) / b, its rows
/// take an Adam step, and the block's part of the session vectors' gradients is returned.
#[inline(always)]
fn backward_block(
    k: usize,
    block: &mut [f32],
    rows: &mut RowsMut,
    h: &[f32],
    (mx, sum): (&[f32], &[f32]),
    targets: &HashMap<u32, Vec<usize>>,
    b: usize,
) -> Vec<f32> {
    let wide = rows.wide;
    let scale = 1.0 / b as f32;
    let mut dh = vec![0f32; b * wide];
    let mut grad = vec![0f32; wide];
    for (j, g) in block.chunks_exact_mut(b).enumerate() {
        for ((g, &m), &s) in g.iter_mut().zip(mx).zip(sum) {
            *g = (*g - m).exp() / s * scale;
        }
        if let Some(sessions) = targets.get(&((k * BLOCK + j) as u32)) {
            for &i in sessions {
                g[i] -= scale;
            }
        }
        grad.iter_mut().for_each(|x| *x = 0.0);
        let o = &rows.values[j * wide..(j + 1) * wide];
        for ((&gi, dh), h) in g
            .iter()
            .zip(dh.chunks_exact_mut(wide))
            .zip(h.chunks_exact(wide))
        {
            axpy(dh, gi, o);
            axpy(&mut grad, gi, h);
        }
        rows.step(j, &grad);
    }
    dh
}

/// `out += a · x`.
#[inline(always)]
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o += a * x;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::wins_over_random_items;
    use super::super::{NextItemParams, train};
    use crate::progress::Silent;
    use crate::synthetic::{WorldConfig, simulate};

    fn params() -> NextItemParams {
        NextItemParams {
            dim: 16,
            epochs: 3,
            softmax_draws: 256,
            ..NextItemParams::default()
        }
    }

    /// The item that comes next outscores a random item far more often than chance, and
    /// every row carries the bias dimension: 1 at the end of each input row.
    #[test]
    fn the_next_item_outscores_a_random_item() {
        let log = simulate(WorldConfig {
            sessions: 20_000,
            items: 2_000,
            seed: 3,
        });
        let model = train(&log, &params(), 5, &Silent);
        assert_eq!(model.dim(), 17, "16 dimensions and the bias");
        let (input, _) = model.rows();
        let learnt = input.chunks_exact(17).filter(|r| r[16] == 1.0).count();
        assert!(learnt > 1_000, "{learnt} input rows end in 1");
        let (wins, trials) = wins_over_random_items(&model, &log);
        let share = wins as f64 / trials as f64;
        assert!(trials > 5_000, "{trials} comparisons");
        assert!(share > 0.8, "the next item wins {share:.3} of {trials}");
    }

    /// Sums over threads are reduced in a fixed order: one thread and two give the same
    /// model, and another seed another.
    #[test]
    fn any_number_of_threads_gives_the_same_model() {
        let log = simulate(WorldConfig {
            sessions: 3_000,
            items: 1_000,
            seed: 3,
        });
        let on = |threads: usize, params: NextItemParams| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| train(&log, &params, 5, &Silent))
        };
        let one = on(1, params());
        assert_eq!(one, on(2, params()));
        let other = NextItemParams {
            seed: 7,
            ..params()
        };
        assert_ne!(one, on(1, other));
    }
}
