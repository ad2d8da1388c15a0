//! `hubctl freeze`: orders a freeze (冻结) of deposits in one account.

use enforcement_proto::v1 as pb;

use crate::{Context, cli::FreezeArgs, cmd::submit, error::Failure};

/// Submits the freeze and reports it.
pub async fn run(context: &Context, args: FreezeArgs) -> Result<(), Failure> {
    let order = submit::Order {
        case: submit::case_info(&args.case),
        subject: submit::subject(&args.subject)?,
        agency: submit::bank(&args.account.bank),
        measure: freeze(&args),
    };
    submit::order(context, order, &args.submit).await
}

/// The freeze order.
fn freeze(args: &FreezeArgs) -> pb::submit_request::Measure {
    pb::submit_request::Measure::Freeze(pb::Freeze {
        account_number: args.account.account.trim().to_owned(),
        amount_fen: args.account.amount.fen(),
        period: submit::period(args.months, args.days),
    })
}
