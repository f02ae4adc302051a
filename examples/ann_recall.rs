//! How exact a bundle's similar-items table is: for a sample of items, the share of the
//! exact top-K (brute-force cosine over every item with a vector) that the table holds.
//!
//!     cargo run --release --example ann_recall -- MODEL_DIR [QUERIES]
//!
//! QUERIES items (default 2,000) are drawn evenly over the items with vectors.

use otto_rec::bundle::Bundle;
use otto_rec::index::embedding::ann::exact_neighbours;
use rayon::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: ann_recall MODEL_DIR [QUERIES]");
        std::process::exit(1);
    };
    let queries: usize = args.get(2).map_or(Ok(2_000), |s| s.parse())?;
    let bundle = Bundle::open(std::path::Path::new(dir))?;
    let Some(embeddings) = &bundle.index().embeddings else {
        return Err("the bundle has no item embeddings".into());
    };
    let e = &embeddings.vectors;
    let aids = e.aids();
    let step = (aids.len() / queries.max(1)).max(1);
    let sample: Vec<u32> = aids.iter().step_by(step).copied().take(queries).collect();
    let k = sample
        .iter()
        .map(|&a| embeddings.similar.row(a).0.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let (found, total) = sample
        .par_iter()
        .map(|&a| {
            let exact = exact_neighbours(e, &aids, a, k);
            let table = embeddings.similar.row(a).0;
            let found = exact.iter().filter(|(b, _)| table.contains(b)).count();
            (found, exact.len())
        })
        .reduce(|| (0, 0), |x, y| (x.0 + y.0, x.1 + y.1));
    println!(
        "{} items with vectors, {} queries, recall@{k} of the similar-items table: {:.4}",
        aids.len(),
        sample.len(),
        found as f64 / total as f64
    );
    Ok(())
}
