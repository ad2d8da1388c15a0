//! Signed reports and sealed outcomes, against the real gateway, broker and database: every test
//! hub's adapters sign and its agencies seal with keys of their own, and its gateway refuses
//! anything unsigned. These tests publish reports of their own on the outcomes exchange, as an
//! intruder on the broker would, and check that only what the agency's keys vouch for applies.

use std::time::Duration;

use enforcement_proto::{convert::timestamp, seal::canonical_outcome, v1 as pb};
use hub_bus::{
    MessageMeta,
    signing::{HEADER_KEY_ID, HEADER_SIGNATURE, KeyedSigner},
    topology,
};
use hub_domain::AgencyKind;
use hub_testkit::{
    TestHub, eventually,
    fixtures::{self, Freeze},
    new_key,
};
use prost::Message;
use uuid::Uuid;

const COURT: &str = "京0105";

/// A freeze of 10,000.00 on an account holding 5,000.00: partial, 5,000.00 held, at revision 1.
async fn partial_freeze(hub: &TestHub, n: u32) -> anyhow::Result<pb::Measure> {
    let id = fixtures::resident_id(n);
    let account = fixtures::account_number(n);
    hub.open_account("ICBC", &account, "张三", &id, 500_000)
        .await?;
    let measure = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(n)
                .key(&format!("trust-{n}")),
        )
        .await?;
    let partial = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Partial)
        .await?;
    assert_eq!(partial.held_fen, 500_000);
    Ok(partial)
}

/// A report from ICBC that the measure now holds `held_fen`, at agency revision `revision`.
fn report(
    hub: &TestHub,
    kind: pb::ReportKind,
    measure_id: &str,
    revision: u64,
    held_fen: i64,
) -> pb::AgencyReport {
    let state = if held_fen >= 1_000_000 {
        pb::MeasureState::Effective
    } else {
        pb::MeasureState::Partial
    };
    pb::AgencyReport {
        report_id: Uuid::now_v7().to_string(),
        agency: Some(fixtures::bank("ICBC")),
        kind: kind as i32,
        instruction_id: Uuid::now_v7().to_string(),
        updates: vec![pb::MeasureUpdate {
            measure_id: measure_id.into(),
            revision,
            state: state as i32,
            held_fen,
            at: Some(timestamp(hub.clock().now())),
            note: "incoming funds frozen".into(),
            ..Default::default()
        }],
        sent_at: Some(timestamp(hub.clock().now())),
        ..Default::default()
    }
}

/// Seals an outcome report as an agency system with `key` would.
fn seal(report: &mut pb::AgencyReport, key: &KeyedSigner) {
    let bytes = canonical_outcome(
        &key.key_id,
        report.agency.as_ref(),
        &report.instruction_id,
        &report.updates,
        report.answer.as_ref(),
    );
    report.seal = Some(pb::Seal {
        key_id: key.key_id.clone(),
        signature: key.signer.sign_raw(&bytes),
    });
}

/// A body and the headers an adapter signing with `key` would send it with.
fn signed(body: &[u8], key: &KeyedSigner) -> Vec<(String, String)> {
    vec![
        (HEADER_KEY_ID.to_string(), key.key_id.clone()),
        (HEADER_SIGNATURE.to_string(), key.signer.sign(body)),
    ]
}

/// Publishes `body` as report `report_id` on the outcomes exchange, as from ICBC.
async fn publish(
    hub: &TestHub,
    report_id: &str,
    body: &[u8],
    headers: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let meta = MessageMeta {
        message_id: report_id.into(),
        kind: "enforcement.v1.AgencyReport".into(),
        headers,
        ..MessageMeta::default()
    };
    let published = hub
        .publish_raw(topology::OUTCOMES_EXCHANGE, "bank.ICBC", body, &meta)
        .await?;
    anyhow::ensure!(
        matches!(published, hub_bus::Published::Confirmed),
        "the broker did not take the report"
    );
    Ok(())
}

/// The dead letters' reasons by message id, once there are `n`.
pub(super) async fn dead_letters(hub: &TestHub, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let ops = hub.ops().await?;
    eventually(
        &format!("{n} dead letters"),
        Duration::from_secs(20),
        || {
            let mut ops = ops.clone();
            async move {
                let listed = ops
                    .list_dead_letters(pb::ListDeadLettersRequest { limit: 100 })
                    .await?
                    .into_inner();
                Ok((listed.dead_letters.len() >= n).then(|| {
                    listed
                        .dead_letters
                        .into_iter()
                        .map(|l| (l.message_id, l.reason))
                        .collect()
                }))
            }
        },
    )
    .await
}

pub(super) fn reason_of<'a>(letters: &'a [(String, String)], id: &str) -> &'a str {
    letters
        .iter()
        .find(|(m, _)| m == id)
        .map_or("(not dead-lettered)", |(_, r)| r.as_str())
}

#[tokio::test]
async fn forged_unsigned_wrongly_keyed_and_unsealed_reports_change_nothing_and_are_dead_lettered_with_the_reason()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    let measure = partial_freeze(&hub, 1).await?;
    let id = measure.measure_id.as_str();
    let icbc = hub.bank("ICBC")?;
    let (adapter, system) = (icbc.adapter_key().clone(), icbc.seal_key().clone());
    let ccb_adapter = hub.bank("CCB")?.adapter_key().clone();
    let events_before = hub.gateway_rows("measure_events").await?;

    // Each would make the freeze effective with 10,000.00 held, if it were believed.
    let notice = |hub: &TestHub| report(hub, pb::ReportKind::Notice, id, 2, 1_000_000);

    let flipped = notice(&hub);
    let body = flipped.encode_to_vec();
    let mut headers = signed(&body, &adapter);
    let signature = &mut headers[1].1;
    let first = if signature.starts_with('0') { "1" } else { "0" };
    signature.replace_range(0..1, first);
    publish(&hub, &flipped.report_id, &body, headers).await?;

    let other_agency = notice(&hub);
    let body = other_agency.encode_to_vec();
    publish(
        &hub,
        &other_agency.report_id,
        &body,
        signed(&body, &ccb_adapter),
    )
    .await?;

    let unsigned = notice(&hub);
    publish(
        &hub,
        &unsigned.report_id,
        &unsigned.encode_to_vec(),
        Vec::new(),
    )
    .await?;

    // Signed by the adapter, but the agency never sealed what it says.
    let unsealed = report(&hub, pb::ReportKind::Outcome, id, 2, 1_000_000);
    let body = unsealed.encode_to_vec();
    publish(&hub, &unsealed.report_id, &body, signed(&body, &adapter)).await?;

    // Sealed by the agency for 5,000.00, then changed to 10,000.00 and signed again.
    let mut altered = report(&hub, pb::ReportKind::Outcome, id, 2, 500_000);
    seal(&mut altered, &system);
    altered.updates[0].held_fen = 1_000_000;
    altered.updates[0].state = pb::MeasureState::Effective as i32;
    let body = altered.encode_to_vec();
    publish(&hub, &altered.report_id, &body, signed(&body, &adapter)).await?;

    let letters = dead_letters(&hub, 5).await?;
    let expect = [
        (&flipped.report_id, "does not verify with key"),
        (&other_agency.report_id, "which is not a key of bank.ICBC"),
        (&unsigned.report_id, "unsigned report"),
        (&unsealed.report_id, "without the agency's seal"),
        (&altered.report_id, "the agency's seal does not verify"),
    ];
    for (report_id, reason) in expect {
        let found = reason_of(&letters, report_id);
        assert!(
            found.contains(reason),
            "{report_id}: {found:?}, expected {reason:?}"
        );
    }

    let after = hub.measure(COURT, id).await?;
    assert_eq!(after.state, pb::MeasureState::Partial as i32);
    assert_eq!(after.held_fen, 500_000);
    assert_eq!(hub.gateway_rows("measure_events").await?, events_before);

    // The same report, signed and sealed as the agency does, is believed.
    let mut genuine = report(&hub, pb::ReportKind::Outcome, id, 2, 1_000_000);
    seal(&mut genuine, &system);
    let body = genuine.encode_to_vec();
    publish(&hub, &genuine.report_id, &body, signed(&body, &adapter)).await?;
    let effective = hub
        .wait_for_state(COURT, id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(effective.held_fen, 1_000_000);
    hub.shutdown().await
}

#[tokio::test]
async fn a_report_replayed_after_a_later_revision_changes_nothing_and_is_dead_lettered_as_a_replay()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let measure = partial_freeze(&hub, 2).await?;
    let id = measure.measure_id.as_str();
    let adapter = hub.bank("ICBC")?.adapter_key().clone();

    let earlier = report(&hub, pb::ReportKind::Notice, id, 2, 700_000);
    let earlier_body = earlier.encode_to_vec();
    let earlier_headers = signed(&earlier_body, &adapter);
    publish(
        &hub,
        &earlier.report_id,
        &earlier_body,
        earlier_headers.clone(),
    )
    .await?;
    hub.wait_for(COURT, id, Duration::from_secs(20), |m| {
        m.held_fen == 700_000
    })
    .await?;
    let later = report(&hub, pb::ReportKind::Notice, id, 3, 1_000_000);
    let body = later.encode_to_vec();
    publish(&hub, &later.report_id, &body, signed(&body, &adapter)).await?;
    hub.wait_for_state(COURT, id, pb::MeasureState::Effective)
        .await?;
    let events_before = hub.gateway_rows("measure_events").await?;

    // The earlier report again, byte for byte, as captured off the broker.
    publish(&hub, &earlier.report_id, &earlier_body, earlier_headers).await?;
    let letters = dead_letters(&hub, 1).await?;
    let reason = reason_of(&letters, &earlier.report_id);
    assert!(reason.starts_with("replayed"), "{reason}");

    let after = hub.measure(COURT, id).await?;
    assert_eq!(after.state, pb::MeasureState::Effective as i32);
    assert_eq!(after.held_fen, 1_000_000);
    assert_eq!(hub.gateway_rows("measure_events").await?, events_before);
    assert!(hub.gateway_rows("report_receipts").await? >= 2);
    hub.shutdown().await
}

#[tokio::test]
async fn after_a_rotation_the_old_key_verifies_through_the_overlap_and_not_after_it()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let measure = partial_freeze(&hub, 3).await?;
    let id = measure.measure_id.as_str();
    let old = hub.bank("ICBC")?.adapter_key().clone();
    let new = new_key("icbc-adapter-2027")?;
    hub.register_key(AgencyKind::Bank, "ICBC", &new, None)
        .await?;
    let mut ops = hub.ops().await?;
    let overlap_ends = hub.clock().now() + time::Duration::hours(1);
    let retired = ops
        .retire_agency_key(pb::RetireAgencyKeyRequest {
            agency_kind: "bank".into(),
            agency_code: "ICBC".into(),
            key_id: old.key_id.clone(),
            at: Some(timestamp(overlap_ends)),
        })
        .await?
        .into_inner();
    assert_eq!(retired.valid_until, Some(timestamp(overlap_ends)));

    // Within the overlap, both keys verify.
    let during = report(&hub, pb::ReportKind::Notice, id, 2, 600_000);
    let body = during.encode_to_vec();
    publish(&hub, &during.report_id, &body, signed(&body, &old)).await?;
    hub.wait_for(COURT, id, Duration::from_secs(20), |m| {
        m.held_fen == 600_000
    })
    .await?;
    let with_new = report(&hub, pb::ReportKind::Notice, id, 3, 700_000);
    let body = with_new.encode_to_vec();
    publish(&hub, &with_new.report_id, &body, signed(&body, &new)).await?;
    hub.wait_for(COURT, id, Duration::from_secs(20), |m| {
        m.held_fen == 700_000
    })
    .await?;

    // Past it, the old key no longer does.
    hub.clock().advance(time::Duration::hours(2));
    let after = report(&hub, pb::ReportKind::Notice, id, 4, 800_000);
    let body = after.encode_to_vec();
    publish(&hub, &after.report_id, &body, signed(&body, &old)).await?;
    let letters = dead_letters(&hub, 1).await?;
    let reason = reason_of(&letters, &after.report_id);
    assert!(reason.contains("valid only from"), "{reason}");
    assert_eq!(hub.measure(COURT, id).await?.held_fen, 700_000);

    let renewed = report(&hub, pb::ReportKind::Notice, id, 4, 800_000);
    let body = renewed.encode_to_vec();
    publish(&hub, &renewed.report_id, &body, signed(&body, &new)).await?;
    hub.wait_for(COURT, id, Duration::from_secs(20), |m| {
        m.held_fen == 800_000
    })
    .await?;

    let keys = ops
        .list_agency_keys(pb::ListAgencyKeysRequest {
            agency_kind: "bank".into(),
            agency_code: "ICBC".into(),
        })
        .await?
        .into_inner()
        .keys;
    let ids: Vec<&str> = keys.iter().map(|k| k.key_id.as_str()).collect();
    assert!(
        ids.contains(&new.key_id.as_str()) && ids.contains(&old.key_id.as_str()),
        "{ids:?}"
    );
    hub.shutdown().await
}
