//! `hubctl freeze`: orders a freeze (冻结) of deposits in one account.

use enforcement_proto::v1 as pb;

use crate::{Context, cli::FreezeArgs, cmd::submit, error::Failure};

/// Submits the freeze and reports it.
pub async fn run(context: &Context, args: FreezeArgs) -> Result<(), Failure> {
    let subject = submit::subject(&args.subject)?;
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.submit.key.clone(), context.out);
    let submitted = court
        .submit(
            &key,
            submit::case_info(&args.case),
            subject,
            submit::bank(&args.account.bank),
            freeze(&args),
        )
        .await?;
    submit::report(&mut court, context.out, submitted, &args.submit).await
}

/// The freeze order.
fn freeze(args: &FreezeArgs) -> pb::submit_request::Measure {
    pb::submit_request::Measure::Freeze(pb::Freeze {
        account_number: args.account.account.trim().to_owned(),
        amount_fen: args.account.amount.fen(),
        period: Some(pb::Period {
            months: args.months,
            days: args.days,
        }),
    })
}
