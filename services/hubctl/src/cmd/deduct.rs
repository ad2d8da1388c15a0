//! `hubctl deduct`: orders a deduction (扣划) of funds to the court's receiving account.

use clap::Args;
use enforcement_proto::v1 as pb;
use uuid::Uuid;

use crate::{
    Context,
    cli::{AccountArgs, CaseArgs, SubjectArgs, SubmitOptions, parse},
    cmd::submit,
    error::Failure,
};

/// `hubctl deduct`.
#[derive(Args, Debug, Clone)]
pub struct DeductArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,
    #[command(flatten)]
    pub account: AccountArgs,

    /// The court's own earlier freeze on this account whose funds are taken first; without it
    /// only available (unfrozen) funds are taken.
    #[arg(long, value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub from_freeze: Option<Uuid>,

    /// The bank of the court's receiving account.
    #[arg(long, value_name = "NAME")]
    pub to_bank_name: String,

    /// The court's receiving account number.
    #[arg(long, value_name = "NO")]
    pub to_account: String,

    /// The receiving account's name (usually the court's name).
    #[arg(long, value_name = "NAME")]
    pub to_account_name: String,

    /// Deduct only what the case still has open if that is less than --amount, rather than be
    /// refused.
    #[arg(long)]
    pub up_to: bool,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

/// Submits the deduction and reports it.
pub async fn run(context: &Context, args: DeductArgs) -> Result<(), Failure> {
    let order = submit::Order {
        case: submit::case_info(&args.case),
        subject: submit::subject(&args.subject)?,
        agency: submit::bank(&args.account.bank),
        measure: deduction(&args),
    };
    submit::order(context, order, &args.submit).await
}

/// The deduction order.
fn deduction(args: &DeductArgs) -> pb::submit_request::Measure {
    pb::submit_request::Measure::Deduction(pb::Deduction {
        account_number: args.account.account.trim().to_owned(),
        amount_fen: args.account.amount.fen(),
        freeze_measure_id: args
            .from_freeze
            .map(|id| id.to_string())
            .unwrap_or_default(),
        receiving_account: Some(pb::ReceivingAccount {
            bank_name: args.to_bank_name.clone(),
            account_number: args.to_account.trim().to_owned(),
            account_name: args.to_account_name.clone(),
        }),
        remainder_measure_id: String::new(),
        remainder_period: None,
        up_to_open_amount: args.up_to,
    })
}
