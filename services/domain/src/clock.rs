//! Where "now" comes from. Services read time only through a [`Clock`], so that tests can move it
//! forward to reach an expiry without waiting.

use std::sync::{Arc, Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

/// The system clock, or a manual one shared by everything built from the same handle.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None` for the system clock; for a manual clock, the offset added to system time.
    offset: Option<Arc<Mutex<Duration>>>,
}

impl Clock {
    /// Real time.
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// Real time plus an offset that [`Clock::advance`] moves forward. Time still passes, so
    /// timeouts and ordering by time behave as in production.
    pub fn adjustable() -> Self {
        Self {
            offset: Some(Arc::new(Mutex::new(Duration::ZERO))),
        }
    }

    /// The current instant, in UTC, to the microsecond: the precision PostgreSQL stores, so a
    /// time read back equals the time written.
    pub fn now(&self) -> OffsetDateTime {
        let base = OffsetDateTime::now_utc();
        let now = match &self.offset {
            None => base,
            Some(offset) => base + *offset.lock().unwrap_or_else(PoisonError::into_inner),
        };
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// Moves an adjustable clock forward; returns `false` (and does nothing) on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        match &self.offset {
            None => false,
            Some(offset) => {
                *offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_for_every_clone() {
        let clock = Clock::adjustable();
        let shared = clock.clone();
        let before = shared.now();
        assert!(clock.advance(Duration::days(30)));
        let after = shared.now();
        assert!(after - before >= Duration::days(30));
        assert!(after - before < Duration::days(30) + Duration::minutes(1));
    }

    #[test]
    fn time_is_read_to_the_microsecond() {
        assert_eq!(Clock::system().now().nanosecond() % 1_000, 0);
        assert_eq!(Clock::adjustable().now().nanosecond() % 1_000, 0);
    }

    #[test]
    fn the_system_clock_cannot_be_moved() {
        assert!(!Clock::system().advance(Duration::days(1)));
    }
}
