use enforcement_proto::{reference as admin, v1 as pb};
use hub_testkit::{TestHub, fixtures};

const COURT: &str = "京0105";

async fn open_account(
    hub: &TestHub,
    bank: &str,
    account: &str,
    name: &str,
    id: &str,
    balance_fen: i64,
) -> anyhow::Result<()> {
    hub.bank_admin(bank)
        .await?
        .open_account(admin::OpenAccountRequest {
            account_number: account.into(),
            holder_name: name.into(),
            holder_id: id.into(),
            balance_fen,
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_freeze_within_the_balance_becomes_effective_for_the_full_amount() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(1);
    let account = fixtures::account_number(1);
    open_account(&hub, "ICBC", &account, "张三", &id, 2_500_000).await?;

    let submitted = hub
        .court()
        .await?
        .submit(fixtures::freeze(
            COURT,
            "freeze-1",
            &fixtures::case_number(1),
            fixtures::person("张三", &id),
            "ICBC",
            &account,
            1_000_000,
            12,
        ))
        .await?
        .into_inner();
    let measure = submitted.measure.expect("measure");
    assert!(!submitted.duplicate);
    assert_eq!(measure.state, pb::MeasureState::Submitted as i32);

    let done = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    assert_eq!(done.held_fen, 1_000_000);
    assert_eq!(done.requested_fen, 1_000_000);
    assert!(done.expires_at.is_some());
    assert!(done.registration_number.starts_with("ICBC-DJ"));

    let acct = hub
        .bank_admin("ICBC")
        .await?
        .get_account(admin::AccountRequest {
            account_number: account.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(acct.balance_fen, 2_500_000);
    assert_eq!(acct.frozen_fen, 1_000_000);
    hub.shutdown().await
}
