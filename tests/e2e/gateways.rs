//! Several gateway instances on one database: courts may call either, and a watch stream on
//! one sees every change, whichever instance applied it.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};

const COURT: &str = "京0105";
const SECOND_COURT: &str = "粤03";

#[tokio::test]
async fn a_watch_stream_on_one_gateway_sees_a_promotion_that_another_gateway_applied()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    // The second instance reaches no broker: it never relays and never applies a report, so
    // whatever its watch streams show was applied by the first.
    let second = hub.start_extra_gateway(false).await?;
    let mut court = hub_testkit::court_client(second.addr(), &hub.pki().court(COURT)?).await?;
    let mut second_court =
        hub_testkit::court_client(second.addr(), &hub.pki().court(SECOND_COURT)?).await?;

    let id = fixtures::resident_id(41);
    let account = fixtures::account_number(41);
    hub.open_account("ICBC", &account, "张三", &id, 1_000_000)
        .await?;
    let freeze = |court: &str, key: &str, case: &str, fen: i64| {
        Freeze::of(fen)
            .at("ICBC", &account)
            .held_by("张三", &id)
            .by(court)
            .case_number(case)
            .key(key)
            .request()
    };
    // Both freezes are submitted to the second instance; the first relays them.
    let first = court
        .submit(freeze(COURT, "first", &fixtures::case_number(41), 600_000))
        .await?
        .into_inner()
        .measure
        .expect("measure");
    hub.wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;
    let waiting = second_court
        .submit(freeze(
            SECOND_COURT,
            "second",
            "（2024）粤03执41号",
            500_000,
        ))
        .await?
        .into_inner()
        .measure
        .expect("measure");
    hub.wait_for_state(SECOND_COURT, &waiting.measure_id, pb::MeasureState::Waiting)
        .await?;

    let mut watch = second_court
        .watch(pb::WatchRequest {
            court_code: SECOND_COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                waiting.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();
    let snapshot = next_event(&mut watch).await?;
    assert_eq!(snapshot.kind, pb::EventKind::Snapshot as i32);
    assert_eq!(
        snapshot.measure.map(|m| m.state),
        Some(pb::MeasureState::Waiting as i32)
    );

    court
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "release-first".into(),
            measure_id: first.measure_id.clone(),
            reason: "debt paid".into(),
            keep_fen: 0,
        })
        .await?;
    // The bank promotes the waiting freeze and notifies; the first instance applies it; the
    // second instance's watch stream shows it.
    let promoted = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = next_event(&mut watch).await?;
            if let Some(m) = event.measure
                && m.state == pb::MeasureState::Effective as i32
            {
                return anyhow::Ok(m);
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no promotion on the second gateway's watch within 20 s"))??;
    assert_eq!(promoted.held_fen, 500_000);
    assert_eq!(promoted.waiting_position, 0);
    let released = court
        .get(pb::GetRequest {
            court_code: COURT.into(),
            measure_id: first.measure_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(released.state, pb::MeasureState::Released as i32);

    second.stop().await?;
    hub.shutdown().await
}

async fn next_event(
    watch: &mut tonic::Streaming<pb::MeasureEvent>,
) -> anyhow::Result<pb::MeasureEvent> {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .map_err(|_| anyhow::anyhow!("no watch event within 10 s"))??
        .ok_or_else(|| anyhow::anyhow!("watch stream ended"))
}

/// Audit entries are announced after their transaction commits, so a listener may learn of a
/// measure's versions out of order, or of one not at all (the announcing process stopped
/// between commit and announcement): a watch stream still shows every version once, in order.
#[tokio::test]
async fn a_watch_stream_shows_versions_announced_late_or_never_once_and_in_order()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let mut court = hub.court().await?;
    let id = fixtures::resident_id(42);
    let account = fixtures::account_number(42);
    hub.open_account("ICBC", &account, "张三", &id, 1_000_000)
        .await?;
    let measure = court
        .submit(
            Freeze::of(600_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case_number(&fixtures::case_number(42))
                .key("late")
                .request(),
        )
        .await?
        .into_inner()
        .measure
        .expect("measure");
    let done = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    let mut watch = court
        .watch(pb::WatchRequest {
            court_code: COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                measure.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();
    assert_eq!(
        next_event(&mut watch).await?.kind,
        pb::EventKind::Snapshot as i32
    );

    // Two more versions of the measure's audit trail, as a later change would write them.
    let schema = hub.gateway_schema();
    let pool = hub.sandbox().pool();
    let mut entries = Vec::new();
    for (version, message) in [(done.version + 1, "fourth"), (done.version + 2, "fifth")] {
        let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.measure_events (measure_id, court_code, case_number, version, \
                 kind, state, message, snapshot, at) \
             SELECT measure_id, court_code, case_number, $2, kind, state, $3, snapshot, at \
             FROM {schema}.measure_events WHERE measure_id = $1 \
             ORDER BY version DESC LIMIT 1 RETURNING id"
        )))
        .bind(uuid::Uuid::parse_str(&measure.measure_id)?)
        .bind(i64::try_from(version)?)
        .bind(message)
        .fetch_one(pool)
        .await?;
        entries.push(id);
    }
    let announce = |id: i64| {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(format!("{schema}_events"))
            .bind(id.to_string())
            .execute(pool)
    };
    // The later version is announced first; the earlier one only after it.
    announce(entries[1]).await?;
    let fourth = next_event(&mut watch).await?;
    let fifth = next_event(&mut watch).await?;
    assert_eq!(
        (fourth.message.as_str(), fifth.message.as_str()),
        ("fourth", "fifth")
    );
    announce(entries[0]).await?;
    let late = tokio::time::timeout(Duration::from_secs(2), watch.message()).await;
    assert!(
        late.is_err(),
        "a version already shown came again: {late:?}"
    );

    drop(watch);
    hub.shutdown().await
}
