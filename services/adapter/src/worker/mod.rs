//! Taking instructions off the agencies' queues and carrying them out.
//!
//! A [`Worker`] runs broker sessions until it is stopped, reconnecting with back-off. Each
//! session declares the agency queues, consumes them, announces the agencies to the gateway and
//! spreads the deliveries over [`lanes`] by asset. Each instruction is then carried out in the
//! steps of [`instruction`]: read, deadline, agency call with [`retry`], report, acknowledgement.
//! Stopping, a session leaves what it has not begun unacknowledged, for the broker to return in
//! order when the connection closes.

mod instruction;
mod lanes;
mod retry;

use crate::metrics::AdapterMetrics;
use std::{sync::Arc, time::Duration};

use anyhow::Context;
use enforcement_proto::v1::agency_backend_client::AgencyBackendClient;
use hub_bus::{
    Publisher,
    reply::within,
    signing::{KeyedSigner, Verifier},
    topology::{AgencyQueue, QueuePolicy, agency_queue_exists, declare_agency},
};
use hub_domain::{AgencyId, Clock};
use lapin::message::Delivery;
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{
    config::Config,
    report::{self, publish_report},
};
use lanes::Lanes;

/// The publisher of the current broker session, shared with the inbox.
pub type CurrentPublisher = watch::Receiver<Option<Publisher>>;

/// One agency served: its identity and its queue.
#[derive(Clone, Debug)]
pub struct Served {
    /// The agency.
    pub agency: AgencyId,
    /// Its queue and routing keys.
    pub queue: AgencyQueue,
}

/// Carries out the instructions of the agencies served.
#[derive(Clone)]
pub struct Worker {
    /// The adapter's settings: the broker, lanes, prefetch, call timeout and retries.
    config: Arc<Config>,
    /// Where "now" comes from: deadlines are checked and reports stamped with it.
    clock: Clock,
    /// Verifies the gateway's signature on instructions, when its key is configured.
    verifier: Option<Verifier>,
    /// Signs every report published, when a key is configured.
    pub(crate) signer: Option<KeyedSigner>,
    /// The agencies, all of one kind; a delivery names the one it came for by index.
    served: Arc<Vec<Served>>,
    /// The agency's system (`AgencyBackend`), connected lazily and shared by the lanes.
    backend: AgencyBackendClient<Channel>,
    /// The broker's nodes; each session connects to the next one that answers.
    brokers: hub_bus::Brokers,
    /// What the worker counts: instructions by outcome, agency calls, retries, dead letters.
    metrics: AdapterMetrics,
}

/// A delivery and the index of the agency whose queue it came from.
type Incoming = (usize, Delivery);

/// The deliveries of every queue of a session, in one stream.
type Deliveries = mpsc::Receiver<Result<Incoming, lapin::Error>>;

impl Worker {
    /// A worker for the agencies in `config`, calling their system at `config.agency_url` and
    /// reading time from `clock`.
    pub fn new(
        config: Arc<Config>,
        clock: Clock,
        metrics: AdapterMetrics,
        transport: &hub_trust::Transport,
    ) -> anyhow::Result<Self> {
        let served = config
            .agencies()
            .into_iter()
            .map(|agency| Served {
                queue: AgencyQueue::new(agency.kind.as_str(), agency.code.as_str()),
                agency,
            })
            .collect();
        let endpoint = transport
            .endpoint(&config.agency_url, None)
            .with_context(|| format!("agency URL {:?}", config.agency_url))?
            .connect_timeout(Duration::from_secs(5));
        let verifier = config
            .gateway_public_key
            .as_deref()
            .map(Verifier::from_hex)
            .transpose()
            .context("ADAPTER_GATEWAY_PUBLIC_KEY")?;
        if verifier.is_none() {
            tracing::warn!("no gateway public key: instructions are not verified");
        }
        let signer = config.signer()?;
        let brokers = hub_bus::Brokers::parse(&config.amqp_url).context("ADAPTER_AMQP_URL")?;
        Ok(Self {
            brokers,
            metrics,
            clock,
            verifier,
            signer,
            served: Arc::new(served),
            backend: AgencyBackendClient::new(endpoint.connect_lazy()),
            config,
        })
    }

    /// Runs broker sessions until `shutdown`, reconnecting with back-off. The current session's
    /// publisher is shared through `publisher` (none while disconnected).
    pub async fn run(
        &self,
        publisher: watch::Sender<Option<Publisher>>,
        shutdown: CancellationToken,
    ) {
        let mut backoff = self.config.reconnect_backoff();
        loop {
            let result = self.session(&publisher, &shutdown).await;
            publisher.send_replace(None);
            match result {
                Ok(()) if shutdown.is_cancelled() => return,
                Ok(()) => tracing::warn!("consumer cancelled by the broker; reconnecting"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "broker session ended; reconnecting")
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One broker session: set up, then hand deliveries to the lanes until `shutdown` or
    /// trouble, then drain.
    async fn session(
        &self,
        current: &watch::Sender<Option<Publisher>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let name = match self.served.as_slice() {
            [one] => format!("enforcement-adapter {}", one.agency),
            many => format!("enforcement-adapter {} agencies", many.len()),
        };
        let hub_bus::Connected { connection, node } = self
            .brokers
            .connect(&name)
            .await
            .context("connecting to RabbitMQ")?;
        // Every report carries the broker user as its `user_id`, which the broker checks and
        // the gateway matches against the agency's enrolment.
        let publisher = Publisher::open(&connection)
            .await
            .context("opening the publish channel")?
            .as_user(hub_bus::user_of(&self.config.amqp_url));
        tokio::time::timeout(SETUP_TIMEOUT, self.declare_queues(&connection))
            .await
            .context("declaring the agency queues took too long")??;
        // Held until the session ends, so the lanes can acknowledge on it whatever becomes of
        // the consumers.
        let channel = within("opening a channel", connection.create_channel())
            .await
            .context("opening the consume channel")?;
        let (mut deliveries, mut forwarders) = self.consume(&channel).await?;
        self.announce(&publisher).await?;
        current.send_replace(Some(publisher.clone()));
        tracing::info!(queues = self.served.len(), %node, "adapter consuming");

        // Lanes end when they are finished or the session token is cancelled.
        let session = shutdown.child_token();
        let lanes = Lanes::start(self, &publisher, &session);
        let result = loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                next = deliveries.recv() => next,
            };
            match next {
                None => break Ok(()),
                Some(Err(e)) => break Err(anyhow::Error::new(e).context("consuming")),
                Some(Ok(incoming)) => {
                    if let Err(e) = lanes.dispatch(incoming).await {
                        break Err(e);
                    }
                }
            }
        };
        // Stop taking work, let the lanes finish what they have begun, and leave the rest
        // unacknowledged. No basic.cancel first: with a single active consumer, cancelling
        // would let the next adapter become active while this one still holds instructions,
        // and it would carry out later instructions on an account before the earlier ones came
        // back. Closing the connection returns everything held, in order, in the same step
        // that makes the next consumer active. (The consumers are dropped only after the
        // close, as dropping an active lapin consumer cancels it.)
        if result.is_err() {
            session.cancel();
        }
        lanes.finish().await;
        current.send_replace(None);
        let _ = within(
            "closing the connection",
            connection.close(200, "adapter stopping".into()),
        )
        .await;
        forwarders.abort_all();
        result
    }

    /// Consumes every agency queue on `channel`, each consumer forwarding into one stream.
    /// The forwarders own the consumers: abort them only after the connection is closed.
    async fn consume(&self, channel: &lapin::Channel) -> anyhow::Result<(Deliveries, JoinSet<()>)> {
        let (incoming_tx, deliveries) = mpsc::channel(usize::from(self.config.prefetch.max(1)));
        let mut forwarders = JoinSet::new();
        for (index, served) in self.served.iter().enumerate() {
            let queue = &served.queue.queue;
            let tag = format!("adapter-{}-{}", served.agency, Uuid::now_v7());
            let consumer = tokio::time::timeout(
                SETUP_TIMEOUT,
                hub_bus::consume(channel, queue, &tag, self.config.prefetch),
            )
            .await
            .with_context(|| format!("consuming {queue} took too long"))?
            .with_context(|| format!("consuming {queue}"))?;
            forwarders.spawn(forward(index, consumer, incoming_tx.clone()));
        }
        Ok((deliveries, forwarders))
    }

    /// Tells the gateway which agencies this adapter serves and what they carry out, so courts
    /// can address them.
    async fn announce(&self, publisher: &Publisher) -> anyhow::Result<()> {
        let Some(first) = self.served.first() else {
            return Ok(());
        };
        let codes = self.served.iter().map(|s| s.agency.code.to_string());
        let report = report::announcement(&first.agency, codes.collect(), self.clock.now());
        publish_report(
            publisher,
            self.signer.as_ref(),
            &first.agency,
            &report,
            None,
            None,
        )
        .await
        .context("announcing the agencies")
    }

    /// Declares every agency queue that is not there yet, several at a time on channels of
    /// their own (a processing centre may serve thousands of agencies). A queue provisioned
    /// when its agency was enrolled (`hubctl agency enrol`) is only looked up: the adapter's
    /// broker user may read it and nothing more.
    async fn declare_queues(&self, connection: &lapin::Connection) -> anyhow::Result<()> {
        let policy = QueuePolicy {
            delivery_limit: self.config.delivery_limit,
        };
        let mut missing = Vec::new();
        let mut channel = connection
            .create_channel()
            .await
            .context("opening a channel to look up the queues")?;
        for served in self.served.iter() {
            if !agency_queue_exists(&channel, &served.queue)
                .await
                .with_context(|| format!("looking up {}", served.queue.queue))?
            {
                missing.push(served.queue.clone());
                channel = connection
                    .create_channel()
                    .await
                    .context("opening a channel to look up the queues")?;
            }
        }
        let _ = channel.close(200, "looked up".into()).await;
        if missing.is_empty() {
            return Ok(());
        }
        let chunk = missing.len().div_ceil(DECLARE_CHANNELS).max(1);
        let mut declaring = JoinSet::new();
        for part in missing.chunks(chunk) {
            let channel = connection
                .create_channel()
                .await
                .context("opening a declaring channel")?;
            let queues: Vec<AgencyQueue> = part.to_vec();
            declaring.spawn(async move {
                for queue in &queues {
                    declare_agency(&channel, queue, &policy)
                        .await
                        .with_context(|| {
                            format!(
                                "declaring {} (an adapter whose broker user may not declare it \
                             needs its agency enrolled first: hubctl agency enrol)",
                                queue.queue
                            )
                        })?;
                }
                let _ = channel.close(200, "declared".into()).await;
                Ok::<_, anyhow::Error>(())
            });
        }
        while let Some(done) = declaring.join_next().await {
            done??;
        }
        Ok(())
    }
}

/// How long declaring the queues of a session may take; a broker still recovering its queues
/// may not answer, and the session is better started again.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Channels used at once to declare the agency queues.
const DECLARE_CHANNELS: usize = 8;

/// Moves a consumer's deliveries, tagged with the agency's index, into the shared stream.
async fn forward(
    index: usize,
    mut consumer: lapin::Consumer,
    tx: mpsc::Sender<Result<Incoming, lapin::Error>>,
) {
    while let Some(next) = consumer.next().await {
        let failed = next.is_err();
        if tx.send(next.map(|d| (index, d))).await.is_err() || failed {
            return;
        }
    }
}
