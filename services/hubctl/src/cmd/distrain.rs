//! `hubctl distrain`: orders the distraint (扣押) of a vehicle through public security.

use enforcement_proto::v1 as pb;

use crate::{Context, cli::DistrainArgs, cmd::submit, error::Failure};

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
