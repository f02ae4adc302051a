//! A session model alone, scored as the session-based recommendation papers score it: the
//! 20 best items of each test prefix, HR@20 and MRR@20 of its next click, overall and split by
//! whether the target is new to the session.

/// One test prefix: whether the target is among the 20, its reciprocal rank (0 when not),
/// and whether it is new to the session.
pub type Outcome = (bool, f64, bool);

/// The outcome of a prefix whose items scored `scored` (score, item), best first.
pub fn outcome(mut scored: Vec<(f32, u32)>, target: Option<u32>, fresh: bool) -> Outcome {
    let top = 20.min(scored.len());
    if top == 0 {
        return (false, 0.0, fresh);
    }
    scored.select_nth_unstable_by(top - 1, |a, b| b.0.total_cmp(&a.0));
    scored[..top].sort_by(|a, b| b.0.total_cmp(&a.0));
    let rank = scored[..top].iter().position(|&(_, a)| Some(a) == target);
    (
        rank.is_some(),
        rank.map_or(0.0, |r| 1.0 / (r + 1) as f64),
        fresh,
    )
}

/// Prints HR@20 and MRR@20 (in %) over all prefixes, the new targets and the repeated ones.
pub fn report(results: &[Outcome]) {
    let line = |name: &str, rows: Vec<&Outcome>| {
        let n = rows.len().max(1) as f64;
        let hr = rows.iter().filter(|r| r.0).count() as f64 / n * 100.0;
        let mrr = rows.iter().map(|r| r.1).sum::<f64>() / n * 100.0;
        println!(
            "  {name:<28} {:>7} prefixes  HR@20 {hr:.2}  MRR@20 {mrr:.2}",
            rows.len()
        );
    };
    line("all", results.iter().collect());
    line(
        "target new to the session",
        results.iter().filter(|r| r.2).collect(),
    );
    line(
        "target in the session",
        results.iter().filter(|r| !r.2).collect(),
    );
}
