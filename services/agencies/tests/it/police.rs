//! Public security: vehicle distraints (exclusive, with a waiting line), exit restrictions (not
//! exclusive), vehicle and whereabouts inquiries, and the units served.

use enforcement_proto::{convert::timestamp, reference as admin, v1 as pb};
use hub_agencies::holds::BORDER_INSPECTION_NOTIFIED;
use time::{Duration, macros::datetime};
use tonic::Code;

use crate::support::{
    Options, PoliceApp, at, cause, expiry, follow_up, instruction, months, outcome, person, reason,
    release, spawn_police, state,
};

const UNIT: &str = "BJ-PSB";
const COURT: &str = "京0105";
const SECOND_COURT: &str = "京0108";
const ZHANG: (&str, &str) = ("张伟", "110105198001010016");
const WANG: (&str, &str) = ("王芳", "440304198506150023");
const ZHANGS_CAR: (&str, &str) = ("京A12345", "LSVAU2185N2100001");

impl PoliceApp {
    async fn person(&self, who: (&str, &str)) {
        self.admin
            .clone()
            .register_person(admin::RegisterPersonRequest {
                agency_code: UNIT.into(),
                resident_id: who.1.into(),
                name: who.0.into(),
            })
            .await
            .expect("registering a person");
    }

    async fn vehicle(&self, car: (&str, &str), holder: (&str, &str)) {
        self.admin
            .clone()
            .register_vehicle(admin::RegisterVehicleRequest {
                agency_code: UNIT.into(),
                plate: car.0.into(),
                vin: car.1.into(),
                holder_id: holder.1.into(),
                holder_name: holder.0.into(),
            })
            .await
            .expect("registering a vehicle");
    }

    async fn holds(&self, plate: &str, resident_id: &str) -> Vec<admin::PoliceHold> {
        self.admin
            .clone()
            .list_holds(admin::ListPoliceHoldsRequest {
                agency_code: UNIT.into(),
                plate: plate.into(),
                resident_id: resident_id.into(),
            })
            .await
            .expect("listing holds")
            .into_inner()
            .holds
    }
}

fn distraint(
    court: &str,
    subject: (&str, &str),
    plate: &str,
    vin: &str,
    period: u32,
) -> pb::Instruction {
    instruction(
        pb::AgencyKind::PublicSecurity,
        UNIT,
        court,
        person(subject.0, subject.1),
        pb::instruction::Action::Distraint(pb::Distraint {
            plate: plate.into(),
            vin: vin.into(),
            period: months(period),
        }),
    )
}

fn exit_restriction(court: &str, who: (&str, &str), period: Option<pb::Period>) -> pb::Instruction {
    instruction(
        pb::AgencyKind::PublicSecurity,
        UNIT,
        court,
        person(who.0, who.1),
        pb::instruction::Action::ExitRestriction(pb::ExitRestriction {
            person: Some(pb::NaturalPerson {
                name: who.0.into(),
                resident_id: who.1.into(),
            }),
            role: pb::ResponsibleRole::Debtor as i32,
            period,
        }),
    )
}

#[tokio::test]
async fn a_distraint_of_25_months_is_refused_and_24_accepted() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.vehicle(ZHANGS_CAR, ZHANG).await;

    let too_long = app
        .execute(&distraint(COURT, ZHANG, "", ZHANGS_CAR.1, 25))
        .await;
    let longest = app
        .execute(&distraint(COURT, ZHANG, "", ZHANGS_CAR.1, 24))
        .await;

    let refused = outcome(&too_long);
    assert_eq!(reason(refused), pb::ReasonCode::PeriodExceedsMaximum);
    assert!(
        refused.note.contains("24 months for movables"),
        "{}",
        refused.note
    );
    let distrained = outcome(&longest);
    assert_eq!(state(distrained), pb::MeasureState::Effective);
    assert!(
        distrained.registration_number.starts_with("BJ-PSB-KY"),
        "{}",
        distrained.registration_number
    );
    let effective_at = at(distrained.effective_at.as_ref());
    assert_eq!(at(distrained.expires_at.as_ref()), expiry(effective_at, 24));
}

#[tokio::test]
async fn a_second_distraint_waits_and_takes_effect_when_the_first_is_released() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.vehicle(ZHANGS_CAR, ZHANG).await;
    let first = distraint(COURT, ZHANG, ZHANGS_CAR.0, ZHANGS_CAR.1, 12);
    // Found by plate alone.
    let second = distraint(SECOND_COURT, ZHANG, ZHANGS_CAR.0, "", 6);
    app.execute(&first).await;

    let waiting = app.execute(&second).await;

    assert_eq!(state(outcome(&waiting)), pb::MeasureState::Waiting);
    assert_eq!(outcome(&waiting).waiting_position, 1);
    let released = app
        .execute(&follow_up(&first, release(&first, "security given")))
        .await;
    assert_eq!(state(outcome(&released)), pb::MeasureState::Effective);
    let related = &released.related;
    assert_eq!(related.len(), 2, "{related:#?}");
    assert_eq!(
        (related[0].measure_id.as_str(), state(&related[0])),
        (first.measure_id.as_str(), pb::MeasureState::Released)
    );
    assert_eq!(
        (
            related[1].measure_id.as_str(),
            state(&related[1]),
            cause(&related[1])
        ),
        (
            second.measure_id.as_str(),
            pb::MeasureState::Effective,
            pb::UpdateCause::Promoted
        )
    );
    let promoted_at = at(related[1].effective_at.as_ref());
    assert_eq!(at(related[1].expires_at.as_ref()), expiry(promoted_at, 6));
    let holds = app.holds(ZHANGS_CAR.0, "").await;
    let states: Vec<_> = holds.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(states, ["released", "effective"]);
    assert!(
        holds
            .iter()
            .all(|h| h.kind == "distraint" && h.asset_id == ZHANGS_CAR.1)
    );
}

#[tokio::test]
async fn a_distraint_of_an_unknown_or_someone_elses_vehicle_is_refused() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.vehicle(ZHANGS_CAR, ZHANG).await;

    let not_theirs = app
        .execute(&distraint(COURT, WANG, "", ZHANGS_CAR.1, 12))
        .await;
    let unknown = app
        .execute(&distraint(COURT, ZHANG, "京B00000", "", 12))
        .await;
    let plate_and_vin_disagree = app
        .execute(&distraint(COURT, ZHANG, "京B00000", ZHANGS_CAR.1, 12))
        .await;

    assert_eq!(
        reason(outcome(&not_theirs)),
        pb::ReasonCode::NotOwnedBySubject
    );
    assert_eq!(reason(outcome(&unknown)), pb::ReasonCode::NotFound);
    assert_eq!(
        reason(outcome(&plate_and_vin_disagree)),
        pb::ReasonCode::DocumentDefect
    );
    assert!(app.holds("", "").await.is_empty());
}

#[tokio::test]
async fn an_exit_restriction_takes_effect_and_its_release_tells_border_inspection() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.person(ZHANG).await;
    let order = exit_restriction(COURT, ZHANG, months(6));

    let restricted = app.execute(&order).await;

    let effective = outcome(&restricted);
    assert_eq!(state(effective), pb::MeasureState::Effective);
    assert!(effective.registration_number.starts_with("BJ-PSB-XZCJ"));
    let effective_at = at(effective.effective_at.as_ref());
    assert_eq!(at(effective.expires_at.as_ref()), expiry(effective_at, 6));

    let released = app
        .execute(&follow_up(&order, release(&order, "debt paid in full")))
        .await;

    let done = outcome(&released);
    assert_eq!(state(done), pb::MeasureState::Effective);
    assert!(
        done.note.contains(BORDER_INSPECTION_NOTIFIED),
        "{}",
        done.note
    );
    assert_eq!(released.related.len(), 1);
    let lifted = &released.related[0];
    assert_eq!(lifted.measure_id, order.measure_id);
    assert_eq!(state(lifted), pb::MeasureState::Released);
    assert_eq!(lifted.revision, 2);
    assert!(
        lifted.note.contains("出入境边防检查机关"),
        "{}",
        lifted.note
    );
    let holds = app.holds("", ZHANG.1).await;
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].kind, "exit_restriction");
    assert_eq!(holds[0].state, "released");
}

#[tokio::test]
async fn two_courts_restrictions_on_one_person_are_both_effective() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.person(ZHANG).await;
    let first = exit_restriction(COURT, ZHANG, months(6));
    let second = exit_restriction(SECOND_COURT, ZHANG, months(3));

    let one = app.execute(&first).await;
    let two = app.execute(&second).await;

    assert_eq!(state(outcome(&one)), pb::MeasureState::Effective);
    assert_eq!(state(outcome(&two)), pb::MeasureState::Effective);
    assert_eq!(outcome(&two).waiting_position, 0);
    // Releasing one leaves the other standing, and promotes nothing.
    let released = app
        .execute(&follow_up(&first, release(&first, "consent")))
        .await;
    assert_eq!(released.related.len(), 1);
    let states: Vec<_> = app
        .holds("", ZHANG.1)
        .await
        .into_iter()
        .map(|h| h.state)
        .collect();
    assert_eq!(states, ["released", "effective"]);
}

#[tokio::test]
async fn an_exit_restriction_needs_a_person_on_record_the_right_name_and_a_period() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.person(ZHANG).await;

    let unknown = app.execute(&exit_restriction(COURT, WANG, months(6))).await;
    let other_name = app
        .execute(&exit_restriction(COURT, ("张卫", ZHANG.1), months(6)))
        .await;
    let no_period = app.execute(&exit_restriction(COURT, ZHANG, None)).await;

    assert_eq!(reason(outcome(&unknown)), pb::ReasonCode::NotFound);
    assert_eq!(reason(outcome(&other_name)), pb::ReasonCode::NameMismatch);
    assert_eq!(reason(outcome(&no_period)), pb::ReasonCode::DocumentDefect);
    assert!(app.holds("", "").await.is_empty());
}

#[tokio::test]
async fn an_exit_restriction_lapses_at_expiry_with_a_notice() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.person(ZHANG).await;
    let order = exit_restriction(COURT, ZHANG, months(3));
    app.execute(&order).await;
    app.clock.advance(Duration::days(3 * 31 + 1));

    let lapsed_now = app.office.lapse_due().await.expect("lapsing");

    assert_eq!(lapsed_now, 1);
    let lapsed = app
        .inbox
        .wait_for_update(&order.measure_id, pb::UpdateCause::Lapsed)
        .await;
    assert_eq!(state(&lapsed), pb::MeasureState::Lapsed);
    assert_eq!(lapsed.revision, 2);
    assert!(
        lapsed.note.contains("出入境边防检查机关"),
        "{}",
        lapsed.note
    );
    let notice = &app.inbox.notices()[0];
    assert_eq!(
        notice.agency,
        Some(pb::AgencyRef {
            kind: pb::AgencyKind::PublicSecurity as i32,
            code: UNIT.into(),
        })
    );
}

#[tokio::test]
async fn a_whereabouts_inquiry_returns_the_latest_sighting() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.person(ZHANG).await;
    app.person(WANG).await;
    for (place, seen_at) in [
        ("北京西站", datetime!(2024-05-01 09:00 +8)),
        ("北京首都国际机场T3航站楼", datetime!(2024-06-02 21:40 +8)),
        ("北京市朝阳区建国路88号", datetime!(2024-04-11 13:05 +8)),
    ] {
        app.admin
            .clone()
            .record_sighting(admin::RecordSightingRequest {
                agency_code: UNIT.into(),
                resident_id: ZHANG.1.into(),
                place: place.into(),
                seen_at: Some(timestamp(seen_at)),
            })
            .await
            .expect("recording a sighting");
    }
    let whereabouts = |who: (&str, &str)| {
        instruction(
            pb::AgencyKind::PublicSecurity,
            UNIT,
            COURT,
            person(who.0, who.1),
            pb::instruction::Action::Inquiry(pb::Inquiry {
                classes: vec![pb::AssetClass::Whereabouts as i32],
            }),
        )
    };

    let found = app.execute(&whereabouts(ZHANG)).await;
    let nothing = app.execute(&whereabouts(WANG)).await;

    assert_eq!(state(outcome(&found)), pb::MeasureState::Effective);
    let holdings = found.answer.expect("an answer").holdings;
    assert_eq!(holdings.len(), 1);
    match &holdings[0].asset {
        Some(pb::holding::Asset::Whereabouts(w)) => {
            assert_eq!(w.place, "北京首都国际机场T3航站楼");
            assert_eq!(at(w.seen_at.as_ref()), datetime!(2024-06-02 21:40 +8));
        }
        other => panic!("not whereabouts: {other:?}"),
    }
    assert_eq!(state(outcome(&nothing)), pb::MeasureState::Effective);
    assert!(nothing.answer.expect("an answer").holdings.is_empty());
}

#[tokio::test]
async fn a_vehicle_inquiry_lists_the_subjects_vehicles_and_whether_distrained() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.vehicle(ZHANGS_CAR, ZHANG).await;
    app.vehicle(("京N8D123", "LFV3A23C5K3000002"), ZHANG).await;
    app.vehicle(("京ADF5678", "LGBH52E01NY000003"), WANG).await;
    app.execute(&distraint(COURT, ZHANG, "", ZHANGS_CAR.1, 12))
        .await;
    let inquiry = instruction(
        pb::AgencyKind::PublicSecurity,
        UNIT,
        COURT,
        person(ZHANG.0, ZHANG.1),
        pb::instruction::Action::Inquiry(pb::Inquiry {
            classes: vec![pb::AssetClass::Vehicles as i32],
        }),
    );

    let response = app.execute(&inquiry).await;

    let found: Vec<(String, bool)> = response
        .answer
        .expect("an answer")
        .holdings
        .into_iter()
        .map(|h| match h.asset {
            Some(pb::holding::Asset::Vehicle(v)) => (v.plate, v.distrained),
            other => panic!("not a vehicle: {other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        [
            ("京A12345".to_string(), true),
            ("京N8D123".to_string(), false)
        ]
    );
}

#[tokio::test]
async fn a_repeated_distraint_is_answered_the_same_and_registered_once() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    app.vehicle(ZHANGS_CAR, ZHANG).await;
    let order = distraint(COURT, ZHANG, "", ZHANGS_CAR.1, 12);

    let first = app.execute(&order).await;
    app.clock.advance(Duration::minutes(5));
    let again = app.execute(&order).await;

    assert_eq!(first, again);
    assert_eq!(app.holds("", "").await.len(), 1);
}

#[tokio::test]
async fn an_instruction_for_a_unit_not_served_is_an_invalid_argument() {
    let app = spawn_police(Options::codes(&[UNIT])).await;
    let mut elsewhere = exit_restriction(COURT, ZHANG, months(6));
    elsewhere.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::PublicSecurity as i32,
        code: "SH-PSB".into(),
    });

    let status = app
        .backend
        .clone()
        .execute(elsewhere)
        .await
        .expect_err("refused");

    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_demo_fixture_records_persons_sightings_and_vehicles() {
    let app = spawn_police(Options {
        fixture: Some("demo-police.json"),
        ..Options::codes(&[UNIT, "SH-PSB"])
    })
    .await;
    let inquiry = instruction(
        pb::AgencyKind::PublicSecurity,
        UNIT,
        COURT,
        person(ZHANG.0, ZHANG.1),
        pb::instruction::Action::Inquiry(pb::Inquiry {
            classes: vec![
                pb::AssetClass::Vehicles as i32,
                pb::AssetClass::Whereabouts as i32,
            ],
        }),
    );

    let response = app.execute(&inquiry).await;

    let holdings = response.answer.expect("an answer").holdings;
    assert_eq!(holdings.len(), 2, "{holdings:#?}");
    assert!(matches!(
        &holdings[0].asset,
        Some(pb::holding::Asset::Vehicle(v)) if v.plate == "京A12345"
    ));
    assert!(matches!(
        &holdings[1].asset,
        Some(pb::holding::Asset::Whereabouts(w)) if w.place == "北京首都国际机场T3航站楼"
    ));
    let restriction = app
        .execute(&exit_restriction(COURT, ZHANG, months(6)))
        .await;
    assert_eq!(state(outcome(&restriction)), pb::MeasureState::Effective);
}
