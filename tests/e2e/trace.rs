//! One trace through every hop: `Ops.Trace` and `hubctl trace` list a measure's hops in order,
//! with increasing times and the trace id its messages carried.

use enforcement_proto::{convert, v1 as pb};
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use time::OffsetDateTime;
use tonic::Code;

use crate::hubctl::{hubctl, shown};

const COURT: &str = "京0105";
const HOPS: [&str; 6] = [
    "accepted",
    "published",
    "delivered",
    "agency_answered",
    "report_sent",
    "applied",
];
const COURT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn a_traced_freeze_lists_every_hop_in_order_and_its_trace_reaches_the_adapter()
-> anyhow::Result<()> {
    let mut hub = TestHub::builder().banks(&["ICBC"]).start().await?;
    hub.stop_adapter("ICBC").await?;
    let adapter = hub.spawn_adapter_process("ICBC").await?;
    let account = fixtures::account_number(61);
    hub.open_account(
        "ICBC",
        &account,
        "张伟",
        &fixtures::resident_id(61),
        5_000_000,
    )
    .await?;

    let started = OffsetDateTime::now_utc();
    let request = Freeze::of(1_000_000)
        .at("ICBC", &account)
        .held_by("张伟", &fixtures::resident_id(61))
        .by(COURT)
        .case(61)
        .key("traced")
        .request();
    let mut call = tonic::Request::new(request);
    call.metadata_mut().insert(
        "traceparent",
        format!("00-{COURT_TRACE}-00f067aa0ba902b7-01").parse()?,
    );
    let measure = hub
        .court_as(COURT)
        .await?
        .submit(call)
        .await?
        .into_inner()
        .measure
        .ok_or_else(|| anyhow::anyhow!("no measure"))?;
    hub.wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    let ended = OffsetDateTime::now_utc();

    let traced = hub
        .ops()
        .await?
        .trace(pb::TraceRequest {
            measure_id: measure.measure_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(traced.measure_id, measure.measure_id);
    assert_eq!(traced.trace_id, COURT_TRACE, "the court's trace id is kept");
    let names: Vec<&str> = traced.hops.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, HOPS);
    let services: Vec<&str> = traced.hops.iter().map(|h| h.service.as_str()).collect();
    assert_eq!(
        services,
        [
            "gateway", "gateway", "adapter", "adapter", "adapter", "gateway"
        ]
    );
    assert!(
        traced.hops.iter().all(|h| h.trace_id == COURT_TRACE),
        "{traced:?}"
    );
    let times: Vec<OffsetDateTime> = traced
        .hops
        .iter()
        .map(|h| convert::instant_opt(h.at.as_ref()))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow::anyhow!("a hop without a time"))?;
    let window = started - time::Duration::milliseconds(1)..=ended;
    for (i, at) in times.iter().enumerate() {
        assert!(
            window.contains(at),
            "{} at {at} outside {window:?}",
            HOPS[i]
        );
        if i > 0 {
            assert!(
                *at >= times[i - 1],
                "{} before {}: {times:?}",
                HOPS[i],
                HOPS[i - 1]
            );
        }
    }
    assert!(
        adapter.has_logged(COURT_TRACE),
        "the adapter's log lacks the trace id:\n{}",
        adapter.log_tail()
    );

    let text = hubctl(&hub, &["trace", &measure.measure_id]).await?;
    assert_eq!(text.status.code(), Some(0), "{}", shown(&text));
    let stdout = String::from_utf8(text.stdout.clone())?;
    let positions: Vec<usize> = [
        "accepted",
        "published",
        "delivered",
        "agency answered",
        "report sent",
        "applied",
    ]
    .iter()
    .map(|hop| stdout.find(&format!("\n{hop}")).unwrap_or(usize::MAX))
    .collect();
    assert!(positions.iter().all(|p| *p != usize::MAX), "{stdout}");
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    assert!(
        stdout.contains("+08:00") && stdout.contains(" ms"),
        "{stdout}"
    );

    let json = hubctl(&hub, &["--json", "trace", &measure.measure_id]).await?;
    assert_eq!(json.status.code(), Some(0), "{}", shown(&json));
    let lines: Vec<serde_json::Value> = String::from_utf8(json.stdout.clone())?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let hops: Vec<&str> = lines.iter().filter_map(|l| l["hop"].as_str()).collect();
    assert_eq!(hops, HOPS);
    assert!(
        lines.iter().all(|l| l["trace_id"] == COURT_TRACE),
        "{lines:?}"
    );
    assert!(lines[0]["since_previous_ms"].is_null());
    assert!(
        lines[1..]
            .iter()
            .all(|l| l["since_previous_ms"].as_i64() >= Some(0))
    );
    drop(adapter);
    Ok(())
}

#[tokio::test]
async fn an_untraced_submit_gets_a_new_trace_id_and_bad_or_unknown_ids_are_refused()
-> anyhow::Result<()> {
    let hub = TestHub::builder().banks(&["ICBC"]).start().await?;
    let account = fixtures::account_number(62);
    hub.open_account(
        "ICBC",
        &account,
        "张伟",
        &fixtures::resident_id(62),
        5_000_000,
    )
    .await?;
    let measure = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张伟", &fixtures::resident_id(62))
                .by(COURT)
                .case(62)
                .key("untraced"),
        )
        .await?;
    let mut ops = hub.ops().await?;
    let traced = ops
        .trace(pb::TraceRequest {
            measure_id: measure.measure_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(traced.trace_id.len(), 32);
    assert!(traced.trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(traced.trace_id, "0".repeat(32));
    assert_eq!(
        traced.hops.first().map(|h| h.name.as_str()),
        Some("accepted")
    );

    let bad = ops
        .trace(pb::TraceRequest {
            measure_id: "not-a-uuid".into(),
        })
        .await
        .expect_err("malformed id refused");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("measure_id"), "{}", bad.message());
    let unknown_id = uuid::Uuid::now_v7().to_string();
    let unknown = ops
        .trace(pb::TraceRequest {
            measure_id: unknown_id.clone(),
        })
        .await
        .expect_err("unknown id refused");
    assert_eq!(unknown.code(), Code::NotFound);

    let bad = hubctl(&hub, &["trace", "not-a-uuid"]).await?;
    assert_eq!(bad.status.code(), Some(2), "{}", shown(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("measure_id"),
        "{}",
        shown(&bad)
    );
    let unknown = hubctl(&hub, &["trace", &unknown_id]).await?;
    assert_eq!(unknown.status.code(), Some(3), "{}", shown(&unknown));
    Ok(())
}
