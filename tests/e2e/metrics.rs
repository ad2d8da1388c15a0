//! Prometheus metrics under a workload: the gateway's and the adapters' counters match what was
//! submitted and how it ended, per agency; RabbitMQ's own series show an agency's queue filling
//! while its adapter is away and draining when it returns.

use std::time::Duration;

use enforcement_proto::v1 as pb;
use hub_testkit::{Scrape, TestHub, eventually, fixtures, fixtures::Freeze};

const COURT: &str = "京0105";

/// Opens an account at `bank` and returns a freeze of 1,000.00 on it, in a case of its own.
async fn freeze_on_new_account(hub: &TestHub, bank: &str, seed: u32) -> anyhow::Result<Freeze> {
    let (id, account) = (fixtures::resident_id(seed), fixtures::account_number(seed));
    hub.open_account(bank, &account, "张三", &id, 500_000)
        .await?;
    Ok(freeze_of(bank, &account, &id, seed))
}

fn freeze_of(bank: &str, account: &str, id: &str, seed: u32) -> Freeze {
    Freeze::of(100_000)
        .at(bank, account)
        .held_by("张三", id)
        .by(COURT)
        .case(seed)
        .key(&format!("metrics-{seed}"))
}

async fn gateway_metrics(hub: &TestHub) -> anyhow::Result<Scrape> {
    let http = hub
        .gateway_http_addr()
        .ok_or_else(|| anyhow::anyhow!("no gateway HTTP address"))?;
    Scrape::fetch(&format!("http://{http}/metrics")).await
}

async fn adapter_metrics(hub: &TestHub, bank: &str) -> anyhow::Result<Scrape> {
    let http = hub
        .bank(bank)?
        .adapter_http_addr()
        .ok_or_else(|| anyhow::anyhow!("the adapter of {bank} is not running"))?;
    Scrape::fetch(&format!("http://{http}/metrics")).await
}

/// The depth and consumers of an agency's queue, as RabbitMQ's Prometheus plugin reports them.
async fn queue(hub: &TestHub, name: &str) -> anyhow::Result<(f64, f64)> {
    let scrape = hub.sandbox().queue_metrics().await?;
    Ok((
        scrape.value("rabbitmq_detailed_queue_messages", &[("queue", name)]),
        scrape.value("rabbitmq_detailed_queue_consumers", &[("queue", name)]),
    ))
}

#[tokio::test]
async fn counters_match_the_workload_and_queue_depth_follows_a_stopped_adapter()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    // ICBC: three freezes carried out, two on accounts it does not have. CCB: two carried out.
    let mut freezes = Vec::new();
    for seed in 1..=3 {
        freezes.push(freeze_on_new_account(&hub, "ICBC", seed).await?);
    }
    for seed in 4..=5 {
        let id = fixtures::resident_id(seed);
        freezes.push(freeze_of(
            "ICBC",
            &fixtures::account_number(seed),
            &id,
            seed,
        ));
    }
    for seed in 6..=7 {
        freezes.push(freeze_on_new_account(&hub, "CCB", seed).await?);
    }
    let measures = hub
        .submit_all(freezes.into_iter().map(Freeze::request).collect())
        .await?;
    for m in &measures {
        hub.wait_for(COURT, &m.measure_id, Duration::from_secs(20), |m| {
            m.state == pb::MeasureState::Effective as i32
                || m.state == pb::MeasureState::Rejected as i32
        })
        .await?;
    }

    // The CCB adapter stops: three more freezes wait in its queue.
    hub.stop_adapter("CCB").await?;
    let mut waiting = Vec::new();
    for seed in 8..=10 {
        waiting.push(freeze_on_new_account(&hub, "CCB", seed).await?);
    }
    let later = hub
        .submit_all(waiting.into_iter().map(Freeze::request).collect())
        .await?;
    let (depth, consumers) = eventually(
        "three instructions waiting in CCB's queue",
        Duration::from_secs(20),
        || async {
            let (depth, consumers) = queue(&hub, "agency.bank.CCB").await?;
            Ok((depth == 3.0).then_some((depth, consumers)))
        },
    )
    .await?;
    assert_eq!((depth, consumers), (3.0, 0.0));
    eventually(
        "ICBC's queue empty and consumed",
        Duration::from_secs(20),
        || async { Ok((queue(&hub, "agency.bank.ICBC").await? == (0.0, 1.0)).then_some(())) },
    )
    .await?;

    let gateway = gateway_metrics(&hub).await?;
    let submitted = |agency| {
        gateway.value(
            "hub_measures_submitted_total",
            &[("kind", "freeze"), ("agency", agency)],
        )
    };
    assert_eq!(submitted("ICBC"), 5.0);
    assert_eq!(submitted("CCB"), 5.0);
    let finished = |scrape: &Scrape, agency, outcome| {
        scrape.value(
            "hub_measures_finished_total",
            &[("kind", "freeze"), ("agency", agency), ("outcome", outcome)],
        )
    };
    assert_eq!(finished(&gateway, "ICBC", "effective"), 3.0);
    assert_eq!(finished(&gateway, "ICBC", "rejected"), 2.0);
    assert_eq!(finished(&gateway, "CCB", "effective"), 2.0);
    assert_eq!(
        gateway.value(
            "hub_submit_duration_seconds_count",
            &[("result", "accepted")]
        ),
        10.0
    );
    assert_eq!(
        gateway.value(
            "hub_measure_outcome_seconds_count",
            &[("kind", "freeze"), ("agency", "ICBC")]
        ),
        5.0
    );
    assert_eq!(gateway.value("hub_outbox_depth", &[]), 0.0);
    assert_eq!(
        gateway.value("hub_dependency_up", &[("dependency", "broker")]),
        1.0
    );
    assert_eq!(
        gateway.value("hub_dependency_up", &[("dependency", "database")]),
        1.0
    );

    let icbc = adapter_metrics(&hub, "ICBC").await?;
    let instructions = |scrape: &Scrape, agency, outcome| {
        scrape.value(
            "hub_adapter_instructions_total",
            &[("agency", agency), ("outcome", outcome)],
        )
    };
    assert_eq!(instructions(&icbc, "ICBC", "effective"), 3.0);
    assert_eq!(instructions(&icbc, "ICBC", "rejected"), 2.0);
    assert_eq!(
        icbc.value("hub_agency_response_seconds_count", &[("agency", "ICBC")]),
        5.0
    );

    // CCB's adapter returns: its queue drains and the gateway counts the three outcomes.
    hub.start_adapter("CCB").await?;
    for m in &later {
        hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
            .await?;
    }
    eventually("CCB's queue drained", Duration::from_secs(20), || async {
        Ok((queue(&hub, "agency.bank.CCB").await? == (0.0, 1.0)).then_some(()))
    })
    .await?;
    let gateway = gateway_metrics(&hub).await?;
    assert_eq!(finished(&gateway, "CCB", "effective"), 5.0);
    // The restarted adapter counts what it carried out since it started.
    let ccb = adapter_metrics(&hub, "CCB").await?;
    assert_eq!(instructions(&ccb, "CCB", "effective"), 3.0);
    hub.shutdown().await
}

#[tokio::test]
async fn dead_letters_and_watchers_are_counted() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let meta = hub_bus::MessageMeta {
        message_id: "garbage-report".into(),
        kind: "enforcement.v1.AgencyReport".into(),
        ..hub_bus::MessageMeta::default()
    };
    hub.publish_raw(
        hub_bus::topology::OUTCOMES_EXCHANGE,
        "bank.ICBC",
        b"\x0a\xff\xff\xff",
        &meta,
    )
    .await?;
    hub.first_dead_letter("the report dead-lettered", Duration::from_secs(10))
        .await?;
    let freeze = freeze_on_new_account(&hub, "ICBC", 1).await?;
    let measure = hub.freeze(freeze).await?;
    let mut court = hub.court().await?;
    let stream = court
        .watch(pb::WatchRequest {
            court_code: COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(measure.measure_id)),
        })
        .await?
        .into_inner();
    let scrape = eventually("one watcher counted", Duration::from_secs(10), || async {
        let scrape = gateway_metrics(&hub).await?;
        Ok((scrape.value("hub_watchers", &[]) == 1.0).then_some(scrape))
    })
    .await?;
    assert_eq!(
        scrape.value("hub_dead_letters_total", &[("queue", "gateway.outcomes")]),
        1.0
    );
    drop(stream);
    eventually("the watcher gone", Duration::from_secs(10), || async {
        let scrape = gateway_metrics(&hub).await?;
        Ok((scrape.value("hub_watchers", &[]) == 0.0).then_some(()))
    })
    .await?;
    hub.shutdown().await
}
