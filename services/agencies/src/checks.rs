//! What every reference agency checks the same way: the period an order states, and a holder
//! recorded through an administration service or a fixture.

use enforcement_proto::v1 as pb;
use hub_domain::{CreditCode, OrganisationName, Period, PersonName, ResidentId, StatutoryMaximum};
use time::OffsetDateTime;
use tonic::Status;

use crate::outcome::Refusal;

/// The checked period of an order: DOCUMENT_DEFECT without a valid one, PERIOD_EXCEEDS_MAXIMUM
/// (with the rule in the message) if, counted from `start`, it ends after the statutory maximum.
pub fn checked_period(
    period: Option<&pb::Period>,
    maximum: StatutoryMaximum,
    start: OffsetDateTime,
    what: &str,
) -> Result<Period, Refusal> {
    let period = match period.map(|p| Period::new(p.months, p.days)) {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            return Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!("the {what} states no valid period: {e}"),
            ));
        }
        None => {
            return Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!("the {what} states no period; one is required"),
            ));
        }
    };
    period
        .check_within(maximum, start)
        .map_err(|e| Refusal::new(pb::ReasonCode::PeriodExceedsMaximum, e.to_string()))?;
    Ok(period)
}

/// Parses a holder at the administration edge: an identity number or credit code, and a person's
/// or organisation's name, each in its stored form.
pub fn parse_holder(id: &str, name: &str) -> Result<(String, String), Status> {
    let id = ResidentId::parse(id)
        .map(|r| r.to_string())
        .or_else(|_| CreditCode::parse(id).map(|c| c.to_string()))
        .map_err(|e| {
            Status::invalid_argument(format!(
                "holder_id: neither a resident identity number nor a credit code ({e})"
            ))
        })?;
    let name = PersonName::parse(name)
        .map(|n| n.to_string())
        .or_else(|_| OrganisationName::parse(name).map(|n| n.to_string()))
        .map_err(|e| Status::invalid_argument(format!("holder_name: {e}")))?;
    Ok((id, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_beyond_the_maximum_are_refused_with_the_rule() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let p = |months| pb::Period { months, days: 0 };
        assert!(checked_period(Some(&p(36)), StatutoryMaximum::RealEstate, start, "x").is_ok());
        let refusal = checked_period(Some(&p(37)), StatutoryMaximum::RealEstate, start, "x")
            .expect_err("37 months exceed 36");
        assert_eq!(refusal.code, pb::ReasonCode::PeriodExceedsMaximum);
        assert!(refusal.message.contains("民诉解释 art. 485"));
        assert_eq!(
            checked_period(None, StatutoryMaximum::None, start, "x")
                .map_err(|r| r.code)
                .err(),
            Some(pb::ReasonCode::DocumentDefect)
        );
    }
}
