//! Readiness: whether a service's dependencies are up, told to orchestrators and load balancers
//! both over HTTP (`/healthz`, `/readyz`) and through the standard gRPC health service.
//!
//! A service names its checks (`database`, `broker`) and flips them as connections come and go;
//! it is ready when every check holds. Liveness (`/healthz`) is simply that the process answers.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;

/// The readiness checks of one service.
#[derive(Clone)]
pub struct Readiness {
    checks: Arc<Mutex<BTreeMap<&'static str, bool>>>,
    ready: watch::Sender<bool>,
}

impl Readiness {
    /// Checks `names`, none passing yet.
    pub fn new(names: &[&'static str]) -> Self {
        let checks = names.iter().map(|n| (*n, false)).collect();
        let (ready, _) = watch::channel(false);
        Self {
            checks: Arc::new(Mutex::new(checks)),
            ready,
        }
    }

    /// Records whether the check `name` passes.
    pub fn set(&self, name: &'static str, passing: bool) {
        let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        checks.insert(name, passing);
        let ready = checks.values().all(|ok| *ok);
        self.ready
            .send_if_modified(|r| std::mem::replace(r, ready) != ready);
    }

    /// Whether every check passes.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Each check and whether it passes.
    pub fn checks(&self) -> BTreeMap<&'static str, bool> {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps the gRPC health status of service `S` in step with readiness until `shutdown`.
    pub async fn report_to<S: tonic::server::NamedService>(
        self,
        reporter: tonic_health::server::HealthReporter,
        shutdown: CancellationToken,
    ) {
        let mut changes = self.ready.subscribe();
        loop {
            if *changes.borrow_and_update() {
                reporter.set_serving::<S>().await;
            } else {
                reporter.set_not_serving::<S>().await;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Serves `/healthz` (200 while the process answers) and `/readyz` (200 when ready, else 503,
/// with each check in a JSON body) on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, readiness, Router::new(), shutdown).await
}

/// Serves `/healthz`, `/readyz` and the service's own `routes` (`/metrics`) on `listener` until
/// `shutdown`.
pub async fn serve_with(
    listener: TcpListener,
    readiness: Readiness,
    routes: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(readiness)
        .merge(routes);
    tracing::info!(addr = %listener.local_addr()?, "health endpoint serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn ready(State(readiness): State<Readiness>) -> (StatusCode, Json<serde_json::Value>) {
    let checks = readiness.checks();
    let ready = checks.values().all(|ok| *ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({ "ready": ready, "checks": checks })),
    )
}

/// Binds the health endpoint, if an address is configured.
pub async fn bind(addr: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => TcpListener::bind(addr).await.map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_check_passes() {
        let r = Readiness::new(&["database", "broker"]);
        assert!(!r.is_ready());
        r.set("database", true);
        assert!(!r.is_ready());
        r.set("broker", true);
        assert!(r.is_ready());
        r.set("broker", false);
        assert!(!r.is_ready());
        assert_eq!(r.checks().get("database"), Some(&true));
    }
}
