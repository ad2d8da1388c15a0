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
/// ([`redact`]).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_writer(redact::Redacting(std::io::stderr))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
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
