//! Personal data stays out of logs: after freezes (one carried out, one refused for the name, one
//! at an account the bank does not keep), an inquiry and an exit restriction, no line logged by
//! the gateway, the adapters (each a process of its own) or the agency systems holds any name,
//! identity number or account number used — including the bank's refusal, which names the
//! subject and reaches the adapter's log masked.

use std::time::Duration;

use enforcement_proto::{reference as admin, v1 as pb};
use hub_domain::AgencyKind;
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};

const COURT: &str = "京0105";
const UNIT: &str = "BJ-PSB";

#[tokio::test]
async fn no_service_logs_a_name_identity_number_or_account_number() -> anyhow::Result<()> {
    let mut hub = TestHub::builder()
        .banks(&["ICBC"])
        .police(&[UNIT])
        .gateway_process(None)
        .start()
        .await?;
    let (holder, holder_id) = ("张三", fixtures::resident_id(71));
    let (stranger, stranger_id) = ("王小明", fixtures::resident_id(72));
    let (traveller, traveller_id) = ("李四", fixtures::resident_id(73));
    let impostor = "赵六";
    let (account, unknown_account) = (fixtures::account_number(71), fixtures::account_number(72));
    hub.open_account("ICBC", &account, holder, &holder_id, 2_000_000)
        .await?;
    hub.police_admin(UNIT)
        .await?
        .register_person(admin::RegisterPersonRequest {
            agency_code: UNIT.into(),
            resident_id: traveller_id.clone(),
            name: traveller.into(),
        })
        .await?;
    // The adapters run as processes, so their own log is read as they write it.
    hub.stop_adapter("ICBC").await?;
    hub.stop_adapter_of(AgencyKind::PublicSecurity, UNIT)
        .await?;
    let bank_adapter = hub.spawn_adapter_process("ICBC").await?;
    let police_adapter = hub
        .adapter_process(AgencyKind::PublicSecurity, UNIT)
        .await?;

    // Each in a case of its own: one court freezes an asset once per case.
    let freeze = |name: &str, id: &str, at: &str, key: &str, case: u32| {
        Freeze::of(500_000)
            .at("ICBC", at)
            .held_by(name, id)
            .by(COURT)
            .case(case)
            .key(key)
    };
    let carried_out = hub
        .freeze(freeze(holder, &holder_id, &account, "carried-out", 71))
        .await?;
    let wrong_name = hub
        .freeze(freeze(impostor, &holder_id, &account, "wrong-name", 75))
        .await?;
    let no_account = hub
        .freeze(freeze(
            stranger,
            &stranger_id,
            &unknown_account,
            "no-account",
            76,
        ))
        .await?;
    let restriction = hub
        .submit(fixtures::order(
            COURT,
            "exit",
            &fixtures::case_number(73),
            fixtures::person(traveller, &traveller_id),
            fixtures::police(UNIT),
            pb::submit_request::Measure::ExitRestriction(pb::ExitRestriction {
                person: None,
                role: 0,
                period: fixtures::months(6),
            }),
        ))
        .await?;
    let mut inquiry = hub
        .court()
        .await?
        .inquire(pb::InquireRequest {
            court_code: COURT.into(),
            idempotency_key: "inquiry".into(),
            case: Some(fixtures::case(&fixtures::case_number(74), 1_000_000)),
            subject: Some(fixtures::person(holder, &holder_id)),
            classes: vec![pb::AssetClass::Deposits as i32],
            scope: Some(pb::inquire_request::Scope::Agency(fixtures::bank("ICBC"))),
            deadline_seconds: 60,
        })
        .await?
        .into_inner();

    let effective = pb::MeasureState::Effective;
    let rejected = pb::MeasureState::Rejected;
    hub.wait_for_state(COURT, &carried_out.measure_id, effective)
        .await?;
    let refused = hub
        .wait_for_state(COURT, &wrong_name.measure_id, rejected)
        .await?;
    assert_eq!(
        refused.reason.map(|r| r.code),
        Some(pb::ReasonCode::NameMismatch as i32)
    );
    hub.wait_for_state(COURT, &no_account.measure_id, rejected)
        .await?;
    hub.wait_for_state(COURT, &restriction.measure_id, effective)
        .await?;
    // The inquiry's answer names the account; wait for it.
    let answered = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = inquiry.message().await? {
            if matches!(event.event, Some(pb::inquiry_event::Event::Answer(_))) {
                return anyhow::Ok(true);
            }
        }
        Ok(false)
    })
    .await??;
    assert!(answered, "the inquiry was answered");

    let gateway = hub.gateway_log_lines();
    let adapters = [bank_adapter.logged(), police_adapter.logged()].concat();
    let in_process = hub_testkit::logs::logged();
    // Each service logged its work, so the absence below is of something.
    assert!(
        gateway.iter().any(|l| l.contains("gateway serving")),
        "gateway log:\n{}",
        gateway.join("\n")
    );
    let executed = in_process
        .iter()
        .filter(|l| l.contains("instruction executed"))
        .count();
    assert!(executed >= 5, "the agencies logged {executed} executions");
    // The bank's refusal names the subject; it reaches the adapter's log masked.
    assert!(
        adapters
            .iter()
            .any(|l| l.contains("the agency gave a reason") && l.contains("赵*")),
        "adapter log:\n{}",
        adapters.join("\n")
    );

    let personal = [
        holder.to_string(),
        stranger.to_string(),
        traveller.to_string(),
        impostor.to_string(),
        holder_id.clone(),
        stranger_id.clone(),
        traveller_id.clone(),
        account.clone(),
        unknown_account.clone(),
    ];
    for (service, lines) in [
        ("gateway", &gateway),
        ("adapters", &adapters),
        ("agency systems", &in_process),
    ] {
        for line in lines.iter() {
            for data in &personal {
                assert!(
                    !line.contains(data.as_str()),
                    "the {service} logged {data:?}: {line}"
                );
            }
        }
    }
    hub.shutdown().await
}
