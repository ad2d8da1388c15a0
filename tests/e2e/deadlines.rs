//! Deadlines fire at their moment: the gateway's timers sleep until the next deadline the
//! database holds, so with timers that would otherwise look only once a minute an undelivered
//! instruction expires, an inquiry closes, a warning is given and a measure lapses each within a
//! second of its moment.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};

const COURT: &str = "京0105";

/// Longer than any test here waits: a deadline met is met by sleeping until it, not by polling.
const ONCE_A_MINUTE: u64 = 60_000;

fn seconds(t: &Option<prost_types::Timestamp>) -> f64 {
    t.as_ref()
        .map_or(0.0, |t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

/// Asserts `late` seconds after a deadline is within a second of it (and not before it).
fn on_time(what: &str, late: f64) {
    assert!(
        (0.0..=1.0).contains(&late),
        "{what} fired {late:.3} s after its moment"
    );
}

#[tokio::test]
async fn an_undelivered_instruction_expires_and_an_inquiry_closes_within_a_second_of_their_deadlines()
-> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC"])
        .instruction_deadline(2, 1)
        .timer_poll(ONCE_A_MINUTE)
        .start()
        .await?;
    let id = fixtures::resident_id(41);
    let account = fixtures::account_number(41);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    hub.stop_adapter("ICBC").await?;

    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(41)
                .key("undelivered"),
        )
        .await?;
    let mut inquiry = hub
        .court()
        .await?
        .inquire(pb::InquireRequest {
            court_code: COURT.into(),
            idempotency_key: "unanswered".into(),
            case: Some(fixtures::case(&fixtures::case_number(42), 1_000_000)),
            subject: Some(fixtures::person("张三", &id)),
            classes: vec![pb::AssetClass::Deposits as i32],
            scope: Some(pb::inquire_request::Scope::Agency(fixtures::bank("ICBC"))),
            deadline_seconds: 2,
        })
        .await?
        .into_inner();

    let expired = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Expired)
        .await?;
    // Deadline 2 s after submission, then 1 s of grace.
    on_time(
        "the undelivered instruction's expiry",
        seconds(&expired.updated_at) - seconds(&expired.submitted_at) - 3.0,
    );

    let summary = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(event) = inquiry.message().await? {
            if let Some(pb::inquiry_event::Event::Finished(measure)) = event.event {
                return Ok(measure);
            }
        }
        anyhow::bail!("the inquiry's stream ended without its summary")
    })
    .await
    .map_err(|_| anyhow::anyhow!("no inquiry summary within 20 s"))??;
    assert_eq!(summary.state, pb::MeasureState::Partial as i32);
    on_time(
        "the inquiry's deadline",
        seconds(&summary.effective_at) - seconds(&summary.submitted_at) - 2.0,
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_warning_and_a_lapse_come_within_a_second_of_their_moments() -> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC"])
        .timer_poll(ONCE_A_MINUTE)
        .start()
        .await?;
    let id = fixtures::resident_id(43);
    let account = fixtures::account_number(43);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(43)
                .key("lapsing"),
        )
        .await?;
    let freeze = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;
    // The bank's own lapse notice cannot come: what lapses the freeze is the gateway's timer.
    hub.stop_adapter("ICBC").await?;
    let expiry = seconds(&freeze.expires_at);

    // Two seconds before the 7-day horizon: the 30-day warning at once, the 7-day one in 2 s.
    let now = hub.clock().now();
    let to = |moment: f64| {
        time::Duration::seconds_f64(moment - (now.unix_timestamp_nanos() as f64 / 1e9))
    };
    let seven_days = 7.0 * 86_400.0;
    hub.clock().advance(to(expiry - seven_days - 2.0));
    let warned = hub
        .wait_for(COURT, &freeze.measure_id, Duration::from_secs(10), |m| {
            m.updated_at != freeze.updated_at
        })
        .await?;
    let seven = hub
        .wait_for(COURT, &freeze.measure_id, Duration::from_secs(10), |m| {
            m.updated_at != warned.updated_at
        })
        .await?;
    on_time(
        "the 7-day warning",
        seconds(&seven.updated_at) - (expiry - seven_days),
    );

    // Two seconds before expiry: the freeze lapses at its moment.
    let now = hub.clock().now().unix_timestamp_nanos() as f64 / 1e9;
    hub.clock()
        .advance(time::Duration::seconds_f64(expiry - 2.0 - now));
    let lapsed = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Lapsed)
        .await?;
    on_time("the lapse", seconds(&lapsed.updated_at) - expiry);
    assert_eq!(lapsed.held_fen, 0);
    hub.shutdown().await
}
