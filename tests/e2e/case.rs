//! The case as a whole: one enforcement amount across every bank. A case-level order secures
//! exactly the amount over many banks; concurrent freezes never together exceed it; a partial
//! freeze is trimmed when the rest is secured elsewhere; a deduction freezes what it cannot take;
//! a court's duplicate is refused; closing a case releases everything and the stream ends with
//! nothing held; the gateway lapses on its own clock; an amendment down releases the excess.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use enforcement_proto::{reference as admin, v1 as pb};
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use tonic::Code;
use tonic_types::StatusExt;

const COURT: &str = "京0105";
const OTHER_COURT: &str = "粤03";
const HOLDER: &str = "张三";

/// What a case-level order for `amount_fen` in `case` (enforcement amount `enforcement_fen`) of
/// the debtor `id` looks like, its accounts from `accounts`.
fn deposits_order(
    key: &str,
    case: &str,
    enforcement_fen: i64,
    id: &str,
    amount_fen: i64,
    accounts: pb::freeze_deposits_request::Accounts,
) -> pb::FreezeDepositsRequest {
    pb::FreezeDepositsRequest {
        court_code: COURT.into(),
        idempotency_key: key.into(),
        case: Some(fixtures::case(case, enforcement_fen)),
        subject: Some(fixtures::person(HOLDER, id)),
        amount_fen,
        period: fixtures::months(12),
        accounts: Some(accounts),
        inquiry_deadline_seconds: 30,
    }
}

/// A case watch of `COURT`.
async fn watch_case(
    hub: &TestHub,
    court: &str,
    case: &str,
) -> anyhow::Result<tonic::Streaming<pb::MeasureEvent>> {
    Ok(hub
        .court_as(court)
        .await?
        .watch(pb::WatchRequest {
            court_code: court.into(),
            target: Some(pb::watch_request::Target::CaseNumber(case.into())),
        })
        .await?
        .into_inner())
}

/// Reads a case watch until `done` holds for an event; returns every event read. Fails after
/// `timeout` or if the stream ends first.
async fn read_until(
    watch: &mut tonic::Streaming<pb::MeasureEvent>,
    timeout: Duration,
    done: impl Fn(&pb::MeasureEvent) -> bool,
) -> anyhow::Result<Vec<pb::MeasureEvent>> {
    let mut events = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        while let Some(event) = watch.message().await? {
            let finished = done(&event);
            events.push(event);
            if finished {
                return Ok::<_, anyhow::Error>(());
            }
        }
        anyhow::bail!("the watch stream ended")
    })
    .await;
    match read {
        Ok(result) => result.map(|()| events),
        Err(_) => anyhow::bail!(
            "not there within {timeout:?}; events: {:#?}",
            events
                .iter()
                .map(|e| (e.kind, e.message.clone()))
                .collect::<Vec<_>>()
        ),
    }
}

/// Whether `event` reports `order` in `state`.
fn order_is(event: &pb::MeasureEvent, order: &str, state: pb::CaseOrderState) -> bool {
    event
        .order
        .as_ref()
        .is_some_and(|o| o.order_id == order && o.state == state as i32)
}

/// Samples what `banks` hold frozen for `case` every 20 ms until stopped; the largest total
/// seen is kept in the returned counter.
struct Sampler {
    most: Arc<AtomicI64>,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<usize>>,
}

impl Sampler {
    async fn start(hub: &TestHub, banks: &[&str], case: &str) -> anyhow::Result<Self> {
        let mut clients = Vec::new();
        for bank in banks {
            clients.push((bank.to_string(), hub.bank_admin(bank).await?));
        }
        let most = Arc::new(AtomicI64::new(0));
        let stop = tokio_util::sync::CancellationToken::new();
        let (case, seen, stopped) = (case.to_string(), most.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut samples = 0;
            while !stopped.is_cancelled() {
                let mut total = 0;
                for (bank, client) in &mut clients {
                    total += client
                        .list_freezes(admin::ListFreezesRequest {
                            bank_code: bank.clone(),
                            account_number: String::new(),
                        })
                        .await?
                        .into_inner()
                        .freezes
                        .iter()
                        .filter(|f| f.case_number == case)
                        .map(|f| f.frozen_fen)
                        .sum::<i64>();
                }
                seen.fetch_max(total, Ordering::SeqCst);
                samples += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(samples)
        });
        Ok(Self { most, stop, task })
    }

    /// Stops sampling: the largest total seen, and how many samples were taken.
    async fn finish(self) -> anyhow::Result<(i64, usize)> {
        self.stop.cancel();
        let samples = self.task.await??;
        Ok((self.most.load(Ordering::SeqCst), samples))
    }
}

/// Runs an inquiry of every bank for the deposits of debtor `id` in `case`, to its end; returns
/// its measure id.
async fn inquire_all_banks(
    hub: &TestHub,
    key: &str,
    case: &str,
    enforcement_fen: i64,
    id: &str,
) -> anyhow::Result<String> {
    let mut stream = hub
        .court()
        .await?
        .inquire(pb::InquireRequest {
            court_code: COURT.into(),
            idempotency_key: key.into(),
            case: Some(fixtures::case(case, enforcement_fen)),
            subject: Some(fixtures::person(HOLDER, id)),
            classes: vec![pb::AssetClass::Deposits as i32],
            scope: Some(pb::inquire_request::Scope::AllOfKind(
                pb::AgencyKind::Bank as i32,
            )),
            deadline_seconds: 30,
        })
        .await?
        .into_inner();
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = stream.message().await? {
            if let Some(pb::inquiry_event::Event::Finished(m)) = event.event {
                return Ok::<_, anyhow::Error>(m);
            }
        }
        anyhow::bail!("the inquiry stream ended before the inquiry finished")
    })
    .await??;
    Ok(finished.measure_id)
}

#[tokio::test]
async fn one_order_secures_exactly_60000_across_three_banks_and_the_ledgers_never_hold_more()
-> anyhow::Result<()> {
    let banks = ["ICBC", "CCB", "BOC"];
    let hub = TestHub::with_banks(&banks).await?;
    let id = fixtures::resident_id(701);
    // Bank A holds 40,000.00, B 30,000.00, C 50,000.00 for the debtor.
    for (bank, n, balance) in [
        ("ICBC", 701, 4_000_000),
        ("CCB", 702, 3_000_000),
        ("BOC", 703, 5_000_000),
    ] {
        hub.open_account(bank, &fixtures::account_number(n), HOLDER, &id, balance)
            .await?;
    }
    let case = fixtures::case_number(701);
    let sampler = Sampler::start(&hub, &banks, &case).await?;
    let mut watch = watch_case(&hub, COURT, &case).await?;

    let order = hub
        .court()
        .await?
        .freeze_deposits(deposits_order(
            "order-701",
            &case,
            6_000_000,
            &id,
            6_000_000,
            pb::freeze_deposits_request::Accounts::AllBanks(true),
        ))
        .await?
        .into_inner();
    assert_eq!(order.amount_fen, 6_000_000);
    let events = read_until(&mut watch, Duration::from_secs(60), |e| {
        order_is(e, &order.order_id, pb::CaseOrderState::Secured)
    })
    .await?;
    let (most, samples) = sampler.finish().await?;

    let secured = events
        .iter()
        .rev()
        .find_map(|e| e.order.clone())
        .expect("the order");
    assert_eq!(secured.frozen_fen, 6_000_000);
    assert_eq!(secured.pending_fen, 0);
    let parts: Vec<(String, i64, i64)> = secured
        .parts
        .iter()
        .map(|p| {
            (
                p.agency
                    .as_ref()
                    .map(|a| a.code.clone())
                    .unwrap_or_default(),
                p.amount_fen,
                p.held_fen,
            )
        })
        .collect();
    // The largest balance first: C covers 50,000.00, A the remaining 10,000.00; B is not asked.
    assert_eq!(
        parts,
        vec![
            ("BOC".to_string(), 5_000_000, 5_000_000),
            ("ICBC".to_string(), 1_000_000, 1_000_000)
        ]
    );
    let ledger = hub.case(COURT, &case).await?;
    assert_eq!(
        (ledger.frozen_fen, ledger.pending_fen, ledger.open_fen),
        (6_000_000, 0, 0)
    );
    assert_eq!(hub.frozen_for_case(&banks, &case).await?, 6_000_000);
    assert!(hub.ledger("CCB").await?.is_empty());
    assert!(samples > 0);
    assert!(
        most <= 6_000_000,
        "the banks together held {most} fen for the case at one sample"
    );
    hub.shutdown().await
}

#[tokio::test]
async fn twenty_concurrent_freezes_of_10000_for_a_60000_case_at_five_banks_accept_exactly_60000()
-> anyhow::Result<()> {
    let banks = ["ICBC", "CCB", "BOC", "ABC", "CMB"];
    let hub = TestHub::with_banks(&banks).await?;
    let id = fixtures::resident_id(710);
    let case = fixtures::case_number(710);
    let mut requests = Vec::new();
    for k in 0..20u32 {
        let bank = banks[k as usize % banks.len()];
        let account = fixtures::account_number(710 + k);
        hub.open_account(bank, &account, HOLDER, &id, 2_000_000)
            .await?;
        requests.push(
            Freeze::of(1_000_000)
                .enforcement(6_000_000)
                .at(bank, &account)
                .held_by(HOLDER, &id)
                .by(COURT)
                .case_number(&case)
                .key(&format!("concurrent-{k}"))
                .request(),
        );
    }

    // All twenty at once, each on its own connection.
    let mut calls = tokio::task::JoinSet::new();
    for request in requests {
        let mut court = hub.court().await?;
        calls.spawn(async move { court.submit(request).await });
    }
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    while let Some(call) = calls.join_next().await {
        match call? {
            Ok(response) => accepted.push(response.into_inner().measure.expect("measure")),
            Err(status) => refused.push(status),
        }
    }

    assert_eq!(accepted.len(), 6);
    assert_eq!(
        accepted.iter().map(|m| m.requested_fen).sum::<i64>(),
        6_000_000
    );
    assert_eq!(refused.len(), 14);
    for status in &refused {
        assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        assert!(
            status.message().contains("0.00 is open"),
            "{}",
            status.message()
        );
        let details = status.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "CASE_AMOUNT_EXCEEDED");
        assert_eq!(info.metadata.get("open_fen").map(String::as_str), Some("0"));
    }
    for m in &accepted {
        hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
            .await?;
    }
    assert_eq!(hub.frozen_for_case(&banks, &case).await?, 6_000_000);
    let ledger = hub.case(COURT, &case).await?;
    assert_eq!((ledger.frozen_fen, ledger.open_fen), (6_000_000, 0));
    assert_eq!(ledger.measures.len(), 6, "refused freezes leave no measure");
    hub.shutdown().await
}

#[tokio::test]
async fn an_order_meeting_a_partial_freeze_trims_it_and_secures_the_rest_elsewhere_so_a_later_credit_changes_nothing()
-> anyhow::Result<()> {
    let banks = ["ICBC", "CCB"];
    let hub = TestHub::with_banks(&banks).await?;
    let id = fixtures::resident_id(720);
    let (at_a, at_b) = (fixtures::account_number(720), fixtures::account_number(721));
    hub.open_account("ICBC", &at_a, HOLDER, &id, 8_000_000)
        .await?;
    hub.open_account("CCB", &at_b, HOLDER, &id, 7_000_000)
        .await?;
    let case = fixtures::case_number(720);
    // The court asks the banks: A shows 80,000.00, B 70,000.00.
    let inquiry = inquire_all_banks(&hub, "inquiry-720", &case, 6_000_000, &id).await?;
    // Then another court takes 75,000.00 from A: it holds 5,000.00 when the order reaches it.
    let mut taken = fixtures::order(
        OTHER_COURT,
        "other-court-deducts",
        "（2024）粤03执720号",
        fixtures::person(HOLDER, &id),
        fixtures::bank("ICBC"),
        pb::submit_request::Measure::Deduction(pb::Deduction {
            account_number: at_a.clone(),
            amount_fen: 7_500_000,
            receiving_account: Some(pb::ReceivingAccount {
                bank_name: "中国工商银行深圳分行".into(),
                account_number: "0200001234567890999".into(),
                account_name: "深圳市中级人民法院".into(),
            }),
            ..Default::default()
        }),
    );
    taken.case = Some(fixtures::case("（2024）粤03执720号", 10_000_000));
    let taken = hub.submit(taken).await?;
    hub.wait_for_state(OTHER_COURT, &taken.measure_id, pb::MeasureState::Effective)
        .await?;
    let sampler = Sampler::start(&hub, &banks, &case).await?;
    let mut watch = watch_case(&hub, COURT, &case).await?;

    let order = hub
        .court()
        .await?
        .freeze_deposits(deposits_order(
            "order-720",
            &case,
            6_000_000,
            &id,
            6_000_000,
            pb::freeze_deposits_request::Accounts::InquiryMeasureId(inquiry),
        ))
        .await?
        .into_inner();
    let events = read_until(&mut watch, Duration::from_secs(60), |e| {
        order_is(e, &order.order_id, pb::CaseOrderState::Secured)
    })
    .await?;

    let said: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == pb::EventKind::OrderProgress as i32)
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        said.iter().any(|m| m
            .contains("ICBC 6222****0720 held 5,000.00 of 60,000.00: trimmed to what it holds")),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|m| m.contains("55,000.00 asked of CCB")),
        "{said:#?}"
    );
    let secured = events
        .iter()
        .rev()
        .find_map(|e| e.order.clone())
        .expect("the order");
    let parts: Vec<(String, i64, i64)> = secured
        .parts
        .iter()
        .map(|p| {
            (
                p.agency
                    .as_ref()
                    .map(|a| a.code.clone())
                    .unwrap_or_default(),
                p.amount_fen,
                p.held_fen,
            )
        })
        .collect();
    assert_eq!(
        parts,
        vec![
            ("ICBC".to_string(), 500_000, 500_000),
            ("CCB".to_string(), 5_500_000, 5_500_000)
        ]
    );

    // 15,000.00 arrives at A: its freeze is for 5,000.00 now and takes none of it.
    hub.credit("ICBC", &at_a, 1_500_000).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (most, _) = sampler.finish().await?;
    assert_eq!(hub.frozen_for_case(&banks, &case).await?, 6_000_000);
    assert!(most <= 6_000_000, "the banks held {most} fen at one sample");
    let a = hub.account("ICBC", &at_a).await?;
    assert_eq!((a.balance_fen, a.frozen_fen), (2_000_000, 500_000));
    let ledger = hub.case(COURT, &case).await?;
    assert_eq!((ledger.frozen_fen, ledger.pending_fen), (6_000_000, 0));
    hub.shutdown().await
}

#[tokio::test]
async fn a_deduction_of_30000_on_10000_takes_10000_and_holds_a_freeze_of_20000_that_a_later_credit_fills()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(730);
    let account = fixtures::account_number(730);
    hub.open_account("ICBC", &account, HOLDER, &id, 1_000_000)
        .await?;
    let case = fixtures::case_number(730);
    let mut request = Freeze::of(3_000_000)
        .at("ICBC", &account)
        .held_by(HOLDER, &id)
        .by(COURT)
        .case_number(&case)
        .key("deduct-30000")
        .request();
    request.measure = Some(pb::submit_request::Measure::Deduction(pb::Deduction {
        account_number: account.clone(),
        amount_fen: 3_000_000,
        receiving_account: Some(pb::ReceivingAccount {
            bank_name: "中国工商银行北京朝阳支行".into(),
            account_number: "0200001234567890123".into(),
            account_name: "北京市朝阳区人民法院".into(),
        }),
        ..Default::default()
    }));
    let deduction = hub.submit(request).await?;

    let deducted = hub
        .wait_for_state(COURT, &deduction.measure_id, pb::MeasureState::Partial)
        .await?;
    assert_eq!(deducted.held_fen, 1_000_000);
    let rest = hub_testkit::eventually(
        "the freeze of the deduction's remainder",
        Duration::from_secs(20),
        || async {
            Ok(hub
                .case(COURT, &case)
                .await?
                .measures
                .into_iter()
                .find(|m| {
                    m.kind == pb::MeasureKind::Freeze as i32
                        && m.target_measure_id == deduction.measure_id
                        && m.state == pb::MeasureState::Partial as i32
                }))
        },
    )
    .await?;
    assert_eq!((rest.held_fen, rest.amount_fen), (0, 2_000_000));
    let ledger = hub.case(COURT, &case).await?;
    assert_eq!(
        (
            ledger.deducted_fen,
            ledger.frozen_fen,
            ledger.pending_fen,
            ledger.open_fen
        ),
        (1_000_000, 0, 2_000_000, 0)
    );

    hub.credit("ICBC", &account, 2_500_000).await?;
    let filled = hub
        .wait_for_state(COURT, &rest.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(filled.held_fen, 2_000_000);
    let a = hub.account("ICBC", &account).await?;
    assert_eq!((a.balance_fen, a.frozen_fen), (2_500_000, 2_000_000));
    let ledger = hub_testkit::eventually(
        "the ledger to count it",
        Duration::from_secs(10),
        || async {
            let ledger = hub.case(COURT, &case).await?;
            Ok((ledger.frozen_fen == 2_000_000).then_some(ledger))
        },
    )
    .await?;
    assert_eq!((ledger.deducted_fen, ledger.pending_fen), (1_000_000, 0));
    hub.shutdown().await
}

#[tokio::test]
async fn the_same_courts_second_freeze_on_the_same_account_in_the_same_case_is_refused_naming_the_first()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(740);
    let account = fixtures::account_number(740);
    hub.open_account("ICBC", &account, HOLDER, &id, 5_000_000)
        .await?;
    let freeze = |key: &str| {
        Freeze::of(1_000_000)
            .enforcement(5_000_000)
            .at("ICBC", &account)
            .held_by(HOLDER, &id)
            .by(COURT)
            .case(740)
            .key(key)
    };
    let first = hub.freeze(freeze("first")).await?;
    hub.wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;

    let again = hub
        .court()
        .await?
        .submit(freeze("a-new-key").request())
        .await
        .expect_err("a duplicate");

    assert_eq!(again.code(), Code::AlreadyExists);
    assert!(
        again.message().contains(&first.measure_id),
        "{}",
        again.message()
    );
    let details = again.get_error_details();
    let info = details.error_info().expect("error info");
    assert_eq!(info.reason, "DUPLICATE_MEASURE");
    assert_eq!(info.metadata.get("measure_id"), Some(&first.measure_id));
    let ledger = hub.ledger("ICBC").await?;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].measure_id, first.measure_id);

    // Two at once on another account, under two keys: one is taken, the other refused.
    let other = fixtures::account_number(741);
    hub.open_account("ICBC", &other, HOLDER, &id, 5_000_000)
        .await?;
    let mut calls = tokio::task::JoinSet::new();
    for key in ["twin-1", "twin-2"] {
        let mut court = hub.court().await?;
        let request = Freeze::of(1_000_000)
            .enforcement(5_000_000)
            .at("ICBC", &other)
            .held_by(HOLDER, &id)
            .by(COURT)
            .case(740)
            .key(key)
            .request();
        calls.spawn(async move { court.submit(request).await });
    }
    let mut outcomes = Vec::new();
    while let Some(call) = calls.join_next().await {
        outcomes.push(call?.map(|r| r.into_inner()).map_err(|s| s.code()));
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&Err(Code::AlreadyExists)), "{outcomes:?}");
    let taken = outcomes
        .into_iter()
        .find_map(Result::ok)
        .and_then(|r| r.measure)
        .expect("the one taken");
    hub.wait_for_state(COURT, &taken.measure_id, pb::MeasureState::Effective)
        .await?;
    let on_other: Vec<_> = hub
        .ledger("ICBC")
        .await?
        .into_iter()
        .filter(|f| f.account_number == other)
        .collect();
    assert_eq!(on_other.len(), 1, "the bank holds one freeze: {on_other:?}");
    hub.shutdown().await
}

#[tokio::test]
async fn a_freeze_whose_expiry_passes_while_its_adapter_is_stopped_lapses_at_the_gateway_and_the_ledger_stops_counting_it()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(750);
    let account = fixtures::account_number(750);
    hub.open_account("ICBC", &account, HOLDER, &id, 5_000_000)
        .await?;
    let case = fixtures::case_number(750);
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by(HOLDER, &id)
                .by(COURT)
                .case_number(&case)
                .key("to-lapse"),
        )
        .await?;
    let effective = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(hub.case(COURT, &case).await?.frozen_fen, 1_000_000);

    hub.stop_adapter("ICBC").await?;
    let expiry = effective.expires_at.expect("expiry").seconds;
    let now = hub.clock().now().unix_timestamp();
    hub.clock()
        .advance(time::Duration::seconds(expiry - now + 3_600));

    let lapsed = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Lapsed)
        .await?;
    assert_eq!(lapsed.held_fen, 0);
    let ledger = hub.case(COURT, &case).await?;
    assert_eq!(
        (ledger.frozen_fen, ledger.open_fen, ledger.live_measures),
        (0, 1_000_000, 0)
    );
    // The agency's own lapse notice, late, changes nothing.
    hub.start_adapter("ICBC").await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let still = hub.measure(COURT, &freeze.measure_id).await?;
    assert_eq!(still.state, pb::MeasureState::Lapsed as i32);
    assert_eq!(hub.ledger("ICBC").await?[0].state, "lapsed");
    hub.shutdown().await
}

#[tokio::test]
async fn an_amendment_down_releases_the_excess_latest_freeze_first_and_tells_the_court_why()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    let id = fixtures::resident_id(760);
    let case = fixtures::case_number(760);
    let freeze = |bank: &str, n: u32, amount: i64| {
        Freeze::of(amount)
            .enforcement(6_000_000)
            .at(bank, &fixtures::account_number(n))
            .held_by(HOLDER, &id)
            .by(COURT)
            .case_number(&case)
            .key(&format!("amend-{n}"))
    };
    hub.open_account(
        "ICBC",
        &fixtures::account_number(760),
        HOLDER,
        &id,
        5_000_000,
    )
    .await?;
    hub.open_account(
        "CCB",
        &fixtures::account_number(761),
        HOLDER,
        &id,
        5_000_000,
    )
    .await?;
    let earlier = hub.freeze(freeze("ICBC", 760, 3_000_000)).await?;
    let later = hub.freeze(freeze("CCB", 761, 2_000_000)).await?;
    for m in [&earlier, &later] {
        hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
            .await?;
    }
    let mut watch = watch_case(&hub, COURT, &case).await?;

    let amended = hub
        .court()
        .await?
        .amend_case(pb::AmendCaseRequest {
            court_code: COURT.into(),
            idempotency_key: "amend-down".into(),
            case_number: case.clone(),
            enforcement_amount_fen: 3_500_000,
            reason: "the debtor paid 25,000.00 to the applicant directly".into(),
            officer: "王执行".into(),
            ruling_number: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(amended.enforcement_amount_fen, 3_500_000);

    let events = read_until(&mut watch, Duration::from_secs(30), |e| {
        e.kind == pb::EventKind::CaseLedger as i32
            && e.case.as_ref().is_some_and(|c| c.frozen_fen == 3_500_000)
    })
    .await?;
    let excess = events
        .iter()
        .find(|e| e.kind == pb::EventKind::ExcessReleased as i32)
        .expect("the excess released");
    assert!(
        excess.message.contains(&format!(
            "the hub reduced freeze {} on 6222****0761 from 20,000.00 to 5,000.00",
            later.measure_id
        )),
        "{}",
        excess.message
    );
    assert!(
        excess
            .message
            .contains("exceeds its enforcement amount 35,000.00")
    );
    assert_eq!(
        excess.measure.as_ref().map(|m| m.kind),
        Some(pb::MeasureKind::Reduction as i32)
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == pb::EventKind::CaseAmended as i32
                && e.message.contains("from 60,000.00 to 35,000.00"))
    );
    assert_eq!(
        hub.measure(COURT, &earlier.measure_id).await?.held_fen,
        3_000_000
    );
    assert_eq!(
        hub.account("CCB", &fixtures::account_number(761))
            .await?
            .frozen_fen,
        500_000
    );

    // A later measure must state the amount in force.
    let stale = hub
        .court()
        .await?
        .submit(freeze("ICBC", 762, 100_000).request())
        .await
        .expect_err("the old amount");
    assert_eq!(stale.code(), Code::InvalidArgument);
    let details = stale.get_error_details();
    let field = &details.bad_request().expect("bad request").field_violations[0];
    assert_eq!(field.field, "case.enforcement_amount_fen");
    assert!(
        field.description.contains("35,000.00"),
        "{}",
        field.description
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_freeze_up_to_the_open_amount_is_granted_what_is_open_and_a_court_may_keep_part_of_a_freeze()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    let id = fixtures::resident_id(770);
    let case = fixtures::case_number(770);
    hub.open_account(
        "ICBC",
        &fixtures::account_number(770),
        HOLDER,
        &id,
        9_000_000,
    )
    .await?;
    hub.open_account(
        "CCB",
        &fixtures::account_number(771),
        HOLDER,
        &id,
        9_000_000,
    )
    .await?;
    let freeze = |bank: &str, n: u32, amount: i64| {
        Freeze::of(amount)
            .enforcement(6_000_000)
            .at(bank, &fixtures::account_number(n))
            .held_by(HOLDER, &id)
            .by(COURT)
            .case_number(&case)
            .key(&format!("up-to-{n}"))
    };
    let first = hub.freeze(freeze("ICBC", 770, 5_000_000)).await?;
    let rest = hub.freeze(freeze("CCB", 771, 2_000_000).up_to()).await?;
    assert_eq!(rest.requested_fen, 1_000_000);
    let rest = hub
        .wait_for_state(COURT, &rest.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(rest.held_fen, 1_000_000);
    hub.wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;

    // The court releases all but 40,000.00 of the first: a reduction the bank carries out.
    let reduction = hub
        .court()
        .await?
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "keep-40000".into(),
            measure_id: first.measure_id.clone(),
            reason: "security given for 10,000.00".into(),
            keep_fen: 4_000_000,
        })
        .await?
        .into_inner()
        .measure
        .expect("reduction");
    assert_eq!(reduction.kind, pb::MeasureKind::Reduction as i32);
    hub.wait_for_state(COURT, &reduction.measure_id, pb::MeasureState::Effective)
        .await?;
    let kept = hub
        .wait_for(COURT, &first.measure_id, Duration::from_secs(10), |m| {
            m.held_fen == 4_000_000
        })
        .await?;
    assert_eq!(
        (kept.state, kept.amount_fen),
        (pb::MeasureState::Effective as i32, 4_000_000)
    );
    assert_eq!(
        hub.account("ICBC", &fixtures::account_number(770))
            .await?
            .frozen_fen,
        4_000_000
    );
    let ledger = hub.case(COURT, &case).await?;
    assert_eq!((ledger.frozen_fen, ledger.open_fen), (5_000_000, 1_000_000));
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_case_close_releases_freezes_at_three_banks_and_a_seal_up_and_the_stream_ends_with_nothing_held()
-> anyhow::Result<()> {
    let banks = ["ICBC", "CCB", "BOC"];
    let hub = TestHub::builder()
        .banks(&banks)
        .land(&["110105"])
        .start()
        .await?;
    let id = fixtures::resident_id(780);
    let case = fixtures::case_number(780);
    let mut measures = Vec::new();
    for (k, bank) in banks.iter().enumerate() {
        let n = 780 + k as u32;
        hub.open_account(bank, &fixtures::account_number(n), HOLDER, &id, 2_000_000)
            .await?;
        measures.push(
            hub.freeze(
                Freeze::of(1_000_000)
                    .enforcement(100_000_000)
                    .at(bank, &fixtures::account_number(n))
                    .held_by(HOLDER, &id)
                    .by(COURT)
                    .case_number(&case)
                    .key(&format!("close-{bank}")),
            )
            .await?,
        );
    }
    let property = "110105-780-0001";
    hub.land_admin("110105")
        .await?
        .register_property(admin::RegisterPropertyRequest {
            agency_code: "110105".into(),
            property_id: property.into(),
            kind: "unit".into(),
            address: "北京市朝阳区某路780号".into(),
            holder_id: id.clone(),
            holder_name: HOLDER.into(),
            status: "registered".into(),
        })
        .await?;
    measures.push(
        hub.submit(fixtures::order(
            COURT,
            "close-seal-up",
            &case,
            fixtures::person(HOLDER, &id),
            fixtures::land("110105"),
            pb::submit_request::Measure::SealUp(pb::SealUp {
                property_kind: pb::PropertyKind::Unit as i32,
                property_id: property.into(),
                pre_seizure: false,
                period: fixtures::months(36),
            }),
        ))
        .await?,
    );
    for m in &measures {
        hub.wait_for_state(COURT, &m.measure_id, pb::MeasureState::Effective)
            .await?;
    }
    let mut watch = watch_case(&hub, COURT, &case).await?;

    let closed = crate::hubctl::hubctl(
        &hub,
        &[
            "--court",
            COURT,
            "--json",
            "case",
            "close",
            "--case",
            &case,
            "--reason",
            "paid in full (执行完毕)",
            "--officer",
            "王执行",
            "--wait",
        ],
    )
    .await?;

    assert_eq!(
        closed.status.code(),
        Some(0),
        "{}",
        crate::hubctl::shown(&closed)
    );
    let stdout = String::from_utf8(closed.stdout.clone())?;
    let last: serde_json::Value = serde_json::from_str(
        stdout
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("{}"),
    )?;
    assert_eq!(last["kind"], "case_closed", "{stdout}");
    assert_eq!(last["case"]["live_measures"], 0, "{stdout}");
    // The court's own stream ends with the case closed and nothing held.
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = watch.message().await? {
            events.push(event);
        }
        Ok::<_, anyhow::Error>(())
    })
    .await??;
    let end = events.last().expect("events");
    assert_eq!(end.kind, pb::EventKind::CaseClosed as i32);
    let held = end.case.as_ref().expect("the ledger");
    assert_eq!(
        (
            held.state,
            held.live_measures,
            held.frozen_fen,
            held.pending_fen
        ),
        (pb::CaseState::Closed as i32, 0, 0, 0)
    );
    for bank in banks {
        let ledger = hub.ledger(bank).await?;
        assert_eq!(ledger.len(), 1, "{bank}");
        assert_eq!(ledger[0].state, "released", "{bank}");
    }
    let holds = hub
        .land_admin("110105")
        .await?
        .list_holds(admin::ListPropertyHoldsRequest {
            agency_code: "110105".into(),
            property_id: property.into(),
        })
        .await?
        .into_inner()
        .holds;
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].state, "released");
    for m in &measures {
        assert_eq!(
            hub.measure(COURT, &m.measure_id).await?.state,
            pb::MeasureState::Released as i32
        );
    }
    // A closed case takes no new measures.
    let late = hub
        .court()
        .await?
        .submit(
            Freeze::of(1_000_000)
                .enforcement(100_000_000)
                .at("ICBC", &fixtures::account_number(790))
                .held_by(HOLDER, &id)
                .by(COURT)
                .case_number(&case)
                .key("after-closing")
                .request(),
        )
        .await
        .expect_err("closed");
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("closed"), "{}", late.message());
    hub.shutdown().await
}

#[tokio::test]
async fn hubctl_case_freeze_follows_one_order_to_secured_and_case_show_and_amend_print_the_ledger()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    let id = fixtures::resident_id(790);
    hub.open_account(
        "ICBC",
        &fixtures::account_number(790),
        HOLDER,
        &id,
        3_000_000,
    )
    .await?;
    hub.open_account(
        "CCB",
        &fixtures::account_number(791),
        HOLDER,
        &id,
        4_000_000,
    )
    .await?;
    let case = fixtures::case_number(790);
    let hubctl = crate::hubctl::hubctl;

    let ordered = hubctl(
        &hub,
        &[
            "--court",
            COURT,
            "--json",
            "case",
            "freeze",
            "--case",
            &case,
            "--enforcement-amount",
            "50,000",
            "--officer",
            "王执行",
            "--person-name",
            HOLDER,
            "--resident-id",
            &id,
            "--amount",
            "50000",
            "--months",
            "12",
            "--all-banks",
            "--wait",
        ],
    )
    .await?;
    assert_eq!(
        ordered.status.code(),
        Some(0),
        "{}",
        crate::hubctl::shown(&ordered)
    );
    let stdout = String::from_utf8(ordered.stdout.clone())?;
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines[0]["amount_fen"], 5_000_000, "{stdout}");
    let last = lines.last().expect("lines");
    assert_eq!(last["kind"], "order_progress", "{stdout}");
    assert_eq!(last["order"]["state"], "secured", "{stdout}");
    assert_eq!(last["order"]["frozen_fen"], 5_000_000, "{stdout}");

    let shown = hubctl(
        &hub,
        &["--court", COURT, "--json", "case", "show", "--case", &case],
    )
    .await?;
    assert_eq!(
        shown.status.code(),
        Some(0),
        "{}",
        crate::hubctl::shown(&shown)
    );
    let case_json: serde_json::Value = serde_json::from_slice(&shown.stdout)?;
    assert_eq!(case_json["frozen_fen"], 5_000_000);
    assert_eq!(case_json["open_fen"], 0);
    assert_eq!(
        case_json["measures"].as_array().map(Vec::len),
        Some(3),
        "{case_json}"
    );
    assert_eq!(case_json["orders"][0]["state"], "secured");

    let amended = hubctl(
        &hub,
        &[
            "--court",
            COURT,
            "case",
            "amend",
            "--case",
            &case,
            "--enforcement-amount",
            "45000",
            "--reason",
            "costs recalculated",
            "--officer",
            "王执行",
        ],
    )
    .await?;
    assert_eq!(
        amended.status.code(),
        Some(0),
        "{}",
        crate::hubctl::shown(&amended)
    );
    let text = String::from_utf8_lossy(&amended.stdout);
    assert!(text.contains("enforcement amount  45,000.00"), "{text}");
    hub_testkit::eventually("the excess released", Duration::from_secs(20), || async {
        let ledger = hub.case(COURT, &case).await?;
        Ok((ledger.frozen_fen == 4_500_000).then_some(()))
    })
    .await?;

    let refused = hubctl(
        &hub,
        &[
            "--court",
            COURT,
            "freeze",
            "--case",
            &case,
            "--bank",
            "ICBC",
            "--account",
            &fixtures::account_number(792),
            "--amount",
            "1000",
            "--months",
            "12",
            "--person-name",
            HOLDER,
            "--resident-id",
            &id,
            "--enforcement-amount",
            "45000",
            "--officer",
            "王执行",
        ],
    )
    .await?;
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        crate::hubctl::shown(&refused)
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("0.00 is open"), "{stderr}");
    assert!(
        stderr.contains("hint: `hubctl case show --case"),
        "{stderr}"
    );
    hub.shutdown().await
}
