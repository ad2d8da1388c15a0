//! What Submit accepts and refuses, and that a refusal leaves nothing behind.

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use tonic::Code;
use tonic_types::StatusExt;

const COURT: &str = "京0105";

fn valid_freeze(id: &str, account: &str) -> pb::SubmitRequest {
    Freeze::of(1_000_000)
        .at("ICBC", account)
        .held_by("张三", id)
        .by(COURT)
        .case(11)
        .key("key-1")
        .request()
}

/// The fields an `InvalidArgument` names.
fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn resubmitting_with_the_same_key_returns_the_same_measure_and_the_bank_freezes_once()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(10);
    let account = fixtures::account_number(10);
    hub.open_account("ICBC", &account, "张三", &id, 2_500_000)
        .await?;
    let request = valid_freeze(&id, &account);

    // Ten retries of one request, at once, as a flaky network would send them.
    let mut calls = Vec::new();
    for _ in 0..10 {
        let mut court = hub.court().await?;
        let request = request.clone();
        calls.push(tokio::spawn(async move { court.submit(request).await }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut originals = 0;
    for call in calls {
        let response = call.await??.into_inner();
        originals += usize::from(!response.duplicate);
        ids.insert(response.measure.expect("measure").measure_id);
    }
    assert_eq!(ids.len(), 1, "one measure for one key");
    assert_eq!(originals, 1, "exactly one call created it");
    let measure_id = ids.into_iter().next().unwrap_or_default();
    hub.wait_for_state(COURT, &measure_id, pb::MeasureState::Effective)
        .await?;

    // A late retry after the outcome still returns the same measure, as it now stands.
    let again = hub
        .court()
        .await?
        .submit(request.clone())
        .await?
        .into_inner();
    assert!(again.duplicate);
    let again = again.measure.expect("measure");
    assert_eq!(again.measure_id, measure_id);
    assert_eq!(again.state, pb::MeasureState::Effective as i32);

    // The same key for a different request is refused.
    let mut changed = request.clone();
    if let Some(pb::submit_request::Measure::Freeze(f)) = changed.measure.as_mut() {
        f.amount_fen = 900_000;
    }
    let err = hub
        .court()
        .await?
        .submit(changed)
        .await
        .expect_err("key reused for another request");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains(&measure_id), "{}", err.message());

    assert_eq!(hub.ledger("ICBC").await?.len(), 1);
    assert_eq!(hub.gateway_rows("measures").await?, 1);
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 1_000_000);
    hub.shutdown().await
}

/// A repeat of a measure that has ended passes every check of the case again (nothing of it is
/// held any more), so it is the key, taken when the repeat is recorded, that answers it.
#[tokio::test]
async fn a_repeat_of_an_ended_measure_returns_it_and_its_key_stays_taken_for_other_requests()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(12);
    // No such account at the bank: the freeze ends REJECTED.
    let request = valid_freeze(&id, &fixtures::account_number(12));
    let first = hub
        .court()
        .await?
        .submit(request.clone())
        .await?
        .into_inner();
    assert!(!first.duplicate);
    let measure_id = first.measure.expect("measure").measure_id;
    hub.wait_for_state(COURT, &measure_id, pb::MeasureState::Rejected)
        .await?;

    let again = hub
        .court()
        .await?
        .submit(request.clone())
        .await?
        .into_inner();
    assert!(again.duplicate);
    let again = again.measure.expect("measure");
    assert_eq!(again.measure_id, measure_id);
    assert_eq!(again.state, pb::MeasureState::Rejected as i32);

    let mut changed = request;
    if let Some(pb::submit_request::Measure::Freeze(f)) = changed.measure.as_mut() {
        f.amount_fen = 900_000;
    }
    let err = hub
        .court()
        .await?
        .submit(changed)
        .await
        .expect_err("key reused for another request");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().contains(&measure_id), "{}", err.message());
    assert_eq!(hub.gateway_rows("measures").await?, 1);
    assert_eq!(hub.gateway_rows("outbox").await?, 0);
    assert_eq!(hub.gateway_rows("measure_events").await?, 3);
    hub.shutdown().await
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_the_field_and_leave_no_row_and_no_message()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(12);
    let account = fixtures::account_number(12);
    hub.open_account("ICBC", &account, "张三", &id, 2_500_000)
        .await?;

    type Spoil = fn(&mut pb::SubmitRequest);
    let cases: Vec<(&str, Spoil, &str)> = vec![
        (
            "an identity number with a wrong check character",
            |r| {
                if let Some(pb::subject::Party::Person(p)) =
                    r.subject.as_mut().and_then(|s| s.party.as_mut())
                {
                    p.resident_id = "110105194912310021".into();
                }
            },
            "subject.person.resident_id",
        ),
        (
            "a case number of a civil, not enforcement, case",
            |r| {
                if let Some(c) = r.case.as_mut() {
                    c.case_number = "（2023）京0105民初1234号".into();
                }
            },
            "case.case_number",
        ),
        (
            "a zero amount",
            |r| {
                if let Some(pb::submit_request::Measure::Freeze(f)) = r.measure.as_mut() {
                    f.amount_fen = 0;
                }
            },
            "freeze.amount_fen",
        ),
        (
            "a freeze period over one year",
            |r| {
                if let Some(pb::submit_request::Measure::Freeze(f)) = r.measure.as_mut() {
                    f.period = Some(pb::Period {
                        months: 12,
                        days: 1,
                    });
                }
            },
            "freeze.period",
        ),
        (
            "an amount over the case's enforcement amount",
            |r| {
                if let Some(c) = r.case.as_mut() {
                    c.enforcement_amount_fen = 999_999;
                }
            },
            "freeze.amount_fen",
        ),
        (
            "a seal-up sent to a bank",
            |r| {
                r.measure = Some(pb::submit_request::Measure::SealUp(pb::SealUp {
                    property_kind: pb::PropertyKind::Unit as i32,
                    property_id: "110105-0001".into(),
                    pre_seizure: false,
                    period: Some(pb::Period {
                        months: 36,
                        days: 0,
                    }),
                }));
            },
            "agency.kind",
        ),
        (
            "no idempotency key",
            |r| r.idempotency_key.clear(),
            "idempotency_key",
        ),
    ];
    let mut court = hub.court().await?;
    for (what, spoil, field) in cases {
        let mut request = valid_freeze(&id, &account);
        spoil(&mut request);
        let status = court
            .submit(request)
            .await
            .expect_err(&format!("{what} must be refused"));
        assert_eq!(status.code(), Code::InvalidArgument, "{what}");
        assert_eq!(violated_fields(&status), vec![field.to_string()], "{what}");
        assert!(
            status.message().contains(field),
            "{what}: {}",
            status.message()
        );
    }

    // Nothing was recorded, queued or sent.
    assert_eq!(hub.gateway_rows("measures").await?, 0);
    assert_eq!(hub.gateway_rows("outbox").await?, 0);
    assert_eq!(hub.gateway_rows("measure_events").await?, 0);
    let queue = hub.sandbox().queue_depth("agency.bank.ICBC").await?;
    assert_eq!(queue, Default::default());
    assert!(hub.ledger("ICBC").await?.is_empty());
    hub.shutdown().await
}

#[tokio::test]
async fn a_freeze_at_an_unknown_bank_is_refused_naming_the_agency_and_leaves_nothing_behind()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(13);
    let mut request = valid_freeze(&id, &fixtures::account_number(13));
    request.agency = Some(fixtures::bank("NOSUCHBANK"));
    let status = hub
        .court()
        .await?
        .submit(request)
        .await
        .expect_err("no such bank");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), vec!["agency.code".to_string()]);
    assert!(
        status
            .message()
            .contains("no bank NOSUCHBANK is connected to the hub"),
        "{}",
        status.message()
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);
    assert_eq!(hub.gateway_rows("outbox").await?, 0);
    let queues = hub.sandbox().queues().await?;
    assert!(
        !queues.iter().any(|q| q.contains("NOSUCHBANK")),
        "{queues:?}"
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_freeze_to_a_bank_whose_queue_has_vanished_ends_rejected_and_leaves_no_message()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC"]).await?;
    // The bank is in the registry, but its queue is gone (deleted by an operator): the broker
    // returns the instruction, and the court learns why instead of waiting forever.
    hub.stop_adapter("ICBC").await?;
    hub.sandbox().delete_queue("agency.bank.ICBC").await?;
    let id = fixtures::resident_id(15);
    let measure = hub
        .submit(valid_freeze(&id, &fixtures::account_number(15)))
        .await?;
    let rejected = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Rejected)
        .await?;
    let reason = rejected.reason.expect("reason");
    assert_eq!(reason.code, pb::ReasonCode::UnknownAgency as i32);
    assert_eq!(
        reason.message,
        "no agency bank ICBC is connected to the hub"
    );
    assert_eq!(hub.gateway_rows("outbox").await?, 0);
    for queue in hub.sandbox().queues().await? {
        assert_eq!(
            hub.sandbox().queue_depth(&queue).await?,
            Default::default(),
            "{queue}"
        );
    }
    hub.shutdown().await
}

#[tokio::test]
async fn a_court_cannot_see_release_or_renew_another_courts_measure() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(14);
    let account = fixtures::account_number(14);
    hub.open_account("ICBC", &account, "张三", &id, 2_500_000)
        .await?;
    let measure = hub.submit(valid_freeze(&id, &account)).await?;
    hub.wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;

    // Another court, with its own certificate, naming itself: the measure is not there for it.
    let other = "粤03";
    let mut court = hub.court_as(other).await?;
    let get = court
        .get(pb::GetRequest {
            court_code: other.into(),
            measure_id: measure.measure_id.clone(),
        })
        .await
        .expect_err("not its measure");
    assert_eq!(get.code(), Code::NotFound);
    let release = court
        .release(pb::ReleaseRequest {
            court_code: other.into(),
            idempotency_key: "steal".into(),
            measure_id: measure.measure_id.clone(),
            reason: "no reason".into(),
            keep_fen: 0,
        })
        .await
        .expect_err("not its measure");
    assert_eq!(release.code(), Code::NotFound);
    // Releasing twice: the second is refused while the first is under way or done.
    let mut court = hub.court().await?;
    court
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "release-1".into(),
            measure_id: measure.measure_id.clone(),
            reason: "paid".into(),
            keep_fen: 0,
        })
        .await?;
    let twice = court
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "release-2".into(),
            measure_id: measure.measure_id.clone(),
            reason: "paid".into(),
            keep_fen: 0,
        })
        .await
        .expect_err("released already");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    hub.wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Released)
        .await?;
    hub.shutdown().await
}
