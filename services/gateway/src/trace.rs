//! `Ops.Trace`: a measure's timeline through every hop, from what the store recorded
//! ([`crate::store::trace`]).
//!
//! The hops, in the order a measure passes them: `accepted` and `published` by the gateway,
//! `delivered`, `agency_answered` and `report_sent` as the agency's adapter reported them (in
//! its signed report), `applied` by the gateway again. Each carries the trace id it was seen
//! with, so an operator sees that the trace went all the way round.

use enforcement_proto::{convert::timestamp, v1 as pb};
use time::OffsetDateTime;
use tonic::Status;

use crate::{
    store::{Store, trace::HopTimes},
    validate::{self, invalid},
};

/// The gateway, as the recorder of a hop.
const GATEWAY: &str = "gateway";
/// The agency's adapter, as the recorder of a hop.
const ADAPTER: &str = "adapter";

/// The timeline of the measure `measure_id`: `INVALID_ARGUMENT` if it is not a measure id,
/// `NOT_FOUND` if there is no such measure.
pub async fn trace(store: &Store, measure_id: &str) -> Result<pb::TraceResponse, Status> {
    let id = validate::measure_id(measure_id).map_err(|e| invalid("measure_id", e))?;
    let Some(times) = store.hop_times(id).await? else {
        return Err(Status::not_found(format!("no measure {id}")));
    };
    tracing::debug!(measure = %id, trace_id = times.trace_id.as_deref().unwrap_or(""), "traced");
    Ok(pb::TraceResponse {
        measure_id: id.to_string(),
        trace_id: times.trace_id.clone().unwrap_or_default(),
        hops: hops(&times),
    })
}

/// The hops `times` records, in the order a measure passes them; those not reached are left
/// out.
pub fn hops(times: &HopTimes) -> Vec<pb::TraceHop> {
    let ours = times.trace_id.as_deref().unwrap_or_default();
    let theirs = times.report_trace_id.as_deref().unwrap_or_default();
    let passed: [(&str, Option<OffsetDateTime>, &str, &str); 6] = [
        ("accepted", Some(times.submitted_at), GATEWAY, ours),
        ("published", times.published_at, GATEWAY, ours),
        ("delivered", times.delivered_at, ADAPTER, theirs),
        ("agency_answered", times.answered_at, ADAPTER, theirs),
        ("report_sent", times.sent_at, ADAPTER, theirs),
        ("applied", times.applied_at, GATEWAY, ours),
    ];
    passed
        .into_iter()
        .filter_map(|(name, at, service, trace_id)| {
            at.map(|at| pb::TraceHop {
                name: name.to_string(),
                at: Some(timestamp(at)),
                service: service.to_string(),
                trace_id: trace_id.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use time::{Duration, macros::datetime};

    use super::*;

    const OURS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn recorded(reached: usize) -> HopTimes {
        let t0 = datetime!(2026-12-01 02:00:00 UTC);
        let at = |n: usize, i: i64| (n < reached).then(|| t0 + Duration::milliseconds(i));
        HopTimes {
            trace_id: Some(OURS.into()),
            submitted_at: t0,
            published_at: at(1, 5),
            delivered_at: at(2, 9),
            answered_at: at(3, 20),
            sent_at: at(4, 21),
            report_trace_id: (reached > 2).then(|| OURS.into()),
            applied_at: at(5, 30),
        }
    }

    #[test]
    fn every_hop_is_listed_in_order_with_its_recorder_and_trace() {
        let hops = hops(&recorded(6));
        let names: Vec<&str> = hops.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "accepted",
                "published",
                "delivered",
                "agency_answered",
                "report_sent",
                "applied"
            ]
        );
        let services: Vec<&str> = hops.iter().map(|h| h.service.as_str()).collect();
        assert_eq!(
            services,
            [
                "gateway", "gateway", "adapter", "adapter", "adapter", "gateway"
            ]
        );
        assert!(hops.iter().all(|h| h.trace_id == OURS));
        let millis: Vec<i32> = hops
            .iter()
            .map(|h| h.at.as_ref().map_or(-1, |t| t.nanos / 1_000_000))
            .collect();
        assert_eq!(millis, [0, 5, 9, 20, 21, 30]);
    }

    #[test]
    fn hops_not_reached_are_left_out() {
        let names: Vec<String> = hops(&recorded(2)).into_iter().map(|h| h.name).collect();
        assert_eq!(names, ["accepted", "published"]);
        let untraced = HopTimes {
            trace_id: None,
            ..recorded(1)
        };
        let hops = hops(&untraced);
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].trace_id, "");
    }
}
