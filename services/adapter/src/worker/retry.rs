//! The retry policy of agency calls: which failures are worth another attempt, how many
//! attempts an instruction gets, and how long to wait between them.
//!
//! The delay grows (doubling, with jitter, up to a ceiling) so that an agency that is down is
//! not hammered by every adapter at once. The waiting happens in the instruction's lane, which
//! holds back the later instructions on the same asset so their order stays.

use std::time::Duration;

use hub_runtime::Backoff;
use tonic::Code;

/// The attempts left at one instruction.
pub(super) struct Retries {
    /// The growing delay between attempts; it also counts the attempts made.
    backoff: Backoff,
    /// Attempts in all, the first included (at least one).
    attempts: u32,
}

/// Another attempt, after a failed one.
#[derive(Debug)]
pub(super) struct Retry {
    /// The attempt that failed, counting from 1.
    pub(super) failed: u32,
    /// How long to wait before the next one.
    pub(super) delay: Duration,
}

impl Retries {
    /// `attempts` in all (at least one), `backoff` between them.
    pub(super) fn new(backoff: Backoff, attempts: u32) -> Self {
        Self {
            backoff,
            attempts: attempts.max(1),
        }
    }

    /// After an attempt failed with `code`: the next attempt, or `None` when the failure is for
    /// good or that was the last attempt.
    pub(super) fn after(&mut self, code: Code) -> Option<Retry> {
        let failed = self.backoff.attempts() + 1;
        if !transient(code) || failed >= self.attempts {
            return None;
        }
        Some(Retry {
            failed,
            delay: self.backoff.next_delay(),
        })
    }
}

/// Failures worth another attempt. A call that timed out or was cut off may still have been
/// carried out: trying again is safe (the agency answers a repeat from its record) and is the
/// only way to learn what happened.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_failures_are_retried() {
        assert!(transient(Code::Unavailable));
        assert!(transient(Code::DeadlineExceeded));
        // A client-side timeout comes back as Cancelled.
        assert!(transient(Code::Cancelled));
        assert!(!transient(Code::InvalidArgument));
        assert!(!transient(Code::Internal));
    }

    #[test]
    fn an_agency_that_stays_down_gets_its_attempts_with_growing_delays_and_no_more() {
        let mut retries = Retries::new(
            Backoff::new(Duration::from_millis(100), Duration::from_millis(300)),
            4,
        );
        let mut seen = Vec::new();
        while let Some(retry) = retries.after(Code::Unavailable) {
            seen.push(retry);
        }
        assert_eq!(
            seen.iter().map(|r| r.failed).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        // Each delay lies between half its ceiling and the ceiling: 100, 200, then capped 300.
        for (retry, ceiling) in seen.iter().zip([100, 200, 300]) {
            let ceiling = Duration::from_millis(ceiling);
            assert!(
                retry.delay >= ceiling / 2 && retry.delay <= ceiling,
                "{retry:?} outside [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
    }

    #[test]
    fn a_failure_for_good_is_not_retried_and_one_attempt_means_none_again() {
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(10));
        assert!(
            Retries::new(backoff.clone(), 8)
                .after(Code::InvalidArgument)
                .is_none()
        );
        assert!(
            Retries::new(backoff.clone(), 1)
                .after(Code::Unavailable)
                .is_none()
        );
        assert!(Retries::new(backoff, 0).after(Code::Unavailable).is_none());
    }
}
