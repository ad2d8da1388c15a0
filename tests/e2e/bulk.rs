//! Many freezes at once, and an adapter killed in the middle of them: every measure reaches a
//! final state, and each bank's ledger holds exactly what the gateway reports.

use std::{collections::BTreeMap, time::Duration};

use enforcement_proto::v1 as pb;
use hub_testkit::{
    TestHub, eventually,
    fixtures::{self, Freeze},
};

const COURT: &str = "京0105";

/// States after which the agency has answered.
fn answered(state: i32) -> bool {
    ![
        pb::MeasureState::Submitted as i32,
        pb::MeasureState::Dispatched as i32,
        pb::MeasureState::Delivered as i32,
    ]
    .contains(&state)
}

/// Every measure of the case, following all pages.
async fn case_measures(hub: &TestHub, case: &str) -> anyhow::Result<Vec<pb::Measure>> {
    let mut court = hub.court().await?;
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = court
            .list(pb::ListRequest {
                court_code: COURT.into(),
                case_number: case.into(),
                page_size: 200,
                page_token,
            })
            .await?
            .into_inner();
        all.extend(page.measures);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        page_token = page.next_page_token;
    }
}

/// Waits until all `expected` measures of the case are answered, and returns them.
async fn all_answered(
    hub: &TestHub,
    case: &str,
    expected: usize,
) -> anyhow::Result<Vec<pb::Measure>> {
    eventually(
        "every measure answered",
        Duration::from_secs(120),
        || async {
            let measures = case_measures(hub, case).await?;
            Ok(
                (measures.len() == expected && measures.iter().all(|m| answered(m.state)))
                    .then_some(measures),
            )
        },
    )
    .await
}

/// Checks that `bank`'s ledger holds exactly the freezes the gateway reports for it.
async fn reconcile(hub: &TestHub, bank: &str, measures: &[pb::Measure]) -> anyhow::Result<usize> {
    let gateway: BTreeMap<String, (String, i64)> = measures
        .iter()
        .filter(|m| m.agency.as_ref().is_some_and(|a| a.code == bank))
        .filter(|m| m.state != pb::MeasureState::Rejected as i32)
        .map(|m| {
            let state = pb::MeasureState::try_from(m.state)
                .map(|s| {
                    s.as_str_name()
                        .trim_start_matches("MEASURE_STATE_")
                        .to_lowercase()
                })
                .unwrap_or_default();
            (m.measure_id.clone(), (state, m.held_fen))
        })
        .collect();
    let ledger_rows = hub.ledger(bank).await?;
    let ledger: BTreeMap<String, (String, i64)> = ledger_rows
        .iter()
        .map(|f| (f.measure_id.clone(), (f.state.clone(), f.frozen_fen)))
        .collect();
    assert_eq!(
        ledger.len(),
        ledger_rows.len(),
        "{bank}: a measure frozen twice"
    );
    assert_eq!(ledger, gateway, "{bank}: ledger and gateway disagree");
    Ok(ledger.len())
}

#[tokio::test]
async fn five_hundred_concurrent_freezes_across_five_banks_all_end_and_reconcile_with_the_ledgers()
-> anyhow::Result<()> {
    let banks = ["ICBC", "CCB", "BOC", "ABC", "CMB"];
    let hub = TestHub::with_banks(&banks).await?;
    // 80 accounts per bank: 20 of them get two freezes (one waits), some balances are short
    // (partial), and every 25th order names the wrong holder (rejected).
    for (b, bank) in banks.iter().enumerate() {
        for a in 0..80u32 {
            let n = b as u32 * 1000 + a;
            let balance = if a % 7 == 0 { 300_000 } else { 5_000_000 };
            hub.open_account(
                bank,
                &fixtures::account_number(n),
                "张三",
                &fixtures::resident_id(n),
                balance,
            )
            .await?;
        }
    }
    // The first freeze on each account is ordered in one case, the second (on 20 accounts per
    // bank) in another case of the same court, so it waits behind the first; each case's
    // enforcement amount covers all its freezes.
    let (first_case, second_case) = (fixtures::case_number(500), fixtures::case_number(501));
    let mut requests = Vec::new();
    for k in 0..500u32 {
        let b = (k % 5) as usize;
        let a = (k / 5) % 80;
        let n = b as u32 * 1000 + a;
        let holder = if k % 25 == 24 { "李四" } else { "张三" };
        let (case, freezes) = if k < 400 {
            (&first_case, 400)
        } else {
            (&second_case, 100)
        };
        requests.push(
            Freeze::of(1_000_000)
                .enforcement(freezes * 1_000_000)
                .at(banks[b], &fixtures::account_number(n))
                .held_by(holder, &fixtures::resident_id(n))
                .by(COURT)
                .case_number(case)
                .key(&format!("bulk-{k}"))
                .request(),
        );
    }
    hub.submit_all(requests).await?;

    let mut measures = all_answered(&hub, &first_case, 400).await?;
    measures.extend(all_answered(&hub, &second_case, 100).await?);
    let count =
        |state: pb::MeasureState| measures.iter().filter(|m| m.state == state as i32).count();
    let (effective, partial, waiting, rejected) = (
        count(pb::MeasureState::Effective),
        count(pb::MeasureState::Partial),
        count(pb::MeasureState::Waiting),
        count(pb::MeasureState::Rejected),
    );
    assert_eq!(rejected, 20, "every 25th order names the wrong holder");
    assert_eq!(effective + partial + waiting + rejected, 500);
    assert!(
        waiting >= 80,
        "accounts with two valid freezes make the later one wait: {waiting}"
    );
    assert!(partial > 0, "short balances give partial freezes");

    let mut in_ledgers = 0;
    for bank in banks {
        in_ledgers += reconcile(&hub, bank, &measures).await?;
    }
    assert_eq!(in_ledgers, 480);
    hub.shutdown().await
}

#[tokio::test]
async fn killing_the_adapter_mid_batch_and_starting_it_again_loses_and_duplicates_nothing()
-> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC"]).await?;
    const N: u32 = 400;
    for a in 0..N {
        hub.open_account(
            "ICBC",
            &fixtures::account_number(a),
            "张三",
            &fixtures::resident_id(a),
            5_000_000,
        )
        .await?;
    }
    // A slow bank keeps the batch in flight long enough to kill the adapter inside it.
    hub.bank("ICBC")?
        .system()
        .faults()
        .set_latency(Duration::from_millis(40));
    hub.stop_adapter("ICBC").await?;
    let mut adapter = hub.spawn_adapter_process("ICBC").await?;

    let case = fixtures::case_number(400);
    let requests = (0..N)
        .map(|a| {
            Freeze::of(1_000_000)
                .enforcement(i64::from(N) * 1_000_000)
                .at("ICBC", &fixtures::account_number(a))
                .held_by("张三", &fixtures::resident_id(a))
                .by(COURT)
                .case_number(&case)
                .key(&format!("crash-{a}"))
                .request()
        })
        .collect();
    // The bank answers a quarter of the batch, then stops answering: the calls in flight
    // after that are lost with the adapter when it is killed.
    hub.bank("ICBC")?.system().faults().hold_after(N / 4);
    hub.submit_all(requests).await?;
    eventually(
        "a fifth of the batch done",
        Duration::from_secs(60),
        || async {
            let done = case_measures(&hub, &case)
                .await?
                .iter()
                .filter(|m| answered(m.state))
                .count();
            Ok((done >= N as usize / 5).then_some(()))
        },
    )
    .await?;
    adapter.kill().await?;
    hub.bank("ICBC")?.system().faults().release();
    let done_at_kill = case_measures(&hub, &case)
        .await?
        .iter()
        .filter(|m| answered(m.state))
        .count();
    assert!(
        done_at_kill < N as usize,
        "the adapter was killed inside the batch ({done_at_kill} done)"
    );

    let mut adapter = hub.spawn_adapter_process("ICBC").await?;
    let measures = all_answered(&hub, &case, N as usize).await?;
    assert!(adapter.is_running());
    assert!(
        measures
            .iter()
            .all(|m| m.state == pb::MeasureState::Effective as i32 && m.held_fen == 1_000_000)
    );
    assert_eq!(reconcile(&hub, "ICBC", &measures).await?, N as usize);
    let frozen: i64 = {
        let mut total = 0;
        for a in 0..N {
            total += hub
                .account("ICBC", &fixtures::account_number(a))
                .await?
                .frozen_fen;
        }
        total
    };
    assert_eq!(frozen, i64::from(N) * 1_000_000, "no freeze applied twice");
    adapter.kill().await?;
    hub.shutdown().await
}
