//! Prometheus metrics of one service, served as `/metrics` on its HTTP port.
//!
//! Each service owns a [`Metrics`] (no global recorder): several services in one process, as in
//! the tests, keep their series apart. Series are registered by name and labels where they are
//! counted; gauges that describe stored state (the outbox, overdue measures) are brought up to
//! date by a refresh the service passes to [`route`], run at each scrape, so nothing polls in
//! between. Durations are histograms in seconds, with one set of buckets from 5 ms to a day.

use std::{
    future::Future,
    sync::{Arc, Weak},
    time::Duration,
};

use axum::{Router, http::header, routing::get};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::health::Readiness;

/// Bucket bounds of every `_seconds` histogram: Submit takes milliseconds, an agency's answer
/// seconds to hours (a freeze within a working day).
const SECONDS_BUCKETS: &[f64] = &[
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4.0 * 3600.0,
    8.0 * 3600.0,
    86400.0,
];

/// Whether a dependency (`database`, `broker`) is connected: 1 or 0, from the readiness checks.
pub const DEPENDENCY_UP: &str = "hub_dependency_up";

const METADATA: Metadata<'static> = Metadata::new("hub", Level::INFO, None);

/// How often the samples recorded into histograms are folded into their buckets. A recorder
/// built by hand (`build_recorder`) does this only when rendered: with nobody scraping, every
/// sample would stay in memory.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The metrics of one service.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Metrics {
    /// A registry with `descriptions` (name, help text) for the service's series.
    pub fn new(descriptions: &[(&'static str, &'static str)]) -> Self {
        // Only empty buckets are refused; were they ever, durations would render as summaries.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let all = descriptions.iter().chain([&(
            DEPENDENCY_UP,
            "Whether the dependency is connected (1) or not (0).",
        )]);
        for (name, help) in all {
            // Prometheus takes one HELP per name; the exporter prints it for any type.
            recorder.describe_counter(KeyName::from_const_str(name), None, (*help).into());
        }
        let inner = Arc::new(Inner { recorder, handle });
        keep_up(Arc::downgrade(&inner), UPKEEP_EVERY);
        Self { inner }
    }

    /// The counter `name` with `labels`.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.inner
            .recorder
            .register_counter(&key(name, labels), &METADATA)
    }

    /// The gauge `name` with `labels`.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        self.inner
            .recorder
            .register_gauge(&key(name, labels), &METADATA)
    }

    /// The histogram `name` with `labels`.
    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        self.inner
            .recorder
            .register_histogram(&key(name, labels), &METADATA)
    }

    /// Every series in the Prometheus text format.
    pub fn render(&self) -> String {
        self.inner.handle.run_upkeep();
        self.inner.handle.render()
    }
}

/// Folds histogram samples into their buckets every `every` on a thread of its own, for as long
/// as the metrics live.
fn keep_up(inner: Weak<Inner>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            while let Some(inner) = inner.upgrade() {
                inner.handle.run_upkeep();
                drop(inner);
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep: histograms fold their samples only when scraped");
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(k, v)| Label::new(*k, v.to_string()))
        .collect();
    Key::from_parts(name, labels)
}

/// The `/metrics` route: runs `refresh`, records each readiness check as [`DEPENDENCY_UP`], and
/// renders every series.
pub fn route<F, Fut>(metrics: Metrics, readiness: Readiness, refresh: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Router::new().route(
        "/metrics",
        get(move || {
            let (metrics, readiness, refresh) =
                (metrics.clone(), readiness.clone(), refresh.clone());
            async move {
                refresh().await;
                for (name, up) in readiness.checks() {
                    metrics
                        .gauge(DEPENDENCY_UP, &[("dependency", name)])
                        .set(if up { 1.0 } else { 0.0 });
                }
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    metrics.render(),
                )
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_samples_are_folded_without_a_scrape_and_none_is_lost() {
        let metrics = Metrics::new(&[]);
        keep_up(Arc::downgrade(&metrics.inner), Duration::from_millis(10));
        let histogram = metrics.histogram("hub_wait_seconds", &[]);
        for _ in 0..1000 {
            histogram.record(0.2);
        }
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..500 {
            histogram.record(2.0);
        }
        let text = metrics.render();
        assert!(text.contains("hub_wait_seconds_count 1500"), "{text}");
        assert!(
            text.contains("hub_wait_seconds_bucket{le=\"0.25\"} 1000"),
            "{text}"
        );
    }

    #[test]
    fn series_render_with_their_labels_and_help() {
        let metrics = Metrics::new(&[("hub_things_total", "Things counted.")]);
        metrics
            .counter("hub_things_total", &[("agency", "ICBC")])
            .increment(3);
        metrics.histogram("hub_wait_seconds", &[]).record(0.2);
        let text = metrics.render();
        assert!(
            text.contains("# HELP hub_things_total Things counted."),
            "{text}"
        );
        assert!(
            text.contains("hub_things_total{agency=\"ICBC\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("hub_wait_seconds_bucket{le=\"0.25\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hub_wait_seconds_bucket{le=\"0.1\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn two_registries_keep_their_series_apart() {
        let (a, b) = (Metrics::new(&[]), Metrics::new(&[]));
        a.counter("hub_things_total", &[]).increment(1);
        assert!(a.render().contains("hub_things_total 1"));
        assert!(!b.render().contains("hub_things_total"));
    }
}
