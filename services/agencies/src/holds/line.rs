//! The waiting line on an asset: release, renewal, promotion of the earliest waiting hold when
//! the one in force ends, and lapse at expiry.

use enforcement_proto::v1::{self as pb, instruction::Action};
use uuid::Uuid;

use super::{BORDER_INSPECTION_NOTIFIED, HoldKind, HoldRow, HoldState, Holds};
use crate::{
    checks::checked_period,
    office::Carried,
    outcome::{Changes, Lapse, Refusal, date, done},
};

impl Holds<'_> {
    /// Carries out the orders every hold-keeping agency carries out the same way, release and
    /// renewal; `None` for any other.
    pub async fn release_or_renew(
        &mut self,
        instruction: &pb::Instruction,
        action: &Action,
    ) -> Result<Option<Carried>, sqlx::Error> {
        Ok(match action {
            Action::Release(order) => {
                Some((self.release(instruction, order).await?, None, "release"))
            }
            Action::Renewal(order) => {
                Some((self.renew(instruction, order).await?, None, "renewal"))
            }
            _ => None,
        })
    }

    /// Finds and locks the target of a release or renewal (asset first), refusing what this
    /// agency does not hold and what another court ordered.
    async fn target(
        &mut self,
        instruction: &pb::Instruction,
        target_measure_id: &str,
        verb: &str,
    ) -> Result<Result<HoldRow, Refusal>, sqlx::Error> {
        let not_here = || {
            Refusal::new(
                pb::ReasonCode::TargetNotActive,
                format!("no measure {target_measure_id} is registered here"),
            )
        };
        let Ok(target_id) = Uuid::parse_str(target_measure_id) else {
            return Ok(Err(not_here()));
        };
        let Some((kind, asset)) = self.asset_of(target_id).await? else {
            return Ok(Err(not_here()));
        };
        self.lock_asset(kind, &asset).await?;
        let Some(target) = self.hold(target_id).await? else {
            return Ok(Err(not_here()));
        };
        if target.court_code != instruction.court_code {
            return Ok(Err(Refusal::new(
                pb::ReasonCode::DocumentDefect,
                format!(
                    "only the court that ordered {} {} ({}) may {verb} it",
                    target.label(),
                    target.registration_number,
                    target.court_code
                ),
            )));
        }
        Ok(Ok(target))
    }

    /// Releases a hold of the instruction's court (in force or waiting); if it was in force, the
    /// earliest waiting hold takes effect and the line moves up.
    pub async fn release(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Release,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let mut target = match self
            .target(instruction, &order.target_measure_id, "release")
            .await?
        {
            Ok(t) => t,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        if !target.state.is_live() {
            return Ok(Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::TargetNotActive,
                    format!(
                        "{} {} is already {}",
                        target.label(),
                        target.registration_number,
                        target.state.as_str()
                    ),
                ),
                self.now,
            ));
        }
        target.state = HoldState::Released;
        target.waiting_position = 0;
        target.ended_at = Some(self.now);
        target.revision += 1;
        self.save(&target).await?;
        let note = release_note(&target, &order.reason);
        let mut related = vec![target.update(pb::UpdateCause::Released, note.clone(), self.now)];
        related.extend(self.settle(target.kind, &target.asset_id).await?);
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

    /// Renews a hold in force before its expiry: the expiry moves by the period, counted from the
    /// current expiry and at most the statutory maximum again; the place in line is kept.
    pub async fn renew(
        &mut self,
        instruction: &pb::Instruction,
        order: &pb::Renewal,
    ) -> Result<Changes, sqlx::Error> {
        let measure_id = &instruction.measure_id;
        let mut target = match self
            .target(instruction, &order.target_measure_id, "renew")
            .await?
        {
            Ok(t) => t,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        let after_expiry = |t: &HoldRow| {
            Refusal::new(
                pb::ReasonCode::RenewalAfterExpiry,
                format!(
                    "{} {} expired on {}; a renewal must arrive before expiry (查扣冻规定 art. 27)",
                    t.label(),
                    t.registration_number,
                    date(t.expires_at)
                ),
            )
        };
        match target.state {
            HoldState::Effective => {}
            // Lapsed means it reached expiry: the court is told that, not merely "not active".
            HoldState::Lapsed => {
                return Ok(Changes::refused(
                    measure_id,
                    after_expiry(&target),
                    self.now,
                ));
            }
            HoldState::Waiting | HoldState::Released => {
                return Ok(Changes::refused(
                    measure_id,
                    Refusal::new(
                        pb::ReasonCode::TargetNotActive,
                        format!(
                            "{} {} is {}; only a measure in force can be renewed",
                            target.label(),
                            target.registration_number,
                            target.state.as_str()
                        ),
                    ),
                    self.now,
                ));
            }
        }
        let expiry = target.expires_at.unwrap_or(self.now);
        if expiry <= self.now {
            return Ok(Changes::refused(
                measure_id,
                after_expiry(&target),
                self.now,
            ));
        }
        let period = match checked_period(
            order.period.as_ref(),
            target.kind.maximum(),
            expiry,
            "renewal",
        ) {
            Ok(p) => p,
            Err(refusal) => return Ok(Changes::refused(measure_id, refusal, self.now)),
        };
        target.expires_at = Some(period.end_from(expiry));
        target.revision += 1;
        self.save(&target).await?;
        let note = format!(
            "{} {} renewed by {period} until {}; its place is kept",
            target.label(),
            target.registration_number,
            date(target.expires_at)
        );
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

    /// After a hold on the asset ended: promotes the earliest waiting hold if none is in force, and
    /// renumbers the line. Returns the updates of the holds that changed.
    pub async fn settle(
        &mut self,
        kind: HoldKind,
        asset_id: &str,
    ) -> Result<Vec<pb::MeasureUpdate>, sqlx::Error> {
        if !kind.exclusive() {
            return Ok(Vec::new());
        }
        let mut live = self.live(kind, asset_id).await?;
        let mut updates = Vec::new();
        if !live.iter().any(|h| h.state == HoldState::Effective)
            && let Some(next) = live.iter_mut().find(|h| h.state == HoldState::Waiting)
        {
            next.take_effect(self.now);
            next.revision += 1;
            self.save(next).await?;
            let note = format!(
                "the earlier {} ended; this waiting {} {} took effect, in force until {}",
                kind.words(),
                next.label(),
                next.registration_number,
                date(next.expires_at)
            );
            updates.push(next.update(pb::UpdateCause::Promoted, note, self.now));
        }
        let mut position = 0;
        for h in live.iter_mut().filter(|h| h.state == HoldState::Waiting) {
            position += 1;
            if h.waiting_position != position {
                h.waiting_position = position;
                h.revision += 1;
                self.save(h).await?;
                updates.push(h.update(
                    pb::UpdateCause::PositionChanged,
                    format!("now waiting at position {position}"),
                    self.now,
                ));
            }
        }
        Ok(updates)
    }

    /// Lapses up to `limit` holds past their expiry, each with what its end caused (promotion,
    /// positions). Returns one batch of updates per lapsed hold, with a message for its notice.
    pub async fn lapse_due(&mut self, limit: i64) -> Result<Vec<Lapse>, sqlx::Error> {
        let due: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT measure_id, kind, asset_id FROM holds \
             WHERE agency_code = $1 AND state = 'effective' AND expires_at <= $2 \
             ORDER BY expires_at, seq LIMIT $3",
        )
        .bind(self.agency_code)
        .bind(self.now)
        .bind(limit)
        .fetch_all(&mut *self.conn)
        .await?;
        let mut lapses = Vec::new();
        for (measure_id, kind, asset_id) in due {
            let kind = HoldKind::try_from(kind).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            self.lock_asset(kind, &asset_id).await?;
            let Some(mut hold) = self.hold(measure_id).await? else {
                continue;
            };
            // Renewed or released between the scan and the lock.
            if hold.state != HoldState::Effective || hold.expires_at.is_none_or(|e| e > self.now) {
                continue;
            }
            hold.state = HoldState::Lapsed;
            hold.ended_at = Some(self.now);
            hold.revision += 1;
            self.save(&hold).await?;
            let mut note = format!(
                "{} {} lapsed at expiry on {} without renewal",
                hold.label(),
                hold.registration_number,
                date(hold.expires_at)
            );
            if kind == HoldKind::ExitRestriction {
                note.push_str(BORDER_INSPECTION_NOTIFIED);
            }
            let mut updates = vec![hold.update(pb::UpdateCause::Lapsed, note.clone(), self.now)];
            let promoted = self.settle(kind, &asset_id).await?;
            if promoted
                .iter()
                .any(|u| u.cause == pb::UpdateCause::Promoted as i32)
            {
                note.push_str(&format!(
                    "; the earliest waiting {} took effect",
                    kind.words()
                ));
            }
            updates.extend(promoted);
            lapses.push(Lapse {
                updates,
                message: note,
            });
        }
        Ok(lapses)
    }
}

fn release_note(target: &HoldRow, reason: &str) -> String {
    let mut note = format!(
        "{} {} released by order",
        target.label(),
        target.registration_number
    );
    if !reason.trim().is_empty() {
        note.push_str(&format!(" ({})", reason.trim()));
    }
    if target.kind == HoldKind::ExitRestriction {
        note.push_str(BORDER_INSPECTION_NOTIFIED);
    }
    note
}
