//! The gateway's Prometheus series, named once here and counted where things happen.
//!
//! | series | what |
//! |---|---|
//! | `hub_measures_submitted_total{kind,agency}` | measures accepted by `Submit` (not repeats) |
//! | `hub_submit_duration_seconds{result}` | `Submit` latency: `accepted`, `duplicate`, `refused`, `error` |
//! | `hub_measures_finished_total{kind,agency,outcome}` | measures reaching their first outcome (`effective`, `partial`, `waiting`, `rejected`, `failed`, `expired`), from an agency's report, the relay (unroutable) or the timers (expired undelivered) |
//! | `hub_measure_outcome_seconds{kind,agency}` | from `Submit` to that outcome |
//! | `hub_report_apply_lag_seconds` | from an adapter sending a report to the gateway applying it |
//! | `hub_dead_letters_total{queue}` | messages the gateway put in the dead-letter queue |
//! | `hub_outbox_depth`, `hub_outbox_oldest_age_seconds` | instructions not yet published, and how long the oldest has waited |
//! | `hub_watchers` | open watch streams |
//! | `hub_measures_overdue` | measures past their answer deadline without the agency's answer (督办), at each scrape |
//! | `hub_reminders_total{kind,agency,level}` | reminders queued for agencies, by the level reached |
//! | `hub_dependency_up{dependency}` | database and broker connected |
//!
//! Agency queue depth, ready and unacknowledged counts and consumers come from RabbitMQ's own
//! `rabbitmq_prometheus` plugin, not from here.

use std::time::Duration;

use hub_domain::MeasureKind;
use hub_domain::MeasureState;
use hub_runtime::metrics::Metrics;

pub(crate) const SUBMITTED: &str = "hub_measures_submitted_total";
pub(crate) const SUBMIT_DURATION: &str = "hub_submit_duration_seconds";
pub(crate) const FINISHED: &str = "hub_measures_finished_total";
pub(crate) const OUTCOME_TIME: &str = "hub_measure_outcome_seconds";
pub(crate) const APPLY_LAG: &str = "hub_report_apply_lag_seconds";
pub(crate) const DEAD_LETTERS: &str = "hub_dead_letters_total";
pub(crate) const OUTBOX_DEPTH: &str = "hub_outbox_depth";
pub(crate) const OUTBOX_AGE: &str = "hub_outbox_oldest_age_seconds";
pub(crate) const WATCHERS: &str = "hub_watchers";
pub(crate) const OVERDUE: &str = "hub_measures_overdue";
pub(crate) const REMINDERS: &str = "hub_reminders_total";

const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        SUBMITTED,
        "Measures accepted by Submit, by kind and agency.",
    ),
    (SUBMIT_DURATION, "Submit latency in seconds, by result."),
    (
        FINISHED,
        "Measures reaching their first outcome, by kind, agency and outcome.",
    ),
    (
        OUTCOME_TIME,
        "Seconds from Submit to a measure's first outcome, by kind and agency.",
    ),
    (
        APPLY_LAG,
        "Seconds from an adapter sending a report to the gateway applying it.",
    ),
    (
        DEAD_LETTERS,
        "Messages dead-lettered, by the queue they came from.",
    ),
    (OUTBOX_DEPTH, "Instructions recorded and not yet published."),
    (
        OUTBOX_AGE,
        "Seconds the oldest unpublished instruction has waited (0 when none).",
    ),
    (WATCHERS, "Open watch streams."),
    (
        OVERDUE,
        "Measures past their answer deadline without the agency's answer.",
    ),
    (
        REMINDERS,
        "Reminders queued for agencies about overdue measures, by kind, agency and level.",
    ),
];

/// The gateway's metrics.
#[derive(Clone)]
pub struct GatewayMetrics {
    metrics: Metrics,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    /// A fresh registry.
    pub fn new() -> Self {
        Self {
            metrics: Metrics::new(DESCRIPTIONS),
        }
    }

    /// The registry, for the `/metrics` route.
    pub fn registry(&self) -> &Metrics {
        &self.metrics
    }

    /// A measure accepted by `Submit`.
    pub(crate) fn submitted(&self, kind: &str, agency: &str) {
        self.metrics
            .counter(SUBMITTED, &[("kind", kind), ("agency", agency)])
            .increment(1);
    }

    /// How long a `Submit` took, and how it ended.
    pub(crate) fn submit_took(&self, result: &str, took: Duration) {
        self.metrics
            .histogram(SUBMIT_DURATION, &[("result", result)])
            .record(took.as_secs_f64());
    }

    /// A measure moved from `from` to `to`: counted if that is its first outcome.
    pub(crate) fn moved(
        &self,
        kind: MeasureKind,
        agency: &str,
        from: MeasureState,
        to: MeasureState,
        since_submit: time::Duration,
    ) {
        if is_first_outcome(from, to) {
            self.outcome(kind, agency, to, since_submit);
        }
    }

    /// A measure not yet answered reached `outcome`: the agency's answer, or the hub's own
    /// verdict (rejected as unroutable by the relay, expired undelivered by the timers).
    pub(crate) fn outcome(
        &self,
        kind: MeasureKind,
        agency: &str,
        outcome: MeasureState,
        since_submit: time::Duration,
    ) {
        let (kind, outcome) = (kind.as_str(), outcome.as_str());
        self.metrics
            .counter(
                FINISHED,
                &[("kind", kind), ("agency", agency), ("outcome", outcome)],
            )
            .increment(1);
        self.metrics
            .histogram(OUTCOME_TIME, &[("kind", kind), ("agency", agency)])
            .record(since_submit.as_seconds_f64().max(0.0));
    }

    /// A report applied `lag` after its adapter sent it.
    pub(crate) fn report_applied(&self, lag: time::Duration) {
        self.metrics
            .histogram(APPLY_LAG, &[])
            .record(lag.as_seconds_f64().max(0.0));
    }

    /// A message from `queue` dead-lettered.
    pub(crate) fn dead_lettered(&self, queue: &str) {
        self.metrics
            .counter(DEAD_LETTERS, &[("queue", queue)])
            .increment(1);
    }

    /// The outbox as it stands: rows waiting, and the age of the oldest.
    pub(crate) fn outbox(&self, depth: i64, oldest_age: time::Duration) {
        self.metrics.gauge(OUTBOX_DEPTH, &[]).set(depth as f64);
        self.metrics
            .gauge(OUTBOX_AGE, &[])
            .set(oldest_age.as_seconds_f64().max(0.0));
    }

    /// A measure became overdue at `level`, and its agency was reminded.
    pub(crate) fn overdue(&self, kind: MeasureKind, agency: &str, level: i16) {
        let level = level.to_string();
        self.metrics
            .counter(
                REMINDERS,
                &[
                    ("kind", kind.as_str()),
                    ("agency", agency),
                    ("level", &level),
                ],
            )
            .increment(1);
    }

    /// How many measures are overdue now.
    pub(crate) fn overdue_now(&self, overdue: i64) {
        self.metrics.gauge(OVERDUE, &[]).set(overdue as f64);
    }

    /// A watch stream opened; counted until the returned guard is dropped.
    pub(crate) fn watching(&self) -> Watching {
        let gauge = self.metrics.gauge(WATCHERS, &[]);
        gauge.increment(1.0);
        Watching(gauge)
    }
}

/// An open watch stream, counted in `hub_watchers` while it lives.
pub(crate) struct Watching(metrics::Gauge);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Whether moving from `from` to `to` is a measure's first outcome: it had not been answered,
/// and now it is (carried out, waiting, refused, given up or expired).
fn is_first_outcome(from: MeasureState, to: MeasureState) -> bool {
    use MeasureState::*;
    matches!(from, Submitted | Dispatched | Delivered)
        && matches!(
            to,
            Effective | Partial | Waiting | Rejected | Failed | Expired
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use MeasureState::*;

    #[test]
    fn only_the_first_outcome_of_a_measure_is_counted() {
        assert!(is_first_outcome(Delivered, Effective));
        assert!(is_first_outcome(Dispatched, Rejected));
        assert!(is_first_outcome(Submitted, Expired));
        // A promotion, a top-up, a release: later news, not an outcome.
        assert!(!is_first_outcome(Waiting, Effective));
        assert!(!is_first_outcome(Partial, Effective));
        assert!(!is_first_outcome(Effective, Released));
        // A receipt is not an outcome.
        assert!(!is_first_outcome(Dispatched, Delivered));
    }

    #[test]
    fn the_hubs_own_verdicts_count_as_outcomes() {
        let m = GatewayMetrics::new();
        let waited = time::Duration::hours(2);
        m.outcome(MeasureKind::Freeze, "BOC", Rejected, waited);
        m.outcome(MeasureKind::SealUp, "110105", Expired, waited);
        let text = m.registry().render();
        assert!(
            text.contains(
                "hub_measures_finished_total{kind=\"freeze\",agency=\"BOC\",outcome=\"rejected\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("outcome=\"expired\"} 1"), "{text}");
    }

    #[test]
    fn an_outcome_is_counted_by_kind_agency_and_outcome() {
        let m = GatewayMetrics::new();
        let day = time::Duration::seconds(3);
        m.moved(MeasureKind::Freeze, "ICBC", Delivered, Effective, day);
        m.moved(MeasureKind::Freeze, "ICBC", Delivered, Effective, day);
        m.moved(MeasureKind::Freeze, "ICBC", Effective, Released, day);
        let text = m.registry().render();
        assert!(
            text.contains(
                "hub_measures_finished_total{kind=\"freeze\",agency=\"ICBC\",outcome=\"effective\"} 2"
            ),
            "{text}"
        );
        assert!(!text.contains("outcome=\"released\""), "{text}");
        assert!(
            text.contains("hub_measure_outcome_seconds_count{kind=\"freeze\",agency=\"ICBC\"} 2"),
            "{text}"
        );
    }
}
