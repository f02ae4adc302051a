//! `evaluate`: Recall@20 of a submission against labels, per type and weighted, and the
//! MRR@20 of the click labels (the session-based recommendation benchmarks' metrics).

use crate::cli::EvaluateArgs;
use crate::commands::print_report;
use crate::data::labels::read_labels;
use crate::data::submission::read_submission;
use crate::error::Result;
use crate::metric::{Recall, clicks_mrr, evaluate};

/// What `evaluate --json` prints: the recalls, then MRR@20 of the clicks.
#[derive(serde::Serialize)]
struct Evaluation {
    #[serde(flatten)]
    recall: Recall,
    clicks_mrr: f64,
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    let labels = read_labels(&args.labels)?;
    let predictions = read_submission(&args.submission)?;
    let recall = evaluate(&labels, &predictions);
    let mrr = clicks_mrr(&labels, &predictions);
    let mut out = String::new();
    if args.json {
        let evaluation = Evaluation {
            recall,
            clicks_mrr: mrr,
        };
        report!(
            out,
            "{}",
            serde_json::to_string(&evaluation).expect("an evaluation serialises")
        );
    } else {
        report!(out, "sessions    {}", labels.len());
        report!(out, "clicks      {:.4}", recall.clicks);
        report!(out, "carts       {:.4}", recall.carts);
        report!(out, "orders      {:.4}", recall.orders);
        report!(out, "total       {:.4}", recall.total);
        report!(out, "clicks MRR  {mrr:.4}");
    }
    print_report(&out)
}
