//! `hubctl answers`: the answers an inquiry has received so far, as `inquire` shows them at the
//! end.

use clap::Args;
use uuid::Uuid;

use crate::{Context, cli::parse, error::Failure, format, json};

/// `hubctl answers`.
#[derive(Args, Debug, Clone)]
pub struct AnswersArgs {
    /// The inquiry's measure id.
    #[arg(value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub measure_id: Uuid,
}

/// Fetches the inquiry and its answers and prints the table and summary, or one JSON object per
/// answer followed by the inquiry (`finished`, or `progress` while it is open).
pub async fn run(context: &Context, args: AnswersArgs) -> Result<(), Failure> {
    let response = context
        .court()
        .await?
        .answers(&args.measure_id.to_string())
        .await?;
    let inquiry = response.inquiry.unwrap_or_default();
    for answer in &response.answers {
        context.out.json(&json::answer(&inquiry.measure_id, answer));
    }
    let stage = if format::inquiry::is_open(&inquiry) {
        "progress"
    } else {
        "finished"
    };
    context.out.json(&json::inquiry(stage, None, &inquiry));
    context.out.text(format!(
        "inquiry {} ({}, case {}): {}",
        inquiry.measure_id,
        format::state(inquiry.state),
        inquiry.case_number,
        if stage == "progress" {
            "still open"
        } else {
            "finished"
        }
    ));
    context
        .out
        .text(format::inquiry::report(&inquiry, &response.answers));
    Ok(())
}
