//! `hubctl expiring`: the court's measures in force that expire soon, soonest first (保全规定
//! art. 18: renewal must be asked for before expiry).

use time::OffsetDateTime;

use crate::{Context, cli::ExpiringArgs, error::Failure, format, json};

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
        context.out.text(format::expiring_table(&measures, now));
    }
    Ok(())
}
