//! `hubctl release`: orders the release (解除) of one of the court's measures, or with `--keep`
//! the partial release (部分解除) of a freeze.

use clap::Args;
use hub_domain::Money;
use uuid::Uuid;

use crate::{
    Context,
    cli::{SubmitOptions, parse},
    cmd::submit,
    error::Failure,
};

/// `hubctl release`.
#[derive(Args, Debug, Clone)]
pub struct ReleaseArgs {
    /// The measure to release.
    #[arg(value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub measure_id: Uuid,

    /// Why: debt paid, security given, applicant's consent, excess over the enforcement amount.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    /// For a freeze: keep this much frozen (yuan) and release only the rest.
    #[arg(long, value_name = "YUAN", value_parser = parse::positive_amount)]
    pub keep: Option<Money>,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

/// Submits the release and reports it.
pub async fn run(context: &Context, args: ReleaseArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.submit.key.clone(), context.out);
    let submitted = court
        .release_keeping(
            &key,
            &args.measure_id.to_string(),
            &args.reason,
            args.keep.map_or(0, Money::fen),
        )
        .await?;
    submit::report(&mut court, context.out, submitted, &args.submit).await
}
