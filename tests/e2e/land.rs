//! Real property through the hub: seal-up, waiting seal-ups, pre-seizure converted on title.

use enforcement_proto::{reference as admin, v1 as pb};
use hub_testkit::{TestHub, fixtures};

const COURT: &str = "京0105";
const SECOND_COURT: &str = "粤03";
const REGISTRY: &str = "110105";

fn seal_up(
    court: &str,
    key: &str,
    case: &str,
    subject: pb::Subject,
    property: &str,
    pre_seizure: bool,
    months: u32,
) -> pb::SubmitRequest {
    fixtures::order(
        court,
        key,
        case,
        subject,
        fixtures::land(REGISTRY),
        pb::submit_request::Measure::SealUp(pb::SealUp {
            property_kind: pb::PropertyKind::Unit as i32,
            property_id: property.into(),
            pre_seizure,
            period: fixtures::months(months),
        }),
    )
}

async fn register(
    hub: &TestHub,
    property: &str,
    holder: (&str, &str),
    status: &str,
) -> anyhow::Result<()> {
    hub.land_admin(REGISTRY)
        .await?
        .register_property(admin::RegisterPropertyRequest {
            agency_code: REGISTRY.into(),
            property_id: property.into(),
            kind: "unit".into(),
            address: "北京市朝阳区某路1号".into(),
            holder_id: holder.1.into(),
            holder_name: holder.0.into(),
            status: status.into(),
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_seal_up_takes_effect_a_second_waits_and_is_promoted_when_the_first_is_released()
-> anyhow::Result<()> {
    let hub = TestHub::builder().land(&[REGISTRY]).start().await?;
    let id = fixtures::resident_id(300);
    register(&hub, "110105-001-0001", ("张三", &id), "registered").await?;
    let subject = || fixtures::person("张三", &id);

    let first = hub
        .submit(seal_up(
            COURT,
            "seal-1",
            &fixtures::case_number(300),
            subject(),
            "110105-001-0001",
            false,
            36,
        ))
        .await?;
    let effective = hub
        .wait_for_state(COURT, &first.measure_id, pb::MeasureState::Effective)
        .await?;
    assert!(
        effective.registration_number.starts_with("110105-CF"),
        "{}",
        effective.registration_number
    );
    let days = (effective.expires_at.expect("expiry").seconds
        - effective.effective_at.expect("effective").seconds)
        / 86_400;
    assert!(
        (1095..=1097).contains(&days),
        "three years, got {days} days"
    );

    let second = hub
        .submit(seal_up(
            SECOND_COURT,
            "seal-2",
            "（2024）粤03执300号",
            subject(),
            "110105-001-0001",
            false,
            24,
        ))
        .await?;
    let waiting = hub
        .wait_for_state(SECOND_COURT, &second.measure_id, pb::MeasureState::Waiting)
        .await?;
    assert_eq!(waiting.waiting_position, 1);

    hub.court()
        .await?
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "release-seal-1".into(),
            measure_id: first.measure_id.clone(),
            reason: "debt paid".into(),
            keep_fen: 0,
        })
        .await?;
    hub.wait_for_state(COURT, &first.measure_id, pb::MeasureState::Released)
        .await?;
    let promoted = hub
        .wait_for_state(
            SECOND_COURT,
            &second.measure_id,
            pb::MeasureState::Effective,
        )
        .await?;
    assert_eq!(promoted.waiting_position, 0);
    assert!(promoted.registration_number.starts_with("110105-CF"));

    let holds = hub
        .land_admin(REGISTRY)
        .await?
        .list_holds(admin::ListPropertyHoldsRequest {
            agency_code: REGISTRY.into(),
            property_id: "110105-001-0001".into(),
        })
        .await?
        .into_inner()
        .holds;
    let states: Vec<(&str, &str)> = holds
        .iter()
        .map(|h| (h.measure_id.as_str(), h.state.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![
            (first.measure_id.as_str(), "released"),
            (second.measure_id.as_str(), "effective")
        ]
    );
    hub.shutdown().await
}

#[tokio::test]
async fn a_pre_seizure_converts_to_a_seal_up_when_title_is_registered_keeping_its_dates()
-> anyhow::Result<()> {
    let hub = TestHub::builder().land(&[REGISTRY]).start().await?;
    let id = fixtures::resident_id(301);
    register(&hub, "110105-002-0002", ("李四", &id), "advance_registered").await?;

    // A seal-up of property not yet registered to the debtor is refused; a pre-seizure is taken.
    let refused = hub
        .submit(seal_up(
            COURT,
            "not-yet",
            &fixtures::case_number(301),
            fixtures::person("李四", &id),
            "110105-002-0002",
            false,
            36,
        ))
        .await?;
    let refused = hub
        .wait_for_state(COURT, &refused.measure_id, pb::MeasureState::Rejected)
        .await?;
    assert!(
        refused
            .reason
            .expect("reason")
            .message
            .contains("pre-seizure")
    );

    let pre = hub
        .submit(seal_up(
            COURT,
            "pre",
            &fixtures::case_number(301),
            fixtures::person("李四", &id),
            "110105-002-0002",
            true,
            36,
        ))
        .await?;
    let effective = hub
        .wait_for_state(COURT, &pre.measure_id, pb::MeasureState::Effective)
        .await?;
    assert!(
        effective.registration_number.starts_with("110105-YCF"),
        "{}",
        effective.registration_number
    );
    let (effective_at, expires_at) = (effective.effective_at, effective.expires_at);

    // Title passes to the debtor: the registry converts the pre-seizure and tells the court.
    hub.clock().advance(time::Duration::days(40));
    let registered = hub
        .land_admin(REGISTRY)
        .await?
        .register_title(admin::RegisterTitleRequest {
            agency_code: REGISTRY.into(),
            property_id: "110105-002-0002".into(),
            holder_id: id.clone(),
            holder_name: "李四".into(),
        })
        .await?
        .into_inner();
    assert_eq!(registered.converted.len(), 1);
    let converted = hub
        .wait_for(
            COURT,
            &pre.measure_id,
            std::time::Duration::from_secs(20),
            |m| m.registration_number.starts_with("110105-CF"),
        )
        .await?;
    assert_eq!(converted.state, pb::MeasureState::Effective as i32);
    // Its period is still counted from the pre-seizure date.
    assert_eq!(converted.effective_at, effective_at);
    assert_eq!(converted.expires_at, expires_at);
    hub.shutdown().await
}

#[tokio::test]
async fn property_of_someone_else_is_refused_and_a_seal_up_over_three_years_never_leaves_the_hub()
-> anyhow::Result<()> {
    let hub = TestHub::builder().land(&[REGISTRY]).start().await?;
    let owner = fixtures::resident_id(302);
    let debtor = fixtures::resident_id(303);
    register(&hub, "110105-003-0003", ("王五", &owner), "registered").await?;
    let measure = hub
        .submit(seal_up(
            COURT,
            "not-his",
            &fixtures::case_number(302),
            fixtures::person("赵六", &debtor),
            "110105-003-0003",
            false,
            12,
        ))
        .await?;
    let rejected = hub
        .wait_for_state(COURT, &measure.measure_id, pb::MeasureState::Rejected)
        .await?;
    assert_eq!(
        rejected.reason.expect("reason").code,
        pb::ReasonCode::NotOwnedBySubject as i32
    );

    let too_long = hub
        .court()
        .await?
        .submit(seal_up(
            COURT,
            "37",
            &fixtures::case_number(302),
            fixtures::person("王五", &owner),
            "110105-003-0003",
            false,
            37,
        ))
        .await
        .expect_err("37 months");
    assert_eq!(too_long.code(), tonic::Code::InvalidArgument);
    assert!(
        too_long.message().contains("seal_up.period"),
        "{}",
        too_long.message()
    );
    assert!(
        too_long.message().contains("36 months"),
        "{}",
        too_long.message()
    );
    hub.shutdown().await
}
