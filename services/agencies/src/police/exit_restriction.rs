//! Exit restriction (限制出境, 民诉法 2023 art. 266; 执行程序解释 arts. 23-25), executed by border
//! inspection (出入境边防检查机关).
//!
//! - It binds a natural person: the debtor, or for an organisation debtor its legal
//!   representative, principal or directly responsible person, named in the order.
//! - The person must be on the unit's population register under that name.
//! - There is no statutory maximum, but a period is required so that expiry can be tracked.
//! - It is not exclusive: every court's restriction on one person is EFFECTIVE on its own, and
//!   releasing one leaves the others standing.
//! - On release or lapse border inspection is told to lift the control, and the note says so.

use enforcement_proto::v1 as pb;
use hub_domain::{ResidentId, StatutoryMaximum};

use crate::{
    checks::checked_period,
    holds::{HoldKind, Holds, NewHold, Party},
    outcome::{Changes, Refusal},
};

/// Restricts the exit of the person named in the order (or of the subject, a natural person).
pub async fn restrict(
    holds: &mut Holds<'_>,
    instruction: &pb::Instruction,
    order: &pb::ExitRestriction,
) -> Result<Changes, sqlx::Error> {
    let measure_id = &instruction.measure_id;
    let now = holds.now;
    if let Some(earlier) = holds.already_held(measure_id).await? {
        return Ok(Changes::outcome(earlier));
    }
    let refuse = |code, message: String| {
        Ok(Changes::refused(
            measure_id,
            Refusal::new(code, message),
            now,
        ))
    };
    let Some(subject) = Party::of(instruction.subject.as_ref()) else {
        return refuse(
            pb::ReasonCode::DocumentDefect,
            "the order names no subject".into(),
        );
    };
    let person = match (
        &order.person,
        instruction.subject.as_ref().and_then(|s| s.party.as_ref()),
    ) {
        (Some(person), _) => person.clone(),
        (None, Some(pb::subject::Party::Person(debtor))) => debtor.clone(),
        (None, _) => {
            return refuse(
                pb::ReasonCode::DocumentDefect,
                "an exit restriction for an organisation's debt must name its legal \
                 representative, principal or directly responsible person"
                    .into(),
            );
        }
    };
    let Ok(resident_id) = ResidentId::parse(&person.resident_id) else {
        return refuse(
            pb::ReasonCode::DocumentDefect,
            "the person to restrict has no valid resident identity number".into(),
        );
    };
    let on_record: Option<String> = sqlx::query_scalar(
        "SELECT name FROM persons WHERE agency_code = $1 AND resident_id = $2 FOR UPDATE",
    )
    .bind(holds.agency_code)
    .bind(resident_id.as_str())
    .fetch_optional(&mut *holds.conn)
    .await?;
    let Some(name) = on_record else {
        return refuse(
            pb::ReasonCode::NotFound,
            format!(
                "no person with identity number {} on the register of unit {}",
                resident_id.masked(),
                holds.agency_code
            ),
        );
    };
    if name != person.name.trim() {
        return refuse(
            pb::ReasonCode::NameMismatch,
            format!(
                "identity number {} is registered under another name than {}",
                resident_id.masked(),
                person.name.trim()
            ),
        );
    }
    let period = match checked_period(
        order.period.as_ref(),
        StatutoryMaximum::None,
        now,
        "exit restriction",
    ) {
        Ok(p) => p,
        Err(refusal) => return Ok(Changes::refused(measure_id, refusal, now)),
    };
    let mut outcome = holds
        .place(
            instruction,
            NewHold {
                kind: HoldKind::ExitRestriction,
                asset_id: resident_id.to_string(),
                pre_seizure: false,
                period,
                subject,
            },
        )
        .await?;
    outcome.note.push_str(
        "; border inspection (出入境边防检查机关) has been instructed to stop the person at exit",
    );
    Ok(Changes::outcome(outcome))
}
