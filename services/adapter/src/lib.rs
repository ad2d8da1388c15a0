//! The agency adapter: the hub's presence at one agency.
//!
//! Instructions enter from the agency's RabbitMQ queue ([`worker`]), are carried out by calling
//! the agency's own system through the `AgencyBackend` contract, and leave as `AgencyReport`s on
//! the outcomes exchange. The [`inbox`] takes the agency's unprompted notices and forwards them the
//! same way. One adapter process serves one agency; run it with [`Application`].

pub mod config;
pub mod inbox;
pub mod worker;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use enforcement_proto::v1::agency_inbox_server::AgencyInboxServer;
use tokio::{net::TcpListener, sync::watch};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::{inbox::Inbox, worker::Worker};

/// An adapter ready to run: configuration checked, inbox listener bound.
pub struct Application {
    config: Arc<Config>,
    listener: TcpListener,
    worker: Worker,
}

impl Application {
    /// Checks the configuration and binds the inbox.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let worker = Worker::new(config.clone())?;
        let listener = TcpListener::bind(config.inbox_listen)
            .await
            .with_context(|| format!("binding the inbox on {}", config.inbox_listen))?;
        Ok(Self {
            config,
            listener,
            worker,
        })
    }

    /// The inbox's address (useful with port 0).
    pub fn inbox_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Consumes and serves the inbox until `shutdown`, then returns or finishes what it holds.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let (publisher_tx, publisher_rx) = watch::channel(None);
        let worker = self.worker.clone();
        let consuming = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { worker.run(publisher_tx, shutdown).await }
        });
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<AgencyInboxServer<Inbox>>()
            .await;
        let inbox = Inbox::new(self.config.agencies(), publisher_rx);
        tracing::info!(
            agencies = self.config.agency_codes.len(),
            inbox = %self.listener.local_addr()?,
            "adapter running"
        );
        let served = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(AgencyInboxServer::new(inbox))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(self.listener),
                shutdown.clone().cancelled_owned(),
            )
            .await;
        shutdown.cancel();
        let _ = consuming.await;
        served.context("serving the inbox")
    }
}
