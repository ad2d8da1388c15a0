//! Step 4: releasing the freeze in force promotes the one waiting behind it, with no new request
//! from the court whose freeze it is.

use enforcement_proto::v1 as pb;
use hub_domain::MeasureState;
use uuid::Uuid;

use super::{FIRST_COURT, SECOND_COURT, Walk};
use crate::{error::Failure, format};

impl Walk {
    /// Step 4: releasing the freeze in force promotes the waiting one, with no new request.
    pub(super) async fn release_promotes(
        &self,
        released: &pb::Measure,
        waiting: &pb::Measure,
    ) -> Result<pb::Measure, Failure> {
        let title = format!(
            "Court {FIRST_COURT} releases its freeze; {SECOND_COURT}'s freeze, next in line, takes effect by itself."
        );
        self.heading(4, &title);
        let mut first = self.first.clone();
        let release = first
            .release(
                &Uuid::now_v7().to_string(),
                &released.measure_id,
                "debt paid in full",
            )
            .await?
            .measure;
        self.say(&format!(
            "{FIRST_COURT} ordered release {} of freeze {}",
            release.measure_id,
            format::short_id(&released.measure_id)
        ));
        let release = self
            .expect(
                &mut first,
                &release,
                MeasureState::Effective,
                "be carried out by the bank",
                |_| true,
            )
            .await?
            .measure;
        let gone = self
            .expect(
                &mut first,
                released,
                MeasureState::Released,
                "become released",
                |_| true,
            )
            .await?;
        self.say(&format!(
            "{SECOND_COURT} sends nothing; it only watches its freeze {}",
            format::short_id(&waiting.measure_id)
        ));
        let mut second = self.second.clone();
        let promoted = self
            .expect(
                &mut second,
                waiting,
                MeasureState::Effective,
                "take effect holding 8,000.00 after the release",
                |m| m.held_fen == 800_000,
            )
            .await?;
        self.record(
            4,
            &title,
            &[&release, &gone.measure, &promoted.measure],
            &[],
        );
        Ok(promoted.measure)
    }
}
