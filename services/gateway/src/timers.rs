//! What the gateway does because time passed: ending instructions nobody took by their
//! deadline, closing inquiries whose deadline has come, lapsing measures past their expiry
//! without renewal (on the gateway's own clock, even if the agency's notice is late, so that the
//! case ledger stops counting them on time), and warning courts of measures about to
//! expire (保全规定 art. 18: the court must tell the applicant the expiry date, and renewal must be
//! asked for before it). They act at each deadline's moment, sleeping until the next one rather
//! than scanning on a fixed beat. Time comes from the [`Clock`], so tests can move it; the
//! statements are in [`crate::store::timers`].

use std::{sync::Arc, time::Duration};

use hub_domain::{Clock, MeasureKind, MeasureState};
use time::OffsetDateTime;
use tokio::sync::{
    Notify,
    broadcast::error::{RecvError, TryRecvError},
};
use tokio_util::sync::CancellationToken;

use crate::{
    events::{EventHub, Signal},
    overdue::{self, AnswerDeadlines},
    store::{MeasureRow, Store},
};

/// What the court reads when an instruction expires undelivered.
const EXPIRED_UNDELIVERED: &str =
    "no agency answered the instruction before its deadline; it will not be carried out";

/// How long a burst of changes is let pass before the timers look again for the next deadline.
const SETTLE: Duration = Duration::from_millis(100);

/// The gateway's timers. They sleep until the next deadline the database holds, and in any case
/// no longer than `longest`, which also covers changes another gateway made while this one's
/// listener was reconnecting. A change this process made may bring a nearer deadline: it is
/// read from the measure as the change left it, without asking the database. A change another
/// instance made, or changes missed, or the clock moved, make them look in the database again.
pub struct Timers {
    pub store: Store,
    pub clock: Clock,
    /// The warning horizons in days.
    pub horizons: Vec<u32>,
    /// How long past its deadline an instruction may still be answered.
    pub grace: Duration,
    /// The longest the timers sleep.
    pub longest: Duration,
    /// Counts instructions expired undelivered among the outcomes, and overdue measures.
    pub metrics: crate::metrics::GatewayMetrics,
    /// When agencies must have answered (督办).
    pub deadlines: AnswerDeadlines,
    /// How long a reminder may wait for its agency.
    pub reminder_deadline: Duration,
}

impl Timers {
    /// Runs until `shutdown`, hearing changes on `hub`.
    pub async fn run(mut self, hub: EventHub, shutdown: CancellationToken) {
        let grace = time::Duration::try_from(self.grace).unwrap_or(time::Duration::MINUTE);
        // Nearest first: a measure already within 7 days gets the 7-day warning, not the 30-day one.
        self.horizons.sort_unstable();
        self.horizons.dedup();
        let moved = Arc::new(Notify::new());
        let wake = moved.clone();
        self.clock.on_advance(move || wake.notify_one());
        let mut changes = hub.subscribe();
        loop {
            let now = self.clock.now();
            self.pass(now, grace).await;
            let mut next = self.next(now, grace).await;
            loop {
                let wait = until(next, self.clock.now(), self.longest);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => break,
                    () = moved.notified() => break,
                    signal = changes.recv() => {
                        let now = self.clock.now();
                        let mut heard = Heard::default();
                        heard.add(signal.map_err(Missed::from), |row| due(row, now, grace, &self.horizons, &self.deadlines));
                        loop {
                            match changes.try_recv() {
                                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                                signal => heard.add(
                                    signal.map_err(Missed::from),
                                    |row| due(row, now, grace, &self.horizons, &self.deadlines),
                                ),
                            }
                        }
                        if heard.unknown {
                            tokio::select! {
                                () = shutdown.cancelled() => return,
                                () = tokio::time::sleep(SETTLE) => {}
                            }
                            while !matches!(
                                changes.try_recv(),
                                Err(TryRecvError::Empty | TryRecvError::Closed)
                            ) {}
                            next = self.next(self.clock.now(), grace).await;
                        } else {
                            next = next.into_iter().chain(heard.earliest).min();
                        }
                    }
                }
            }
        }
    }

    /// The next deadline after `now`, if any (none known when the database cannot say).
    async fn next(&self, now: OffsetDateTime, grace: time::Duration) -> Option<OffsetDateTime> {
        let deadline = match self.store.next_deadline(now, grace, &self.horizons).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "finding the next deadline failed");
                None
            }
        };
        let overdue = match self.store.next_overdue(now, &self.deadlines).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "finding the next answer deadline failed");
                None
            }
        };
        deadline.into_iter().chain(overdue).min()
    }

    /// Does what is due at `now`.
    async fn pass(&self, now: OffsetDateTime, grace: time::Duration) {
        let store = &self.store;
        match store
            .expire_undelivered(now - grace, EXPIRED_UNDELIVERED)
            .await
        {
            Ok(expired) if !expired.is_empty() => {
                tracing::warn!(measures = expired.len(), "instructions expired undelivered");
                for row in &expired {
                    let since = now - row.submitted_at;
                    let agency = row.agency.code();
                    self.metrics.outcome(row.kind, agency, row.state, since);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expiring undelivered instructions failed"),
        }
        if let Err(e) = store.close_overdue_inquiries(now, inquiry_closed).await {
            tracing::warn!(error = %e, "closing overdue inquiries failed");
        }
        match store.lapse_expired(now, lapsed).await {
            Ok(lapsed) if !lapsed.is_empty() => {
                tracing::info!(measures = lapsed.len(), "measures lapsed at expiry");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lapsing expired measures failed"),
        }
        let deadlines = &self.deadlines;
        match store
            .mark_overdue(
                now,
                deadlines,
                |row| overdue::told(row, deadlines),
                |row, id| overdue::reminder(row, deadlines, id, now, self.reminder_deadline),
            )
            .await
        {
            Ok(marked) => {
                for row in &marked {
                    tracing::warn!(
                        measure = %row.id,
                        agency = row.agency.code(),
                        level = row.overdue_level,
                        "measure overdue; reminder queued for the agency"
                    );
                    self.metrics
                        .overdue(row.kind, row.agency.code(), row.overdue_level);
                }
            }
            Err(e) => tracing::warn!(error = %e, "marking overdue measures failed"),
        }
        for horizon in &self.horizons {
            if let Err(e) = store
                .warn_expiring(now, *horizon, |row| warning(row, now))
                .await
            {
                tracing::warn!(error = %e, "expiry warnings failed");
            }
        }
    }
}

/// The next moment after `now` at which `row`, as it stands, needs the timers: the moments
/// [`Store::next_deadline`] and [`Store::next_overdue`] find, for this one measure (warning
/// `horizons` in days, an undelivered instruction's `grace`, the answer `deadlines`).
fn due(
    row: &MeasureRow,
    now: OffsetDateTime,
    grace: time::Duration,
    horizons: &[u32],
    deadlines: &AnswerDeadlines,
) -> Option<OffsetDateTime> {
    let state = row.state;
    let inquiry = row.kind == MeasureKind::Inquiry;
    let mut moments = Vec::new();
    if state.is_undelivered() {
        // Undelivered by its deadline (after the grace), or an inquiry's answers closed.
        moments.push(if inquiry {
            row.deadline
        } else {
            row.deadline + grace
        });
    }
    if let Some(expires) = row.expires_at
        && state.is_in_force()
        && row.kind.has_period()
    {
        moments.push(expires);
        for days in horizons {
            let warned = row
                .warned_within_days
                .is_some_and(|w| i64::from(w) <= i64::from(*days));
            if !warned {
                moments.push(expires - time::Duration::days(i64::from(*days)));
            }
        }
    }
    if (state.is_undelivered() || state == MeasureState::Delivered)
        && !inquiry
        && row.overdue_level < overdue::TOP_LEVEL
    {
        moments.push(deadlines.due_at(row, row.overdue_level + 1));
    }
    moments.into_iter().filter(|at| *at > now).min()
}

/// Changes heard while the timers slept.
#[derive(Default)]
struct Heard {
    /// The nearest moment the changes this process made bring.
    earliest: Option<OffsetDateTime>,
    /// Changes of which the measure is not known here, or missed: the database must say.
    unknown: bool,
}

/// Signals were missed (the timers lagged behind the broadcast).
struct Missed;

impl From<RecvError> for Missed {
    fn from(_: RecvError) -> Self {
        Missed
    }
}

impl From<TryRecvError> for Missed {
    fn from(_: TryRecvError) -> Self {
        Missed
    }
}

impl Heard {
    fn add(
        &mut self,
        signal: Result<Signal, Missed>,
        due: impl Fn(&MeasureRow) -> Option<OffsetDateTime>,
    ) {
        match signal {
            Ok(Signal::Event(event)) => match &event.row {
                Some(row) => self.earliest = self.earliest.into_iter().chain(due(row)).min(),
                None => self.unknown = true,
            },
            // A case's own entries bring no deadline; the measures it orders come as events.
            Ok(Signal::Case(_)) => {}
            Ok(Signal::Resync) | Err(Missed) => self.unknown = true,
        }
    }
}

/// How long to sleep from `now` until `next`, at most `longest`.
fn until(next: Option<OffsetDateTime>, now: OffsetDateTime, longest: Duration) -> Duration {
    next.map_or(longest, |next| {
        Duration::try_from(next - now)
            .unwrap_or(Duration::ZERO)
            .min(longest)
    })
}

/// What the court reads when its inquiry's deadline passes.
fn inquiry_closed(row: &MeasureRow) -> String {
    format!(
        "deadline passed: {} of {} agencies answered, {} did not",
        row.inquiry_answered, row.inquiry_addressed, row.inquiry_unanswered
    )
}

/// What the court reads when its measure lapses at the gateway.
fn lapsed(row: &MeasureRow) -> String {
    let date = row
        .expires_at
        .map(|e| {
            e.to_offset(hub_domain::CHINA_STANDARD_TIME)
                .date()
                .to_string()
        })
        .unwrap_or_default();
    format!(
        "lapsed at its expiry on {date} (UTC+08:00) without renewal (查扣冻规定 art. 27); the hub no longer counts it for the case, whether or not the agency has reported it yet"
    )
}

/// What the court reads when its measure comes within a warning horizon of expiry.
fn warning(row: &MeasureRow, now: OffsetDateTime) -> String {
    let Some(expiry) = row.expires_at else {
        return String::new();
    };
    // Days left, counting a part day as a day: "in 7 days" a week before, not "in 6".
    let left = ((expiry - now).whole_seconds() + 86_399) / 86_400;
    let date = expiry.to_offset(hub_domain::CHINA_STANDARD_TIME).date();
    let what = match row.registration_number.as_str() {
        "" => row.kind.label().to_string(),
        number => format!("{} {number}", row.kind.label()),
    };
    format!(
        "{what} expires on {date} (UTC+08:00), in {left} day{}: renew before then or it lapses",
        if left == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When `row` needs the timers after `now`: a day's grace, warnings 30 and 7 days ahead,
    /// answers due in an hour (two hours for the second level).
    fn due_for(row: &MeasureRow, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let deadlines: AnswerDeadlines = "*.*=3600".parse().expect("rules");
        due(row, now, time::Duration::DAY, &[30, 7], &deadlines)
    }

    #[test]
    fn a_measure_brings_the_nearest_of_its_own_deadlines_still_ahead() {
        use time::Duration as D;
        let submitted = MeasureRow::example(MeasureKind::Freeze, MeasureState::Submitted);
        let at = submitted.submitted_at;
        // Undelivered: its answer is due in an hour, before its instruction's grace ends.
        let fresh = MeasureRow {
            deadline: at + D::minutes(10),
            ..submitted.clone()
        };
        assert_eq!(due_for(&fresh, at), Some(at + D::hours(1)));
        // Marked overdue, the second level; past that, the instruction's end after the grace.
        let late = MeasureRow {
            deadline: at + D::hours(3),
            overdue_level: 1,
            ..submitted.clone()
        };
        assert_eq!(due_for(&late, at + D::minutes(61)), Some(at + D::hours(2)));
        let overdue = MeasureRow {
            overdue_level: overdue::TOP_LEVEL,
            ..late.clone()
        };
        assert_eq!(
            due_for(&overdue, at + D::minutes(61)),
            Some(at + D::hours(3) + D::DAY)
        );
        // An inquiry closes at its deadline, without grace, and is never overdue.
        let inquiry = MeasureRow {
            deadline: at + D::seconds(5),
            ..MeasureRow::example(MeasureKind::Inquiry, MeasureState::Dispatched)
        };
        assert_eq!(due_for(&inquiry, at), Some(at + D::seconds(5)));
        // In force: the warning not yet given, then the lapse; a finished measure, nothing.
        let expires = at + D::days(40);
        let effective = MeasureRow {
            expires_at: Some(expires),
            ..MeasureRow::example(MeasureKind::Freeze, MeasureState::Effective)
        };
        assert_eq!(due_for(&effective, at), Some(expires - D::days(30)));
        let warned = MeasureRow {
            warned_within_days: Some(30),
            ..effective.clone()
        };
        assert_eq!(due_for(&warned, at), Some(expires - D::days(7)));
        assert_eq!(
            due_for(&warned, expires - D::days(7)),
            Some(expires),
            "a moment now is due already: the next is later"
        );
        let released = MeasureRow {
            state: MeasureState::Released,
            ..effective
        };
        assert_eq!(due_for(&released, at), None);
    }

    #[test]
    fn only_changes_made_here_are_read_without_the_database() {
        let mut row = MeasureRow::example(MeasureKind::Freeze, MeasureState::Submitted);
        let at = row.submitted_at;
        row.deadline = at + time::Duration::hours(2);
        let event = |row: Option<MeasureRow>| {
            Ok(Signal::Event(Arc::new(crate::store::EventRow {
                id: 1,
                measure_id: uuid::Uuid::now_v7(),
                court_code: String::new(),
                case_number: String::new(),
                version: 1,
                kind: 1,
                message: String::new(),
                snapshot: Vec::new(),
                at,
                detail: None,
                row,
            })))
        };
        let mut heard = Heard::default();
        heard.add(event(Some(row.clone())), |row| due_for(row, at));
        heard.add(event(Some(row.clone())), |_| None);
        assert_eq!(heard.earliest, Some(at + time::Duration::hours(1)));
        assert!(!heard.unknown);
        heard.add(event(None), |row| due_for(row, at));
        assert!(
            heard.unknown,
            "another instance's change is read from the database"
        );
        let mut missed = Heard::default();
        missed.add(Err(Missed), |row| due_for(row, at));
        assert!(missed.unknown);
    }

    #[test]
    fn the_timers_sleep_until_the_next_deadline_and_no_longer_than_the_longest() {
        let now = time::macros::datetime!(2026-12-01 12:00 UTC);
        let minute = Duration::from_secs(60);
        assert_eq!(until(None, now, minute), minute);
        assert_eq!(
            until(Some(now + time::Duration::seconds(5)), now, minute),
            Duration::from_secs(5)
        );
        assert_eq!(
            until(Some(now + time::Duration::hours(1)), now, minute),
            minute
        );
        assert_eq!(
            until(Some(now - time::Duration::seconds(5)), now, minute),
            Duration::ZERO
        );
    }
}
