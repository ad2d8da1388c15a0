//! `hubctl ops ranking --month YYYY-MM`: the monthly ranking of agencies and courts. The month
//! is checked by the gateway, which names the rule when it refuses one.

use crate::{Context, error::Failure, format, json};

/// Asks the gateway for the month's ranking and shows it.
pub async fn run(context: &Context, month: &str) -> Result<(), Failure> {
    let ranking = context.ops().await?.ranking(month).await?;
    context.out.json(&json::ranking(&ranking));
    context.out.text(format::figures::ranking(&ranking));
    Ok(())
}
