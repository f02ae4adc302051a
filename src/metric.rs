//! The competition metric: Recall@20 per type and the weighted score
//! `0.10·R_clicks + 0.30·R_carts + 0.60·R_orders`.
//!
//! The truth of carts and orders is a set (a repeated label aid counts once), a click label
//! on aid 0 counts like any other, and a session without a prediction row scores 0 hits:
//! on ordinary data this equals the official `evaluate.py` to the last digit.

use std::collections::HashMap;

use crate::domain::{EventType, SessionLabels};

/// Weights of the per-objective recalls in the competition score.
pub const OBJECTIVE_WEIGHTS: [f64; 3] = [0.10, 0.30, 0.60];
/// Items per objective that count (the competition's cut-off).
pub const CUTOFF: usize = 20;

/// Predicted aids per session and objective (indexed by [`EventType::index`]).
pub type Predictions = HashMap<u32, [Vec<u32>; 3]>;

/// Recall@20 per type and weighted.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recall {
    pub clicks: f64,
    pub carts: f64,
    pub orders: f64,
    pub total: f64,
}

impl Recall {
    /// The recall of one objective.
    pub fn of(&self, objective: EventType) -> f64 {
        match objective {
            EventType::Click => self.clicks,
            EventType::Cart => self.carts,
            EventType::Order => self.orders,
        }
    }
}

impl std::fmt::Display for Recall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "clicks {:.4}  carts {:.4}  orders {:.4}  total {:.4}",
            self.clicks, self.carts, self.orders, self.total
        )
    }
}

/// Hits and capped truth sizes per type, to be summed over sessions.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecallCounter {
    hits: [u64; 3],
    truth: [u64; 3],
}

impl RecallCounter {
    /// Adds one session's predictions (`None` for a session without a prediction row).
    pub fn add(&mut self, labels: &SessionLabels, objective: EventType, predicted: Option<&[u32]>) {
        let truth = labels.truth(objective);
        let predicted = predicted.unwrap_or(&[]);
        let top = &predicted[..predicted.len().min(CUTOFF)];
        // The truth is a set: each distinct aid counts once.
        let mut distinct: Vec<u32> = truth.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let hits = distinct.iter().filter(|a| top.contains(a)).count();
        self.add_counts(objective, hits, distinct.len());
    }

    /// Adds one session's hits for a truth of `truth` items (no-op for an empty truth);
    /// both are capped at 20 as in the metric.
    pub fn add_counts(&mut self, objective: EventType, hits: usize, truth: usize) {
        if truth == 0 {
            return;
        }
        self.hits[objective.index()] += hits.min(CUTOFF) as u64;
        self.truth[objective.index()] += truth.min(CUTOFF) as u64;
    }

    /// Adds the counts of another counter.
    pub fn merge(&mut self, other: &RecallCounter) {
        for i in 0..3 {
            self.hits[i] += other.hits[i];
            self.truth[i] += other.truth[i];
        }
    }

    /// The recalls so far.
    pub fn recall(&self) -> Recall {
        let r = |i: usize| {
            if self.truth[i] == 0 {
                0.0
            } else {
                self.hits[i] as f64 / self.truth[i] as f64
            }
        };
        let (clicks, carts, orders) = (r(0), r(1), r(2));
        Recall {
            clicks,
            carts,
            orders,
            total: OBJECTIVE_WEIGHTS[0] * clicks
                + OBJECTIVE_WEIGHTS[1] * carts
                + OBJECTIVE_WEIGHTS[2] * orders,
        }
    }
}

/// Recall@20 of a submission against labels.
pub fn evaluate(labels: &[SessionLabels], predictions: &Predictions) -> Recall {
    let mut counter = RecallCounter::default();
    for l in labels {
        let row = predictions.get(&l.session);
        for kind in EventType::ALL {
            counter.add(l, kind, row.map(|r| r[kind.index()].as_slice()));
        }
    }
    counter.recall()
}

/// Mean reciprocal rank of the click label within the top 20 (MRR@20, the session-based
/// recommendation papers' second metric): `1/rank` when the label is among the first 20
/// predicted clicks, else 0, averaged over the sessions that have a click label; a session
/// without a prediction row scores 0. 0 when no session has a click label.
pub fn clicks_mrr(labels: &[SessionLabels], predictions: &Predictions) -> f64 {
    let mut sum = 0.0;
    let mut sessions = 0usize;
    for l in labels {
        let Some(click) = l.clicks else { continue };
        sessions += 1;
        let predicted = predictions
            .get(&l.session)
            .map_or(&[][..], |r| r[EventType::Click.index()].as_slice());
        if let Some(rank) = predicted.iter().take(CUTOFF).position(|&a| a == click) {
            sum += 1.0 / (rank + 1) as f64;
        }
    }
    if sessions == 0 {
        0.0
    } else {
        sum / sessions as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(
        session: u32,
        clicks: Option<u32>,
        carts: Vec<u32>,
        orders: Vec<u32>,
    ) -> SessionLabels {
        SessionLabels {
            session,
            clicks,
            carts,
            orders,
        }
    }

    #[test]
    fn hand_computed_recall_and_weighted_total() {
        let labels = vec![
            truth(1, Some(5), vec![1, 2], vec![3]),
            truth(2, Some(6), vec![4], vec![]),
        ];
        let mut predictions = Predictions::new();
        predictions.insert(1, [vec![5, 9], vec![2, 7], vec![3]]);
        predictions.insert(2, [vec![9], vec![4], vec![1]]);
        let recall = evaluate(&labels, &predictions);
        // clicks: 1 hit of 2; carts: 2 hits of 3; orders: 1 of 1 (session 2 has no orders).
        assert_eq!(recall.clicks, 0.5);
        assert!((recall.carts - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(recall.orders, 1.0);
        assert!((recall.total - (0.05 + 0.2 + 0.6)).abs() < 1e-12);
    }

    #[test]
    fn truth_above_twenty_items_is_capped_at_twenty_in_the_denominator() {
        let orders: Vec<u32> = (0..30).collect();
        let labels = vec![truth(1, None, vec![], orders.clone())];
        let mut predictions = Predictions::new();
        predictions.insert(1, [vec![], vec![], orders[..20].to_vec()]);
        assert_eq!(evaluate(&labels, &predictions).orders, 1.0);
    }

    #[test]
    fn session_without_a_prediction_row_scores_zero_hits() {
        let labels = vec![
            truth(1, Some(5), vec![], vec![]),
            truth(2, Some(6), vec![], vec![]),
        ];
        let mut predictions = Predictions::new();
        predictions.insert(1, [vec![5], vec![], vec![]]);
        assert_eq!(evaluate(&labels, &predictions).clicks, 0.5);
    }

    #[test]
    fn a_repeated_truth_aid_counts_once_and_aid_zero_counts() {
        let labels = vec![truth(1, Some(0), vec![4, 4], vec![])];
        let mut predictions = Predictions::new();
        predictions.insert(1, [vec![0], vec![9], vec![]]);
        let recall = evaluate(&labels, &predictions);
        assert_eq!(recall.clicks, 1.0, "a click on aid 0 is a hit");
        assert_eq!(recall.carts, 0.0);
        predictions.insert(1, [vec![0], vec![4], vec![]]);
        assert_eq!(
            evaluate(&labels, &predictions).carts,
            1.0,
            "one hit of one distinct aid"
        );
    }

    #[test]
    fn clicks_mrr_averages_reciprocal_ranks_within_twenty_over_click_labels() {
        let labels = vec![
            truth(1, Some(5), vec![], vec![]),
            truth(2, Some(6), vec![], vec![]),
            truth(3, Some(7), vec![], vec![]),
            truth(4, None, vec![1], vec![]),
            truth(5, Some(8), vec![], vec![]),
        ];
        let mut predictions = Predictions::new();
        predictions.insert(1, [vec![5, 9], vec![], vec![]]);
        predictions.insert(2, [vec![9, 8, 7, 6], vec![], vec![]]);
        let mut late: Vec<u32> = (100..120).collect();
        late.push(7);
        predictions.insert(3, [late, vec![], vec![]]);
        predictions.insert(4, [vec![1], vec![1], vec![]]);
        // Sessions 1..3 and 5 have click labels: ranks 1 and 4, beyond 20, no row.
        let mrr = clicks_mrr(&labels, &predictions);
        assert!((mrr - (1.0 + 0.25) / 4.0).abs() < 1e-12, "{mrr}");
        assert_eq!(clicks_mrr(&labels[3..4], &predictions), 0.0);
    }

    #[test]
    fn predictions_beyond_twenty_are_ignored() {
        let labels = vec![truth(1, Some(99), vec![], vec![])];
        let mut predicted: Vec<u32> = (0..20).collect();
        predicted.push(99);
        let mut predictions = Predictions::new();
        predictions.insert(1, [predicted, vec![], vec![]]);
        assert_eq!(evaluate(&labels, &predictions).clicks, 0.0);
    }
}
