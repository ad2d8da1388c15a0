//! The agency adapter: the hub's presence at one agency.
//!
//! Instructions enter from the agency's RabbitMQ queue ([`worker`]), are carried out by calling
//! the agency's own system through the `AgencyBackend` contract, and leave as `AgencyReport`s on
//! the outcomes exchange ([`report`]). The [`inbox`] takes the agency's unprompted notices and
//! forwards them the same way. One adapter process serves one agency (or several of a kind
//! served by one system); run it with [`Application`]. Time is read only from the [`Clock`] it
//! is built with, so tests can move it forward together with the gateway's and the agencies'.
//! Both gRPC hops with the agency system are mutual TLS with the hub CA's certificates.

pub mod config;
pub mod inbox;
pub mod metrics;
mod report;
pub mod worker;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use enforcement_proto::v1::agency_inbox_server::AgencyInboxServer;
use hub_domain::Clock;
use hub_runtime::health::Readiness;
use tokio::{net::TcpListener, sync::watch};
use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::{inbox::Inbox, worker::Worker};

/// An adapter ready to run: configuration checked, inbox listener bound.
pub struct Application {
    config: Arc<Config>,
    /// Where "now" comes from, for the worker and the inbox.
    clock: Clock,
    listener: TcpListener,
    http: Option<TcpListener>,
    worker: Worker,
    /// The inbox's side of mutual TLS; none in plain text.
    tls: Option<hub_trust::ServerTls>,
    metrics: metrics::AdapterMetrics,
}

impl Application {
    /// Checks the configuration and binds the inbox; time will be read from `clock`.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let transport = config.transport()?;
        let tls = transport
            .server()
            .context("loading the adapter's TLS files")?;
        let metrics = metrics::AdapterMetrics::new();
        let worker = Worker::new(config.clone(), clock.clone(), metrics.clone(), &transport)?;
        let listener = TcpListener::bind(config.inbox_listen)
            .await
            .with_context(|| format!("binding the inbox on {}", config.inbox_listen))?;
        let http = hub_runtime::health::bind(config.http_listen)
            .await
            .context("binding the health endpoint")?;
        Ok(Self {
            config,
            clock,
            listener,
            http,
            worker,
            tls,
            metrics,
        })
    }

    /// The inbox's address (useful with port 0).
    pub fn inbox_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the HTTP health endpoint, if configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Consumes and serves the inbox until `shutdown`, then returns or finishes what it holds.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (publisher_tx, publisher_rx) = watch::channel(None);
        // Ready while connected to the broker: that is when instructions flow.
        let readiness = Readiness::new(&["broker"]);
        let tracking = tokio::spawn({
            let readiness = readiness.clone();
            let mut connected = publisher_rx.clone();
            let shutdown = shutdown.clone();
            async move {
                loop {
                    let up = connected.borrow_and_update().is_some();
                    readiness.set("broker", up);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        changed = connected.changed() => if changed.is_err() { return },
                    }
                }
            }
        });
        let http_task = self.http.map(|l| {
            let routes = hub_runtime::metrics::route(
                self.metrics.registry().clone(),
                readiness.clone(),
                || async {},
            );
            tokio::spawn(hub_runtime::health::serve_with(
                l,
                readiness.clone(),
                routes,
                shutdown.clone(),
            ))
        });
        let worker = self.worker.clone();
        let consuming = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { worker.run(publisher_tx, shutdown).await }
        });
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let reporting = tokio::spawn(
            readiness
                .clone()
                .report_to::<AgencyInboxServer<Inbox>>(health_reporter, shutdown.clone()),
        );
        let signer = self.config.signer()?;
        let inbox = Inbox::new(self.config.agencies(), publisher_rx, self.clock, signer);
        tracing::info!(
            agencies = self.config.agency_codes.len(),
            inbox = %self.listener.local_addr()?,
            "adapter running"
        );
        let (reflection, reflection_alpha) = hub_runtime::reflection::services(
            enforcement_proto::FILE_DESCRIPTOR_SET,
            &[enforcement_proto::v1::agency_inbox_server::SERVICE_NAME],
        )
        .context("building the reflection service")?;
        let router = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(AgencyInboxServer::new(inbox));
        let served = hub_trust::serve(router, self.listener, self.tls, shutdown.clone()).await;
        shutdown.cancel();
        let _ = consuming.await;
        let _ = tracking.await;
        let _ = reporting.await;
        if let Some(http) = http_task {
            let _ = http.await;
        }
        served.context("serving the inbox")
    }
}
