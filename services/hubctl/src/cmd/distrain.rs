//! `hubctl distrain`: orders the distraint (扣押) of a vehicle through public security.

use clap::{ArgGroup, Args};
use enforcement_proto::v1 as pb;

use crate::{
    Context,
    cli::{CaseArgs, SubjectArgs, SubmitOptions},
    cmd::submit,
    error::Failure,
};

/// `hubctl distrain`.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("vehicle").required(true).multiple(true).args(["plate", "vin"])))]
pub struct DistrainArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// The public security unit's code at the hub, e.g. BJ-PSB.
    #[arg(long, value_name = "CODE")]
    pub police: String,

    /// The vehicle's licence plate, e.g. 京A12345.
    #[arg(long, value_name = "PLATE")]
    pub plate: Option<String>,

    /// The vehicle identification number (17 characters).
    #[arg(long, value_name = "VIN")]
    pub vin: Option<String>,

    /// Months the distraint lasts once effective (at most 24 in all).
    #[arg(long, value_name = "N")]
    pub months: u32,

    /// Days added after the months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub days: u32,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

/// Submits the distraint and reports it.
pub async fn run(context: &Context, args: DistrainArgs) -> Result<(), Failure> {
    let order = submit::Order {
        case: submit::case_info(&args.case),
        subject: submit::subject(&args.subject)?,
        agency: submit::agency(pb::AgencyKind::PublicSecurity, &args.police),
        measure: distraint(&args),
    };
    submit::order(context, order, &args.submit).await
}

/// The distraint order: the vehicle by plate, VIN or both.
fn distraint(args: &DistrainArgs) -> pb::submit_request::Measure {
    let trimmed = |value: &Option<String>| value.as_deref().unwrap_or_default().trim().to_owned();
    pb::submit_request::Measure::Distraint(pb::Distraint {
        plate: trimmed(&args.plate),
        vin: trimmed(&args.vin),
        period: submit::period(args.months, args.days),
    })
}
