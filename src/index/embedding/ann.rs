//! Every item's nearest items by cosine similarity, with an HNSW graph (Malkov & Yashunin,
//! the `hnsw_rs` crate): built once at `build-index` time and queried for each item in
//! parallel, so serving reads a plain table and needs no index at request time. The graph
//! is built on one thread, in aid order: a node's layer is drawn from the graph's seeded
//! generator in insertion order, and its links depend on the nodes already in, so a
//! parallel build would give another graph (and other neighbours) on every run. Vectors are
//! unit length, so cosine is the dot product and HNSW's dot distance (1 − cosine) ranks
//! the same way.

use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

use super::{Embeddings, dot};
use crate::index::CovisitTable;
use crate::index::covisit::top_k;
use crate::progress::{Progress, Unit};

/// Neighbours per node of the graph (HNSW's M).
const CONNECTIONS: usize = 16;
/// Candidate list while inserting (ef_construction).
const EF_CONSTRUCTION: usize = 64;
/// Layers of the graph.
const LAYERS: usize = 16;

/// 1 − cosine for unit vectors, never below 0 (rounding can put the dot product of a
/// vector with itself a hair above 1).
#[derive(Clone, Copy, Debug, Default)]
struct CosineDistance;

impl Distance<f32> for CosineDistance {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// For every aid with a vector, its `k` most similar other aids (cosine, best first, ties
/// by smaller aid), as a table in the co-visitation format.
pub fn similar_items(e: &Embeddings, k: usize, progress: &dyn Progress) -> CovisitTable {
    let aids = e.aids();
    if aids.len() < 2 {
        return CovisitTable::default();
    }
    progress.stage("similar items: graph", aids.len() as u64, Unit::Items);
    let graph: Hnsw<f32, CosineDistance> = Hnsw::new(
        CONNECTIONS,
        aids.len(),
        LAYERS,
        EF_CONSTRUCTION,
        CosineDistance,
    );
    for block in aids.chunks(4_096) {
        for &a in block {
            graph.insert_slice((e.vector(a).expect("has a vector"), a as usize));
        }
        progress.advance(block.len() as u64);
    }
    progress.finish();
    progress.stage("similar items: queries", aids.len() as u64, Unit::Items);
    let ef = (2 * k).max(32);
    let rows: Vec<Vec<(u32, f32)>> = aids
        .par_chunks(4_096)
        .flat_map_iter(|block| {
            let out: Vec<Vec<(u32, f32)>> = block
                .iter()
                .map(|&a| {
                    let v = e.vector(a).expect("has a vector");
                    let mut row: Vec<(u32, f32)> = graph
                        .search(v, k + 1, ef)
                        .into_iter()
                        .map(|n| n.d_id as u32)
                        .filter(|&b| b != a)
                        .map(|b| (b, e.cosine(a, b).expect("has a vector")))
                        .collect();
                    top_k(&mut row, k);
                    row
                })
                .collect();
            progress.advance(block.len() as u64);
            out
        })
        .collect();
    progress.finish();
    let mut lists = vec![Vec::new(); e.aid_bound()];
    for (&a, row) in aids.iter().zip(rows) {
        lists[a as usize] = row;
    }
    CovisitTable::from_lists(lists)
}

/// The exact `k` most similar of `aids` to `a` (cosine, best first, ties by smaller aid),
/// by comparing `a` with every one: the oracle the graph is measured against.
pub fn exact_neighbours(e: &Embeddings, aids: &[u32], a: u32, k: usize) -> Vec<(u32, f32)> {
    let va = e.vector(a).expect("has a vector");
    let mut row: Vec<(u32, f32)> = aids
        .iter()
        .filter(|&&b| b != a)
        .map(|&b| (b, dot(va, e.vector(b).expect("has a vector"))))
        .collect();
    top_k(&mut row, k);
    row
}

/// The exact answer for every item, by comparing every pair: the oracle
/// [`similar_items`] is tested against.
pub fn brute_force(e: &Embeddings, k: usize) -> Vec<Vec<(u32, f32)>> {
    let aids = e.aids();
    let mut lists = vec![Vec::new(); e.aid_bound()];
    for &a in &aids {
        lists[a as usize] = exact_neighbours(e, &aids, a, k);
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use crate::rng::Rng;

    /// Random vectors around 40 centres, like item vectors of 40 categories.
    fn clustered(n: usize, dim: usize, seed: u64) -> Embeddings {
        let mut rng = Rng::new(seed);
        let centres: Vec<Vec<f32>> = (0..40)
            .map(|_| (0..dim).map(|_| rng.normal() as f32).collect())
            .collect();
        let mut rows = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = &centres[i % 40];
            rows.extend(c.iter().map(|&x| x + 0.6 * rng.normal() as f32));
        }
        // A few aids without a vector.
        for i in (0..n).step_by(97) {
            rows[i * dim..(i + 1) * dim]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
        Embeddings::from_rows(dim, rows)
    }

    #[test]
    fn the_graph_finds_the_exact_top_twenty_for_at_least_95_percent() {
        let e = clustered(3_000, 32, 1);
        let table = similar_items(&e, 20, &Silent);
        let exact = brute_force(&e, 20);
        let (mut found, mut total) = (0usize, 0usize);
        for (a, row) in exact.iter().enumerate() {
            let got = table.neighbors(a as u32);
            assert!(got.len() <= 20);
            assert!(
                !got.contains(&(a as u32)),
                "an item is not its own neighbour"
            );
            found += row.iter().filter(|(b, _)| got.contains(b)).count();
            total += row.len();
            if e.vector(a as u32).is_none() {
                assert!(got.is_empty());
            }
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.95, "recall@20 {recall:.4}");
        table.check(20).expect("best first, no duplicates, finite");
    }
}
