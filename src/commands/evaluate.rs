use crate::cli::EvaluateArgs;
use crate::data::labels::read_labels;
use crate::data::submission::read_submission;
use crate::error::Result;
use crate::metrics::evaluate;

pub fn run(args: EvaluateArgs) -> Result<()> {
    let labels = read_labels(&args.labels)?;
    let predictions = read_submission(&args.submission)?;
    let recall = evaluate(&labels, &predictions);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&recall).expect("recall serialises")
        );
    } else {
        println!("sessions  {}", labels.len());
        println!("clicks    {:.4}", recall.clicks);
        println!("carts     {:.4}", recall.carts);
        println!("orders    {:.4}", recall.orders);
        println!("total     {:.4}", recall.total);
    }
    Ok(())
}
