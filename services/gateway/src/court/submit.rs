//! `Submit`: a court orders a measure.
//!
//! The request is parsed at the edge ([`validate::submit`]), the agency checked against the
//! registry (connected, and carrying out this kind of measure), a deduction's freeze checked to
//! be the court's own on the same account, and the instruction built; the measure, its outbox
//! row and its first audit entry are then recorded in one transaction before the court hears
//! anything.

use enforcement_proto::convert;
use enforcement_proto::v1 as pb;
use hub_domain::MeasureKind;
use prost::Message;
use uuid::Uuid;

use super::{CourtService, Envelope};
use crate::{
    Error,
    store::{Addressee, NewMeasure, registry::Known},
    validate::{self, ValidSubmit, invalid},
};

impl CourtService {
    pub(super) async fn submit_measure(
        &self,
        req: pb::SubmitRequest,
    ) -> Result<pb::SubmitResponse, Error> {
        let now = self.clock.now();
        let valid = validate::submit(&req, now)?;
        self.check_registry(&valid).await?;
        if let Some(freeze) = valid.deduct_from {
            self.check_deducted_freeze(&valid, freeze).await?;
        }
        let measure_id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let deadline = now + self.instruction_deadline;
        let envelope = Envelope {
            measure_id,
            court: &valid.court,
            case: valid.normalised.case.clone(),
            subject: valid.normalised.subject.clone(),
            issued_at: now,
            deadline,
        };
        let instruction = envelope.instruction(
            instruction_id,
            convert::agency_ref(&valid.agency),
            convert::action_of(valid.measure.clone()),
        );
        self.record(NewMeasure {
            id: measure_id,
            court: valid.court.clone(),
            idempotency_key: valid.idempotency_key.clone(),
            request: valid.normalised.encode_to_vec(),
            case_number: valid.case_number.to_string(),
            kind: valid.kind,
            agency: Addressee::Agency(valid.agency.clone()),
            asset_key: valid.asset_key.clone(),
            asset_display: valid.asset_display.clone(),
            target: None,
            requested_fen: valid.requested_fen,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: instruction.encode_to_vec(),
            addressed: 0,
        })
        .await
    }

    /// A court may address only an agency that is connected and carries out the measure.
    async fn check_registry(&self, valid: &ValidSubmit) -> Result<(), Error> {
        let agency = &valid.agency;
        let why = match self
            .store
            .lookup(agency.kind, &agency.code, valid.kind)
            .await?
        {
            Known::Carries => return Ok(()),
            Known::Unknown => format!(
                "no {} {} is connected to the hub",
                agency.kind.as_str(),
                agency.code
            ),
            Known::DoesNotCarry => format!(
                "{} {} does not carry out {} measures through the hub",
                agency.kind.as_str(),
                agency.code,
                valid.kind.label()
            ),
        };
        Err(invalid("agency.code", why).into())
    }

    /// A deduction may take first only the court's own freeze on the same account and bank.
    async fn check_deducted_freeze(&self, valid: &ValidSubmit, freeze: Uuid) -> Result<(), Error> {
        let freeze = self.store.get(freeze).await?;
        let usable = freeze.as_ref().is_some_and(|f| {
            f.is_of(&valid.court) && f.kind == MeasureKind::Freeze && f.asset_key == valid.asset_key
        });
        if usable {
            Ok(())
        } else {
            Err(invalid(
                "deduction.freeze_measure_id",
                "must name this court's own freeze on the same account at the same bank",
            )
            .into())
        }
    }
}
