//! The broker per party: an enrolled agency's adapter connects as a broker user of its own,
//! which may read only its agency's queue and publish only reports (and dead letters); the
//! gateway believes an enrolled agency's reports only from that user; a suspended agency is cut
//! off while its queue keeps what arrives. Against the real RabbitMQ, with users created through
//! its management API by `hubctl agency enrol` (the test's own, deleted with its vhost).

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_bus::{MessageMeta, Published, Publisher, topology};
use hub_domain::AgencyKind;
use hub_testkit::{TestHub, eventually, fixtures, fixtures::Freeze};
use lapin::{
    options::{BasicConsumeOptions, QueueDeclareOptions},
    types::FieldTable,
};
use prost::Message;
use uuid::Uuid;

use super::reports::{dead_letters, reason_of};
use crate::hubctl::{hubctl, json_lines, shown};

const COURT: &str = "京0105";

/// `hubctl agency enrol` of bank `code` in the test's vhost, administering the broker through
/// `amqp`: its broker user and the AMQP URL its adapter connects with (the same address).
async fn enrol(hub: &TestHub, code: &str, amqp: &str) -> anyhow::Result<(String, String)> {
    let user = hub.sandbox().broker_user(&format!("adapter.bank.{code}"));
    let mut args = enrol_args(hub, "enrol", code, Some(&user));
    if let Some(url) = args.iter().position(|a| a == "--amqp-url") {
        args[url + 1] = amqp.to_string();
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = hubctl(hub, &args).await?;
    anyhow::ensure!(out.status.success(), "{}", shown(&out));
    let lines = json_lines(&out)?;
    let enrolled = lines
        .last()
        .ok_or_else(|| anyhow::anyhow!("no JSON: {}", shown(&out)))?;
    assert_eq!(enrolled["broker_user"], user.as_str());
    assert_eq!(enrolled["queues"][0], format!("agency.bank.{code}"));
    let url = enrolled["amqp_url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no amqp_url: {enrolled}"))?
        .to_string();
    Ok((user, url))
}

/// The arguments of `hubctl agency <command>` for bank `code` at the test's broker.
fn enrol_args(hub: &TestHub, command: &str, code: &str, user: Option<&str>) -> Vec<String> {
    let (api, admin) = hub.sandbox().management();
    let amqp = hub.sandbox().amqp_url();
    let mut args: Vec<String> = [
        "--json", "agency", command, "--kind", "bank", "--code", code,
    ]
    .map(String::from)
    .to_vec();
    if let Some(user) = user {
        args.extend(["--broker-user".into(), user.into()]);
    }
    args.extend([
        "--amqp-url".into(),
        amqp,
        "--broker-api".into(),
        api,
        "--broker-admin".into(),
        admin,
    ]);
    args
}

async fn run(hub: &TestHub, args: Vec<String>) -> anyhow::Result<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = hubctl(hub, &args).await?;
    anyhow::ensure!(out.status.success(), "{}", shown(&out));
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A freeze of 1,000.00 at bank `code` on a fresh account holding 5,000.00.
async fn freeze_at(hub: &TestHub, code: &str, seed: u32) -> anyhow::Result<pb::Measure> {
    let (id, account) = (fixtures::resident_id(seed), fixtures::account_number(seed));
    hub.open_account(code, &account, "张三", &id, 500_000)
        .await?;
    hub.freeze(
        Freeze::of(100_000)
            .at(code, &account)
            .held_by("张三", &id)
            .by(COURT)
            .case(seed)
            .key(&format!("broker-{seed}")),
    )
    .await
}

/// Instructions waiting in `queue`.
async fn depth(hub: &TestHub, queue: &str) -> anyhow::Result<u64> {
    Ok(hub.sandbox().queue_depth(queue).await?.messages_ready)
}

/// A report, its body and the headers it is published with.
type Report = (pb::AgencyReport, Vec<u8>, Vec<(String, String)>);

/// A notice from bank CCB that `measure_id` is released, signed with CCB's own adapter key (as
/// if that key had leaked): only the broker user tells who really sent it.
fn ccb_notice(hub: &TestHub, measure_id: &str) -> anyhow::Result<Report> {
    let report = pb::AgencyReport {
        report_id: Uuid::now_v7().to_string(),
        agency: Some(fixtures::bank("CCB")),
        kind: pb::ReportKind::Notice as i32,
        updates: vec![pb::MeasureUpdate {
            measure_id: measure_id.into(),
            revision: 9,
            state: pb::MeasureState::Released as i32,
            at: Some(enforcement_proto::convert::timestamp(hub.clock().now())),
            note: "released".into(),
            ..Default::default()
        }],
        sent_at: Some(enforcement_proto::convert::timestamp(hub.clock().now())),
        ..Default::default()
    };
    let body = report.encode_to_vec();
    let key = hub.bank("CCB")?.adapter_key().clone();
    let headers = vec![
        (
            hub_bus::signing::HEADER_KEY_ID.to_string(),
            key.key_id.clone(),
        ),
        (
            hub_bus::signing::HEADER_SIGNATURE.to_string(),
            key.signer.sign(&body),
        ),
    ];
    Ok((report, body, headers))
}

#[tokio::test]
async fn an_enrolled_agency_reads_only_its_own_queue_publishes_only_reports_and_is_believed_only_as_itself()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    hub.stop_adapter("ICBC").await?;
    hub.stop_adapter("CCB").await?;
    // ICBC reaches the broker over TLS, trusting the broker's CA; CCB over plain AMQP.
    let tls = hub.sandbox().amqps_url();
    let (icbc_user, icbc_url) = enrol(&hub, "ICBC", &tls).await?;
    let (ccb_user, ccb_url) = enrol(&hub, "CCB", &hub.sandbox().amqp_url()).await?;
    assert!(!icbc_url.contains("guest"), "{icbc_url}");
    assert!(
        icbc_url.starts_with("amqps://") && icbc_url.contains("cacertfile="),
        "{icbc_url}"
    );
    // Trusting another CA (the hub's own PKI, not the broker's), the handshake fails.
    let (base, _) = icbc_url.split_once('?').unwrap_or((icbc_url.as_str(), ""));
    let foreign = format!(
        "{base}?cacertfile={}",
        hub.pki().dir().join("ca.pem").display()
    );
    let refused = hub_bus::connect(&foreign, "foreign-ca").await.err();
    assert!(
        refused.is_some(),
        "a broker certificate from an unknown CA was accepted"
    );

    // ICBC's adapter, as its own user over TLS, finds its queue provisioned and carries a
    // freeze out.
    hub.start_adapter_as(AgencyKind::Bank, "ICBC", &icbc_url)
        .await?;
    let done = freeze_at(&hub, "ICBC", 1).await?;
    let done = hub
        .wait_for_state(COURT, &done.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(done.held_fen, 100_000);

    // CCB's adapter is away: its freeze waits in its queue.
    let waiting = freeze_at(&hub, "CCB", 2).await?;
    eventually("CCB's freeze queued", Duration::from_secs(20), || async {
        Ok((depth(&hub, "agency.bank.CCB").await? == 1).then_some(()))
    })
    .await?;

    // ICBC's user can neither take CCB's instructions, nor send instructions, nor declare.
    let connection = hub_bus::connect(&icbc_url, "intruder").await?;
    let channel = connection.create_channel().await?;
    let consumed = channel
        .basic_consume(
            "agency.bank.CCB".into(),
            "intruder".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    let refused = consumed.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("ACCESS_REFUSED"), "consume: {refused:?}");
    let publisher = Publisher::open(&connection).await?;
    let meta = MessageMeta {
        message_id: Uuid::now_v7().to_string(),
        kind: "enforcement.v1.Instruction".into(),
        ..MessageMeta::default()
    };
    let sent = publisher
        .publish(
            topology::INSTRUCTIONS_EXCHANGE,
            "bank.CCB",
            b"forged",
            &meta,
        )
        .await;
    let refused = sent.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("ACCESS_REFUSED"), "publish: {refused:?}");
    let channel = connection.create_channel().await?;
    let declared = channel
        .queue_declare(
            "agency.bank.ICBC-shadow".into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await;
    let refused = declared.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("ACCESS_REFUSED"), "declare: {refused:?}");
    // Nothing was lost from CCB's queue.
    assert_eq!(depth(&hub, "agency.bank.CCB").await?, 1);

    // A report for CCB sent by ICBC's user (it may publish reports, but only as itself) and one
    // for CCB naming no user: neither is believed, though both carry CCB's valid signature.
    let (as_icbc, body, headers) = ccb_notice(&hub, &waiting.measure_id)?;
    let reporter = Publisher::open(&connection)
        .await?
        .as_user(Some(icbc_user.clone()));
    let meta = MessageMeta {
        message_id: as_icbc.report_id.clone(),
        kind: "enforcement.v1.AgencyReport".into(),
        headers: headers.clone(),
        ..MessageMeta::default()
    };
    let published = reporter
        .publish(topology::OUTCOMES_EXCHANGE, "bank.CCB", &body, &meta)
        .await?;
    assert_eq!(published, Published::Confirmed);
    let _ = connection.close(200, "done".into()).await;
    let letters = dead_letters(&hub, 1).await?;
    assert_eq!(
        reason_of(&letters, &as_icbc.report_id),
        format!(
            "report for bank.CCB published by broker user {icbc_user:?}, not by {ccb_user:?} \
             enrolled for it"
        )
    );
    let (anonymous, body, headers) = ccb_notice(&hub, &waiting.measure_id)?;
    let meta = MessageMeta {
        message_id: anonymous.report_id.clone(),
        kind: "enforcement.v1.AgencyReport".into(),
        headers,
        ..MessageMeta::default()
    };
    hub.publish_raw(topology::OUTCOMES_EXCHANGE, "bank.CCB", &body, &meta)
        .await?;
    let letters = dead_letters(&hub, 2).await?;
    let reason = reason_of(&letters, &anonymous.report_id);
    assert!(reason.contains("without the broker user"), "{reason}");
    let unchanged = hub.measure(COURT, &waiting.measure_id).await?;
    assert_eq!(unchanged.state, pb::MeasureState::Dispatched as i32);

    // CCB's adapter, as its own user, takes its instruction and carries it out.
    hub.start_adapter_as(AgencyKind::Bank, "CCB", &ccb_url)
        .await?;
    let effective = hub
        .wait_for_state(COURT, &waiting.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 100_000);
    hub.shutdown().await
}

#[tokio::test]
async fn a_suspended_agency_is_cut_off_its_queue_keeps_its_orders_and_resuming_serves_them()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["CCB"]).await?;
    hub.stop_adapter("CCB").await?;
    let (user, url) = enrol(&hub, "CCB", &hub.sandbox().amqp_url()).await?;
    hub.start_adapter_as(AgencyKind::Bank, "CCB", &url).await?;
    let first = freeze_at(&hub, "CCB", 1).await?;
    hub.wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;

    let out = run(&hub, enrol_args(&hub, "suspend", "CCB", None)).await?;
    let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap_or_default())?;
    assert_eq!(line["broker_user"], user.as_str());
    assert_eq!(line["suspended"], true);

    // Suspended: the order is accepted and kept in the agency's queue, not carried out.
    let kept = freeze_at(&hub, "CCB", 2).await?;
    eventually(
        "the order kept in CCB's queue",
        Duration::from_secs(20),
        || async { Ok((depth(&hub, "agency.bank.CCB").await? == 1).then_some(())) },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(depth(&hub, "agency.bank.CCB").await?, 1);
    let still = hub.measure(COURT, &kept.measure_id).await?;
    assert_eq!(still.state, pb::MeasureState::Dispatched as i32);

    let out = run(&hub, enrol_args(&hub, "resume", "CCB", None)).await?;
    assert!(out.contains("\"suspended\":false"), "{out}");
    let effective = hub
        .wait_for_state(COURT, &kept.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 100_000);
    // The broker's counts lag its queues by a few seconds.
    eventually("CCB's queue drained", Duration::from_secs(20), || async {
        Ok((depth(&hub, "agency.bank.CCB").await? == 0).then_some(()))
    })
    .await?;
    hub.shutdown().await
}
