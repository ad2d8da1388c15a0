//! The waiting line on an account: release, renewal, promotion of the earliest waiting freeze
//! when the one in force ends (released, lapsed, fully deducted), and lapse at expiry.
//!
//! - When the freeze in force ends, the earliest waiting freeze takes effect on its own, for what
//!   the balance allows, its period counted from that moment; the positions behind it move up.
//! - A renewal before expiry moves the expiry by the period (at most the statutory maximum again,
//!   counted from the current expiry) and keeps the freeze's place; after expiry it is refused.
//! - Only the ordering court may release, renew or reduce its freeze.

use enforcement_proto::v1 as pb;
use hub_domain::StatutoryMaximum;
use uuid::Uuid;

use super::ledger::{FreezeRow, FreezeState, Ledger, money};
use crate::{
    checks::checked_period,
    outcome::{Changes, Lapse, Refusal, date, done},
};

impl Ledger<'_> {
    /// Finds and locks the target of a release or renewal (account first), refusing what this
    /// bank does not hold and what another court ordered. Returns it with its account.
    pub(super) async fn target(
        &mut self,
        instruction: &pb::Instruction,
        target_measure_id: &str,
        verb: &str,
    ) -> Result<Result<(String, FreezeRow), Refusal>, sqlx::Error> {
        let not_here = || {
            Refusal::new(
                pb::ReasonCode::TargetNotActive,
                format!("no freeze {target_measure_id} at this bank"),
            )
        };
        let Ok(target_id) = Uuid::parse_str(target_measure_id) else {
            return Ok(Err(not_here()));
        };
        let Some(account) = self.account_of(target_id).await? else {
            return Ok(Err(not_here()));
        };
        self.lock_account(&account).await?;
        let Some(target) = self.freeze(target_id).await? else {
            return Ok(Err(not_here()));
        };
        if target.court_code != instruction.court_code {
            return Ok(Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!("only the court that ordered the freeze may {verb} it"),
            )));
        }
        Ok(Ok((account, target)))
    }

    /// Releases a freeze of the instruction's court, and promotes the next waiting one.
    pub async fn release(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Release,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let (account, mut target) = match self
            .target(instruction, &order.target_measure_id, "release")
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
        let unfrozen = target.frozen_fen;
        target.state = FreezeState::Released;
        target.frozen_fen = 0;
        target.waiting_position = 0;
        target.revision += 1;
        self.save(&target).await?;
        let mut related = vec![target.update(
            pb::UpdateCause::Released,
            format!("released by order; {} unfrozen", money(unfrozen)),
            self.now,
        )];
        related.extend(self.settle(&account).await?);
        let note = format!(
            "freeze {} released; {} unfrozen",
            target.registration_number,
            money(unfrozen)
        );
        Ok(Changes {
            outcome: Some(done(
                measure_id,
                &target.registration_number,
                None,
                note,
                self.now,
            )),
            related,
        })
    }

    /// Renews a freeze in force before it expires: the expiry moves, the place in line stays.
    pub async fn renew(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Renewal,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let (_, mut target) = match self
            .target(instruction, &order.target_measure_id, "renew")
            .await?
        {
            Ok(found) => found,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        let expiry = target.expires_at.unwrap_or(self.now);
        // A freeze past its expiry is refused as late whether or not the lapse has run yet.
        if target.state == FreezeState::Lapsed || (target.state.in_force() && expiry <= self.now) {
            return Ok(Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::RenewalAfterExpiry,
                    format!(
                        "freeze {} expired on {}; a renewal must arrive before expiry",
                        target.registration_number,
                        date(Some(expiry))
                    ),
                ),
                self.now,
            ));
        }
        if !target.state.in_force() {
            return Ok(Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::TargetNotActive,
                    format!(
                        "freeze {} is {}; only a freeze in force can be renewed",
                        target.registration_number,
                        target.state.as_str()
                    ),
                ),
                self.now,
            ));
        }
        let period = match checked_period(
            order.period.as_ref(),
            StatutoryMaximum::Deposits,
            expiry,
            "renewal",
        ) {
            Ok(p) => p,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        target.expires_at = Some(period.end_from(expiry));
        target.revision += 1;
        self.save(&target).await?;
        let note = format!("renewed until {}", date(target.expires_at));
        Ok(Changes {
            outcome: Some(done(
                measure_id,
                &target.registration_number,
                target.expires_at,
                note.clone(),
                self.now,
            )),
            related: vec![target.update(pb::UpdateCause::Renewed, note, self.now)],
        })
    }

    /// After a freeze ended: promotes the earliest waiting freeze if none is in force, and
    /// renumbers the waiting line. Returns the updates for the freezes that changed.
    pub async fn settle(&mut self, account: &str) -> Result<Vec<pb::MeasureUpdate>, sqlx::Error> {
        let Some(acct) = self.lock_account(account).await? else {
            return Ok(Vec::new());
        };
        let mut live = self.live_freezes(account).await?;
        let mut updates = Vec::new();
        if !live.iter().any(|f| f.state.in_force())
            && let Some(next) = live.iter_mut().find(|f| f.state == FreezeState::Waiting)
        {
            let frozen = next.amount_fen.min(acct.balance_fen);
            next.take_effect(frozen, self.now);
            next.revision += 1;
            self.save(next).await?;
            let note = if next.state == FreezeState::Effective {
                format!(
                    "the earlier freeze ended; this waiting freeze took effect: {} frozen until {}",
                    money(next.frozen_fen),
                    date(next.expires_at)
                )
            } else {
                format!(
                    "the earlier freeze ended; this waiting freeze took effect for {} of {} (balance short)",
                    money(next.frozen_fen),
                    money(next.amount_fen)
                )
            };
            updates.push(next.update(pb::UpdateCause::Promoted, note, self.now));
        }
        let mut position = 0;
        for f in live.iter_mut().filter(|f| f.state == FreezeState::Waiting) {
            position += 1;
            if f.waiting_position != position {
                f.waiting_position = position;
                f.revision += 1;
                self.save(f).await?;
                updates.push(f.update(
                    pb::UpdateCause::PositionChanged,
                    format!("now waiting at position {position}"),
                    self.now,
                ));
            }
        }
        Ok(updates)
    }

    /// Lapses up to `limit` of this bank's freezes whose expiry has passed, each with the
    /// promotion and position changes its end caused.
    pub async fn lapse_due(&mut self, limit: i64) -> Result<Vec<Lapse>, sqlx::Error> {
        let due: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT measure_id, account_number FROM freezes \
             WHERE bank_code = $1 AND state IN ('effective', 'partial') AND expires_at <= $2 \
             ORDER BY expires_at LIMIT $3",
        )
        .bind(self.bank_code)
        .bind(self.now)
        .bind(limit)
        .fetch_all(&mut *self.conn)
        .await?;
        let mut lapses = Vec::new();
        for (measure_id, account) in due {
            self.lock_account(&account).await?;
            let Some(mut freeze) = self.freeze(measure_id).await? else {
                continue;
            };
            // Renewed or released between the scan and the lock.
            if !freeze.state.in_force() || freeze.expires_at.is_none_or(|e| e > self.now) {
                continue;
            }
            let unfrozen = freeze.frozen_fen;
            freeze.state = FreezeState::Lapsed;
            freeze.frozen_fen = 0;
            freeze.revision += 1;
            self.save(&freeze).await?;
            let mut updates = vec![freeze.update(
                pb::UpdateCause::Lapsed,
                format!(
                    "lapsed at expiry without renewal; {} unfrozen",
                    money(unfrozen)
                ),
                self.now,
            )];
            updates.extend(self.settle(&account).await?);
            lapses.push(Lapse {
                updates,
                message: format!("freeze {} lapsed at expiry", freeze.registration_number),
            });
        }
        Ok(lapses)
    }
}
