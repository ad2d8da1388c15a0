//! The measures the hub orders itself for a case — releases and reductions of a case's freezes
//! (excess, closing, an order's trims) and the freezes of a case-level order — built the way a
//! court's own are: the case and subject of the original request, an instruction to the same
//! agency for the same asset (so it reaches the agency after the measure it acts on), and a
//! canonical request to keep as the measure's record.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{
    AccountNumber, AgencyCode, AgencyId, AgencyKind, CourtCode, IdempotencyKey, MeasureKind,
};
use prost::Message;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{
    Error,
    court::Envelope,
    store::{Addressee, MeasureRow, NewMeasure, cases::CaseTx},
};

/// What every measure the hub orders needs: now, and how long the agency has to carry it out.
#[derive(Clone, Copy, Debug)]
pub struct Orders {
    /// How long an instruction may wait to be carried out.
    pub instruction_deadline: Duration,
}

/// A follow-up the hub orders on one of the case's freezes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// End it.
    Release,
    /// Keep this much.
    Reduce(i64),
}

fn key(raw: String) -> Result<IdempotencyKey, Error> {
    IdempotencyKey::parse(&raw).map_err(|e| Error::Corrupt(format!("the hub's own key {raw}: {e}")))
}

fn court_of(row: &MeasureRow) -> Result<CourtCode, Error> {
    CourtCode::parse(&row.court_code)
        .map_err(|e| Error::Corrupt(format!("the court of measure {}: {e}", row.id)))
}

impl Orders {
    /// Records a release or reduction of `target` for `reason`, under the hub's key `key`.
    pub async fn follow_up(
        &self,
        tx: &mut CaseTx,
        target: &MeasureRow,
        follow_up: FollowUp,
        reason: &str,
        key_text: String,
        now: OffsetDateTime,
    ) -> Result<MeasureRow, Error> {
        let original = pb::SubmitRequest::decode(tx.request_of(target.id).await?.as_slice())
            .map_err(|e| Error::Corrupt(format!("the stored request of {}: {e}", target.id)))?;
        let court = court_of(target)?;
        let idempotency_key = key(key_text)?;
        let (kind, requested_fen, action, keep_fen) = match follow_up {
            FollowUp::Release => (
                MeasureKind::Release,
                0,
                pb::instruction::Action::Release(pb::Release {
                    target_measure_id: target.id.to_string(),
                    reason: reason.to_string(),
                }),
                0,
            ),
            FollowUp::Reduce(amount) => (
                MeasureKind::Reduction,
                amount,
                pb::instruction::Action::Reduction(pb::Reduction {
                    target_measure_id: target.id.to_string(),
                    amount_fen: amount,
                    reason: reason.to_string(),
                }),
                amount,
            ),
        };
        let request = pb::ReleaseRequest {
            court_code: court.to_string(),
            idempotency_key: idempotency_key.to_string(),
            measure_id: target.id.to_string(),
            reason: reason.to_string(),
            keep_fen,
        };
        let id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let deadline = now + self.instruction_deadline;
        let envelope = Envelope {
            measure_id: id,
            court: &court,
            case: original.case,
            subject: original.subject,
            issued_at: now,
            deadline,
        };
        let instruction = envelope.instruction(instruction_id, target.agency.to_proto(), action);
        tx.record(&NewMeasure {
            id,
            court: court.clone(),
            idempotency_key,
            request: request.encode_to_vec(),
            case_number: target.case_number.clone(),
            kind,
            agency: target.agency.clone(),
            asset_key: target.asset_key.clone(),
            asset_display: target.asset_display.clone(),
            target: Some(target.id),
            requested_fen,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: instruction.encode_to_vec(),
            addressed: 0,
            trace_id: hub_bus::trace::TraceId::generate(),
        })
        .await
    }

    /// Records a freeze of `amount` on `account` at bank `bank` for a case-level order whose
    /// request is `order`, under the hub's key `key`; the case's amount is `enforcement`.
    #[allow(clippy::too_many_arguments)]
    pub async fn freeze(
        &self,
        tx: &mut CaseTx,
        order: &pb::FreezeDepositsRequest,
        enforcement: i64,
        bank: &str,
        account: &str,
        amount: i64,
        key_text: String,
        now: OffsetDateTime,
    ) -> Result<MeasureRow, Error> {
        let court = CourtCode::parse(&order.court_code)
            .map_err(|e| Error::Corrupt(format!("the court of an order: {e}")))?;
        let agency = AgencyId {
            kind: AgencyKind::Bank,
            code: AgencyCode::parse(bank)
                .map_err(|e| Error::Corrupt(format!("a bank of an order's inquiry: {e}")))?,
        };
        let number = AccountNumber::parse(account)
            .map_err(|e| Error::Corrupt(format!("an account of an order's inquiry: {e}")))?;
        let idempotency_key = key(key_text)?;
        let case = order.case.clone().map(|mut c| {
            c.enforcement_amount_fen = enforcement;
            c
        });
        let freeze = pb::Freeze {
            account_number: number.to_string(),
            amount_fen: amount,
            period: order.period,
            up_to_open_amount: false,
        };
        let request = pb::SubmitRequest {
            court_code: court.to_string(),
            idempotency_key: idempotency_key.to_string(),
            case: case.clone(),
            subject: order.subject.clone(),
            agency: Some(convert::agency_ref(&agency)),
            measure: Some(pb::submit_request::Measure::Freeze(freeze.clone())),
        };
        let id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let deadline = now + self.instruction_deadline;
        let envelope = Envelope {
            measure_id: id,
            court: &court,
            case,
            subject: order.subject.clone(),
            issued_at: now,
            deadline,
        };
        let instruction = envelope.instruction(
            instruction_id,
            convert::agency_ref(&agency),
            pb::instruction::Action::Freeze(freeze),
        );
        tx.record(&NewMeasure {
            id,
            court,
            idempotency_key,
            request: request.encode_to_vec(),
            case_number: tx.row().case_number.clone(),
            kind: MeasureKind::Freeze,
            asset_key: format!("{}:{number}", agency.routing_key()),
            asset_display: number.masked(),
            agency: Addressee::Agency(agency),
            target: None,
            requested_fen: amount,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: instruction.encode_to_vec(),
            addressed: 0,
            trace_id: hub_bus::trace::TraceId::generate(),
        })
        .await
    }
}
