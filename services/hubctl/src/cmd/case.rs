//! `hubctl case show|amend|close|freeze`: a case as a whole — its ledger (what is frozen,
//! pending and deducted against the enforcement amount across every bank), amending that amount,
//! closing the case (every measure released), and the case-level order to freeze up to an amount
//! of the debtor's deposits over many banks (in [`super::case_freeze`]).

use std::time::Duration;

use clap::{Args, Subcommand};
use enforcement_proto::v1 as pb;
use hub_domain::Money;
use tokio_stream::StreamExt;

use crate::{
    Context,
    cli::parse,
    cmd::{case_freeze::CaseFreezeArgs, submit},
    court::Court,
    error::Failure,
    format, json, wait,
};

/// `hubctl case …`.
#[derive(Subcommand, Debug, Clone)]
pub enum CaseCommand {
    /// Shows the case's ledger — enforcement amount, frozen, pending, deducted, open — with its
    /// measures and case-level orders.
    Show {
        /// The case number.
        #[arg(long = "case", value_name = "CASE_NO")]
        case_number: String,
    },
    /// Changes the case's enforcement amount (recorded in the case's audit log); if what is
    /// secured exceeds the new amount the hub releases the excess, latest freezes first.
    Amend(AmendArgs),
    /// Closes the case after payment in full or termination: every measure in force, waiting or
    /// under way is released; with --wait, follows the case until nothing is held.
    Close(CloseArgs),
    /// Freezes up to an amount of the debtor's deposits over many banks, from an inquiry's
    /// answers: one order, followed to the end with --wait.
    Freeze(CaseFreezeArgs),
}

/// `hubctl case amend`.
#[derive(Args, Debug, Clone)]
pub struct AmendArgs {
    /// The case number.
    #[arg(long = "case", value_name = "CASE_NO")]
    pub case_number: String,
    /// The new enforcement amount (执行标的额) in yuan.
    #[arg(long, value_name = "YUAN", value_parser = parse::positive_amount)]
    pub enforcement_amount: Money,
    /// Why: a ruling on costs, a payment outside the hub, a correction.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// The enforcement officer (执行员) responsible.
    #[arg(long, value_name = "NAME")]
    pub officer: String,
    /// The ruling that changes the amount.
    #[arg(long, value_name = "NO")]
    pub ruling: Option<String>,
    /// Idempotency key [default: a fresh UUIDv7, printed].
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
}

/// `hubctl case close`.
#[derive(Args, Debug, Clone)]
pub struct CloseArgs {
    /// The case number.
    #[arg(long = "case", value_name = "CASE_NO")]
    pub case_number: String,
    /// Why: paid in full (执行完毕), terminated (终结执行), …
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// The enforcement officer (执行员) responsible.
    #[arg(long, value_name = "NAME")]
    pub officer: String,
    /// Idempotency key [default: a fresh UUIDv7, printed].
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Follow the case until every agency has confirmed and nothing is held.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, value_name = "SECS", default_value = "120", value_parser = parse::seconds)]
    pub timeout: Duration,
}

/// Runs a `hubctl case` command.
pub async fn run(context: &Context, command: CaseCommand) -> Result<(), Failure> {
    match command {
        CaseCommand::Show { case_number } => {
            let mut court = context.court().await?;
            let case = court.case(case_number.trim()).await?;
            context.out.json(&json::case(&case));
            context.out.text(format::case::details(&case));
            Ok(())
        }
        CaseCommand::Amend(args) => amend(context, args).await,
        CaseCommand::Close(args) => close(context, args).await,
        CaseCommand::Freeze(args) => super::case_freeze::run(context, args).await,
    }
}

async fn amend(context: &Context, args: AmendArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let key = submit::idempotency_key(args.key, context.out);
    let case = court
        .amend_case(pb::AmendCaseRequest {
            court_code: String::new(),
            idempotency_key: key,
            case_number: args.case_number.trim().to_owned(),
            enforcement_amount_fen: args.enforcement_amount.fen(),
            reason: args.reason,
            officer: args.officer,
            ruling_number: args.ruling.unwrap_or_default(),
        })
        .await?;
    context.out.json(&json::case(&case));
    context.out.text(format::case::ledger(&case));
    Ok(())
}

async fn close(context: &Context, args: CloseArgs) -> Result<(), Failure> {
    let mut court = context.court().await?;
    let case_number = args.case_number.trim().to_owned();
    // Watch first, so that nothing between the closing and the watch is missed.
    let events = if args.wait {
        Some(
            court
                .watch(pb::watch_request::Target::CaseNumber(case_number.clone()))
                .await?,
        )
    } else {
        None
    };
    let key = submit::idempotency_key(args.key, context.out);
    let case = court
        .close_case(pb::CloseCaseRequest {
            court_code: String::new(),
            idempotency_key: key,
            case_number: case_number.clone(),
            reason: args.reason,
            officer: args.officer,
        })
        .await?;
    context.out.json(&json::case(&case));
    context.out.text(format::case::ledger(&case));
    let Some(events) = events else {
        return Ok(());
    };
    follow(&court, context, events, args.timeout, &case_number, |e| {
        (e.kind == pb::EventKind::CaseClosed as i32).then_some(Ok(()))
    })
    .await
}

/// Prints the case-level events of a case watch (and the measures' changes) until `done` says
/// the wait is over, the stream ends, `timeout` passes or Ctrl-C.
pub async fn follow(
    court: &Court,
    context: &Context,
    mut events: tonic::Streaming<pb::MeasureEvent>,
    timeout: Duration,
    case_number: &str,
    mut done: impl FnMut(&pb::MeasureEvent) -> Option<Result<(), Failure>>,
) -> Result<(), Failure> {
    let interrupted = wait::ctrl_c();
    tokio::pin!(interrupted);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            () = &mut interrupted => {
                return Err(Failure::Interrupted(Some(format!(
                    "hubctl --court {} watch --case {case_number}",
                    court.code()
                ))));
            }
            () = &mut deadline => {
                return Err(Failure::TimedOut(format!(
                    "case {case_number} did not get there within {}s; follow it with `hubctl --court {} watch --case {case_number}`",
                    timeout.as_secs(),
                    court.code()
                )));
            }
            event = events.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(status)) => return Err(Failure::from_status(status, &context.hub)),
            None => {
                return Err(Failure::Unexpected(format!(
                    "{} ended the watch of case {case_number} early",
                    context.hub
                )));
            }
        };
        if event.kind != pb::EventKind::Snapshot as i32 {
            let line = if context.out.json {
                json::event(&event).to_string()
            } else {
                format::event::line(&event)
            };
            if !context.out.line(line) {
                return Ok(());
            }
        }
        if let Some(result) = done(&event) {
            return result;
        }
    }
}
