//! What the scoring benchmarks share: the feature rows they score and the timing of the
//! production scorer on rows in cache.

use std::time::Instant;

use otto_rec::candidates::{CandidateConfig, SessionContext, candidates};
use otto_rec::domain::SessionLog;
use otto_rec::features::{NUM_FEATURES, SessionFeatures, write_rows};
use otto_rec::index::Index;
use otto_rec::ranker::TreeModel;

/// Sessions whose candidates make the benchmarks' feature rows.
pub const SESSIONS: usize = 2_000;

/// The feature rows of the candidates of the first [`SESSIONS`] sessions of `log`, as a
/// request builds them.
pub fn feature_rows(index: &Index, config: &CandidateConfig, log: &SessionLog) -> Vec<f32> {
    let mut rows = Vec::new();
    for session in log.iter().take(SESSIONS) {
        let ctx = SessionContext::new(index, session, config);
        let features = SessionFeatures::new(&ctx);
        let cands = candidates(&ctx, config);
        write_rows(index, &ctx, &features, &cands, &mut rows);
    }
    rows
}

/// One pass of the production scorer over `rows` in cache, in ns per tree and row: each
/// 800-row batch is copied into a buffer just before it is scored, as `predict` writes a
/// 16-session batch's rows and then scores them.
pub fn cached_ns_per_tree_row(model: &TreeModel, rows: &[f32]) -> f64 {
    let batch = 800 * NUM_FEATURES;
    let mut buffer = vec![0f32; batch];
    let mut out = Vec::with_capacity(800);
    let mut seconds = 0.0;
    for chunk in rows.chunks(batch) {
        let buffer = &mut buffer[..chunk.len()];
        buffer.copy_from_slice(chunk);
        let t = Instant::now();
        model.score_rows(buffer, &mut out);
        seconds += t.elapsed().as_secs_f64();
    }
    seconds * 1e9 / ((rows.len() / NUM_FEATURES) * model.num_trees()) as f64
}
