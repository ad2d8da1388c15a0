//! `hubctl deduct`: orders a deduction (扣划) of funds to the court's receiving account.

use enforcement_proto::v1 as pb;

use crate::{Context, cli::DeductArgs, cmd::submit, error::Failure};

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
    })
}
