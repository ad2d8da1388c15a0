//! `hubctl status`: one measure as it stands now.

use crate::{Context, cli::StatusArgs, error::Failure, format, json};

/// Fetches the measure and prints it.
pub async fn run(context: &Context, args: StatusArgs) -> Result<(), Failure> {
    let measure = context
        .court()
        .await?
        .get(&args.measure_id.to_string())
        .await?;
    context.out.json(&json::measure(&measure));
    context.out.text(format::measure(&measure));
    Ok(())
}
