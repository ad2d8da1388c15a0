//! Reductions (部分解除): a freeze keeps a smaller amount and the rest is released. What it held
//! above the new amount is unfrozen at once; a partial freeze keeps catching incoming funds, but
//! only up to the new amount. Its place in line, its period and its number stay: only the amount
//! changes, which is what the hub needs to release the excess of a case without losing the
//! priority of the freeze that stays.

use enforcement_proto::v1 as pb;

use super::ledger::{FreezeState, Ledger, money};
use crate::outcome::{Changes, Refusal, done};

impl Ledger<'_> {
    /// Reduces a freeze of the instruction's court to `order.amount_fen`.
    pub async fn reduce(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Reduction,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let (_, mut target) = match self
            .target(instruction, &order.target_measure_id, "reduce")
            .await?
        {
            Ok(found) => found,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        if !target.state.is_live() {
            return Ok(Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::TargetNotActive,
                    format!(
                        "freeze {} is already {}",
                        target.registration_number,
                        target.state.as_str()
                    ),
                ),
                self.now,
            ));
        }
        if order.amount_fen <= 0 {
            return Ok(Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::DocumentDefect,
                    "a reduction must leave a positive amount; a release ends a freeze",
                ),
                self.now,
            ));
        }
        if order.amount_fen >= target.amount_fen {
            let note = format!(
                "freeze {} is for {} already; nothing to reduce",
                target.registration_number,
                money(target.amount_fen)
            );
            return Ok(Changes::outcome(done(
                measure_id,
                &target.registration_number,
                target.expires_at,
                note,
                self.now,
            )));
        }
        let before = target.amount_fen;
        let unfrozen = (target.frozen_fen - order.amount_fen).max(0);
        target.amount_fen = order.amount_fen;
        target.frozen_fen -= unfrozen;
        if target.state.in_force() {
            target.state = FreezeState::holding(target.frozen_fen, target.amount_fen);
        }
        target.revision += 1;
        self.save(&target).await?;
        let note = format!(
            "freeze {} reduced from {} to {}; {} unfrozen",
            target.registration_number,
            money(before),
            money(target.amount_fen),
            money(unfrozen)
        );
        Ok(Changes {
            outcome: Some(done(
                measure_id,
                &target.registration_number,
                target.expires_at,
                note.clone(),
                self.now,
            )),
            related: vec![target.update(pb::UpdateCause::Released, note, self.now)],
        })
    }
}
