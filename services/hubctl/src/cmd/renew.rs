//! `hubctl renew`: orders the renewal (续行) of a measure in force before it expires.

use crate::{Context, cli::RenewArgs, cmd::submit, error::Failure};

/// Submits the renewal and reports it.
pub async fn run(context: &Context, args: RenewArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.submit.key.clone(), context.out);
    let submitted = court
        .renew(&key, &args.measure_id.to_string(), args.months, args.days)
        .await?;
    submit::report(&mut court, context.out, submitted, &args.submit).await
}
