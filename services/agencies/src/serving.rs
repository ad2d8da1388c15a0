//! What every reference agency process runs around its gRPC services: the notice sender, the
//! periodic lapse of measures past expiry, the health service, and an orderly stop.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use enforcement_proto::v1 as pb;
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::Notify};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::notices::NoticeSender;

/// How a reference agency process delivers notices and lapses measures.
pub(crate) struct Background {
    pub pool: PgPool,
    pub inbox_url: String,
    pub notices_wake: Arc<Notify>,
    pub notice_poll: Duration,
    pub lapse_poll: Duration,
}

/// Serves `routes` (the `AgencyBackend` and the agency's administration) with the health
/// service on `listener` until `shutdown`, running `lapse` every `lapse_poll` and the notice
/// sender meanwhile; then drains both. `name` is how logs and errors call the system.
pub(crate) async fn serve<L, F>(
    name: &str,
    listener: TcpListener,
    routes: Routes,
    background: Background,
    lapse: L,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    L: Fn() -> F + Send + 'static,
    F: Future<Output = Result<usize, sqlx::Error>> + Send,
{
    let sender = NoticeSender::new(
        background.pool,
        &background.inbox_url,
        background.notices_wake,
        background.notice_poll,
    )?;
    let sending = tokio::spawn(sender.run(shutdown.clone()));
    let lapsing = tokio::spawn({
        let shutdown = shutdown.clone();
        let every = background.lapse_poll.max(Duration::from_millis(10));
        async move {
            loop {
                if let Err(e) = lapse().await {
                    tracing::warn!(error = %e, "lapsing measures past their expiry failed");
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        }
    });
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status(
            pb::agency_backend_server::SERVICE_NAME,
            tonic_health::ServingStatus::Serving,
        )
        .await;
    tracing::info!(addr = %listener.local_addr()?, "{name} serving");
    let served = tonic::transport::Server::builder()
        .add_routes(routes.add_service(health_service))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown.clone().cancelled_owned(),
        )
        .await;
    shutdown.cancel();
    let _ = sending.await;
    let _ = lapsing.await;
    served.with_context(|| format!("serving the {name}"))
}
