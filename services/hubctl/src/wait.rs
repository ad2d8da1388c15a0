//! Waiting on a watch stream until a measure reaches what the user is waiting for.
//!
//! The hub's `Watch` starts with the measure as it stands, so a wait opened after a change still
//! sees it; there is no polling. A wait ends in one of four ways: the condition holds, the
//! measure can no longer get there (it ended otherwise), the time is up, or Ctrl-C.

use std::{future::Future, time::Duration};

use enforcement_proto::{convert, v1 as pb};
use hub_domain::MeasureState;
use tokio_stream::{Stream, StreamExt};

use crate::{
    error::{Failure, Server},
    format,
};

/// What a waiter makes of the measure as it now stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Reached: stop waiting.
    Done,
    /// Not yet.
    Pending,
    /// It will never get there; the sentence says why.
    Wrong(String),
}

/// The measure when the wait ended, and the latest message the hub sent about it.
#[derive(Clone, Debug)]
pub struct Waited {
    /// The measure as it stood when the condition held.
    pub measure: pb::Measure,
    /// The latest non-empty event message (usually the agency's note), or empty.
    pub message: String,
}

/// Resolves when the user presses Ctrl-C; never, if the handler cannot be installed.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether the agency has answered: the measure is past SUBMITTED, DISPATCHED and DELIVERED.
pub fn answered(m: &pb::Measure) -> Check {
    match convert::state_from_proto(m.state) {
        Some(MeasureState::Submitted | MeasureState::Dispatched | MeasureState::Delivered)
        | None => Check::Pending,
        Some(_) => Check::Done,
    }
}

/// Waits for `state` (and `also`, e.g. an amount), failing early once the measure is in a state
/// from which `state` cannot be reached.
pub fn reaches(
    state: MeasureState,
    also: impl Fn(&pb::Measure) -> bool,
) -> impl FnMut(&pb::Measure) -> Check {
    move |m| match convert::state_from_proto(m.state) {
        Some(now) if now == state && also(m) => Check::Done,
        Some(now) if now != state && !now.can_become(state) => Check::Wrong(format!(
            "measure {} is {} and can no longer become {state}: {}",
            m.measure_id,
            now,
            format::measure::summary(m)
        )),
        _ => Check::Pending,
    }
}

/// Reads `events` about `measure_id` until `check` is done or wrong, `timeout` passes, or
/// `interrupt` resolves. `expecting` completes "measure … did not …" in the timeout message.
pub async fn until<S>(
    events: S,
    server: &Server,
    measure_id: &str,
    expecting: &str,
    timeout: Duration,
    check: impl FnMut(&pb::Measure) -> Check,
) -> Result<Waited, Failure>
where
    S: Stream<Item = Result<pb::MeasureEvent, tonic::Status>> + Unpin,
{
    until_interrupted(
        events,
        server,
        measure_id,
        expecting,
        timeout,
        check,
        ctrl_c(),
    )
    .await
}

/// [`until`] with the interruption passed in, so tests can interrupt without a signal.
async fn until_interrupted<S>(
    mut events: S,
    server: &Server,
    measure_id: &str,
    expecting: &str,
    timeout: Duration,
    mut check: impl FnMut(&pb::Measure) -> Check,
    interrupt: impl Future<Output = ()>,
) -> Result<Waited, Failure>
where
    S: Stream<Item = Result<pb::MeasureEvent, tonic::Status>> + Unpin,
{
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline, interrupt);
    let mut last: Option<pb::Measure> = None;
    let mut message = String::new();
    loop {
        let event = tokio::select! {
            () = &mut deadline => {
                let seen = last.as_ref().map_or_else(
                    || "nothing received".to_owned(),
                    format::measure::summary,
                );
                return Err(Failure::TimedOut(format!(
                    "measure {measure_id} did not {expecting} within {timeout:?} (last seen: {seen})"
                )));
            }
            () = &mut interrupt => {
                return Err(Failure::Interrupted(Some(format!("hubctl watch {measure_id}"))));
            }
            event = events.next() => event,
        };
        let event = match event {
            Some(Ok(event)) => event,
            Some(Err(status)) => return Err(Failure::from_status(status, server)),
            None => {
                return Err(Failure::Unavailable {
                    server: server.clone(),
                    message: format!(
                        "it ended the watch stream before measure {measure_id} could {expecting} (is it shutting down?)"
                    ),
                });
            }
        };
        let Some(measure) = event.measure else {
            continue;
        };
        if measure.measure_id != measure_id {
            continue;
        }
        if !event.message.is_empty() {
            message = event.message;
        }
        match check(&measure) {
            Check::Done => return Ok(Waited { measure, message }),
            Check::Wrong(why) => return Err(Failure::Outcome(why)),
            Check::Pending => last = Some(measure),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    const ID: &str = "0190f0e4-8c4b-7d6e-9a51-2b3c4d5e6f70";

    fn event(state: pb::MeasureState, held_fen: i64, message: &str) -> pb::MeasureEvent {
        pb::MeasureEvent {
            kind: pb::EventKind::StateChanged as i32,
            measure: Some(pb::Measure {
                measure_id: ID.into(),
                kind: pb::MeasureKind::Freeze as i32,
                state: state as i32,
                requested_fen: 1_000_000,
                held_fen,
                ..Default::default()
            }),
            at: None,
            message: message.into(),
            case: None,
            order: None,
        }
    }

    async fn run(
        events: Vec<Result<pb::MeasureEvent, tonic::Status>>,
        check: impl FnMut(&pb::Measure) -> Check,
    ) -> Result<Waited, Failure> {
        until_interrupted(
            tokio_stream::iter(events).chain(tokio_stream::pending()),
            &Server::hub("http://hub"),
            ID,
            "take effect",
            Duration::from_millis(200),
            check,
            std::future::pending(),
        )
        .await
    }

    #[tokio::test]
    async fn waits_past_the_hubs_own_states_for_the_agencys_answer() {
        let waited = run(
            vec![
                Ok(event(pb::MeasureState::Submitted, 0, "")),
                Ok(event(pb::MeasureState::Delivered, 0, "")),
                Ok(event(pb::MeasureState::Effective, 1_000_000, "frozen")),
            ],
            answered,
        )
        .await
        .expect("answered");
        assert_eq!(waited.measure.state, pb::MeasureState::Effective as i32);
        assert_eq!(waited.message, "frozen");
    }

    #[tokio::test]
    async fn a_state_that_cannot_lead_to_the_expected_one_fails_at_once() {
        let failure = run(
            vec![Ok(event(pb::MeasureState::Rejected, 0, "no such account"))],
            reaches(MeasureState::Effective, |_| true),
        )
        .await
        .expect_err("rejected");
        assert_eq!(failure.exit_code(), exit::OUTCOME);
        assert!(
            failure
                .to_string()
                .contains("can no longer become effective")
        );
    }

    #[tokio::test]
    async fn an_extra_condition_keeps_waiting_in_the_same_state() {
        let waited = run(
            vec![
                Ok(event(pb::MeasureState::Partial, 500_000, "")),
                Ok(event(pb::MeasureState::Partial, 900_000, "topped up")),
            ],
            reaches(MeasureState::Partial, |m| m.held_fen == 900_000),
        )
        .await
        .expect("topped up");
        assert_eq!(waited.measure.held_fen, 900_000);
    }

    #[tokio::test]
    async fn running_out_of_time_says_what_was_seen_last() {
        let failure = run(
            vec![Ok(event(pb::MeasureState::Delivered, 0, ""))],
            answered,
        )
        .await
        .expect_err("times out");
        assert_eq!(failure.exit_code(), exit::TIMED_OUT);
        assert_eq!(
            failure.to_string(),
            format!(
                "measure {ID} did not take effect within 200ms (last seen: delivered: 0.00 of 10,000.00 held)"
            )
        );
    }

    #[tokio::test]
    async fn an_ended_stream_is_reported_as_the_hub_going_away() {
        let failure = until_interrupted(
            tokio_stream::iter(Vec::<Result<pb::MeasureEvent, tonic::Status>>::new()),
            &Server::hub("http://hub"),
            ID,
            "take effect",
            Duration::from_secs(5),
            answered,
            std::future::pending(),
        )
        .await
        .expect_err("ended");
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
    }

    #[tokio::test]
    async fn ctrl_c_stops_the_wait_and_says_how_to_follow_the_measure() {
        let failure = until_interrupted(
            tokio_stream::pending::<Result<pb::MeasureEvent, tonic::Status>>(),
            &Server::hub("http://hub"),
            ID,
            "take effect",
            Duration::from_secs(5),
            answered,
            std::future::ready(()),
        )
        .await
        .expect_err("interrupted");
        assert_eq!(failure.exit_code(), exit::INTERRUPTED);
    }
}
