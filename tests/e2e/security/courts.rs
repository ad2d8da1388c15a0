//! The court is its certificate: it orders, reads, watches, releases and renews only its own
//! measures, and only operators use the Ops service.

use enforcement_proto::v1 as pb;
use hub_testkit::{TestHub, fixtures};
use tonic::Code;
use tonic_types::StatusExt;

const COURT_A: &str = "京0105";
const COURT_B: &str = "粤03";

/// The fields a status's `BadRequest` detail names.
fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

fn denied_on_court_code(status: &tonic::Status) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(fields(status), vec!["court_code".to_string()], "{status:?}");
}

#[tokio::test]
async fn court_a_naming_court_b_is_denied_on_court_code_and_nothing_is_written()
-> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(910);
    let account = fixtures::account_number(910);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    let as_b = fixtures::Freeze::of(1_000_000)
        .at("ICBC", &account)
        .held_by("张三", &id)
        .by(COURT_B)
        .case_number("（2024）粤03执910号")
        .key("b-by-a")
        .request();

    let refused = hub
        .court_as(COURT_A)
        .await?
        .submit(as_b.clone())
        .await
        .expect_err("A may not order as B");
    denied_on_court_code(&refused);
    assert!(refused.message().contains(COURT_B), "{}", refused.message());
    for table in [
        "measures",
        "outbox",
        "measure_events",
        "cases",
        "case_events",
    ] {
        assert_eq!(hub.gateway_rows(table).await?, 0, "{table}");
    }
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 0);

    // B's own certificate may.
    let measure = hub.submit(as_b).await?;
    hub.wait_for_state(COURT_B, &measure.measure_id, pb::MeasureState::Effective)
        .await?;
    hub.shutdown().await
}

#[tokio::test]
async fn court_a_cannot_get_watch_release_or_renew_court_bs_measure() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let id = fixtures::resident_id(911);
    let account = fixtures::account_number(911);
    hub.open_account("ICBC", &account, "张三", &id, 2_000_000)
        .await?;
    let b_case = "（2024）粤03执911号";
    let measure = hub
        .freeze(
            fixtures::Freeze::of(1_000_000)
                .at("ICBC", &account)
                .held_by("张三", &id)
                .by(COURT_B)
                .case_number(b_case)
                .key("b-freeze"),
        )
        .await?;
    let id_b = measure.measure_id.clone();
    let effective = hub
        .wait_for_state(COURT_B, &id_b, pb::MeasureState::Effective)
        .await?;
    let rows_before = hub.gateway_rows("measures").await?;

    let mut a = hub.court_as(COURT_A).await?;
    // Naming B: denied on court_code, whatever the call.
    let get = a
        .get(pb::GetRequest {
            court_code: COURT_B.into(),
            measure_id: id_b.clone(),
        })
        .await
        .expect_err("get as B");
    denied_on_court_code(&get);
    let watch = a
        .watch(pb::WatchRequest {
            court_code: COURT_B.into(),
            target: Some(pb::watch_request::Target::MeasureId(id_b.clone())),
        })
        .await
        .expect_err("watch as B");
    denied_on_court_code(&watch);
    let list = a
        .list(pb::ListRequest {
            court_code: COURT_B.into(),
            case_number: b_case.into(),
            ..Default::default()
        })
        .await
        .expect_err("list as B");
    denied_on_court_code(&list);
    let release = a
        .release(pb::ReleaseRequest {
            court_code: COURT_B.into(),
            idempotency_key: "steal".into(),
            measure_id: id_b.clone(),
            reason: "none".into(),
            keep_fen: 0,
        })
        .await
        .expect_err("release as B");
    denied_on_court_code(&release);
    let renew = a
        .renew(pb::RenewRequest {
            court_code: COURT_B.into(),
            idempotency_key: "extend".into(),
            measure_id: id_b.clone(),
            period: fixtures::months(6),
        })
        .await
        .expect_err("renew as B");
    denied_on_court_code(&renew);

    // Naming itself: B's measure is not there.
    let get = a
        .get(pb::GetRequest {
            court_code: COURT_A.into(),
            measure_id: id_b.clone(),
        })
        .await
        .expect_err("B's measure");
    assert_eq!(get.code(), Code::NotFound);
    let watch = a
        .watch(pb::WatchRequest {
            court_code: COURT_A.into(),
            target: Some(pb::watch_request::Target::MeasureId(id_b.clone())),
        })
        .await
        .expect_err("B's measure");
    assert_eq!(watch.code(), Code::NotFound);
    let release = a
        .release(pb::ReleaseRequest {
            court_code: COURT_A.into(),
            idempotency_key: "steal-2".into(),
            measure_id: id_b.clone(),
            reason: "none".into(),
            keep_fen: 0,
        })
        .await
        .expect_err("B's measure");
    assert_eq!(release.code(), Code::NotFound);
    let renew = a
        .renew(pb::RenewRequest {
            court_code: COURT_A.into(),
            idempotency_key: "extend-2".into(),
            measure_id: id_b.clone(),
            period: fixtures::months(6),
        })
        .await
        .expect_err("B's measure");
    assert_eq!(renew.code(), Code::NotFound);

    // B's freeze stands as it was; nothing was recorded for it.
    let now = hub.measure(COURT_B, &id_b).await?;
    assert_eq!(now.state, pb::MeasureState::Effective as i32);
    assert_eq!(now.expires_at, effective.expires_at);
    assert_eq!(hub.gateway_rows("measures").await?, rows_before);
    assert_eq!(hub.account("ICBC", &account).await?.frozen_fen, 1_000_000);
    hub.shutdown().await
}

#[tokio::test]
async fn a_court_certificate_is_refused_by_ops_and_an_operators_is_allowed() -> anyhow::Result<()> {
    let hub = TestHub::with_banks(&["ICBC"]).await?;
    let court = hub.pki().court(COURT_A)?;
    let channel = hub_trust::Transport::Tls(court)
        .endpoint(&hub.gateway_addr().to_string(), None)?
        .connect()
        .await?;
    let refused = pb::ops_client::OpsClient::new(channel)
        .list_dead_letters(pb::ListDeadLettersRequest { limit: 10 })
        .await
        .expect_err("a court is no operator");
    assert_eq!(refused.code(), Code::PermissionDenied);

    let listed = hub
        .ops()
        .await?
        .list_dead_letters(pb::ListDeadLettersRequest { limit: 10 })
        .await?
        .into_inner();
    assert_eq!(listed.total, 0);

    // And an operator's certificate is no court's.
    let operator = hub.gateway_client(&hub.pki().operator()?).await?;
    let refused = operator
        .clone()
        .get(pb::GetRequest {
            court_code: COURT_A.into(),
            measure_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("an operator is no court");
    assert_eq!(refused.code(), Code::PermissionDenied);
    hub.shutdown().await
}
