//! Freezes at one bank: full, partial and topped up, waiting and promoted.

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use std::time::Duration;

const COURT: &str = "京0105";
const SECOND_COURT: &str = "粤03";
const THIRD_COURT: &str = "沪0115";

#[tokio::test]
async fn a_freeze_of_10000_on_25000_becomes_effective_with_10000_frozen() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(1);
    let account = fixtures::account_number(1);
    hub.open_account("ICBC", &account, "张三", &id, 2_500_000)
        .await?;

    let measure = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT)
                .case(1)
                .key("freeze-1"),
        )
        .await?;
    assert_eq!(measure.state, pb::MeasureState::Submitted as i32);
    assert_eq!(measure.asset, "6222****0001");

    let done = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(done.held_fen, 1_000_000);
    assert_eq!(done.requested_fen, 1_000_000);
    assert!(done.registration_number.starts_with("ICBC-DJ"));
    let effective = done.effective_at.expect("effective_at");
    let expires = done.expires_at.expect("expires_at");
    let days = (expires.seconds - effective.seconds) / 86_400;
    assert!(
        (365..=366).contains(&days),
        "a 12-month freeze lasts a year, got {days} days"
    );

    let acct = hub.account("ICBC", &account).await?;
    assert_eq!((acct.balance_fen, acct.frozen_fen), (2_500_000, 1_000_000));
    hub.shutdown().await
}

#[tokio::test]
async fn a_freeze_beyond_the_balance_is_partial_and_later_credits_top_it_up_on_the_watch_stream()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(2);
    let account = fixtures::account_number(2);
    hub.open_account("ICBC", &account, "李四", &id, 500_000)
        .await?;

    let measure = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("李四", &id)
                .by(COURT)
                .case(2)
                .key("freeze-partial"),
        )
        .await?;
    let partial = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Partial)
        .await?;
    assert_eq!(partial.held_fen, 500_000);

    // The court watches; the debtor receives 3,000.00 and then 7,000.00.
    let mut watch = hub
        .court()
        .await?
        .watch(pb::WatchRequest {
            court_code: COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                measure.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();
    let snapshot = watch.message().await?.expect("snapshot");
    assert_eq!(snapshot.kind, pb::EventKind::Snapshot as i32);
    assert_eq!(snapshot.measure.as_ref().map(|m| m.held_fen), Some(500_000));

    hub.credit("ICBC", &account, 300_000).await?;
    let topped = next_event(&mut watch).await?;
    assert_eq!(topped.kind, pb::EventKind::DetailsChanged as i32);
    let m = topped.measure.expect("measure");
    assert_eq!(
        (m.state, m.held_fen),
        (pb::MeasureState::Partial as i32, 800_000)
    );
    assert!(topped.message.contains("8,000.00"), "{}", topped.message);

    hub.credit("ICBC", &account, 700_000).await?;
    let full = next_event(&mut watch).await?;
    assert_eq!(full.kind, pb::EventKind::StateChanged as i32);
    let m = full.measure.expect("measure");
    assert_eq!(
        (m.state, m.held_fen),
        (pb::MeasureState::Effective as i32, 1_000_000)
    );

    // The bank froze only what was ordered; the rest of the credit is free.
    let acct = hub.account("ICBC", &account).await?;
    assert_eq!((acct.balance_fen, acct.frozen_fen), (1_500_000, 1_000_000));
    hub.shutdown().await
}

#[tokio::test]
async fn a_second_courts_freeze_waits_and_takes_effect_when_the_first_is_released()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(3);
    let account = fixtures::account_number(3);
    hub.open_account("ICBC", &account, "王五", &id, 2_500_000)
        .await?;
    let holder = ("王五", id.as_str());

    let first = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by(holder.0, holder.1)
                .by(COURT)
                .case(3)
                .key("first"),
        )
        .await?;
    hub.wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;
    let second = hub
        .freeze(
            Freeze::of(800_000)
                .at("ICBC", &account)
                .held_by(holder.0, holder.1)
                .by(SECOND_COURT)
                .case_number("（2024）粤03执88号")
                .key("second")
                .months(6),
        )
        .await?;
    let waiting = hub
        .wait_for_state(SECOND_COURT, &second.measure_id, pb::MeasureState::Waiting)
        .await?;
    assert_eq!(waiting.waiting_position, 1);
    assert_eq!(waiting.held_fen, 0);
    let third = hub
        .freeze(
            Freeze::of(300_000)
                .at("ICBC", &account)
                .held_by(holder.0, holder.1)
                .by(THIRD_COURT)
                .case_number("（2024）沪0115执9号")
                .key("third")
                .months(6),
        )
        .await?;
    let third_waiting = hub
        .wait_for_state(THIRD_COURT, &third.measure_id, pb::MeasureState::Waiting)
        .await?;
    assert_eq!(third_waiting.waiting_position, 2);

    // The second court watches its measure; the first court releases.
    let mut watch = hub
        .court_as(SECOND_COURT)
        .await?
        .watch(pb::WatchRequest {
            court_code: SECOND_COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                second.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();
    assert_eq!(
        next_event(&mut watch).await?.kind,
        pb::EventKind::Snapshot as i32
    );

    let release = hub
        .court()
        .await?
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "release-first".into(),
            measure_id: first.measure_id.clone(),
            reason: "debt paid".into(),
            keep_fen: 0,
        })
        .await?
        .into_inner()
        .measure
        .expect("release measure");
    assert_eq!(release.kind, pb::MeasureKind::Release as i32);
    assert_eq!(release.target_measure_id, first.measure_id);

    let promoted = next_event(&mut watch).await?;
    let m = promoted.measure.expect("measure");
    assert_eq!(m.state, pb::MeasureState::Effective as i32);
    assert_eq!(m.held_fen, 800_000);
    assert_eq!(m.waiting_position, 0);
    assert!(
        promoted.message.contains("took effect"),
        "{}",
        promoted.message
    );

    hub.wait_for_state(COURT, &release.measure_id, pb::MeasureState::Effective)
        .await?;
    let released = hub.measure(COURT, &first.measure_id).await?;
    assert_eq!(
        (released.state, released.held_fen),
        (pb::MeasureState::Released as i32, 0)
    );
    let third_now = hub
        .wait_for(
            THIRD_COURT,
            &third.measure_id,
            Duration::from_secs(10),
            |m| m.waiting_position == 1,
        )
        .await?;
    assert_eq!(third_now.state, pb::MeasureState::Waiting as i32);

    let acct = hub.account("ICBC", &account).await?;
    assert_eq!(acct.frozen_fen, 800_000);
    // The bank's ledger in order of receipt.
    let ledger: Vec<(String, String, i64)> = hub
        .ledger("ICBC")
        .await?
        .into_iter()
        .map(|f| (f.measure_id, f.state, f.frozen_fen))
        .collect();
    assert_eq!(
        ledger,
        vec![
            (first.measure_id.clone(), "released".into(), 0),
            (second.measure_id.clone(), "effective".into(), 800_000),
            (third.measure_id.clone(), "waiting".into(), 0),
        ]
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_renewal_before_expiry_moves_the_expiry_and_keeps_the_freeze_in_force()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(4);
    let account = fixtures::account_number(4);
    hub.open_account("ICBC", &account, "赵六", &id, 2_000_000)
        .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("赵六", &id)
                .by(COURT)
                .case(4)
                .key("to-renew"),
        )
        .await?;
    let effective = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;
    let old_expiry = effective.expires_at.expect("expiry").seconds;

    let mut court = hub.court().await?;
    let too_long = court
        .renew(pb::RenewRequest {
            court_code: COURT.into(),
            idempotency_key: "renew-13".into(),
            measure_id: freeze.measure_id.clone(),
            period: Some(pb::Period {
                months: 13,
                days: 0,
            }),
        })
        .await
        .expect_err("13 months exceeds the maximum for deposits");
    assert_eq!(too_long.code(), tonic::Code::InvalidArgument);
    assert!(
        too_long.message().contains("period"),
        "{}",
        too_long.message()
    );

    let renewal = court
        .renew(pb::RenewRequest {
            court_code: COURT.into(),
            idempotency_key: "renew-6".into(),
            measure_id: freeze.measure_id.clone(),
            period: Some(pb::Period { months: 6, days: 0 }),
        })
        .await?
        .into_inner()
        .measure
        .expect("renewal");
    hub.wait_for_state(COURT, &renewal.measure_id, pb::MeasureState::Effective)
        .await?;
    let renewed = hub
        .wait_for(COURT, &freeze.measure_id, Duration::from_secs(10), |m| {
            m.expires_at
                .as_ref()
                .is_some_and(|e| e.seconds > old_expiry)
        })
        .await?;
    assert_eq!(renewed.state, pb::MeasureState::Effective as i32);
    let added_days = (renewed.expires_at.expect("expiry").seconds - old_expiry) / 86_400;
    assert!(
        (181..=184).contains(&added_days),
        "six months added, got {added_days} days"
    );
    let ledger = hub.ledger("ICBC").await?;
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        ledger[0].expires_at.as_ref().map(|e| e.seconds),
        renewed.expires_at.as_ref().map(|e| e.seconds)
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_deduction_takes_the_courts_frozen_funds_and_ends_the_freeze_when_all_are_taken()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(5);
    let account = fixtures::account_number(5);
    hub.open_account("ICBC", &account, "钱七", &id, 2_500_000)
        .await?;
    let freeze = hub
        .freeze(
            Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("钱七", &id)
                .by(COURT)
                .case(5)
                .key("to-deduct"),
        )
        .await?;
    hub.wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Effective)
        .await?;

    let deduct = |key: &str, amount_fen: i64| {
        let mut request = Freeze::of(1_000_000)
            .at("ICBC", &account)
            .held_by("钱七", &id)
            .by(COURT)
            .case(5)
            .key(key)
            .request();
        request.measure = Some(pb::submit_request::Measure::Deduction(pb::Deduction {
            account_number: account.clone(),
            amount_fen,
            freeze_measure_id: freeze.measure_id.clone(),
            receiving_account: Some(pb::ReceivingAccount {
                bank_name: "中国工商银行北京朝阳支行".into(),
                account_number: "0200001234567890123".into(),
                account_name: "北京市朝阳区人民法院".into(),
            }),
            remainder_measure_id: String::new(),
            remainder_period: None,
            up_to_open_amount: false,
        }));
        request
    };
    let first = hub.submit(deduct("deduct-4000", 400_000)).await?;
    let done = hub
        .wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(done.held_fen, 400_000);
    let remaining = hub
        .wait_for(COURT, &freeze.measure_id, Duration::from_secs(10), |m| {
            m.held_fen == 600_000
        })
        .await?;
    assert_eq!(remaining.state, pb::MeasureState::Effective as i32);

    let second = hub.submit(deduct("deduct-6000", 600_000)).await?;
    hub.wait_for_state(COURT, &second.measure_id, pb::MeasureState::Effective)
        .await?;
    let ended = hub
        .wait_for_state(COURT, &freeze.measure_id, pb::MeasureState::Deducted)
        .await?;
    assert_eq!(ended.held_fen, 0);
    let acct = hub.account("ICBC", &account).await?;
    assert_eq!((acct.balance_fen, acct.frozen_fen), (1_500_000, 0));
    hub.shutdown().await
}

/// The next event of a watch stream, within ten seconds.
async fn next_event(
    watch: &mut tonic::Streaming<pb::MeasureEvent>,
) -> anyhow::Result<pb::MeasureEvent> {
    tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .map_err(|_| anyhow::anyhow!("no watch event within 10 s"))??
        .ok_or_else(|| anyhow::anyhow!("watch stream ended"))
}

#[tokio::test]
async fn the_bank_refuses_unknown_closed_and_mismatched_accounts_with_coded_reasons()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(6);
    let other_id = fixtures::resident_id(7);
    let (open, closed) = (fixtures::account_number(6), fixtures::account_number(7));
    hub.open_account("ICBC", &open, "孙八", &id, 1_000_000)
        .await?;
    hub.open_account("ICBC", &closed, "孙八", &id, 1_000_000)
        .await?;
    hub.bank_admin("ICBC")
        .await?
        .close_account(enforcement_proto::reference::AccountRequest {
            bank_code: "ICBC".into(),
            account_number: closed.clone(),
        })
        .await?;

    let cases = [
        (
            "unknown",
            fixtures::account_number(999),
            "孙八",
            id.as_str(),
            pb::ReasonCode::NotFound,
        ),
        (
            "closed",
            closed.clone(),
            "孙八",
            id.as_str(),
            pb::ReasonCode::AccountClosed,
        ),
        (
            "name",
            open.clone(),
            "孙九",
            id.as_str(),
            pb::ReasonCode::NameMismatch,
        ),
        (
            "identity",
            open.clone(),
            "孙八",
            other_id.as_str(),
            pb::ReasonCode::IdentityMismatch,
        ),
    ];
    for (what, account, name, holder_id, code) in cases {
        let measure = hub
            .freeze(
                Freeze::of(100_000)
                    .at("ICBC", &account)
                    .held_by(name, holder_id)
                    .by(COURT)
                    .case(6)
                    .key(&format!("refused-{what}")),
            )
            .await?;
        let rejected = hub
            .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Rejected)
            .await?;
        let reason = rejected.reason.expect("reason");
        assert_eq!(reason.code, code as i32, "{what}: {}", reason.message);
        assert!(!reason.message.is_empty(), "{what}");
        assert_eq!(rejected.held_fen, 0);
    }
    assert!(
        hub.ledger("ICBC").await?.is_empty(),
        "a refused freeze leaves nothing in the ledger"
    );
    assert_eq!(hub.account("ICBC", &open).await?.frozen_fen, 0);
    hub.shutdown().await
}

#[tokio::test]
async fn two_freezes_on_one_account_reach_the_bank_in_the_order_the_hub_accepted_them()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    const ACCOUNTS: u32 = 40;
    for a in 0..ACCOUNTS {
        hub.open_account(
            "ICBC",
            &fixtures::account_number(100 + a),
            "张三",
            &fixtures::resident_id(100 + a),
            5_000_000,
        )
        .await?;
    }
    // Per account, court A's freeze is accepted before court B's; accounts run concurrently.
    // Each account's debtor is a case of its own at each court.
    let mut pairs = tokio::task::JoinSet::new();
    for a in 0..ACCOUNTS {
        let mut first = hub.court_as(COURT).await?;
        let mut second = hub.court_as(SECOND_COURT).await?;
        pairs.spawn(async move {
            let n = 100 + a;
            let mut ids = Vec::new();
            for (court_code, case) in [
                (COURT, format!("（2024）京0105执{n}号")),
                (SECOND_COURT, format!("（2024）粤03执{n}号")),
            ] {
                let court = if court_code == COURT {
                    &mut first
                } else {
                    &mut second
                };
                let request = Freeze::of(1_000_000)
                    .at("ICBC", &fixtures::account_number(n))
                    .held_by("张三", &fixtures::resident_id(n))
                    .by(court_code)
                    .case_number(&case)
                    .key(&format!("order-{n}"))
                    .request();
                let measure = court
                    .submit(request)
                    .await?
                    .into_inner()
                    .measure
                    .expect("measure");
                ids.push(measure.measure_id);
            }
            Ok::<_, anyhow::Error>((fixtures::account_number(n), ids))
        });
    }
    let mut accepted = std::collections::BTreeMap::new();
    while let Some(pair) = pairs.join_next().await {
        let (account, ids) = pair??;
        accepted.insert(account, ids);
    }
    let received = hub_testkit::eventually(
        "every freeze in the ledger",
        Duration::from_secs(60),
        || async {
            let ledger = hub.ledger("ICBC").await?;
            Ok((ledger.len() == 2 * ACCOUNTS as usize).then_some(ledger))
        },
    )
    .await?;
    for (account, ids) in accepted {
        let order: Vec<(String, String)> = received
            .iter()
            .filter(|f| f.account_number == account)
            .map(|f| (f.measure_id.clone(), f.state.clone()))
            .collect();
        assert_eq!(
            order,
            vec![
                (ids[0].clone(), "effective".into()),
                (ids[1].clone(), "waiting".into())
            ],
            "account {account}"
        );
    }
    hub.shutdown().await
}
