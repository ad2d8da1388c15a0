//! Inquiries fanned out to many agencies, answers streamed, summaries that add up.

use std::{collections::BTreeSet, time::Duration};

use enforcement_proto::v1 as pb;
use hub_testkit::{TestHub, fixtures};
use tonic::Code;

const COURT: &str = "京0105";

fn inquiry(
    key: &str,
    subject_id: &str,
    scope: pb::inquire_request::Scope,
    deadline_seconds: u32,
) -> pb::InquireRequest {
    pb::InquireRequest {
        court_code: COURT.into(),
        idempotency_key: key.into(),
        case: Some(fixtures::case(&fixtures::case_number(500), 1_000_000)),
        subject: Some(fixtures::person("张三", subject_id)),
        classes: vec![pb::AssetClass::Deposits as i32],
        scope: Some(scope),
        deadline_seconds,
    }
}

/// The events of an inquiry's stream, until it finishes.
async fn follow(
    hub: &TestHub,
    request: pb::InquireRequest,
    within: Duration,
) -> anyhow::Result<Vec<pb::InquiryEvent>> {
    let mut stream = hub.court().await?.inquire(request).await?.into_inner();
    let mut events = Vec::new();
    tokio::time::timeout(within, async {
        while let Some(event) = stream.message().await? {
            let last = matches!(event.event, Some(pb::inquiry_event::Event::Finished(_)));
            events.push(event);
            if last {
                break;
            }
        }
        Ok::<_, anyhow::Error>(())
    })
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "inquiry did not finish within {within:?} ({} events)",
            events.len()
        )
    })??;
    Ok(events)
}

fn answers(events: &[pb::InquiryEvent]) -> Vec<&pb::InquiryAnswerEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Some(pb::inquiry_event::Event::Answer(a)) => Some(a),
            _ => None,
        })
        .collect()
}

fn finished(events: &[pb::InquiryEvent]) -> Option<&pb::Measure> {
    match events.last().and_then(|e| e.event.as_ref()) {
        Some(pb::inquiry_event::Event::Finished(m)) => Some(m),
        _ => None,
    }
}

#[tokio::test]
async fn an_inquiry_of_all_1000_connected_banks_completes_with_1000_answers_that_add_up()
-> anyhow::Result<()> {
    let codes: Vec<String> = (0..1000).map(|i| format!("B{i:04}")).collect();
    let hub = TestHub::builder()
        .bank_centre(codes.clone())
        .start()
        .await?;
    let id = fixtures::resident_id(500);
    // The subject holds accounts at three of the thousand banks.
    for (n, code) in [(0u32, "B0007"), (1, "B0500"), (2, "B0999")] {
        hub.open_account(
            code,
            &fixtures::account_number(500 + n),
            "张三",
            &id,
            100_000 * i64::from(n + 1),
        )
        .await?;
    }

    let events = follow(
        &hub,
        inquiry(
            "all-banks",
            &id,
            pb::inquire_request::Scope::AllOfKind(pb::AgencyKind::Bank as i32),
            120,
        ),
        Duration::from_secs(180),
    )
    .await?;
    let Some(pb::inquiry_event::Event::Started(started)) =
        events.first().and_then(|e| e.event.clone())
    else {
        panic!("the stream starts with the inquiry");
    };
    assert_eq!(started.kind, pb::MeasureKind::Inquiry as i32);
    assert_eq!(started.inquiry.as_ref().map(|i| i.addressed), Some(1000));

    let answers = answers(&events);
    let agencies: BTreeSet<&str> = answers
        .iter()
        .filter_map(|a| a.agency.as_ref().map(|a| a.code.as_str()))
        .collect();
    assert_eq!(answers.len(), 1000, "one answer per bank");
    assert_eq!(agencies.len(), 1000, "from a thousand different banks");
    let mut found: Vec<(String, i64)> = answers
        .iter()
        .filter(|a| !a.holdings.is_empty())
        .flat_map(|a| {
            a.holdings.iter().filter_map(|h| match &h.asset {
                Some(pb::holding::Asset::Deposit(d)) => Some((
                    a.agency
                        .as_ref()
                        .map(|g| g.code.clone())
                        .unwrap_or_default(),
                    d.balance_fen,
                )),
                _ => None,
            })
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("B0007".to_string(), 100_000),
            ("B0500".into(), 200_000),
            ("B0999".into(), 300_000)
        ]
    );

    let summary = finished(&events).expect("finished").clone();
    assert_eq!(summary.state, pb::MeasureState::Effective as i32);
    let progress = summary.inquiry.expect("progress");
    assert_eq!(
        (
            progress.addressed,
            progress.answered,
            progress.found,
            progress.found_nothing,
            progress.refused,
            progress.unanswered
        ),
        (1000, 1000, 3, 997, 0, 0)
    );
    // One broadcast, not a thousand publishes: the outbox held a single row for it.
    let listed = hub
        .court()
        .await?
        .list_answers(pb::ListAnswersRequest {
            court_code: COURT.into(),
            measure_id: summary.measure_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(listed.answers.len(), 1000);
    hub.shutdown().await
}

#[tokio::test]
async fn an_agency_that_does_not_answer_before_the_deadline_is_counted_unanswered()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC", "CCB", "BOC"]).await?;
    let id = fixtures::resident_id(501);
    hub.open_account("CCB", &fixtures::account_number(501), "张三", &id, 700_000)
        .await?;
    // BOC's system takes longer than the inquiry may wait.
    hub.bank("BOC")?
        .system()
        .faults()
        .set_latency(Duration::from_secs(3));
    let list = pb::inquire_request::Scope::Agencies(pb::AgencyList {
        agencies: vec![
            fixtures::bank("ICBC"),
            fixtures::bank("CCB"),
            fixtures::bank("BOC"),
        ],
    });
    let events = follow(
        &hub,
        inquiry("deadline", &id, list, 1),
        Duration::from_secs(20),
    )
    .await?;
    let summary = finished(&events).expect("finished");
    assert_eq!(summary.state, pb::MeasureState::Partial as i32);
    let progress = summary.inquiry.expect("progress");
    assert_eq!(
        (
            progress.addressed,
            progress.answered,
            progress.found,
            progress.found_nothing,
            progress.unanswered
        ),
        (3, 2, 1, 1, 1)
    );
    let answered: BTreeSet<String> = answers(&events)
        .iter()
        .filter_map(|a| a.agency.as_ref().map(|g| g.code.clone()))
        .collect();
    assert_eq!(
        answered,
        BTreeSet::from(["ICBC".to_string(), "CCB".to_string()])
    );

    // The late answer is still recorded, and completes the inquiry.
    let done = hub
        .wait_for_state(COURT, &summary.measure_id, pb::MeasureState::Effective)
        .await?;
    let progress = done.inquiry.expect("progress");
    assert_eq!((progress.answered, progress.unanswered), (3, 0));
    hub.shutdown().await
}

#[tokio::test]
async fn an_inquiry_naming_an_unknown_agency_or_the_wrong_asset_class_is_refused()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(502);
    let mut court = hub.court().await?;
    let list = pb::inquire_request::Scope::Agencies(pb::AgencyList {
        agencies: vec![fixtures::bank("ICBC"), fixtures::bank("NOSUCH")],
    });
    let unknown = court
        .inquire(inquiry("unknown", &id, list, 60))
        .await
        .expect_err("NOSUCH is not connected");
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown.message().contains("agencies.agencies[1].code"),
        "{}",
        unknown.message()
    );

    let mut wrong = inquiry(
        "wrong-class",
        &id,
        pb::inquire_request::Scope::Agency(fixtures::bank("ICBC")),
        60,
    );
    wrong.classes = vec![pb::AssetClass::Vehicles as i32];
    let wrong = court
        .inquire(wrong)
        .await
        .expect_err("banks hold no vehicles");
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert!(
        wrong.message().contains("classes[0]"),
        "{}",
        wrong.message()
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);
    assert_eq!(hub.gateway_rows("outbox").await?, 0);
    hub.shutdown().await
}
