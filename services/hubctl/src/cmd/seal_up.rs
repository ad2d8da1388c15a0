//! `hubctl seal-up`: orders a seal-up (查封) or pre-seizure (预查封) of real property at a land
//! registry.

use clap::Args;
use enforcement_proto::v1 as pb;

use crate::{
    Context,
    cli::{CaseArgs, SubjectArgs, SubmitOptions},
    cmd::submit,
    error::Failure,
};

/// `hubctl seal-up`.
#[derive(Args, Debug, Clone)]
pub struct SealUpArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// The land registry's region code at the hub, e.g. 110105.
    #[arg(long, value_name = "CODE")]
    pub registry: String,

    /// The real-property unit number (不动产单元号), or the parcel number with --parcel.
    #[arg(long, value_name = "ID")]
    pub property: String,

    /// The property is a land parcel (宗地), not a building unit.
    #[arg(long)]
    pub parcel: bool,

    /// A pre-seizure (预查封) of property advance-registered or presold to the subject; it
    /// converts to a seal-up when title is registered to them.
    #[arg(long)]
    pub pre_seizure: bool,

    /// Months the seal-up lasts once effective (at most 36 in all).
    #[arg(long, value_name = "N")]
    pub months: u32,

    /// Days added after the months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub days: u32,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

/// Submits the seal-up and reports it.
pub async fn run(context: &Context, args: SealUpArgs) -> Result<(), Failure> {
    let order = submit::Order {
        case: submit::case_info(&args.case),
        subject: submit::subject(&args.subject)?,
        agency: submit::agency(pb::AgencyKind::LandRegistry, &args.registry),
        measure: seal_up(&args),
    };
    submit::order(context, order, &args.submit).await
}

/// The seal-up order.
fn seal_up(args: &SealUpArgs) -> pb::submit_request::Measure {
    let kind = if args.parcel {
        pb::PropertyKind::Parcel
    } else {
        pb::PropertyKind::Unit
    };
    pb::submit_request::Measure::SealUp(pb::SealUp {
        property_kind: kind as i32,
        property_id: args.property.trim().to_owned(),
        pre_seizure: args.pre_seizure,
        period: submit::period(args.months, args.days),
    })
}
