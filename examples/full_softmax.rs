//! What a full softmax over every item costs and reaches on one log: the next-item model's
//! session encoder (the recency-weighted mean of the last five items' input vectors), trained
//! on every prefix of TRAIN against all items at once, in mini-batches with Adam, as the
//! neural session models (NARM, SR-GNN) train. After each pass it prints the pass's time and
//! the model's HR@20 / MRR@20 alone on the test prefixes, scored as the papers score them.
//!
//!     cargo run --release --example full_softmax -- TRAIN TEST LABELS
//!
//! DIM (64), EPOCHS (3), BATCH (512), LR (Adam's step, 0.01) and PREFIXES (train on at most
//! this many prefixes per pass, to time a part of one) override the defaults. SAMPLE=k puts
//! each batch against its own targets and k shared draws from count^0.75 instead of every
//! item (each logit less the log of its item's share of the draws): the same training at
//! about k / items of the cost. The run is deterministic for a given input (one seed,
//! reductions in a fixed order).

use std::collections::HashMap;
use std::time::Instant;

use otto_rec::data::labels::read_labels;
use otto_rec::data::read_events;
use otto_rec::index::ItemIds;
use otto_rec::index::embedding::next::{CONTEXT, weight};
use otto_rec::progress::Silent;
use otto_rec::rng::Rng;
use rayon::prelude::*;

mod top20;

/// Items per block of the passes over all items (a block's output rows stay in cache while
/// every session of the batch reads them).
const BLOCK: usize = 256;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The context of a prefix: up to [`CONTEXT`] (row, weight) pairs, weights summing to 1.
fn context(sentence: &[u32]) -> Vec<(u32, f32)> {
    let m = sentence.len().min(CONTEXT);
    let norm: f32 = (0..m).map(weight).sum();
    (0..m)
        .map(|back| (sentence[sentence.len() - 1 - back], weight(back) / norm))
        .collect()
}

/// Adam's moments for a matrix of rows, with one step count per row (rows of the input
/// matrix are updated only when a batch reads them).
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    steps: Vec<i32>,
}

impl Adam {
    fn new(rows: usize, dim: usize) -> Adam {
        Adam {
            m: vec![0.0; rows * dim],
            v: vec![0.0; rows * dim],
            steps: vec![0; rows],
        }
    }
}

const B1: f32 = 0.9;
const B2: f32 = 0.999;

/// One Adam step of `row` (its values `w`, moments `m`, `v`, step count `t`) by `grad`.
fn adam_step(w: &mut [f32], m: &mut [f32], v: &mut [f32], t: &mut i32, grad: &[f32], lr: f32) {
    *t += 1;
    let c1 = 1.0 - B1.powi(*t);
    let c2 = 1.0 - B2.powi(*t);
    for (((w, m), v), &g) in w.iter_mut().zip(m).zip(v).zip(grad) {
        *m = B1 * *m + (1.0 - B1) * g;
        *v = B2 * *v + (1.0 - B2) * g * g;
        *w -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
    }
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] = x[k].mul_add(y[k], acc[k]);
        }
    }
    acc.iter().sum()
}

#[inline]
fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = a.mul_add(x, *o);
    }
}

/// The output side of the model: a row and a bias per item, with their Adam moments.
struct Output {
    out: Vec<f32>,
    bias: Vec<f32>,
    om: Vec<f32>,
    ov: Vec<f32>,
    ot: Vec<i32>,
    bm: Vec<f32>,
    bv: Vec<f32>,
    bt: Vec<i32>,
}

impl Output {
    fn new(out: Vec<f32>, dim: usize) -> Output {
        let n = out.len() / dim;
        Output {
            out,
            bias: vec![0.0; n],
            om: vec![0.0; n * dim],
            ov: vec![0.0; n * dim],
            ot: vec![0; n],
            bm: vec![0.0; n],
            bv: vec![0.0; n],
            bt: vec![0; n],
        }
    }

    /// The rows `rows`, in that order, as an output side of their own.
    fn gather(&self, rows: &[u32], dim: usize) -> Output {
        let wide = |v: &[f32]| -> Vec<f32> {
            rows.iter()
                .flat_map(|&r| &v[r as usize * dim..(r as usize + 1) * dim])
                .copied()
                .collect()
        };
        let one = |v: &[f32]| -> Vec<f32> { rows.iter().map(|&r| v[r as usize]).collect() };
        Output {
            out: wide(&self.out),
            bias: one(&self.bias),
            om: wide(&self.om),
            ov: wide(&self.ov),
            ot: rows.iter().map(|&r| self.ot[r as usize]).collect(),
            bm: one(&self.bm),
            bv: one(&self.bv),
            bt: rows.iter().map(|&r| self.bt[r as usize]).collect(),
        }
    }

    /// Writes back the rows that [`Output::gather`] took.
    fn scatter(&mut self, rows: &[u32], part: &Output, dim: usize) {
        for (k, &r) in rows.iter().enumerate() {
            let (to, from) = (
                r as usize * dim..(r as usize + 1) * dim,
                k * dim..(k + 1) * dim,
            );
            self.out[to.clone()].copy_from_slice(&part.out[from.clone()]);
            self.om[to.clone()].copy_from_slice(&part.om[from.clone()]);
            self.ov[to].copy_from_slice(&part.ov[from]);
            let r = r as usize;
            (self.bias[r], self.bm[r], self.bv[r]) = (part.bias[k], part.bm[k], part.bv[k]);
            (self.ot[r], self.bt[r]) = (part.ot[k], part.bt[k]);
        }
    }
}

/// A session's vector: the weighted mean of its context's input rows.
fn session_vector(input: &[f32], dim: usize, ctx: &[(u32, f32)], h: &mut [f32]) {
    h.iter_mut().for_each(|x| *x = 0.0);
    for &(row, w) in ctx {
        let r = row as usize * dim;
        axpy(h, w, &input[r..r + dim]);
    }
}

/// One mini-batch: contexts and targets (rows of `side`); `offset` (empty: none) is taken
/// from each row's logit. Returns the batch's mean cross-entropy.
#[allow(clippy::too_many_arguments)]
fn step(
    input: &mut [f32],
    adam_in: &mut Adam,
    dim: usize,
    side: &mut Output,
    offset: &[f32],
    batch: &[(Vec<(u32, f32)>, u32)],
    lr: f32,
    logits: &mut Vec<f32>,
) -> f64 {
    let (n, b) = (side.bias.len(), batch.len());
    let mut h = vec![0f32; b * dim];
    for (i, (ctx, _)) in batch.iter().enumerate() {
        session_vector(input, dim, ctx, &mut h[i * dim..(i + 1) * dim]);
    }
    // Logits, item-major (`n × b`), and per session the max and the sum of exponentials,
    // combined over blocks in order.
    logits.resize(n * b, 0.0);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = logits
        .par_chunks_mut(BLOCK * b)
        .enumerate()
        .map(|(k, block)| {
            // SAFETY: `main` checked that the CPU has AVX2 and FMA.
            unsafe { forward_block(side, offset, &h, k, block, b, dim) }
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
    let mut loss = 0f64;
    let mut targets: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, &(_, t)) in batch.iter().enumerate() {
        loss += (sum[i].ln() + mx[i] - logits[t as usize * b + i]) as f64;
        targets.entry(t).or_default().push(i);
    }
    // Gradients: of the logits g = (p - y) / b, then of the session vectors (summed over
    // blocks in order) and of every output row and bias, updated in place.
    let dh_parts: Vec<Vec<f32>> = logits
        .par_chunks_mut(BLOCK * b)
        .zip(side.out.par_chunks_mut(BLOCK * dim))
        .zip(side.bias.par_chunks_mut(BLOCK))
        .zip(side.om.par_chunks_mut(BLOCK * dim))
        .zip(side.ov.par_chunks_mut(BLOCK * dim))
        .zip(side.ot.par_chunks_mut(BLOCK))
        .zip(side.bm.par_chunks_mut(BLOCK))
        .zip(side.bv.par_chunks_mut(BLOCK))
        .zip(side.bt.par_chunks_mut(BLOCK))
        .enumerate()
        .map(
            |(k, ((((((((block, out), bias), om), ov), ot), bm), bv), bt))| {
                let rows = Rows {
                    out,
                    bias,
                    om,
                    ov,
                    ot,
                    bm,
                    bv,
                    bt,
                };
                // SAFETY: `main` checked that the CPU has AVX2 and FMA.
                unsafe { backward_block(k, block, rows, &h, (&mx, &sum), &targets, b, dim, lr) }
            },
        )
        .collect();
    let mut dh = vec![0f32; b * dim];
    for part in &dh_parts {
        axpy(&mut dh, 1.0, part);
    }
    // The input rows the batch read, each updated once by its summed gradient.
    let mut grads: HashMap<u32, Vec<f32>> = HashMap::new();
    for (i, (ctx, _)) in batch.iter().enumerate() {
        for &(row, w) in ctx {
            let g = grads.entry(row).or_insert_with(|| vec![0.0; dim]);
            axpy(g, w, &dh[i * dim..(i + 1) * dim]);
        }
    }
    let mut rows: Vec<_> = grads.into_iter().collect();
    rows.sort_unstable_by_key(|r| r.0);
    for (row, g) in rows {
        let r = row as usize * dim..(row as usize + 1) * dim;
        adam_step(
            &mut input[r.clone()],
            &mut adam_in.m[r.clone()],
            &mut adam_in.v[r],
            &mut adam_in.steps[row as usize],
            &g,
            lr,
        );
    }
    loss / b as f64
}

/// The logits of one block of items for every session of the batch, and per session their
/// max and sum of exponentials.
#[target_feature(enable = "avx2,fma")]
fn forward_block(
    side: &Output,
    offset: &[f32],
    h: &[f32],
    k: usize,
    block: &mut [f32],
    b: usize,
    dim: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (mut mx, mut sum) = (vec![f32::NEG_INFINITY; b], vec![0f32; b]);
    for (jj, row) in block.chunks_exact_mut(b).enumerate() {
        let j = k * BLOCK + jj;
        let o = &side.out[j * dim..(j + 1) * dim];
        let bias = side.bias[j] - offset.get(j).copied().unwrap_or(0.0);
        for (i, l) in row.iter_mut().enumerate() {
            *l = dot(&h[i * dim..(i + 1) * dim], o) + bias;
        }
    }
    for (i, (mx, sum)) in mx.iter_mut().zip(sum.iter_mut()).enumerate() {
        *mx = block
            .chunks_exact(b)
            .map(|r| r[i])
            .fold(f32::NEG_INFINITY, f32::max);
        *sum = block.chunks_exact(b).map(|r| (r[i] - *mx).exp()).sum();
    }
    (mx, sum)
}

/// One block's output rows, biases and their Adam moments.
struct Rows<'a> {
    out: &'a mut [f32],
    bias: &'a mut [f32],
    om: &'a mut [f32],
    ov: &'a mut [f32],
    ot: &'a mut [i32],
    bm: &'a mut [f32],
    bv: &'a mut [f32],
    bt: &'a mut [i32],
}

/// The gradients of one block of items: its logits become (p - y) / b, its rows and biases
/// take an Adam step, and the block's part of the sessions' gradients is returned.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
fn backward_block(
    k: usize,
    block: &mut [f32],
    rows: Rows,
    h: &[f32],
    (mx, sum): (&[f32], &[f32]),
    targets: &HashMap<u32, Vec<usize>>,
    b: usize,
    dim: usize,
    lr: f32,
) -> Vec<f32> {
    let Rows {
        out,
        bias,
        om,
        ov,
        ot,
        bm,
        bv,
        bt,
    } = rows;
    let scale = 1.0 / b as f32;
    let mut dh = vec![0f32; b * dim];
    let mut grad = vec![0f32; dim];
    for (jj, g) in block.chunks_exact_mut(b).enumerate() {
        let j = k * BLOCK + jj;
        for (i, g) in g.iter_mut().enumerate() {
            *g = (*g - mx[i]).exp() / sum[i] * scale;
        }
        if let Some(rows) = targets.get(&(j as u32)) {
            for &i in rows {
                g[i] -= scale;
            }
        }
        let o = &mut out[jj * dim..(jj + 1) * dim];
        grad.iter_mut().for_each(|x| *x = 0.0);
        for (i, &gi) in g.iter().enumerate() {
            axpy(&mut dh[i * dim..(i + 1) * dim], gi, o);
            axpy(&mut grad, gi, &h[i * dim..(i + 1) * dim]);
        }
        let r = jj * dim..(jj + 1) * dim;
        adam_step(o, &mut om[r.clone()], &mut ov[r], &mut ot[jj], &grad, lr);
        let gb = [g.iter().sum::<f32>()];
        adam_step(
            std::slice::from_mut(&mut bias[jj]),
            std::slice::from_mut(&mut bm[jj]),
            std::slice::from_mut(&mut bv[jj]),
            &mut bt[jj],
            &gb,
            lr,
        );
    }
    dh
}

/// Every item's score after a session of vector `h`.
#[target_feature(enable = "avx2,fma")]
fn score_all(side: &Output, h: &[f32], dim: usize) -> Vec<(f32, u32)> {
    side.out
        .chunks_exact(dim)
        .zip(&side.bias)
        .enumerate()
        .map(|(j, (o, &bias))| (dot(h, o) + bias, j as u32))
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, train, test, labels] = args.as_slice() else {
        eprintln!("usage: full_softmax TRAIN TEST LABELS");
        std::process::exit(1);
    };
    let dim: usize = env("DIM", 64);
    let epochs: usize = env("EPOCHS", 3);
    let batch_size: usize = env("BATCH", 512);
    let lr: f32 = env("LR", 0.01);
    let limit: usize = env("PREFIXES", usize::MAX);
    let sample: usize = env("SAMPLE", 0);
    assert!(dim.is_multiple_of(8), "DIM must be a multiple of 8");
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        eprintln!("full_softmax: needs a CPU with AVX2 and FMA");
        std::process::exit(1);
    }

    let mut log = read_events(std::path::Path::new(train), &Silent)?;
    let ids = ItemIds::of(&log.aids);
    ids.localize_in_place(&mut log);
    let n = ids.len();
    let mut prefixes: Vec<(Vec<(u32, f32)>, u32)> = Vec::new();
    for i in 0..log.len() {
        let mut sentence: Vec<u32> = log.session(i).aids.to_vec();
        sentence.dedup();
        for cut in 1..sentence.len() {
            prefixes.push((context(&sentence[..cut]), sentence[cut]));
        }
    }
    println!(
        "{} items, {} training prefixes; dim {dim}, batch {batch_size}, Adam {lr}, {}",
        n,
        prefixes.len(),
        if sample == 0 {
            "full softmax".to_string()
        } else {
            format!("softmax over the batch's targets and {sample} shared draws")
        }
    );
    // The draws' distribution (count^0.75), its running total and each item's log share.
    let mut counts = vec![0f64; n];
    for &a in &log.aids {
        counts[a as usize] += 1.0;
    }
    let mut cumulative = Vec::with_capacity(n);
    let mut total = 0f64;
    for &c in &counts {
        total += c.powf(0.75);
        cumulative.push(total);
    }
    let log_q: Vec<f32> = counts
        .iter()
        .map(|&c| (c.powf(0.75) / total).ln() as f32)
        .collect();

    let mut rng = Rng::new(42);
    let mut init = |rows: usize, scale: f32| -> Vec<f32> {
        (0..rows * dim)
            .map(|_| (rng.below(1 << 24) as f32 / (1 << 24) as f32 - 0.5) * scale)
            .collect()
    };
    let mut input = init(n, 0.2);
    let mut side = Output::new(init(n, 0.2), dim);
    let mut adam_in = Adam::new(n, dim);

    let test = read_events(std::path::Path::new(test), &Silent)?;
    let truth: HashMap<u32, u32> = read_labels(std::path::Path::new(labels))?
        .into_iter()
        .filter_map(|l| Some((l.session, l.clicks?)))
        .collect();

    let mut logits = Vec::new();
    let mut order: Vec<usize> = (0..prefixes.len()).collect();
    for epoch in 1..=epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let started = Instant::now();
        let (mut loss, mut batches, mut seen) = (0f64, 0usize, 0usize);
        for chunk in order.chunks(batch_size) {
            if seen >= limit {
                break;
            }
            let mut batch: Vec<_> = chunk.iter().map(|&i| prefixes[i].clone()).collect();
            loss += if sample == 0 {
                step(
                    &mut input,
                    &mut adam_in,
                    dim,
                    &mut side,
                    &[],
                    &batch,
                    lr,
                    &mut logits,
                )
            } else {
                // The batch's targets and `sample` draws, each row once; logits less the
                // log of the row's share of the draws.
                let mut rows: Vec<u32> = batch.iter().map(|p| p.1).collect();
                for _ in 0..sample {
                    let u = rng.next_f64() * total;
                    rows.push(cumulative.partition_point(|&c| c <= u).min(n - 1) as u32);
                }
                rows.sort_unstable();
                rows.dedup();
                for p in &mut batch {
                    p.1 = rows.binary_search(&p.1).unwrap() as u32;
                }
                let offset: Vec<f32> = rows.iter().map(|&r| log_q[r as usize]).collect();
                let mut part = side.gather(&rows, dim);
                let loss = step(
                    &mut input,
                    &mut adam_in,
                    dim,
                    &mut part,
                    &offset,
                    &batch,
                    lr,
                    &mut logits,
                );
                side.scatter(&rows, &part, dim);
                loss
            };
            batches += 1;
            seen += chunk.len();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "pass {epoch}: {seen} prefixes in {secs:.1} s ({:.1} s for all {}), mean loss {:.4}",
            secs * prefixes.len() as f64 / seen as f64,
            prefixes.len(),
            loss / batches as f64
        );
        let results: Vec<top20::Outcome> = (0..test.len())
            .into_par_iter()
            .filter_map(|i| {
                let s = test.session(i);
                let target = *truth.get(&s.id)?;
                let fresh = !s.aids.contains(&target);
                let mut sentence: Vec<u32> =
                    s.aids.iter().filter_map(|&a| ids.position(a)).collect();
                sentence.dedup();
                let target = ids.position(target);
                if sentence.is_empty() {
                    return Some((false, 0.0, fresh));
                }
                let mut h = vec![0f32; dim];
                session_vector(&input, dim, &context(&sentence), &mut h);
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                let scored = unsafe { score_all(&side, &h, dim) };
                Some(top20::outcome(scored, target, fresh))
            })
            .collect();
        top20::report(&results);
    }
    Ok(())
}
