//! `hubctl release`: orders the release (解除) of one of the court's measures.

use crate::{Context, cli::ReleaseArgs, cmd::submit, error::Failure};

/// Submits the release and reports it.
pub async fn run(context: &Context, args: ReleaseArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.submit.key.clone(), context.out);
    let submitted = court
        .release(&key, &args.measure_id.to_string(), &args.reason)
        .await?;
    submit::report(&mut court, context.out, submitted, &args.submit).await
}
