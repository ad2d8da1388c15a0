//! The land registry: seal-ups, waiting seal-ups, pre-seizure and its conversion, release,
//! renewal, lapse, inquiries, idempotency and the regions served.

use enforcement_proto::{reference as admin, v1 as pb};
use time::Duration;
use tonic::Code;

use crate::support::{
    LandApp, Options, at, cause, expiry, follow_up, instruction, months, organisation, outcome,
    person, reason, release, renewal, spawn_land, state,
};

const REGION: &str = "110105";
const OTHER_REGION: &str = "110108";
const COURT: &str = "京0105";
const SECOND_COURT: &str = "京0108";
const ZHANG: (&str, &str) = ("张伟", "110105198001010016");
const WANG: (&str, &str) = ("王芳", "440304198506150023");

const FLAT: &str = "110105003001GB00012F00010101";
const NEW_FLAT: &str = "110105006001GB00107F00030801";
const WANGS_FLAT: &str = "110105003001GB00012F00010502";

impl LandApp {
    async fn record(&self, region: &str, property_id: &str, holder: (&str, &str), status: &str) {
        self.admin
            .clone()
            .register_property(admin::RegisterPropertyRequest {
                agency_code: region.into(),
                property_id: property_id.into(),
                kind: "unit".into(),
                address: "北京市朝阳区建国路88号".into(),
                holder_id: holder.1.into(),
                holder_name: holder.0.into(),
                status: status.into(),
            })
            .await
            .expect("recording a property");
    }

    async fn holds(&self, property_id: &str) -> Vec<admin::PropertyHold> {
        self.admin
            .clone()
            .list_holds(admin::ListPropertyHoldsRequest {
                agency_code: REGION.into(),
                property_id: property_id.into(),
            })
            .await
            .expect("listing holds")
            .into_inner()
            .holds
    }
}

/// A seal-up (or pre-seizure) by `court` of `property_id` against `subject` at region 110105.
fn seal_up(
    court: &str,
    subject: (&str, &str),
    property_id: &str,
    pre_seizure: bool,
    period_months: u32,
) -> pb::Instruction {
    instruction(
        pb::AgencyKind::LandRegistry,
        REGION,
        court,
        person(subject.0, subject.1),
        pb::instruction::Action::SealUp(pb::SealUp {
            property_kind: pb::PropertyKind::Unit as i32,
            property_id: property_id.into(),
            pre_seizure,
            period: months(period_months),
        }),
    )
}

#[tokio::test]
async fn a_seal_up_of_registered_property_takes_effect_with_a_registration_number() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;

    let order = seal_up(COURT, ZHANG, FLAT, false, 36);
    let response = app.execute(&order).await;

    let sealed = outcome(&response);
    assert_eq!(state(sealed), pb::MeasureState::Effective);
    assert_eq!(cause(sealed), pb::UpdateCause::Executed);
    assert_eq!(sealed.measure_id, order.measure_id);
    assert_eq!(sealed.revision, 1);
    assert!(
        sealed.registration_number.starts_with("110105-CF"),
        "{}",
        sealed.registration_number
    );
    let effective_at = at(sealed.effective_at.as_ref());
    assert_eq!(at(sealed.expires_at.as_ref()), expiry(effective_at, 36));
    assert!(response.related.is_empty());

    let holds = app.holds(FLAT).await;
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].state, "effective");
    assert!(!holds[0].pre_seizure);
    assert_eq!(holds[0].registration_number, sealed.registration_number);
    assert_eq!(holds[0].expires_at, sealed.expires_at);
    let property = app
        .admin
        .clone()
        .get_property(admin::PropertyRequest {
            agency_code: REGION.into(),
            property_id: FLAT.into(),
        })
        .await
        .expect("property")
        .into_inner();
    assert!(property.sealed);
    assert_eq!(property.waiting, 0);
}

#[tokio::test]
async fn a_second_courts_seal_up_waits_and_takes_effect_when_the_first_is_released() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    let first = seal_up(COURT, ZHANG, FLAT, false, 24);
    let second = seal_up(SECOND_COURT, ZHANG, FLAT, false, 12);
    let third = seal_up("京0106", ZHANG, FLAT, false, 6);
    app.execute(&first).await;

    let waiting = app.execute(&second).await;
    let waiting = outcome(&waiting);
    assert_eq!(state(waiting), pb::MeasureState::Waiting);
    assert_eq!(waiting.waiting_position, 1);
    assert!(waiting.registration_number.starts_with("110105-CF"));
    assert_eq!(waiting.effective_at, None);
    assert_eq!(waiting.expires_at, None);
    let behind = app.execute(&third).await;
    assert_eq!(state(outcome(&behind)), pb::MeasureState::Waiting);
    assert_eq!(outcome(&behind).waiting_position, 2);

    let released = app
        .execute(&follow_up(&first, release(&first, "debt paid")))
        .await;

    let done = outcome(&released);
    assert_eq!(state(done), pb::MeasureState::Effective);
    let related = &released.related;
    assert_eq!(related.len(), 3, "{related:#?}");
    assert_eq!(related[0].measure_id, first.measure_id);
    assert_eq!(state(&related[0]), pb::MeasureState::Released);
    assert_eq!(cause(&related[0]), pb::UpdateCause::Released);
    assert_eq!(related[0].revision, 2);
    assert_eq!(related[1].measure_id, second.measure_id);
    assert_eq!(state(&related[1]), pb::MeasureState::Effective);
    assert_eq!(cause(&related[1]), pb::UpdateCause::Promoted);
    assert_eq!(related[1].revision, 2);
    assert_eq!(related[1].waiting_position, 0);
    // The promoted seal-up's period runs from its promotion.
    let promoted_at = at(related[1].effective_at.as_ref());
    assert_eq!(at(related[1].expires_at.as_ref()), expiry(promoted_at, 12));
    assert_eq!(related[2].measure_id, third.measure_id);
    assert_eq!(state(&related[2]), pb::MeasureState::Waiting);
    assert_eq!(cause(&related[2]), pb::UpdateCause::PositionChanged);
    assert_eq!(related[2].waiting_position, 1);

    let holds = app.holds(FLAT).await;
    let states: Vec<_> = holds
        .iter()
        .map(|h| (h.measure_id.as_str(), h.state.as_str(), h.waiting_position))
        .collect();
    assert_eq!(
        states,
        [
            (first.measure_id.as_str(), "released", 0),
            (second.measure_id.as_str(), "effective", 0),
            (third.measure_id.as_str(), "waiting", 1),
        ]
    );
}

#[tokio::test]
async fn only_the_ordering_court_may_release_a_seal_up() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    let first = seal_up(COURT, ZHANG, FLAT, false, 12);
    app.execute(&first).await;

    let mut foreign = follow_up(&first, release(&first, "debt paid"));
    foreign.court_code = SECOND_COURT.into();
    let refused = app.execute(&foreign).await;

    assert_eq!(reason(outcome(&refused)), pb::ReasonCode::DocumentDefect);
    assert_eq!(app.holds(FLAT).await[0].state, "effective");
}

#[tokio::test]
async fn a_pre_seizure_of_advance_registered_property_takes_effect_as_a_pre_seizure() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, NEW_FLAT, ZHANG, "advance_registered")
        .await;

    let response = app
        .execute(&seal_up(COURT, ZHANG, NEW_FLAT, true, 36))
        .await;

    let pre_seized = outcome(&response);
    assert_eq!(state(pre_seized), pb::MeasureState::Effective);
    assert!(
        pre_seized.registration_number.starts_with("110105-YCF"),
        "{}",
        pre_seized.registration_number
    );
    let holds = app.holds(NEW_FLAT).await;
    assert!(holds[0].pre_seizure);
    assert_eq!(holds[0].state, "effective");
}

#[tokio::test]
async fn registering_title_converts_the_pre_seizure_and_keeps_its_expiry() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, NEW_FLAT, ZHANG, "advance_registered")
        .await;
    let order = seal_up(COURT, ZHANG, NEW_FLAT, true, 24);
    let response = app.execute(&order).await;
    let pre_seized = outcome(&response).clone();
    let pre_seizure_date = at(pre_seized.effective_at.as_ref());
    // Title is registered months later; the period still runs from the pre-seizure date.
    app.clock.advance(Duration::days(90));

    let registered = app
        .admin
        .clone()
        .register_title(admin::RegisterTitleRequest {
            agency_code: REGION.into(),
            property_id: NEW_FLAT.into(),
            holder_id: ZHANG.1.into(),
            holder_name: ZHANG.0.into(),
        })
        .await
        .expect("registering title")
        .into_inner();

    let property = registered.property.expect("the property");
    assert_eq!(property.status, "registered");
    assert!(property.sealed);
    assert_eq!(registered.converted.len(), 1);
    let converted = &registered.converted[0];
    assert!(!converted.pre_seizure);
    assert!(
        converted.registration_number.starts_with("110105-CF"),
        "{}",
        converted.registration_number
    );
    assert_eq!(converted.revision, 2);
    assert_eq!(converted.expires_at, pre_seized.expires_at);

    let notice = app
        .inbox
        .wait_for_update(&order.measure_id, pb::UpdateCause::Converted)
        .await;
    assert_eq!(state(&notice), pb::MeasureState::Effective);
    assert_eq!(notice.revision, 2);
    assert_eq!(notice.registration_number, converted.registration_number);
    assert_eq!(
        at(notice.expires_at.as_ref()),
        expiry(pre_seizure_date, 24),
        "the period is counted from the pre-seizure date"
    );
    assert_eq!(notice.effective_at, pre_seized.effective_at);
    assert!(notice.note.contains("converted"), "{}", notice.note);
    let sent = app.inbox.notices();
    assert_eq!(
        sent[0].agency,
        Some(pb::AgencyRef {
            kind: pb::AgencyKind::LandRegistry as i32,
            code: REGION.into(),
        })
    );
}

#[tokio::test]
async fn title_cannot_pass_to_another_while_the_property_is_sealed_up() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    app.execute(&seal_up(COURT, ZHANG, FLAT, false, 12)).await;

    let refused = app
        .admin
        .clone()
        .register_title(admin::RegisterTitleRequest {
            agency_code: REGION.into(),
            property_id: FLAT.into(),
            holder_id: WANG.1.into(),
            holder_name: WANG.0.into(),
        })
        .await
        .expect_err("a sealed-up property cannot change hands");

    assert_eq!(refused.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn the_wrong_measure_for_the_title_status_is_a_document_defect() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    app.record(REGION, NEW_FLAT, ZHANG, "presold").await;

    let seal_up_of_presold = app
        .execute(&seal_up(COURT, ZHANG, NEW_FLAT, false, 12))
        .await;
    let pre_seizure_of_registered = app.execute(&seal_up(COURT, ZHANG, FLAT, true, 12)).await;

    let refused = outcome(&seal_up_of_presold);
    assert_eq!(reason(refused), pb::ReasonCode::DocumentDefect);
    assert!(refused.note.contains("pre-seizure"), "{}", refused.note);
    let refused = outcome(&pre_seizure_of_registered);
    assert_eq!(reason(refused), pb::ReasonCode::DocumentDefect);
    assert!(refused.note.contains("order a seal-up"), "{}", refused.note);
}

#[tokio::test]
async fn property_of_someone_else_is_not_owned_by_the_subject() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, WANGS_FLAT, WANG, "registered").await;

    let refused = app
        .execute(&seal_up(COURT, ZHANG, WANGS_FLAT, false, 12))
        .await;
    let unknown = app
        .execute(&seal_up(
            COURT,
            ZHANG,
            "110105999999GB99999F99999999",
            false,
            12,
        ))
        .await;
    let other_name = app
        .execute(&seal_up(COURT, ("汪芳", WANG.1), WANGS_FLAT, false, 12))
        .await;

    assert_eq!(reason(outcome(&refused)), pb::ReasonCode::NotOwnedBySubject);
    assert_eq!(reason(outcome(&unknown)), pb::ReasonCode::NotFound);
    assert_eq!(reason(outcome(&other_name)), pb::ReasonCode::NameMismatch);
    assert!(app.holds(WANGS_FLAT).await.is_empty());
}

#[tokio::test]
async fn a_seal_up_longer_than_36_months_exceeds_the_statutory_maximum() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;

    let too_long = app.execute(&seal_up(COURT, ZHANG, FLAT, false, 37)).await;
    let longest = app.execute(&seal_up(COURT, ZHANG, FLAT, false, 36)).await;

    let refused = outcome(&too_long);
    assert_eq!(reason(refused), pb::ReasonCode::PeriodExceedsMaximum);
    let message = &refused.reason.as_ref().expect("a reason").message;
    assert!(
        message.contains("36 months for real estate") && message.contains("民诉解释 art. 485"),
        "{message}"
    );
    assert_eq!(state(outcome(&longest)), pb::MeasureState::Effective);
}

#[tokio::test]
async fn advancing_past_expiry_lapses_the_seal_up_and_promotes_the_waiting_one() {
    let app = spawn_land(Options {
        lapse_poll_ms: 50,
        ..Options::codes(&[REGION])
    })
    .await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    let first = seal_up(COURT, ZHANG, FLAT, false, 6);
    let second = seal_up(SECOND_COURT, ZHANG, FLAT, false, 12);
    let sealed = app.execute(&first).await;
    let first_expiry = at(outcome(&sealed).expires_at.as_ref());
    app.execute(&second).await;

    app.clock.advance(Duration::days(6 * 31 + 1));

    let lapsed = app
        .inbox
        .wait_for_update(&first.measure_id, pb::UpdateCause::Lapsed)
        .await;
    let promoted = app
        .inbox
        .wait_for_update(&second.measure_id, pb::UpdateCause::Promoted)
        .await;
    assert_eq!(state(&lapsed), pb::MeasureState::Lapsed);
    assert_eq!(lapsed.revision, 2);
    assert_eq!(at(lapsed.expires_at.as_ref()), first_expiry);
    assert_eq!(state(&promoted), pb::MeasureState::Effective);
    assert_eq!(promoted.revision, 2);
    let promoted_at = at(promoted.effective_at.as_ref());
    assert!(promoted_at >= first_expiry);
    assert_eq!(at(promoted.expires_at.as_ref()), expiry(promoted_at, 12));
    // Both changes travel in one notice, lapse first.
    let notices = app.inbox.notices();
    let notice = notices
        .iter()
        .find(|n| n.updates.iter().any(|u| u.measure_id == first.measure_id))
        .expect("the lapse notice");
    assert_eq!(notice.updates[0].measure_id, first.measure_id);
    assert_eq!(notice.updates[1].measure_id, second.measure_id);
    let states: Vec<_> = app.holds(FLAT).await.into_iter().map(|h| h.state).collect();
    assert_eq!(states, ["lapsed", "effective"]);
}

#[tokio::test]
async fn a_renewal_the_day_before_expiry_keeps_priority_and_one_after_expiry_is_refused() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    let first = seal_up(COURT, ZHANG, FLAT, false, 12);
    let second = seal_up(SECOND_COURT, ZHANG, FLAT, false, 12);
    let sealed = app.execute(&first).await;
    let expires = at(outcome(&sealed).expires_at.as_ref());
    app.execute(&second).await;
    app.clock
        .advance(expires - app.clock.now() - Duration::days(1));

    let renewed = app.execute(&follow_up(&first, renewal(&first, 36))).await;

    let done = outcome(&renewed);
    assert_eq!(state(done), pb::MeasureState::Effective);
    let new_expiry = expiry(expires, 36);
    assert_eq!(at(done.expires_at.as_ref()), new_expiry);
    assert_eq!(renewed.related.len(), 1);
    assert_eq!(renewed.related[0].measure_id, first.measure_id);
    assert_eq!(cause(&renewed.related[0]), pb::UpdateCause::Renewed);
    assert_eq!(renewed.related[0].revision, 2);
    let holds = app.holds(FLAT).await;
    assert_eq!(holds[0].state, "effective");
    assert_eq!(at(holds[0].expires_at.as_ref()), new_expiry);
    assert_eq!(
        (holds[1].state.as_str(), holds[1].waiting_position),
        ("waiting", 1)
    );

    let too_long = app.execute(&follow_up(&first, renewal(&first, 37))).await;
    assert_eq!(
        reason(outcome(&too_long)),
        pb::ReasonCode::PeriodExceedsMaximum
    );

    app.clock
        .advance(new_expiry - app.clock.now() + Duration::days(1));
    let late = app.execute(&follow_up(&first, renewal(&first, 12))).await;
    assert_eq!(reason(outcome(&late)), pb::ReasonCode::RenewalAfterExpiry);
}

#[tokio::test]
async fn a_repeated_instruction_is_answered_the_same_and_changes_nothing() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    let first = seal_up(COURT, ZHANG, FLAT, false, 12);
    let second = seal_up(SECOND_COURT, ZHANG, FLAT, false, 12);
    app.execute(&first).await;
    app.execute(&second).await;
    let release = follow_up(&first, release(&first, "debt paid"));
    let answered = app.execute(&release).await;
    let before = app.holds(FLAT).await;

    app.clock.advance(Duration::hours(1));
    let again = app.execute(&release).await;
    let seal_up_again = app.execute(&second).await;

    assert_eq!(again, answered);
    assert_eq!(state(outcome(&seal_up_again)), pb::MeasureState::Waiting);
    assert_eq!(app.holds(FLAT).await, before);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_instruction_execute_it_once() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    let order = seal_up(COURT, ZHANG, FLAT, false, 12);

    let answers = app.execute_at_once(&order, 8).await;

    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.holds(FLAT).await.len(), 1);
}

#[tokio::test]
async fn an_instruction_for_a_region_not_served_is_an_invalid_argument() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    let mut elsewhere = seal_up(COURT, ZHANG, FLAT, false, 12);
    elsewhere.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::LandRegistry as i32,
        code: "310115".into(),
    });
    let mut wrong_kind = seal_up(COURT, ZHANG, FLAT, false, 12);
    wrong_kind.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::Bank as i32,
        code: REGION.into(),
    });

    for order in [elsewhere, wrong_kind] {
        let status = app
            .backend
            .clone()
            .execute(order)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn regions_served_by_one_process_keep_their_registers_apart() {
    let app = spawn_land(Options::codes(&[REGION, OTHER_REGION])).await;
    app.record(OTHER_REGION, FLAT, ZHANG, "registered").await;

    let here = app.execute(&seal_up(COURT, ZHANG, FLAT, false, 12)).await;
    let mut there = seal_up(COURT, ZHANG, FLAT, false, 12);
    there.agency = Some(pb::AgencyRef {
        kind: pb::AgencyKind::LandRegistry as i32,
        code: OTHER_REGION.into(),
    });
    let there = app.execute(&there).await;

    assert_eq!(reason(outcome(&here)), pb::ReasonCode::NotFound);
    assert_eq!(state(outcome(&there)), pb::MeasureState::Effective);
    assert!(outcome(&there).registration_number.starts_with("110108-CF"));
    for (region, code) in [("310115", Code::NotFound), ("", Code::InvalidArgument)] {
        let status = app
            .admin
            .clone()
            .get_property(admin::PropertyRequest {
                agency_code: region.into(),
                property_id: FLAT.into(),
            })
            .await
            .expect_err("not one region served");
        assert_eq!(status.code(), code, "{region:?}: {status:?}");
    }
}

#[tokio::test]
async fn a_real_estate_inquiry_lists_the_subjects_properties_and_whether_sealed() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    app.record(REGION, NEW_FLAT, ZHANG, "advance_registered")
        .await;
    app.record(REGION, WANGS_FLAT, WANG, "registered").await;
    app.execute(&seal_up(COURT, ZHANG, FLAT, false, 12)).await;
    let inquiry = instruction(
        pb::AgencyKind::LandRegistry,
        REGION,
        COURT,
        person(ZHANG.0, ZHANG.1),
        pb::instruction::Action::Inquiry(pb::Inquiry {
            classes: vec![pb::AssetClass::RealEstate as i32],
        }),
    );

    let response = app.execute(&inquiry).await;

    assert_eq!(state(outcome(&response)), pb::MeasureState::Effective);
    let found: Vec<(String, bool)> = response
        .answer
        .expect("an answer")
        .holdings
        .into_iter()
        .map(|h| match h.asset {
            Some(pb::holding::Asset::Property(p)) => (p.property_id, p.sealed),
            other => panic!("not a property: {other:?}"),
        })
        .collect();
    assert_eq!(
        found,
        [(FLAT.to_string(), true), (NEW_FLAT.to_string(), false)]
    );

    let deposits = follow_up(
        &inquiry,
        pb::instruction::Action::Inquiry(pb::Inquiry {
            classes: vec![pb::AssetClass::Deposits as i32],
        }),
    );
    assert_eq!(
        reason(outcome(&app.execute(&deposits).await)),
        pb::ReasonCode::NotSupported
    );
}

#[tokio::test]
async fn an_agency_down_for_maintenance_answers_unavailable_then_recovers() {
    let app = spawn_land(Options::codes(&[REGION])).await;
    app.record(REGION, FLAT, ZHANG, "registered").await;
    app.office.faults().fail_next(1);
    let order = seal_up(COURT, ZHANG, FLAT, false, 12);

    let status = app
        .backend
        .clone()
        .execute(order.clone())
        .await
        .expect_err("down");
    let retried = app.execute(&order).await;

    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(state(outcome(&retried)), pb::MeasureState::Effective);
}

#[tokio::test]
async fn the_demo_fixture_records_its_properties() {
    let app = spawn_land(Options {
        fixture: Some("demo-land.json"),
        ..Options::codes(&[REGION])
    })
    .await;

    let parcel = app
        .admin
        .clone()
        .get_property(admin::PropertyRequest {
            agency_code: REGION.into(),
            property_id: "110105008003GB00205W00000000".into(),
        })
        .await
        .expect("the demo parcel")
        .into_inner();
    assert_eq!(parcel.kind, "parcel");
    assert_eq!(parcel.holder_id, "91110105MA01ABCD13");

    let company = organisation("北京某某贸易有限公司", "91110105MA01ABCD13");
    let order = instruction(
        pb::AgencyKind::LandRegistry,
        REGION,
        COURT,
        company,
        pb::instruction::Action::SealUp(pb::SealUp {
            property_kind: pb::PropertyKind::Parcel as i32,
            property_id: parcel.property_id,
            pre_seizure: false,
            period: months(36),
        }),
    );
    assert_eq!(
        state(outcome(&app.execute(&order).await)),
        pb::MeasureState::Effective
    );
    let pre_seizure = app
        .execute(&seal_up(COURT, ZHANG, NEW_FLAT, true, 12))
        .await;
    assert_eq!(state(outcome(&pre_seizure)), pb::MeasureState::Effective);
}
