//! Public security through the hub: vehicle distraint and exit restriction.

use enforcement_proto::{reference as admin, v1 as pb};
use hub_testkit::{TestHub, fixtures};
use tonic::Code;
use tonic_types::StatusExt;

const COURT: &str = "京0105";
const UNIT: &str = "BJ-PSB";

fn order(
    key: &str,
    serial: u32,
    subject: pb::Subject,
    measure: pb::submit_request::Measure,
) -> pb::SubmitRequest {
    fixtures::order(
        COURT,
        key,
        &fixtures::case_number(serial),
        subject,
        fixtures::police(UNIT),
        measure,
    )
}

fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn vehicle_distraint_is_limited_to_24_months() -> anyhow::Result<()> {
    let hub = TestHub::builder().police(&[UNIT]).start().await?;
    let id = fixtures::resident_id(400);
    hub.police_admin(UNIT)
        .await?
        .register_vehicle(admin::RegisterVehicleRequest {
            agency_code: UNIT.into(),
            plate: "京A12345".into(),
            vin: "LSVAU2180N2183294".into(),
            holder_id: id.clone(),
            holder_name: "张三".into(),
        })
        .await?;
    let distraint = |months| {
        pb::submit_request::Measure::Distraint(pb::Distraint {
            plate: "京A12345".into(),
            vin: "LSVAU2180N2183294".into(),
            period: fixtures::months(months),
        })
    };
    let refused = hub
        .court()
        .await?
        .submit(order(
            "d-25",
            400,
            fixtures::person("张三", &id),
            distraint(25),
        ))
        .await
        .expect_err("25 months");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(fields(&refused), vec!["distraint.period"]);
    assert!(
        refused.message().contains("24 months"),
        "{}",
        refused.message()
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);

    let accepted = hub
        .submit(order(
            "d-24",
            400,
            fixtures::person("张三", &id),
            distraint(24),
        ))
        .await?;
    let effective = hub
        .wait_for_state(COURT, &accepted.measure_id, pb::MeasureState::Effective)
        .await?;
    assert!(
        effective.registration_number.starts_with("BJ-PSB-KY"),
        "{}",
        effective.registration_number
    );
    let days = (effective.expires_at.expect("expiry").seconds
        - effective.effective_at.expect("effective").seconds)
        / 86_400;
    assert!((730..=731).contains(&days), "two years, got {days} days");
    hub.shutdown().await
}

#[tokio::test]
async fn an_exit_restriction_takes_effect_and_a_release_lifts_it_with_border_inspection_told()
-> anyhow::Result<()> {
    let hub = TestHub::builder().police(&[UNIT]).start().await?;
    let id = fixtures::resident_id(401);
    hub.police_admin(UNIT)
        .await?
        .register_person(admin::RegisterPersonRequest {
            agency_code: UNIT.into(),
            resident_id: id.clone(),
            name: "李四".into(),
        })
        .await?;
    let restriction = hub
        .submit(order(
            "exit",
            401,
            fixtures::person("李四", &id),
            pb::submit_request::Measure::ExitRestriction(pb::ExitRestriction {
                person: None,
                role: 0,
                period: fixtures::months(6),
            }),
        ))
        .await?;
    let effective = hub
        .wait_for_state(COURT, &restriction.measure_id, pb::MeasureState::Effective)
        .await?;
    assert!(effective.expires_at.is_some());

    let mut watch = hub
        .court()
        .await?
        .watch(pb::WatchRequest {
            court_code: COURT.into(),
            target: Some(pb::watch_request::Target::MeasureId(
                restriction.measure_id.clone(),
            )),
        })
        .await?
        .into_inner();
    let _snapshot = watch.message().await?;
    hub.court()
        .await?
        .release(pb::ReleaseRequest {
            court_code: COURT.into(),
            idempotency_key: "lift".into(),
            measure_id: restriction.measure_id.clone(),
            reason: "debt paid in full".into(),
            keep_fen: 0,
        })
        .await?;
    let lifted = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let event = watch
                .message()
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
            if event
                .measure
                .as_ref()
                .is_some_and(|m| m.state == pb::MeasureState::Released as i32)
            {
                return Ok::<_, anyhow::Error>(event);
            }
        }
    })
    .await??;
    assert!(
        lifted.message.contains("border inspection"),
        "{}",
        lifted.message
    );
    hub.shutdown().await
}

#[tokio::test]
async fn an_exit_restriction_without_a_period_or_on_an_organisation_without_a_named_person_is_refused()
-> anyhow::Result<()> {
    let hub = TestHub::builder().police(&[UNIT]).start().await?;
    let id = fixtures::resident_id(402);
    let mut court = hub.court().await?;
    let no_period = court
        .submit(order(
            "no-period",
            402,
            fixtures::person("王五", &id),
            pb::submit_request::Measure::ExitRestriction(pb::ExitRestriction {
                person: None,
                role: 0,
                period: None,
            }),
        ))
        .await
        .expect_err("a period is required");
    assert_eq!(no_period.code(), Code::InvalidArgument);
    assert_eq!(fields(&no_period), vec!["exit_restriction.period"]);

    let no_person = court
        .submit(order(
            "no-person",
            403,
            fixtures::organisation("北京某某贸易有限公司", "91110105MA01ABCD13"),
            pb::submit_request::Measure::ExitRestriction(pb::ExitRestriction {
                person: None,
                role: 0,
                period: fixtures::months(6),
            }),
        ))
        .await
        .expect_err("an organisation's representative must be named");
    assert_eq!(no_person.code(), Code::InvalidArgument);
    assert_eq!(fields(&no_person), vec!["exit_restriction.person"]);

    let bad_person = court
        .submit(order(
            "bad-person",
            404,
            fixtures::organisation("北京某某贸易有限公司", "91110105MA01ABCD13"),
            pb::submit_request::Measure::ExitRestriction(pb::ExitRestriction {
                person: Some(pb::NaturalPerson {
                    name: "赵六".into(),
                    resident_id: "110105194912310021".into(),
                }),
                role: pb::ResponsibleRole::LegalRepresentative as i32,
                period: fixtures::months(6),
            }),
        ))
        .await
        .expect_err("the representative's identity number is invalid");
    assert_eq!(
        fields(&bad_person),
        vec!["exit_restriction.person.resident_id"]
    );
    assert_eq!(hub.gateway_rows("measures").await?, 0);
    hub.shutdown().await
}
