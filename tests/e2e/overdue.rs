//! Overdue measures (督办): with a freeze deadline of a few seconds, a freeze at a stopped bank
//! becomes overdue at its moment and is escalated at twice it: the court's watch stream says so
//! each time, the Ops service and `hubctl ops overdue` list it, the gateway's metrics count it,
//! and the bank receives both reminders behind the freeze when its adapter returns. A freeze
//! answered in time is never overdue.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{
    Scrape, TestHub,
    fixtures::{self, Freeze},
};

use crate::hubctl::{hubctl, shown};

const COURT: &str = "京0105";

/// The answer deadline for bank freezes in this test, in seconds.
const DEADLINE: u64 = 5;

async fn gateway_metrics(hub: &TestHub) -> anyhow::Result<Scrape> {
    let http = hub
        .gateway_http_addr()
        .ok_or_else(|| anyhow::anyhow!("no gateway HTTP address"))?;
    Scrape::fetch(&format!("http://{http}/metrics")).await
}

/// The next event of `watch` that is not a snapshot, within ten seconds.
async fn next_change(
    watch: &mut tonic::Streaming<pb::MeasureEvent>,
) -> anyhow::Result<pb::MeasureEvent> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .map_err(|_| anyhow::anyhow!("no watch event within 10 s"))??
            .ok_or_else(|| anyhow::anyhow!("the watch stream ended"))?;
        if event.kind != pb::EventKind::Snapshot as i32 {
            return Ok(event);
        }
    }
}

/// The next `OVERDUE` event of `watch`, skipping other changes.
async fn next_overdue(
    watch: &mut tonic::Streaming<pb::MeasureEvent>,
) -> anyhow::Result<pb::MeasureEvent> {
    loop {
        let event = next_change(watch).await?;
        if event.kind == pb::EventKind::Overdue as i32 {
            return Ok(event);
        }
    }
}

/// How many reminders the bank's records hold.
async fn reminders_at_bank(hub: &TestHub, bank: &str) -> anyhow::Result<i64> {
    let schema = hub.bank(bank)?.schema().to_string();
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.executions WHERE action = 'reminder'"
    )))
    .fetch_one(hub.sandbox().pool())
    .await?;
    Ok(count)
}

#[tokio::test]
async fn a_freeze_at_a_stopped_bank_becomes_overdue_is_escalated_and_the_bank_is_reminded()
-> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC", "CCB"])
        .answer_deadlines(&format!("bank.freeze={DEADLINE}"))
        .start()
        .await?;
    let (id, late_account, prompt_account) = (
        fixtures::resident_id(61),
        fixtures::account_number(61),
        fixtures::account_number(62),
    );
    hub.open_account("ICBC", &late_account, "张三", &id, 3_000_000)
        .await?;
    hub.open_account("CCB", &prompt_account, "张三", &id, 3_000_000)
        .await?;

    // CCB answers at once; ICBC's adapter is away.
    let prompt = hub
        .freeze(
            Freeze::of(500_000)
                .at("CCB", &prompt_account)
                .held_by("张三", &id)
                .by(COURT)
                .case(61)
                .key("prompt"),
        )
        .await?;
    hub.wait_for_state(COURT, &prompt.measure_id, pb::MeasureState::Effective)
        .await?;
    hub.stop_adapter("ICBC").await?;
    let late = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &late_account)
                .held_by("张三", &id)
                .by(COURT)
                .case(62)
                .key("late"),
        )
        .await?;
    let mut watch = hub
        .court()
        .await?
        .watch(pb::WatchRequest {
            court_code: COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                late.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();

    let mut ops = hub.ops().await?;
    let listed = ops
        .list_overdue(pb::ListOverdueRequest { limit: 0 })
        .await?
        .into_inner();
    assert_eq!(listed.total, 0, "nothing is overdue before its deadline");

    // Past the deadline: overdue, level 1.
    hub.clock()
        .advance(time::Duration::seconds((DEADLINE + 1) as i64));
    let first = next_overdue(&mut watch).await?;
    let measure = first.measure.clone().unwrap_or_default();
    assert_eq!(measure.overdue_level, 1);
    assert_eq!(measure.state, pb::MeasureState::Dispatched as i32);
    assert!(
        first.message.contains("ICBC") && first.message.contains("督办"),
        "{}",
        first.message
    );

    let listed = ops
        .list_overdue(pb::ListOverdueRequest { limit: 0 })
        .await?
        .into_inner();
    assert_eq!(listed.total, 1);
    let only = &listed.overdue[0];
    let listed_measure = only.measure.clone().unwrap_or_default();
    assert_eq!(listed_measure.measure_id, late.measure_id);
    assert_eq!(only.deadline_secs, DEADLINE as i64);
    let submitted = late.submitted_at.unwrap_or_default();
    let due = only.due_at.unwrap_or_default();
    assert_eq!(due.seconds - submitted.seconds, DEADLINE as i64);
    assert_eq!(due.nanos, submitted.nanos);
    assert!(only.overdue_ms >= 1_000, "{} ms past due", only.overdue_ms);

    let metrics = gateway_metrics(&hub).await?;
    assert_eq!(metrics.value("hub_measures_overdue", &[]), 1.0);
    let reminded = |level: &str| {
        metrics.value(
            "hub_reminders_total",
            &[("kind", "freeze"), ("agency", "ICBC"), ("level", level)],
        )
    };
    assert_eq!(reminded("1"), 1.0);
    assert_eq!(reminded("2"), 0.0);

    // hubctl lists it for operators.
    let output = hubctl(&hub, &["ops", "overdue"]).await?;
    assert!(output.status.success(), "{}", shown(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&late.measure_id), "{}", shown(&output));
    assert!(text.contains("1 overdue in all"), "{}", shown(&output));
    let output = hubctl(&hub, &["--json", "ops", "overdue"]).await?;
    let line: serde_json::Value = serde_json::from_slice(
        output
            .stdout
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default(),
    )?;
    assert_eq!(line["measure_id"], late.measure_id.as_str());
    assert_eq!(line["overdue"]["level"], 1);
    assert_eq!(line["overdue"]["deadline_secs"], DEADLINE);

    // Past twice the deadline: escalated, level 2.
    hub.clock()
        .advance(time::Duration::seconds(DEADLINE as i64));
    let second = next_overdue(&mut watch).await?;
    assert_eq!(second.measure.unwrap_or_default().overdue_level, 2);
    assert!(second.message.contains("escalated"), "{}", second.message);
    let metrics = gateway_metrics(&hub).await?;
    assert_eq!(
        metrics.value(
            "hub_reminders_total",
            &[("kind", "freeze"), ("agency", "ICBC"), ("level", "2")],
        ),
        1.0
    );
    // No third level: more time changes nothing.
    hub.clock()
        .advance(time::Duration::seconds((3 * DEADLINE) as i64));

    // The adapter returns: the freeze is carried out once, and both reminders reach the bank
    // behind it and are answered with the freeze's own answer.
    hub.start_adapter("ICBC").await?;
    let effective = hub
        .wait_for_state(COURT, &late.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 1_000_000);
    hub_testkit::eventually(
        "both reminders at ICBC",
        Duration::from_secs(20),
        || async { Ok((reminders_at_bank(&hub, "ICBC").await? == 2).then_some(())) },
    )
    .await?;
    let account = hub.account("ICBC", &late_account).await?;
    assert_eq!(
        account.frozen_fen, 1_000_000,
        "frozen once, not per reminder"
    );

    // Answered: no longer overdue; the prompt freeze never was.
    let listed = ops
        .list_overdue(pb::ListOverdueRequest { limit: 0 })
        .await?
        .into_inner();
    assert_eq!(listed.total, 0);
    assert_eq!(reminders_at_bank(&hub, "CCB").await?, 0);
    let prompt = hub.measure(COURT, &prompt.measure_id).await?;
    assert_eq!(prompt.overdue_level, 0);
    assert_eq!(
        gateway_metrics(&hub)
            .await?
            .value("hub_measures_overdue", &[]),
        0.0
    );
    // The level stays on the record of the measure that was late.
    assert_eq!(hub.measure(COURT, &late.measure_id).await?.overdue_level, 2);
    hub.shutdown().await
}

#[tokio::test]
async fn the_overdue_list_refuses_a_limit_over_a_thousand() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let status = hub
        .ops()
        .await?
        .list_overdue(pb::ListOverdueRequest { limit: 1001 })
        .await
        .expect_err("too many");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("limit"), "{}", status.message());
    let output = hubctl(&hub, &["ops", "overdue", "--limit", "0"]).await?;
    assert_eq!(output.status.code(), Some(2), "{}", shown(&output));
    hub.shutdown().await
}
