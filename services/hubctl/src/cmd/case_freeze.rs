//! `hubctl case freeze`: one order for many banks — "freeze up to X of this debtor's deposits".
//! The hub allocates it over the accounts an inquiry found (one the court names with
//! `--inquiry`, or one the hub runs first of `--banks` or `--all-banks`), largest available
//! balance first, and moves the rest to the next account when a bank answers short.

use std::time::Duration;

use clap::{ArgGroup, Args};
use enforcement_proto::v1 as pb;
use hub_domain::Money;
use uuid::Uuid;

use crate::{
    Context,
    cli::{CaseArgs, SubjectArgs, parse},
    cmd::{case::follow, submit},
    error::Failure,
    format, json,
};

/// `hubctl case freeze`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("accounts").required(true).args(["inquiry", "banks", "all_banks"])))]
pub struct CaseFreezeArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// Freeze up to this much in all, in yuan (never more than the case has open).
    #[arg(long, value_name = "YUAN", value_parser = parse::positive_amount)]
    pub amount: Money,

    /// Months each freeze lasts once effective (at most 12 in all).
    #[arg(long, value_name = "N")]
    pub months: u32,

    /// Days added after the months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub days: u32,

    /// Allocate from the answers of this inquiry of banks, which the court ran in the case.
    #[arg(long, value_name = "MEASURE_ID", value_parser = parse::measure_id)]
    pub inquiry: Option<Uuid>,

    /// Let the hub first ask these banks (comma-separated codes) what the debtor holds.
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub banks: Vec<String>,

    /// Let the hub first ask every connected bank what the debtor holds.
    #[arg(long)]
    pub all_banks: bool,

    /// For an inquiry the hub runs: seconds to wait for the banks' answers [default: 60].
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub inquiry_deadline: u32,

    /// Idempotency key [default: a fresh UUIDv7, printed].
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    /// Follow the order until it is secured or the accounts are exhausted.
    #[arg(long)]
    pub wait: bool,

    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse::seconds)]
    pub timeout: Duration,
}

/// Places the order and reports it; with `--wait`, follows it: exit 0 when secured, 5 when the
/// accounts ran out first or the case was closed.
pub async fn run(context: &Context, args: CaseFreezeArgs) -> Result<(), Failure> {
    use pb::freeze_deposits_request::Accounts;
    let accounts = match (args.inquiry, args.banks.is_empty(), args.all_banks) {
        (Some(id), _, _) => Accounts::InquiryMeasureId(id.to_string()),
        (None, false, _) => Accounts::Banks(pb::AgencyList {
            agencies: args.banks.iter().map(|code| submit::bank(code)).collect(),
        }),
        (None, true, true) => Accounts::AllBanks(true),
        (None, true, false) => {
            return Err(Failure::Usage(
                "name the accounts: --inquiry <MEASURE_ID>, --banks <CODES> or --all-banks".into(),
            ));
        }
    };
    let mut court = context.court().await?;
    let case = submit::case_info(&args.case);
    let case_number = case.case_number.clone();
    let events = if args.wait {
        Some(
            court
                .watch(pb::watch_request::Target::CaseNumber(case_number.clone()))
                .await?,
        )
    } else {
        None
    };
    let key = submit::idempotency_key(args.key.clone(), context.out);
    let order = court
        .freeze_deposits(pb::FreezeDepositsRequest {
            court_code: String::new(),
            idempotency_key: key,
            case: Some(case),
            subject: Some(submit::subject(&args.subject)?),
            amount_fen: args.amount.fen(),
            period: submit::period(args.months, args.days),
            accounts: Some(accounts),
            inquiry_deadline_seconds: args.inquiry_deadline,
        })
        .await?;
    context.out.json(&json::case_order(&order));
    context.out.text(format::case::order_details(&order));
    let Some(events) = events else {
        return Ok(());
    };
    let id = order.order_id.clone();
    let mut last = None;
    let followed = follow(&court, context, events, args.timeout, &case_number, |e| {
        let o = e.order.as_ref().filter(|o| o.order_id == id)?;
        last = Some(o.clone());
        match pb::CaseOrderState::try_from(o.state) {
            Ok(pb::CaseOrderState::Secured) => Some(Ok(())),
            Ok(pb::CaseOrderState::Exhausted | pb::CaseOrderState::Cancelled) => {
                Some(Err(Failure::Outcome(format!(
                    "order {} ended {}: {} secured of {} ({})",
                    o.order_id,
                    format::case::order_state(o.state),
                    format::money(o.frozen_fen),
                    format::money(o.amount_fen),
                    o.message
                ))))
            }
            _ => None,
        }
    })
    .await;
    if followed.is_ok()
        && let Some(order) = last
    {
        context.out.text(format::case::order_details(&order));
    }
    followed
}
