//! `hubctl expiring`: the court's measures in force that expire soon, soonest first (保全规定
//! art. 18: renewal must be asked for before expiry).

use clap::Args;
use time::OffsetDateTime;

use crate::{Context, error::Failure, format, json};

/// `hubctl expiring`.
#[derive(Args, Debug, Clone)]
pub struct ExpiringArgs {
    /// How many days ahead to look.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..=3_660)
    )]
    pub within: u32,
}

/// Lists every page and prints a table, or one JSON object per measure with its `days_left`.
/// Days left are counted from this machine's clock.
pub async fn run(context: &Context, args: ExpiringArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let measures = court.expiring(args.within).await?;
    let now = OffsetDateTime::now_utc();
    for measure in &measures {
        context.out.json(&json::expiring(measure, now));
    }
    let days = if args.within == 1 { "day" } else { "days" };
    if measures.is_empty() {
        context.out.text(format!(
            "no measure of court {} in force expires within {} {days}",
            court.code(),
            args.within
        ));
    } else {
        context.out.text(format!(
            "{} of court {} in force {} within {} {days}, soonest first; renew with `hubctl renew <MEASURE>`:",
            if measures.len() == 1 {
                "1 measure".to_owned()
            } else {
                format!("{} measures", measures.len())
            },
            court.code(),
            if measures.len() == 1 { "expires" } else { "expire" },
            args.within
        ));
        context
            .out
            .text(format::measure::expiring_table(&measures, now));
    }
    Ok(())
}
