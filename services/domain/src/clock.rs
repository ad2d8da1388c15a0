//! Where "now" comes from. Services read time only through a [`Clock`], so that tests can move it
//! forward to reach an expiry without waiting.

use std::sync::{Arc, Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

/// The system clock, or a manual one shared by everything built from the same handle.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None` for the system clock; for a manual clock, the offset added to system time.
    offset: Option<Arc<Manual>>,
}

/// What a manual clock shares between its clones.
#[derive(Default)]
struct Manual {
    /// Added to system time.
    by: Mutex<Duration>,
    /// Called after each [`Clock::advance`], so that whoever sleeps until an instant looks again.
    moved: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.offset {
            None => f.write_str("Clock::system"),
            Some(manual) => f
                .debug_tuple("Clock::adjustable")
                .field(&*manual.by.lock().unwrap_or_else(PoisonError::into_inner))
                .finish(),
        }
    }
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
            offset: Some(Arc::default()),
        }
    }

    /// The current instant, in UTC, to the microsecond: the precision PostgreSQL stores, so a
    /// time read back equals the time written.
    pub fn now(&self) -> OffsetDateTime {
        let base = OffsetDateTime::now_utc();
        let now = match &self.offset {
            None => base,
            Some(manual) => base + *manual.by.lock().unwrap_or_else(PoisonError::into_inner),
        };
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }

    /// Moves an adjustable clock forward; returns `false` (and does nothing) on the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        match &self.offset {
            None => false,
            Some(manual) => {
                *manual.by.lock().unwrap_or_else(PoisonError::into_inner) += by;
                for moved in manual
                    .moved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                {
                    moved();
                }
                true
            }
        }
    }

    /// Calls `moved` after every [`Clock::advance`] of this clock or its clones (never, on the
    /// system clock): a task sleeping until an instant of this clock must then look again.
    pub fn on_advance(&self, moved: impl Fn() + Send + Sync + 'static) {
        if let Some(manual) = &self.offset {
            manual
                .moved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Box::new(moved));
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
    fn advancing_tells_whoever_asked() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let clock = Clock::adjustable();
        let told = Arc::new(AtomicU32::new(0));
        let counter = told.clone();
        clock.clone().on_advance(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        clock.advance(Duration::hours(1));
        clock.clone().advance(Duration::hours(1));
        assert_eq!(told.load(Ordering::SeqCst), 2);
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
