//! `hubctl renew`: orders the renewal (续行) of a measure in force before it expires.

use clap::Args;
use uuid::Uuid;

use crate::{
    Context,
    cli::{SubmitOptions, parse},
    cmd::submit,
    error::Failure,
};

/// `hubctl renew`.
#[derive(Args, Debug, Clone)]
pub struct RenewArgs {
    /// The measure to renew.
    #[arg(value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub measure_id: Uuid,

    /// Months added, counted from the current expiry.
    #[arg(long, value_name = "N")]
    pub months: u32,

    /// Days added after the months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub days: u32,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

/// Submits the renewal and reports it.
pub async fn run(context: &Context, args: RenewArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.submit.key.clone(), context.out);
    let submitted = court
        .renew(&key, &args.measure_id.to_string(), args.months, args.days)
        .await?;
    submit::report(&mut court, context.out, submitted, &args.submit).await
}
