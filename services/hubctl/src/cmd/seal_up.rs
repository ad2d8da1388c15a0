//! `hubctl seal-up`: orders a seal-up (查封) or pre-seizure (预查封) of real property at a land
//! registry.

use enforcement_proto::v1 as pb;

use crate::{Context, cli::SealUpArgs, cmd::submit, error::Failure};

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
