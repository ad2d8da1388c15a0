//! Operators and dead letters: listed with their reasons, inspected, replayed exactly once,
//! discarded.

use enforcement_proto::v1 as pb;
use hub_bus::{MessageMeta, topology};
use hub_testkit::{TestHub, eventually, fixtures};
use std::time::Duration;
use tonic::Code;

const COURT: &str = "京0105";

#[tokio::test]
async fn a_replayed_dead_letter_is_carried_out_exactly_once() -> anyhow::Result<()> {
    let hub = TestHub::builder()
        .banks(&["ICBC"])
        .adapter_retries(20, 3)
        .start()
        .await?;
    // The bank is down longer than the adapter tries: the freeze fails and its instruction
    // becomes a dead letter.
    let measure = hub.failed_freeze(COURT, "replay-me", 30).await?;
    let account = fixtures::account_number(30);
    let faults = hub.bank("ICBC")?.system().faults();
    faults.fail_next(0);

    let mut ops = hub.ops().await?;
    let listed = eventually("the dead letter listed", Duration::from_secs(10), || {
        let mut ops = ops.clone();
        async move {
            let listed = ops
                .list_dead_letters(pb::ListDeadLettersRequest { limit: 10 })
                .await?
                .into_inner();
            Ok((listed.total == 1).then_some(listed))
        }
    })
    .await?;
    let letter = &listed.dead_letters[0];
    assert_eq!(letter.measure_id, measure.measure_id);
    assert_eq!(letter.r#type, "enforcement.v1.Instruction");
    assert_eq!(letter.source_queue, "agency.bank.ICBC");
    assert_eq!(letter.routing_key, "bank.ICBC");
    assert_eq!(letter.court, COURT);
    assert!(
        letter.reason.contains("down for maintenance"),
        "{}",
        letter.reason
    );

    let inspected = ops
        .inspect_dead_letter(pb::DeadLetterRequest {
            message_id: letter.message_id.clone(),
        })
        .await?
        .into_inner();
    assert!(
        inspected
            .summary
            .starts_with("freeze of 10,000.00 yuan on account 6222****0030 at ICBC"),
        "{}",
        inspected.summary
    );
    // Listing and inspecting take nothing away (the broker puts them back at once).
    let still = eventually(
        "the dead letter back in its queue",
        Duration::from_secs(10),
        || {
            let mut ops = ops.clone();
            async move {
                let listed = ops
                    .list_dead_letters(pb::ListDeadLettersRequest { limit: 10 })
                    .await?
                    .into_inner();
                Ok((listed.total == 1).then_some(listed))
            }
        },
    )
    .await?;
    assert_eq!(still.dead_letters[0].message_id, letter.message_id);

    ops.replay_dead_letter(pb::DeadLetterRequest {
        message_id: letter.message_id.clone(),
    })
    .await?;
    // The bank's answer prevails over the hub having given up.
    let effective = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 1_000_000);

    // Replaying again finds nothing; the bank froze once.
    let again = ops
        .replay_dead_letter(pb::DeadLetterRequest {
            message_id: letter.message_id.clone(),
        })
        .await
        .expect_err("replayed already");
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(hub.ledger("ICBC").await?.len(), 1);
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 1_000_000);
    let executions: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.executions",
        hub.bank("ICBC")?.schema()
    )))
    .fetch_one(hub.sandbox().pool())
    .await?;
    assert_eq!(executions, 1);
    hub.shutdown().await
}

#[tokio::test]
async fn an_unreadable_report_becomes_a_dead_letter_an_operator_can_discard() -> anyhow::Result<()>
{
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let meta = MessageMeta {
        message_id: "garbage-report".into(),
        kind: "enforcement.v1.AgencyReport".into(),
        ..MessageMeta::default()
    };
    hub.publish_raw(
        topology::OUTCOMES_EXCHANGE,
        "bank.ICBC",
        b"\x0a\xff\xff\xff",
        &meta,
    )
    .await?;

    let letter = hub
        .first_dead_letter("the report dead-lettered", Duration::from_secs(10))
        .await?;
    let mut ops = hub.ops().await?;
    assert_eq!(letter.message_id, "garbage-report");
    assert_eq!(letter.source_queue, "gateway.outcomes");
    // The gateway's own reason, not the broker's bare `rejected`.
    assert!(
        letter
            .reason
            .starts_with("the agency report could not be decoded"),
        "{}",
        letter.reason
    );
    let inspected = ops
        .inspect_dead_letter(pb::DeadLetterRequest {
            message_id: "garbage-report".into(),
        })
        .await?
        .into_inner();
    assert!(
        inspected.summary.starts_with("does not decode"),
        "{}",
        inspected.summary
    );

    ops.discard_dead_letter(pb::DeadLetterRequest {
        message_id: "garbage-report".into(),
    })
    .await?;
    let left = ops
        .list_dead_letters(pb::ListDeadLettersRequest::default())
        .await?
        .into_inner();
    assert_eq!(left.total, 0);
    let missing = ops
        .inspect_dead_letter(pb::DeadLetterRequest {
            message_id: "garbage-report".into(),
        })
        .await
        .expect_err("discarded");
    assert_eq!(missing.code(), Code::NotFound);
    hub.shutdown().await
}
