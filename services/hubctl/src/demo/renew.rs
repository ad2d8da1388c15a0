//! Step 5: a renewal moves the expiry of the promoted freeze, counted from its current expiry.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{MeasureState, Period};
use uuid::Uuid;

use super::{RENEWAL_MONTHS, SECOND_COURT, Walk};
use crate::{error::Failure, format};

impl Walk {
    /// Step 5: a renewal moves the expiry of the promoted freeze by six months.
    pub(super) async fn renew(&self, freeze: &pb::Measure) -> Result<(), Failure> {
        let title = format!("Court {SECOND_COURT} renews its freeze by {RENEWAL_MONTHS} months.");
        self.heading(5, &title);
        let Some(old_expiry) = convert::instant_opt(freeze.expires_at.as_ref()) else {
            return Err(Failure::Outcome(format!(
                "freeze {} is effective but the hub shows no expiry to renew from",
                freeze.measure_id
            )));
        };
        let expected = Period::new(RENEWAL_MONTHS, 0)
            .map_err(|e| Failure::Unexpected(format!("renewal period: {e}")))?
            .end_from(old_expiry);
        self.say(&format!(
            "it now expires {}; {RENEWAL_MONTHS} more months, counted from then, end {}",
            format::local_time(old_expiry),
            format::local_time(expected)
        ));
        let mut court = self.second.clone();
        let renewal = court
            .renew(
                &Uuid::now_v7().to_string(),
                &freeze.measure_id,
                RENEWAL_MONTHS,
                0,
            )
            .await?
            .measure;
        self.say(&format!("ordered renewal {}", renewal.measure_id));
        let renewal = self
            .expect(
                &mut court,
                &renewal,
                MeasureState::Effective,
                "be carried out by the bank",
                |_| true,
            )
            .await?
            .measure;
        let renewed = self
            .expect(
                &mut court,
                freeze,
                MeasureState::Effective,
                "show the new expiry",
                |m| {
                    convert::instant_opt(m.expires_at.as_ref())
                        .is_some_and(|expiry| expiry > old_expiry)
                },
            )
            .await?;
        let new_expiry = convert::instant_opt(renewed.measure.expires_at.as_ref());
        match new_expiry {
            Some(new) if (new - expected).abs() < time::Duration::SECOND => self.ok(&format!(
                "expiry moved from {} to {}",
                format::local_time(old_expiry),
                format::local_time(new)
            )),
            other => {
                return Err(Failure::Outcome(format!(
                    "freeze {} now expires {}, expected {}",
                    freeze.measure_id,
                    other.map_or_else(|| "never".into(), format::local_time),
                    format::local_time(expected)
                )));
            }
        }
        self.record(5, &title, &[&renewal, &renewed.measure], &[]);
        Ok(())
    }
}
