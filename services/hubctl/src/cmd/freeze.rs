//! `hubctl freeze`: orders a freeze (冻结) of deposits in one account.

use clap::Args;
use enforcement_proto::v1 as pb;

use crate::{
    Context,
    cli::{AccountArgs, CaseArgs, SubjectArgs, SubmitOptions},
    cmd::submit,
    error::Failure,
};

/// `hubctl freeze`.
#[derive(Args, Debug, Clone)]
pub struct FreezeArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[command(flatten)]
    pub account: AccountArgs,

    /// Months the freeze lasts once effective (at most 12 in all).
    #[arg(long, value_name = "N")]
    pub months: u32,

    /// Days added after the months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub days: u32,

    /// Freeze only what the case still has open if that is less than --amount, rather than be
    /// refused.
    #[arg(long)]
    pub up_to: bool,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

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
        up_to_open_amount: args.up_to,
    })
}
