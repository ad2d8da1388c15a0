//! The adapter under trouble: an agency that fails for a while or for good, and messages it
//! cannot read.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_bus::{MessageMeta, Published, header_str, topology};
use hub_testkit::{
    TestHub, eventually,
    fixtures::{self, Freeze},
};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use prost::Message;

const COURT: &str = "京0105";

#[tokio::test]
async fn a_bank_down_for_a_while_is_retried_until_the_freeze_takes_effect() -> anyhow::Result<()> {
    let hub = TestHub::builder()
        .banks(&["ICBC"])
        .adapter_retries(50, 6)
        .start()
        .await?;
    let id = fixtures::resident_id(20);
    let account = fixtures::account_number(20);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    hub.bank("ICBC")?.system().faults().fail_next(3);

    let measure = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(20)
                .key("retried"),
        )
        .await?;
    let done = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(done.held_fen, 1_000_000);
    assert_eq!(hub.ledger("ICBC").await?.len(), 1);
    let dead = hub
        .sandbox()
        .queue_depth(topology::DEAD_LETTER_QUEUE)
        .await?;
    assert_eq!(dead.messages_ready, 0);
    hub.shutdown().await
}

#[tokio::test]
async fn a_bank_that_stays_down_ends_the_measure_failed_with_the_instruction_in_dead_letters()
-> anyhow::Result<()> {
    let hub = TestHub::builder()
        .banks(&["ICBC"])
        .adapter_retries(20, 3)
        .start()
        .await?;
    let failed = hub.failed_freeze(COURT, "gave-up", 21).await?;
    let reason = failed.reason.clone().expect("reason");
    assert_eq!(reason.code, pb::ReasonCode::AgencyError as i32);
    assert!(
        reason.message.contains("down for maintenance"),
        "{}",
        reason.message
    );

    let letter = take_dead_letter(&hub).await?;
    assert_eq!(
        letter.correlation_id.as_deref(),
        Some(failed.measure_id.as_str())
    );
    assert!(letter.reason.contains("Unavailable"), "{}", letter.reason);
    assert_eq!(letter.queue, "agency.bank.ICBC");
    assert!(hub.ledger("ICBC").await?.is_empty());
    hub.shutdown().await
}

/// Publishes `body` to bank ICBC's queue with `signature` and returns the dead letter it becomes.
async fn dead_letter_of(
    hub: &TestHub,
    body: &[u8],
    signature: Option<String>,
) -> anyhow::Result<DeadLetter> {
    let mut meta = MessageMeta {
        message_id: "suspect-1".into(),
        correlation_id: Some("not-a-measure".into()),
        kind: "enforcement.v1.Instruction".into(),
        ..MessageMeta::default()
    };
    if let Some(signature) = signature {
        meta.headers
            .push((hub_bus::signing::HEADER_SIGNATURE.into(), signature));
    }
    let published = hub
        .publish_raw(topology::INSTRUCTIONS_EXCHANGE, "bank.ICBC", body, &meta)
        .await?;
    assert_eq!(published, Published::Confirmed);
    let letter = take_dead_letter(hub).await?;
    // The agency's queue is empty again: the message was taken, not left to loop.
    eventually(
        "the agency queue drained",
        Duration::from_secs(10),
        || async {
            let depth = hub.sandbox().queue_depth("agency.bank.ICBC").await?;
            Ok((depth == Default::default()).then_some(()))
        },
    )
    .await?;
    Ok(letter)
}

#[tokio::test]
async fn an_unsigned_instruction_goes_to_dead_letters_unread() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let request = Freeze::of(1_000_000)
        .at("ICBC", &fixtures::account_number(23))
        .held_by("张三", &fixtures::resident_id(23))
        .by(COURT)
        .case(23)
        .key("forged")
        .request();
    let letter = dead_letter_of(&hub, &request.encode_to_vec(), None).await?;
    assert_eq!(
        letter.reason,
        "instruction refused: the message is unsigned"
    );
    assert!(hub.ledger("ICBC").await?.is_empty());
    hub.shutdown().await
}

#[tokio::test]
async fn an_instruction_signed_with_another_key_goes_to_dead_letters_unread() -> anyhow::Result<()>
{
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let body = b"\x0a\x03abc";
    let intruder = hub_bus::signing::Signer::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let letter = dead_letter_of(&hub, body, Some(intruder.sign(body))).await?;
    assert!(
        letter.reason.contains("does not verify"),
        "{}",
        letter.reason
    );
    // Signed by the hub but altered on the way: refused all the same.
    let signature = hub.sign_as_gateway(body);
    let letter = dead_letter_of(&hub, b"\x0a\x03abd", Some(signature)).await?;
    assert!(
        letter.reason.contains("does not verify"),
        "{}",
        letter.reason
    );
    hub.shutdown().await
}

#[tokio::test]
async fn an_undecodable_instruction_goes_to_dead_letters_with_the_reason() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let body = b"\xff\xff not protobuf";
    let letter = dead_letter_of(&hub, body, Some(hub.sign_as_gateway(body))).await?;
    assert!(
        letter.reason.starts_with("undecodable instruction"),
        "{}",
        letter.reason
    );
    assert_eq!(letter.body, body);
    hub.shutdown().await
}

struct DeadLetter {
    reason: String,
    queue: String,
    correlation_id: Option<String>,
    body: Vec<u8>,
}

/// Waits for one message in the dead-letter queue and takes it.
async fn take_dead_letter(hub: &TestHub) -> anyhow::Result<DeadLetter> {
    let connection = hub_bus::connect(&hub.sandbox().amqp_url(), "test-dlq").await?;
    let channel = connection.create_channel().await?;
    let letter = eventually("a dead letter", Duration::from_secs(20), || async {
        let got = channel
            .basic_get(
                topology::DEAD_LETTER_QUEUE.into(),
                BasicGetOptions { no_ack: false },
            )
            .await?;
        let Some(message) = got else {
            return Ok(None);
        };
        let delivery = message.delivery;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        let props = &delivery.properties;
        Ok(Some(DeadLetter {
            reason: header_str(props, topology::HEADER_DEAD_REASON)
                .unwrap_or_default()
                .to_string(),
            queue: header_str(props, topology::HEADER_DEAD_QUEUE)
                .unwrap_or_default()
                .to_string(),
            correlation_id: props.correlation_id().as_ref().map(|c| c.to_string()),
            body: delivery.data,
        }))
    })
    .await?;
    let _ = connection.close(200, "done".into()).await;
    Ok(letter)
}

#[tokio::test]
async fn an_instruction_not_received_before_its_deadline_ends_expired_and_is_never_carried_out()
-> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC"])
        .instruction_deadline(2, 1)
        .start()
        .await?;
    let id = fixtures::resident_id(22);
    let account = fixtures::account_number(22);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    // The bank's adapter is down while the instruction waits in its queue.
    hub.stop_adapter("ICBC").await?;
    let measure = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(22)
                .key("too-late"),
        )
        .await?;
    let expired = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Expired)
        .await?;
    assert_eq!(
        expired.reason.expect("reason").code,
        pb::ReasonCode::DeadlinePassed as i32
    );

    // The adapter comes back and finds the instruction late: it takes it off the queue without
    // carrying it out.
    hub.start_adapter("ICBC").await?;
    eventually(
        "the late instruction taken off the queue",
        Duration::from_secs(20),
        || async {
            let depth = hub.sandbox().queue_depth("agency.bank.ICBC").await?;
            Ok((depth == Default::default()).then_some(()))
        },
    )
    .await?;
    assert!(hub.ledger("ICBC").await?.is_empty());
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 0);
    let still = hub.measure(COURT, &measure.measure_id).await?;
    assert_eq!(still.state, pb::MeasureState::Expired as i32);

    // Counted as an outcome by the gateway's timers, and as late by the adapter.
    let gateway = hub.gateway_http_addr().expect("gateway HTTP");
    let gateway = hub_testkit::Scrape::fetch(&format!("http://{gateway}/metrics")).await?;
    let labels = [
        ("kind", "freeze"),
        ("agency", "ICBC"),
        ("outcome", "expired"),
    ];
    assert_eq!(gateway.value("hub_measures_finished_total", &labels), 1.0);
    let adapter = hub.bank("ICBC")?.adapter_http_addr().expect("adapter HTTP");
    let url = format!("http://{adapter}/metrics");
    let labels = [("agency", "ICBC"), ("outcome", "expired")];
    eventually(
        "the adapter counting the late instruction",
        Duration::from_secs(20),
        || async {
            let adapter = hub_testkit::Scrape::fetch(&url).await?;
            Ok((adapter.value("hub_adapter_instructions_total", &labels) == 1.0).then_some(()))
        },
    )
    .await?;
    // Taken off the queue without being carried out.
    assert!(hub.ledger("ICBC").await?.is_empty());
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 0);
    hub.shutdown().await
}
