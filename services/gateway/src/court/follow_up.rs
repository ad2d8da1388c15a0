//! `Release` and `Renew`: follow-up orders on a court's own measure, sent to the same agency
//! for the same asset, so that they reach it after the measure they act on. A release that keeps
//! part of a freeze (`keep_fen`) is a reduction (部分解除).

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{CourtCode, IdempotencyKey, MeasureKind};
use prost::Message;
use tonic::Status;
use uuid::Uuid;

use super::{CourtService, Envelope};
use crate::{
    Error,
    store::{MeasureRow, NewMeasure, Recorded},
    validate,
};

/// A follow-up order, checked: who asks, under which key, for which canonical request.
struct Order<'a> {
    court: &'a CourtCode,
    key: &'a IdempotencyKey,
    request: Vec<u8>,
}

/// What a follow-up order acts on.
enum Target {
    /// The measure to release or renew.
    Measure(MeasureRow),
    /// The order was recorded before: its answer, again.
    Retry(pb::SubmitResponse),
}

impl CourtService {
    pub(super) async fn release_measure(
        &self,
        req: pb::ReleaseRequest,
    ) -> Result<pb::SubmitResponse, Error> {
        let valid = validate::release(&req)?;
        let order = Order {
            court: &valid.court,
            key: &valid.idempotency_key,
            request: valid.normalised().encode_to_vec(),
        };
        let target = match self.target_of(&order, valid.target, "released").await? {
            Target::Measure(target) => target,
            Target::Retry(earlier) => return Ok(earlier),
        };
        if target.state.is_final() {
            return Err(Status::failed_precondition(format!(
                "measure {} is {}; only a measure in force, waiting or under way can be released",
                target.id, target.state
            ))
            .into());
        }
        if let Some(release) = self.store.live_release_of(target.id).await? {
            return Err(Status::failed_precondition(format!(
                "measure {} is already being released by measure {}",
                target.id, release.id
            ))
            .into());
        }
        if let Some(keep) = valid.keep_fen {
            return self.reduce(order, &target, keep, &valid.reason).await;
        }
        let action = pb::instruction::Action::Release(pb::Release {
            target_measure_id: target.id.to_string(),
            reason: valid.reason.clone(),
        });
        let measure = self
            .follow_up(order, MeasureKind::Release, &target, action)
            .await?;
        self.record(measure).await
    }

    /// A partial release: `target`, a freeze, keeps `keep` fen and the rest is released.
    async fn reduce(
        &self,
        order: Order<'_>,
        target: &MeasureRow,
        keep: i64,
        reason: &str,
    ) -> Result<pb::SubmitResponse, Error> {
        if target.kind != MeasureKind::Freeze {
            return Err(validate::invalid(
                "keep_fen",
                format!(
                    "only a freeze can be partly released; measure {} is a {}",
                    target.id,
                    target.kind.label()
                ),
            )
            .into());
        }
        if keep >= target.amount() {
            return Err(validate::invalid(
                "keep_fen",
                format!(
                    "must be less than the {} freeze {} is for",
                    crate::case::yuan(target.amount()),
                    target.id
                ),
            )
            .into());
        }
        let action = pb::instruction::Action::Reduction(pb::Reduction {
            target_measure_id: target.id.to_string(),
            amount_fen: keep,
            reason: reason.to_string(),
        });
        let mut measure = self
            .follow_up(order, MeasureKind::Reduction, target, action)
            .await?;
        measure.requested_fen = keep;
        self.record(measure).await
    }

    pub(super) async fn renew_measure(
        &self,
        req: pb::RenewRequest,
    ) -> Result<pb::SubmitResponse, Error> {
        let valid = validate::renew(&req)?;
        let order = Order {
            court: &valid.court,
            key: &valid.idempotency_key,
            request: valid.normalised().encode_to_vec(),
        };
        let target = match self.target_of(&order, valid.target, "renewed").await? {
            Target::Measure(target) => target,
            Target::Retry(earlier) => return Ok(earlier),
        };
        let now = self.clock.now();
        if let Some(case) = self
            .store
            .case(&target.court_code, &target.case_number)
            .await?
            && !case.state.takes_measures()
        {
            return Err(crate::case::refusal::closed(&case.case_number, case.state).into());
        }
        if !target.state.is_in_force() {
            return Err(Status::failed_precondition(format!(
                "measure {} is {}; only a measure in force can be renewed",
                target.id, target.state
            ))
            .into());
        }
        if let Some(expiry) = target.expires_at
            && expiry <= now
        {
            return Err(Status::failed_precondition(format!(
                "renewal must be made before expiry (民诉解释 art. 485): measure {} expired at {expiry}",
                target.id
            ))
            .into());
        }
        let start = target.expires_at.unwrap_or(now);
        validate::period_for(target.kind, "period", valid.period, start)?;
        let action = pb::instruction::Action::Renewal(pb::Renewal {
            target_measure_id: target.id.to_string(),
            period: Some(convert::period_to_proto(valid.period)),
        });
        let measure = self
            .follow_up(order, MeasureKind::Renewal, &target, action)
            .await?;
        self.record(measure).await
    }

    /// The court's own measure `id` that `order` acts on — one that binds an asset for a period,
    /// so that it can be `verb` (released, renewed) — unless the court already used the order's
    /// key: then the original answer for the same request (a retry), [`Error::KeyReused`] for
    /// another.
    async fn target_of(&self, order: &Order<'_>, id: Uuid, verb: &str) -> Result<Target, Error> {
        if let Some(earlier) = self
            .store
            .earlier(order.court, order.key, &order.request)
            .await?
        {
            return Ok(Target::Retry(super::submitted(Recorded::Duplicate(
                earlier,
            ))));
        }
        let target = self.own_measure(order.court, id).await?;
        if !target.kind.has_period() {
            return Err(Status::failed_precondition(format!(
                "a {} cannot be {verb}; only freezes, seal-ups, distraints and exit restrictions can",
                target.kind.label()
            ))
            .into());
        }
        Ok(Target::Measure(target))
    }

    /// The measure of a follow-up `action` of `kind` on `target`: the same agency and asset,
    /// the case and subject of the original request.
    async fn follow_up(
        &self,
        order: Order<'_>,
        kind: MeasureKind,
        target: &MeasureRow,
        action: pb::instruction::Action,
    ) -> Result<NewMeasure, Error> {
        let original =
            pb::SubmitRequest::decode(self.store.request_of(target.id).await?.as_slice())
                .map_err(|e| Error::Corrupt(format!("the stored request of {}: {e}", target.id)))?;
        let now = self.clock.now();
        let id = Uuid::now_v7();
        let instruction_id = Uuid::now_v7();
        let deadline = now + self.instruction_deadline;
        let envelope = Envelope {
            measure_id: id,
            court: order.court,
            case: original.case,
            subject: original.subject,
            issued_at: now,
            deadline,
        };
        let instruction = envelope.instruction(instruction_id, target.agency.to_proto(), action);
        Ok(NewMeasure {
            id,
            court: order.court.clone(),
            idempotency_key: order.key.clone(),
            request: order.request,
            case_number: target.case_number.clone(),
            kind,
            agency: target.agency.clone(),
            asset_key: target.asset_key.clone(),
            asset_display: target.asset_display.clone(),
            target: Some(target.id),
            requested_fen: 0,
            instruction_id,
            deadline,
            submitted_at: now,
            payload: instruction.encode_to_vec(),
            addressed: 0,
            trace_id: hub_bus::trace::TraceId::generate(),
        })
    }
}
