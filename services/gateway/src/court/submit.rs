//! `Submit`: a court orders a measure.
//!
//! The request is parsed at the edge ([`validate::submit`]), the agency checked against the
//! registry (connected, and carrying out this kind of measure), a deduction's freeze checked to
//! be the court's own on the same account. Then, under the lock on the court's case (opened by
//! its first measure): the case must be open and the measure must state the case's enforcement
//! amount; a second measure on an asset the court already holds in the case is refused; a freeze
//! or deduction is checked against the case ledger and refused, or granted "up to", if the case
//! has less open than it asks. The
//! instruction is built for the amount granted, and the measure, its outbox row and its first
//! audit entry are recorded in the same transaction, so concurrent orders of one case are checked
//! one after another and can never together exceed its amount.
//!
//! A repeat under the same key is answered with the original, whatever the case has become: it
//! is found when a check refuses it or when recording it meets the key taken, so a new measure,
//! the common case, costs no lookup of the key beforehand.

use enforcement_proto::convert;
use enforcement_proto::v1 as pb;
use hub_domain::MeasureKind;
use prost::Message;
use uuid::Uuid;

use super::{CourtService, Envelope, submitted};
use crate::{
    Error,
    case::{
        ledger::{self, Ledger},
        refusal, yuan,
    },
    store::{Addressee, MeasureRow, NewMeasure, Recorded, cases::CaseTx, registry::Known},
    validate::{self, ValidSubmit, invalid},
};

impl CourtService {
    pub(super) async fn submit_measure(
        &self,
        req: pb::SubmitRequest,
        trace: hub_bus::trace::TraceId,
    ) -> Result<pb::SubmitResponse, Error> {
        let now = self.clock.now();
        let valid = validate::submit(&req, now)?;
        self.check_registry(&valid).await?;
        if let Some(freeze) = valid.deduct_from {
            self.check_deducted_freeze(&valid, freeze).await?;
        }
        let request = valid.normalised.encode_to_vec();
        let (mut case, opened) = self
            .store
            .open_case(
                &valid.court,
                valid.case_number.as_str(),
                valid.enforcement_fen,
                now,
            )
            .await?;
        let granted = match self.grant(&valid, &mut case, opened).await {
            Ok(granted) => granted,
            // A repeat is answered with the original whatever the case has become since, and a
            // key reused for another request is refused as such.
            Err(refused) => {
                return match case.earlier(&valid.idempotency_key, &request).await {
                    Ok(Some(earlier)) => Ok(submitted(Recorded::Duplicate(earlier))),
                    Err(reused @ Error::KeyReused(_)) => Err(reused),
                    Ok(None) | Err(_) => Err(refused),
                };
            }
        };
        let measure_id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let remainder = (valid.kind == MeasureKind::Deduction).then(Uuid::now_v7);
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
            convert::action_of(granted_measure(&valid.measure, granted, remainder)),
        );
        let recorded = case
            .record_submitted(&NewMeasure {
                id: measure_id,
                court: valid.court.clone(),
                idempotency_key: valid.idempotency_key.clone(),
                request,
                case_number: valid.case_number.to_string(),
                kind: valid.kind,
                agency: Addressee::Agency(valid.agency.clone()),
                asset_key: valid.asset_key.clone(),
                asset_display: valid.asset_display.clone(),
                target: valid.deduct_from,
                requested_fen: granted,
                instruction_id,
                deadline,
                submitted_at: now,
                payload: instruction.encode_to_vec(),
                addressed: 0,
                trace_id: trace,
            })
            .await?;
        // The key was taken meanwhile or before, with every check passing again: the original
        // (the transaction, which wrote nothing, is rolled back).
        let recorded = match recorded {
            Recorded::New(row) => row,
            duplicate @ Recorded::Duplicate(_) => return Ok(submitted(duplicate)),
        };
        if let Some(remainder) = remainder {
            case.add_remainder(remainder, measure_id).await?;
        }
        case.commit().await?;
        tracing::info!(measure = %recorded.id, kind = %recorded.kind, court = %recorded.court_code, agency = %recorded.agency.code(), trace_id = %trace, "measure recorded");
        Ok(submitted(Recorded::New(recorded)))
    }

    /// What the case grants the measure: the amount it may hold, or the refusal. The case must
    /// be open and the measure must state its enforcement amount; a second measure on an asset
    /// the court already holds in the case is refused; a freeze or deduction is checked against
    /// the case ledger. A case `opened` by this measure has no other to read.
    async fn grant(
        &self,
        valid: &ValidSubmit,
        case: &mut CaseTx,
        opened: bool,
    ) -> Result<i64, Error> {
        let row = case.row().clone();
        if !row.state.takes_measures() {
            return Err(refusal::closed(&row.case_number, row.state).into());
        }
        if row.enforcement_amount_fen != valid.enforcement_fen {
            return Err(refusal::amount_mismatch(
                valid.enforcement_fen,
                row.enforcement_amount_fen,
            )
            .into());
        }
        let measures = if opened {
            Vec::new()
        } else {
            case.measures().await?
        };
        if let Some(first) = duplicate_of(valid, &measures) {
            return Err(refusal::duplicate(first).into());
        }
        if !valid.kind.holds_money() {
            return Ok(valid.requested_fen);
        }
        let ledger = Ledger::of(row.enforcement_amount_fen, &measures);
        let overlap = ledger::overlap(valid.deduct_from, valid.requested_fen, &measures);
        ledger::grant(&ledger, valid.requested_fen, overlap, valid.up_to).map_err(|e| {
            let what = format!("a {} of {}", valid.kind.label(), yuan(valid.requested_fen));
            refusal::exceeded(&row.case_number, &what, e).into()
        })
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

/// The court's measure of the same kind on the same asset in the case that is in force,
/// waiting or under way, if any: a second would hold the asset twice for one debt. Only measures
/// that bind an asset for a period can be duplicates; deductions, which end at once, cannot.
fn duplicate_of<'a>(valid: &ValidSubmit, measures: &'a [MeasureRow]) -> Option<&'a MeasureRow> {
    if !valid.kind.has_period() {
        return None;
    }
    measures
        .iter()
        .find(|m| m.kind == valid.kind && m.asset_key == valid.asset_key && !m.state.is_final())
}

/// The measure as the agency is to carry it out: for the amount granted, "up to" settled, and a
/// deduction naming the id of the freeze of its remainder.
fn granted_measure(
    measure: &pb::submit_request::Measure,
    granted: i64,
    remainder: Option<Uuid>,
) -> pb::submit_request::Measure {
    use pb::submit_request::Measure as M;
    match measure.clone() {
        M::Freeze(f) => M::Freeze(pb::Freeze {
            amount_fen: granted,
            up_to_open_amount: false,
            ..f
        }),
        M::Deduction(d) => M::Deduction(pb::Deduction {
            amount_fen: granted,
            up_to_open_amount: false,
            remainder_measure_id: remainder.map(|id| id.to_string()).unwrap_or_default(),
            ..d
        }),
        other => other,
    }
}
