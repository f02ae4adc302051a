//! `evaluate`: Recall@20 of a submission against labels, per type and weighted.

use crate::cli::EvaluateArgs;
use crate::commands::print_report;
use crate::data::labels::read_labels;
use crate::data::submission::read_submission;
use crate::error::Result;
use crate::metric::evaluate;

pub fn run(args: EvaluateArgs) -> Result<()> {
    let labels = read_labels(&args.labels)?;
    let predictions = read_submission(&args.submission)?;
    let recall = evaluate(&labels, &predictions);
    let mut out = String::new();
    if args.json {
        report!(
            out,
            "{}",
            serde_json::to_string(&recall).expect("recall serialises")
        );
    } else {
        report!(out, "sessions  {}", labels.len());
        report!(out, "clicks    {:.4}", recall.clicks);
        report!(out, "carts     {:.4}", recall.carts);
        report!(out, "orders    {:.4}", recall.orders);
        report!(out, "total     {:.4}", recall.total);
    }
    print_report(&out)
}
