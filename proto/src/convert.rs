//! Conversions between the wire types and the domain and time types, shared by every service.

use hub_domain::{AgencyCode, AgencyId, AgencyKind, MeasureKind, MeasureState, Period};
use time::OffsetDateTime;

use crate::v1 as pb;

/// A UTC instant as a protobuf timestamp.
pub fn timestamp(at: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: i32::try_from(at.nanosecond()).unwrap_or(0),
    }
}

/// An optional instant as an optional timestamp.
pub fn timestamp_opt(at: Option<OffsetDateTime>) -> Option<prost_types::Timestamp> {
    at.map(timestamp)
}

/// A protobuf timestamp as a UTC instant; `None` if out of range.
pub fn instant(ts: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// An optional timestamp as an optional instant.
pub fn instant_opt(ts: Option<&prost_types::Timestamp>) -> Option<OffsetDateTime> {
    ts.and_then(instant)
}

/// The wire form of a measure state.
pub fn state_to_proto(state: MeasureState) -> pb::MeasureState {
    match state {
        MeasureState::Submitted => pb::MeasureState::Submitted,
        MeasureState::Dispatched => pb::MeasureState::Dispatched,
        MeasureState::Delivered => pb::MeasureState::Delivered,
        MeasureState::Effective => pb::MeasureState::Effective,
        MeasureState::Partial => pb::MeasureState::Partial,
        MeasureState::Waiting => pb::MeasureState::Waiting,
        MeasureState::Rejected => pb::MeasureState::Rejected,
        MeasureState::Failed => pb::MeasureState::Failed,
        MeasureState::Expired => pb::MeasureState::Expired,
        MeasureState::Released => pb::MeasureState::Released,
        MeasureState::Lapsed => pb::MeasureState::Lapsed,
        MeasureState::Deducted => pb::MeasureState::Deducted,
    }
}

/// The domain form of a wire state; `None` for `UNSPECIFIED` and unknown values.
pub fn state_from_proto(value: i32) -> Option<MeasureState> {
    Some(match pb::MeasureState::try_from(value).ok()? {
        pb::MeasureState::Unspecified => return None,
        pb::MeasureState::Submitted => MeasureState::Submitted,
        pb::MeasureState::Dispatched => MeasureState::Dispatched,
        pb::MeasureState::Delivered => MeasureState::Delivered,
        pb::MeasureState::Effective => MeasureState::Effective,
        pb::MeasureState::Partial => MeasureState::Partial,
        pb::MeasureState::Waiting => MeasureState::Waiting,
        pb::MeasureState::Rejected => MeasureState::Rejected,
        pb::MeasureState::Failed => MeasureState::Failed,
        pb::MeasureState::Expired => MeasureState::Expired,
        pb::MeasureState::Released => MeasureState::Released,
        pb::MeasureState::Lapsed => MeasureState::Lapsed,
        pb::MeasureState::Deducted => MeasureState::Deducted,
    })
}

/// The wire form of a measure kind.
pub fn kind_to_proto(kind: MeasureKind) -> pb::MeasureKind {
    match kind {
        MeasureKind::Freeze => pb::MeasureKind::Freeze,
        MeasureKind::Deduction => pb::MeasureKind::Deduction,
        MeasureKind::SealUp => pb::MeasureKind::SealUp,
        MeasureKind::Distraint => pb::MeasureKind::Distraint,
        MeasureKind::ExitRestriction => pb::MeasureKind::ExitRestriction,
        MeasureKind::Inquiry => pb::MeasureKind::Inquiry,
        MeasureKind::Release => pb::MeasureKind::Release,
        MeasureKind::Renewal => pb::MeasureKind::Renewal,
        MeasureKind::Reduction => pb::MeasureKind::Reduction,
    }
}

/// The domain form of a wire measure kind; `None` for `UNSPECIFIED` and unknown values.
pub fn kind_from_proto(value: i32) -> Option<MeasureKind> {
    Some(match pb::MeasureKind::try_from(value).ok()? {
        pb::MeasureKind::Unspecified => return None,
        pb::MeasureKind::Freeze => MeasureKind::Freeze,
        pb::MeasureKind::Deduction => MeasureKind::Deduction,
        pb::MeasureKind::SealUp => MeasureKind::SealUp,
        pb::MeasureKind::Distraint => MeasureKind::Distraint,
        pb::MeasureKind::ExitRestriction => MeasureKind::ExitRestriction,
        pb::MeasureKind::Inquiry => MeasureKind::Inquiry,
        pb::MeasureKind::Release => MeasureKind::Release,
        pb::MeasureKind::Renewal => MeasureKind::Renewal,
        pb::MeasureKind::Reduction => MeasureKind::Reduction,
    })
}

/// The wire form of an agency kind.
pub fn agency_kind_to_proto(kind: AgencyKind) -> pb::AgencyKind {
    match kind {
        AgencyKind::Bank => pb::AgencyKind::Bank,
        AgencyKind::LandRegistry => pb::AgencyKind::LandRegistry,
        AgencyKind::PublicSecurity => pb::AgencyKind::PublicSecurity,
    }
}

/// The domain form of a wire agency kind; `None` for `UNSPECIFIED` and unknown values.
pub fn agency_kind_from_proto(value: i32) -> Option<AgencyKind> {
    Some(match pb::AgencyKind::try_from(value).ok()? {
        pb::AgencyKind::Unspecified => return None,
        pb::AgencyKind::Bank => AgencyKind::Bank,
        pb::AgencyKind::LandRegistry => AgencyKind::LandRegistry,
        pb::AgencyKind::PublicSecurity => AgencyKind::PublicSecurity,
    })
}

/// The wire form of an agency.
pub fn agency_ref(agency: &AgencyId) -> pb::AgencyRef {
    pb::AgencyRef {
        kind: agency_kind_to_proto(agency.kind) as i32,
        code: agency.code.to_string(),
    }
}

/// The domain form of a wire agency; `None` if its kind is unspecified or its code invalid.
pub fn agency_from_proto(agency: &pb::AgencyRef) -> Option<AgencyId> {
    Some(AgencyId {
        kind: agency_kind_from_proto(agency.kind)?,
        code: AgencyCode::parse(&agency.code).ok()?,
    })
}

/// The wire form of a period.
pub fn period_to_proto(period: Period) -> pb::Period {
    pb::Period {
        months: period.months(),
        days: period.days(),
    }
}

/// The instruction action that carries out a submitted measure.
pub fn action_of(measure: pb::submit_request::Measure) -> pb::instruction::Action {
    use pb::{instruction::Action, submit_request::Measure};
    match measure {
        Measure::Freeze(m) => Action::Freeze(m),
        Measure::Deduction(m) => Action::Deduction(m),
        Measure::SealUp(m) => Action::SealUp(m),
        Measure::Distraint(m) => Action::Distraint(m),
        Measure::ExitRestriction(m) => Action::ExitRestriction(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_survives_the_round_trip() {
        for state in [
            MeasureState::Submitted,
            MeasureState::Dispatched,
            MeasureState::Delivered,
            MeasureState::Effective,
            MeasureState::Partial,
            MeasureState::Waiting,
            MeasureState::Rejected,
            MeasureState::Failed,
            MeasureState::Expired,
            MeasureState::Released,
            MeasureState::Lapsed,
            MeasureState::Deducted,
        ] {
            assert_eq!(state_from_proto(state_to_proto(state) as i32), Some(state));
        }
        assert_eq!(state_from_proto(0), None);
        assert_eq!(state_from_proto(999), None);
    }

    #[test]
    fn every_measure_kind_survives_the_round_trip() {
        for kind in MeasureKind::ALL {
            assert_eq!(kind_from_proto(kind_to_proto(kind) as i32), Some(kind));
        }
        assert_eq!(kind_from_proto(0), None);
    }

    #[test]
    fn an_agency_survives_the_round_trip() {
        let icbc = AgencyId::parse("bank.ICBC").expect("valid");
        assert_eq!(agency_from_proto(&agency_ref(&icbc)), Some(icbc));
        let unspecified = pb::AgencyRef {
            kind: 0,
            code: "ICBC".into(),
        };
        assert_eq!(agency_from_proto(&unspecified), None);
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        let at =
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).expect("in range");
        assert_eq!(instant(&timestamp(at)), Some(at));
    }
}
