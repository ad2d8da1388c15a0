//! Time passing: lapse at expiry with promotion, renewal just in time, warnings before expiry.
//! The hub's clock is moved forward instead of waiting.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};

const COURT: &str = "京0105";
const SECOND_COURT: &str = "粤03";

/// A freeze by `COURT` in force and one by `SECOND_COURT` waiting behind it.
async fn freeze_and_wait(hub: &TestHub, n: u32) -> anyhow::Result<(pb::Measure, pb::Measure)> {
    let id = fixtures::resident_id(n);
    let account = fixtures::account_number(n);
    hub.open_account("ICBC", &account, "张三", &id, 5_000_000)
        .await?;
    let first = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(n)
                .key(&format!("first-{n}")),
        )
        .await?;
    let first = hub
        .wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;
    let second = hub
        .freeze(
            Freeze::of(500_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(SECOND_COURT)
                .case_number("（2024）粤03执600号")
                .key(&format!("second-{n}")),
        )
        .await?;
    let second = hub
        .wait_for_state(SECOND_COURT, &second.measure_id, pb::MeasureState::Waiting)
        .await?;
    Ok((first, second))
}

/// Moves the clock to `days` days before (negative: after) `measure`'s expiry.
fn to_expiry_minus(hub: &TestHub, measure: &pb::Measure, days: i64) {
    let expiry = measure.expires_at.as_ref().map_or(0, |e| e.seconds);
    let now = hub.clock().now().unix_timestamp();
    hub.clock()
        .advance(time::Duration::seconds(expiry - now - days * 86_400));
}

#[tokio::test]
async fn advancing_past_expiry_lapses_the_freeze_and_the_waiting_one_takes_effect_for_both_courts_to_see()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let (first, second) = freeze_and_wait(&hub, 600).await?;
    to_expiry_minus(&hub, &first, -1);

    let lapsed = hub
        .wait_for_state(COURT, &first.measure_id, pb::MeasureState::Lapsed)
        .await?;
    assert_eq!(lapsed.held_fen, 0);
    let promoted = hub
        .wait_for_state(
            SECOND_COURT,
            &second.measure_id,
            pb::MeasureState::Effective,
        )
        .await?;
    assert_eq!(promoted.held_fen, 500_000);
    // The promoted freeze's year runs from its promotion, not from its arrival.
    let effective = promoted.effective_at.expect("effective").seconds;
    assert!(effective >= first.expires_at.expect("expiry").seconds);

    // Renewing a lapsed freeze is refused with the rule.
    let late = hub
        .court()
        .await?
        .renew(pb::RenewRequest {
            court_code: COURT.into(),
            idempotency_key: "too-late".into(),
            measure_id: first.measure_id.clone(),
            period: Some(pb::Period { months: 6, days: 0 }),
        })
        .await
        .expect_err("lapsed");
    assert_eq!(late.code(), tonic::Code::FailedPrecondition);
    assert!(late.message().contains("lapsed"), "{}", late.message());
    hub.shutdown().await
}

#[tokio::test]
async fn a_renewal_the_day_before_expiry_keeps_the_freeze_and_its_priority() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let (first, second) = freeze_and_wait(&hub, 601).await?;
    to_expiry_minus(&hub, &first, 1);

    let renewal = hub
        .court()
        .await?
        .renew(pb::RenewRequest {
            court_code: COURT.into(),
            idempotency_key: "renew-in-time".into(),
            measure_id: first.measure_id.clone(),
            period: Some(pb::Period { months: 6, days: 0 }),
        })
        .await?
        .into_inner()
        .measure
        .expect("renewal");
    hub.wait_for_state(COURT, &renewal.measure_id, pb::MeasureState::Effective)
        .await?;
    let old_expiry = first.expires_at.expect("expiry").seconds;
    let renewed = hub
        .wait_for(COURT, &first.measure_id, Duration::from_secs(10), |m| {
            m.expires_at
                .as_ref()
                .is_some_and(|e| e.seconds > old_expiry)
        })
        .await?;

    // Two days later the old expiry has passed: nothing lapsed, nobody moved up.
    hub.clock().advance(time::Duration::days(2));
    tokio::time::sleep(Duration::from_millis(600)).await; // several lapse rounds of the bank
    let first_now = hub.measure(COURT, &first.measure_id).await?;
    assert_eq!(first_now.state, pb::MeasureState::Effective as i32);
    assert_eq!(first_now.expires_at, renewed.expires_at);
    let second_now = hub.measure(SECOND_COURT, &second.measure_id).await?;
    assert_eq!(
        (second_now.state, second_now.waiting_position),
        (pb::MeasureState::Waiting as i32, 1)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn courts_are_warned_30_and_7_days_before_expiry_on_their_watch_streams() -> anyhow::Result<()>
{
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(602);
    let account = fixtures::account_number(602);
    hub.open_account("ICBC", &account, "张三", &id, 5_000_000)
        .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(602)
                .key("warned"),
        )
        .await?;
    let freeze = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;
    let mut watch = hub
        .court()
        .await?
        .watch(pb::WatchRequest {
            court_code: COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                freeze.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();
    let _snapshot = watch.message().await?;

    to_expiry_minus(&hub, &freeze, 29);
    let thirty = next_warning(&mut watch).await?;
    assert!(thirty.message.contains("in 29 days"), "{}", thirty.message);

    to_expiry_minus(&hub, &freeze, 6);
    let seven = next_warning(&mut watch).await?;
    assert!(seven.message.contains("in 6 days"), "{}", seven.message);
    assert!(seven.message.contains("renew"), "{}", seven.message);

    let expiring = hub
        .court()
        .await?
        .list_expiring(pb::ListExpiringRequest {
            court_code: COURT.into(),
            within_days: 7,
            ..Default::default()
        })
        .await?
        .into_inner();
    let ids: Vec<&str> = expiring
        .measures
        .iter()
        .map(|m| m.measure_id.as_str())
        .collect();
    assert_eq!(ids, vec![freeze.measure_id.as_str()]);
    hub.shutdown().await
}

/// The next expiry warning on a watch stream, within ten seconds.
async fn next_warning(
    watch: &mut tonic::Streaming<pb::MeasureEvent>,
) -> anyhow::Result<pb::MeasureEvent> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = watch
                .message()
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
            if event.kind == pb::EventKind::ExpiryWarning as i32 {
                return Ok::<_, anyhow::Error>(event);
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no expiry warning within 10 s"))?
}
