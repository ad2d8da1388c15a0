//! `hubctl status`: one measure as it stands now.

use clap::Args;
use uuid::Uuid;

use crate::{Context, cli::parse, error::Failure, format, json};

/// `hubctl status`.
#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// The measure.
    #[arg(value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub measure_id: Uuid,
}

/// Fetches the measure and prints it.
pub async fn run(context: &Context, args: StatusArgs) -> Result<(), Failure> {
    let measure = context
        .court()
        .await?
        .get(&args.measure_id.to_string())
        .await?;
    context.out.json(&json::measure(&measure));
    context.out.text(format::measure::details(&measure));
    Ok(())
}
