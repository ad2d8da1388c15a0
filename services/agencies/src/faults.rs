//! Trouble a reference agency can be told to have: answering slowly, or not at all.
//!
//! Real agency systems go down for maintenance and slow down under load; the hub must retry,
//! hold instructions and never lose or double one. These knobs let tests and demos cause that.

use std::{
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
    time::Duration,
};

use tonic::Status;

/// Faults applied before each call to `Execute`.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    unavailable_calls: AtomicU32,
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

    /// Applies the faults to one call.
    pub async fn before_call(&self) -> Result<(), Status> {
        let latency = self.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
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
