//! What every hub process shares: [`init_tracing`] (with personal data masked: [`redact`]), [`cancel_on_signal`], [`Backoff`], a
//! schema-confined PostgreSQL pool ([`postgres::connect`]), readiness ([`health`]), Prometheus
//! [`metrics`] and gRPC server reflection ([`reflection`]).

mod backoff;
pub mod health;
pub mod metrics;
pub mod postgres;
pub mod redact;
pub mod reflection;

pub use backoff::Backoff;
use tokio_util::sync::CancellationToken;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), with personal data masked
/// ([`redact`]), in the human format, or with `HUB_LOG_FORMAT=json` one JSON object per line
/// (fields and the current spans included, for a log collector to index by `trace_id`).
pub fn init_tracing() {
    let mut filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // lapin logs every channel the broker closes at ERROR, the expected NOT_FOUND of a passive
    // declare included (an adapter looking its queue up, the figures counting a queue no adapter
    // declared); the services log the errors they act on themselves. Unless RUST_LOG names
    // lapin, its channel lines stay out.
    if !std::env::var("RUST_LOG").is_ok_and(|v| v.contains("lapin"))
        && let Ok(quiet) = "lapin::channel=off".parse()
    {
        filter = filter.add_directive(quiet);
    }
    let builder = tracing_subscriber::fmt()
        .with_writer(redact::Redacting(std::io::stderr))
        .with_env_filter(filter);
    match LogFormat::from_env() {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}

/// How a process writes its log lines (`HUB_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// For people reading a terminal: the default.
    Human,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The format `HUB_LOG_FORMAT` names: `json`, or anything else (unset included) for the
    /// human format.
    pub fn from_env() -> Self {
        Self::parse(std::env::var("HUB_LOG_FORMAT").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Human,
        }
    }
}

/// A token cancelled on SIGTERM or Ctrl-C: the one shutdown signal of a process, which every
/// server, consumer and relay in it watches.
pub fn cancel_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping");
        token.cancel();
    });
    shutdown
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::LogFormat;

    #[test]
    fn only_json_turns_the_json_format_on() {
        assert_eq!(LogFormat::parse(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some(" JSON ")), LogFormat::Json);
        assert_eq!(LogFormat::parse(None), LogFormat::Human);
        assert_eq!(LogFormat::parse(Some("")), LogFormat::Human);
        assert_eq!(LogFormat::parse(Some("text")), LogFormat::Human);
    }
}
