//! The adapter's Prometheus series, per agency served.
//!
//! | series | what |
//! |---|---|
//! | `hub_adapter_instructions_total{agency,outcome}` | instructions finished: the agency's answer (`effective`, `rejected`, …), or `failed`, `expired`, `refused` (unreadable or not for this agency) |
//! | `hub_agency_response_seconds{agency}` | each call to the agency's system, answered or not |
//! | `hub_agency_call_retries_total{agency}` | calls tried again after a passing failure |
//! | `hub_dead_letters_total{queue}` | instructions put in the dead-letter queue |
//! | `hub_dependency_up{dependency="broker"}` | connected to RabbitMQ |
//!
//! The depth of the agency's queue and its consumers come from RabbitMQ's `rabbitmq_prometheus`.

use std::time::Duration;

use hub_runtime::metrics::Metrics;

const INSTRUCTIONS: &str = "hub_adapter_instructions_total";
const RESPONSE: &str = "hub_agency_response_seconds";
const RETRIES: &str = "hub_agency_call_retries_total";
const DEAD_LETTERS: &str = "hub_dead_letters_total";

const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        INSTRUCTIONS,
        "Instructions finished by the adapter, by agency and outcome.",
    ),
    (
        RESPONSE,
        "Seconds each call to the agency's system took, by agency.",
    ),
    (
        RETRIES,
        "Agency calls tried again after a passing failure, by agency.",
    ),
    (
        DEAD_LETTERS,
        "Messages dead-lettered, by the queue they came from.",
    ),
];

/// The adapter's metrics.
#[derive(Clone)]
pub struct AdapterMetrics {
    metrics: Metrics,
}

impl Default for AdapterMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AdapterMetrics {
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

    /// An instruction for `agency` finished with `outcome`.
    pub(crate) fn finished(&self, agency: &str, outcome: &str) {
        self.metrics
            .counter(INSTRUCTIONS, &[("agency", agency), ("outcome", outcome)])
            .increment(1);
    }

    /// A call to `agency`'s system took `took`.
    pub(crate) fn called(&self, agency: &str, took: Duration) {
        self.metrics
            .histogram(RESPONSE, &[("agency", agency)])
            .record(took.as_secs_f64());
    }

    /// A call to `agency` is tried again.
    pub(crate) fn retried(&self, agency: &str) {
        self.metrics
            .counter(RETRIES, &[("agency", agency)])
            .increment(1);
    }

    /// A message from `queue` dead-lettered.
    pub(crate) fn dead_lettered(&self, queue: &str) {
        self.metrics
            .counter(DEAD_LETTERS, &[("queue", queue)])
            .increment(1);
    }
}
