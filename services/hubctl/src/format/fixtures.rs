//! A measure and times as the hub sends them, for the tests of the text made from them.

use enforcement_proto::{convert, v1 as pb};
use prost_types::Timestamp;
use time::OffsetDateTime;

/// A wire timestamp from RFC 3339 text.
pub fn ts(rfc3339: &str) -> Timestamp {
    let at = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("valid time");
    convert::timestamp(at)
}

/// A partial freeze at ICBC: 5,000.00 of 30,000.00 held, expiring 2027-11-03 in Beijing.
pub fn freeze() -> pb::Measure {
    pb::Measure {
        measure_id: "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70".into(),
        court_code: "京0105".into(),
        case_number: "（2024）京0105执1号".into(),
        kind: pb::MeasureKind::Freeze as i32,
        agency: Some(pb::AgencyRef {
            kind: pb::AgencyKind::Bank as i32,
            code: "ICBC".into(),
        }),
        state: pb::MeasureState::Partial as i32,
        requested_fen: 3_000_000,
        held_fen: 500_000,
        asset: "6222****0001".into(),
        registration_number: "ICBC-DJ00000001".into(),
        submitted_at: Some(ts("2026-11-03T06:05:09Z")),
        effective_at: Some(ts("2026-11-03T06:05:10Z")),
        expires_at: Some(ts("2027-11-02T16:30:00Z")),
        updated_at: Some(ts("2026-11-03T06:05:10Z")),
        version: 4,
        ..Default::default()
    }
}
