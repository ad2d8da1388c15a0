//! Trouble a reference agency can be told to have: answering slowly, or not at all.
//!
//! Real agency systems go down for maintenance and slow down under load; the hub must retry,
//! hold instructions and never lose or double one. These knobs let tests and demos cause that.

use std::{
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use tokio::sync::watch;
use tonic::Status;

/// Faults applied before each call to `Execute`.
#[derive(Debug)]
pub struct Faults {
    latency_ms: AtomicU64,
    unavailable_calls: AtomicU32,
    /// Calls still answered before every later one is held ([`Faults::hold_after`]).
    answered_before_hold: AtomicU32,
    held: watch::Sender<bool>,
}

/// `answered_before_hold` when no hold is armed.
const NOT_ARMED: u32 = u32::MAX;

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: AtomicU64::default(),
            unavailable_calls: AtomicU32::default(),
            answered_before_hold: AtomicU32::new(NOT_ARMED),
            held: watch::Sender::new(false),
        }
    }
}

impl Faults {
    /// Every call waits this long before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The next `calls` calls fail with `UNAVAILABLE`, as a system down for maintenance does.
    pub fn fail_next(&self, calls: u32) {
        self.unavailable_calls.store(calls, Ordering::Relaxed);
    }

    /// Calls wait, unanswered, until [`Faults::release`]: a system that has stopped answering.
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// The next `calls` calls are answered, and every call after them waits as under
    /// [`Faults::hold`]: a system that stops answering partway through a batch.
    pub fn hold_after(&self, calls: u32) {
        if calls == 0 {
            self.hold();
        } else {
            self.answered_before_hold.store(calls, Ordering::Relaxed);
        }
    }

    /// Calls held by [`Faults::hold`] go on, and new ones are no longer held.
    pub fn release(&self) {
        self.answered_before_hold
            .store(NOT_ARMED, Ordering::Relaxed);
        self.held.send_replace(false);
    }

    /// Applies the faults to one call.
    pub async fn before_call(&self) -> Result<(), Status> {
        let latency = self.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let counted =
            self.answered_before_hold
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n != NOT_ARMED && n > 0).then(|| n - 1)
                });
        if counted == Ok(1) {
            // The last call answered before the hold: every later one waits.
            self.hold();
        }
        if counted.is_err() {
            let mut held = self.held.subscribe();
            // The sender lives as long as `self`, so the wait ends only on release.
            let _ = held.wait_for(|held| !*held).await;
        }
        let failing =
            self.unavailable_calls
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(Status::unavailable(
                "the agency's system is down for maintenance",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::Faults;

    #[tokio::test]
    async fn a_held_call_waits_until_release_and_then_goes_on() {
        let faults = Arc::new(Faults::default());
        faults.hold();
        let call = tokio::spawn({
            let faults = Arc::clone(&faults);
            async move { faults.before_call().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!call.is_finished(), "a held call must not be answered");
        faults.release();
        let answered = tokio::time::timeout(Duration::from_secs(5), call).await;
        assert!(matches!(answered, Ok(Ok(Ok(())))), "{answered:?}");
    }

    #[tokio::test]
    async fn after_the_calls_it_answers_a_system_holds_the_rest_until_release() {
        let faults = Arc::new(Faults::default());
        faults.hold_after(2);
        for _ in 0..2 {
            let answered = tokio::time::timeout(Duration::from_secs(5), faults.before_call()).await;
            assert!(matches!(answered, Ok(Ok(()))), "{answered:?}");
        }
        let call = tokio::spawn({
            let faults = Arc::clone(&faults);
            async move { faults.before_call().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!call.is_finished(), "the third call must be held");
        faults.release();
        let answered = tokio::time::timeout(Duration::from_secs(5), call).await;
        assert!(matches!(answered, Ok(Ok(Ok(())))), "{answered:?}");
        // Released, nothing is held any more.
        assert!(faults.before_call().await.is_ok());
    }

    #[tokio::test]
    async fn failing_calls_are_counted_down_then_calls_succeed() {
        let faults = Faults::default();
        faults.fail_next(2);
        assert!(faults.before_call().await.is_err());
        assert!(faults.before_call().await.is_err());
        assert!(faults.before_call().await.is_ok());
    }
}
