//! `hubctl ops agencies`: every agency in the registry as it stands now, one table row each (or
//! one JSON object with every agency).

use crate::{Context, error::Failure, format, json};

/// Asks the gateway for the figures and shows them.
pub async fn run(context: &Context) -> Result<(), Failure> {
    let figures = context.ops().await?.agency_figures().await?;
    context.out.json(&json::agency_figures(&figures));
    context.out.text(format::figures::agencies(&figures));
    Ok(())
}
