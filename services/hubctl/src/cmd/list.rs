//! `hubctl list`: the court's measures in one case, oldest first, every page.

use clap::Args;

use crate::{Context, error::Failure, format, json};

/// `hubctl list`.
#[derive(Args, Debug, Clone)]
pub struct ListArgs {
    /// The case number.
    #[arg(long = "case", value_name = "CASE_NO")]
    pub case_number: String,
}

/// Lists the case and prints a table, or one JSON object per measure.
pub async fn run(context: &Context, args: ListArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let measures = court.list_case(args.case_number.trim()).await?;
    for measure in &measures {
        context.out.json(&json::measure(measure));
    }
    if measures.is_empty() {
        context.out.text(format!(
            "court {} has no measures in case {}",
            court.code(),
            args.case_number.trim()
        ));
    } else {
        context.out.text(format::measure::table(&measures));
    }
    Ok(())
}
