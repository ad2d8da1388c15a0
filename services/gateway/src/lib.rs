//! The court-facing gateway of the enforcement hub.
//!
//! Courts call [`court::CourtService`] over gRPC (one file per RPC in [`court`]). A measure
//! enters through `Submit`, is parsed at the edge ([`validate`]), and is recorded with its
//! outbox row and audit entry in one PostgreSQL transaction before the court gets an answer. The
//! [`relay`] publishes the outbox to RabbitMQ with confirms; the [`reports`] consumer applies
//! what agencies report ([`apply`]), monotonically; [`timers`] act when deadlines pass;
//! [`events`] streams every change to watching courts. Every SQL statement is in [`store`].
//! Errors are [`Error`]; what a court is told of one is decided in one place.
//!
//! Every call arrives over mutual TLS ([`hub_trust`]): the court is the one its certificate
//! names, and only operators reach the Ops service ([`caller`]). Operators also have a live
//! [`dashboard`] on the HTTP port.
//!
//! [`Application`] wires these together: build it from a [`Config`], then run it until a
//! shutdown token is cancelled.

/// `Some((a, b, …))` if every one of the named options is `Some`: the values of a request whose
/// fields were each checked (a check that fails records why and yields `None`).
macro_rules! all_parsed {
    ($($x:ident),+ $(,)?) => {
        match ($($x,)+) {
            ($(Some($x),)+) => Some(($($x,)+)),
            _ => None,
        }
    };
}

pub mod apply;
pub mod audit;
pub mod caller;
pub mod case;
pub mod config;
pub mod court;
pub mod dashboard;
mod dead_letters;
mod error;
pub mod events;
pub mod evidence;
pub mod failpoint;
pub mod figures;
pub mod keys;
pub mod metrics;
pub mod ops;
pub mod overdue;
pub mod relay;
pub mod reports;
pub mod store;
pub mod timers;
pub mod trace;
pub mod trust;
pub mod validate;

use std::net::SocketAddr;

use anyhow::Context;
use enforcement_proto::v1::court_gateway_server::CourtGatewayServer;
use hub_bus::topology::{GATEWAY_QUEUE, QueuePolicy, declare_gateway};
use hub_domain::Clock;
use hub_runtime::health::Readiness;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use error::Error;

use crate::{court::CourtService, relay::Relay, reports::ReportConsumer, store::Store};

/// The court-facing gRPC gateway of the enforcement hub.
#[derive(clap::Parser)]
#[command(name = "gateway", version, about)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

/// The `gateway` program: configuration from flags and `GATEWAY_*` variables, logs to stderr,
/// stops on SIGTERM or Ctrl-C.
pub async fn main() -> anyhow::Result<()> {
    hub_runtime::init_tracing();
    let cli = <Cli as clap::Parser>::parse();
    let app = Application::build(cli.config, Clock::system()).await?;
    app.run_until_stopped(hub_runtime::cancel_on_signal()).await
}

/// How long setting up a broker session (declarations, consumer) may take before it is tried
/// again; a broker recovering its queues after a restart may not answer.
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A gateway ready to serve: database migrated, listeners bound.
pub struct Application {
    config: Config,
    listener: TcpListener,
    http: Option<TcpListener>,
    store: Store,
    clock: Clock,
    /// Mutual TLS (loaded, so a bad file fails the start) or plain text.
    tls: Option<hub_trust::ServerTls>,
}

/// The gateway's readiness checks.
const DATABASE: &str = "database";
const BROKER: &str = "broker";

impl Application {
    /// Connects to PostgreSQL, creates and migrates the schema, and binds the listener.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Self> {
        let tls = config
            .transport()?
            .server()
            .context("loading the gateway's TLS files")?;
        let store = Store::connect(
            &config.database_url,
            &config.database_schema,
            config.database_connections,
        )
        .await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let http = hub_runtime::health::bind(config.http_listen)
            .await
            .context("binding the health endpoint")?;
        Ok(Self {
            config,
            listener,
            http,
            store,
            clock,
            tls,
        })
    }

    /// The address the gRPC service is bound to (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the HTTP health endpoint, if configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled, then drains: stops accepting calls, ends watch
    /// streams, lets the relay finish its batch and the report consumer its reports.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            config,
            listener,
            http,
            store,
            clock,
            tls,
        } = self;
        let plaintext = tls.is_none();
        let readiness = Readiness::new(&[DATABASE, BROKER]);
        // Migrated at build: the database was there; the event listener keeps this current.
        readiness.set(DATABASE, true);
        let metrics = metrics::GatewayMetrics::new();
        let deadlines: overdue::AnswerDeadlines = config.answer_deadlines.parse()?;
        let ops = ops::OpsService::new(config.amqp_url.clone(), store.clone(), clock.clone())
            .with_deadlines(deadlines.clone())
            .with_gateway_key(signer_public_key(config.signing_key.as_deref()));
        let dashboard = dashboard::Dashboard::new(
            ops.clone(),
            store.clone(),
            clock.clone(),
            config.dashboard_token.clone(),
            std::time::Duration::from_millis(config.dashboard_interval_ms),
        );
        let sampler_task = tokio::spawn(dashboard.clone().sample(shutdown.clone()));
        let http_task = http.map(|l| {
            let routes = metrics_route(&metrics, &store, &clock, &readiness)
                .merge(dashboard.routes(shutdown.clone()));
            tokio::spawn(hub_runtime::health::serve_with(
                l,
                readiness.clone(),
                routes,
                shutdown.clone(),
            ))
        });
        let hub = store.hub().clone();
        let relay_wake = hub.relay_wake();
        // Rings until everything else has stopped, for what they commit while stopping.
        let last_ring = CancellationToken::new();
        let doorbell_task = tokio::spawn(hub.clone().ring(store.clone(), last_ring.clone()));

        let listener_task = tokio::spawn(events::listen(
            store.clone(),
            readiness.clone(),
            config.reconnect_backoff(),
            shutdown.clone(),
        ));
        let signer = config
            .signing_key
            .as_deref()
            .map(hub_bus::signing::Signer::from_hex)
            .transpose()
            .context("GATEWAY_SIGNING_KEY")?;
        if signer.is_none() {
            tracing::warn!("no signing key: instructions go out unsigned");
        }
        let relay = Relay::new(
            store.clone(),
            config.relay_batch,
            config.relay_poll(),
            relay_wake.clone(),
            clock.clone(),
            signer,
            metrics.clone(),
        );
        let consumer = ReportConsumer::new(
            store.clone(),
            clock.clone(),
            config.report_workers,
            config.report_batch,
            metrics.clone(),
            config.require_signed_reports,
        );
        if !config.require_signed_reports {
            tracing::warn!(
                "unsigned reports are accepted from agencies with no key registered (GATEWAY_REQUIRE_SIGNED_REPORTS=false)"
            );
        }
        let broker_task = tokio::spawn(broker_sessions(
            config.clone(),
            relay,
            consumer,
            readiness.clone(),
            shutdown.clone(),
        ));

        let keeper_task = tokio::spawn(
            case::keeper::Keeper {
                store: store.clone(),
                clock: clock.clone(),
                orders: case::instruct::Orders {
                    instruction_deadline: time::Duration::try_from(config.instruction_deadline())
                        .unwrap_or(time::Duration::DAY),
                },
                every: std::time::Duration::from_millis(config.timer_poll_ms.max(10)),
            }
            .run(hub.clone(), shutdown.clone()),
        );
        let maintenance_task = (config.table_upkeep_secs > 0).then(|| {
            tokio::spawn(store.keep_tables(
                std::time::Duration::from_secs(config.table_upkeep_secs),
                shutdown.clone(),
            ))
        });
        let chain_task = tokio::spawn({
            let (store, shutdown, every) = (store.clone(), shutdown.clone(), config.audit_chain_ms);
            async move {
                if every > 0 {
                    audit::run(store, std::time::Duration::from_millis(every), shutdown).await;
                } else {
                    tracing::warn!("the audit chain is off (GATEWAY_AUDIT_CHAIN_MS=0)");
                }
            }
        });
        let timers_task = tokio::spawn(
            timers::Timers {
                store: store.clone(),
                clock: clock.clone(),
                horizons: config.expiry_warning_days.clone(),
                grace: std::time::Duration::from_secs(config.deadline_grace_secs),
                longest: std::time::Duration::from_millis(config.timer_poll_ms.max(10)),
                metrics: metrics.clone(),
                deadlines: deadlines.clone(),
                reminder_deadline: config.instruction_deadline(),
            }
            .run(hub.clone(), shutdown.clone()),
        );

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let reporting = tokio::spawn(
            readiness
                .clone()
                .report_to::<CourtGatewayServer<CourtService>>(health_reporter, shutdown.clone()),
        );
        let service = CourtService::new(
            store,
            clock,
            config.instruction_deadline(),
            shutdown.clone(),
            metrics,
        )
        .believing_requests(plaintext);
        let operators_only = move |request: tonic::Request<()>| {
            caller::Caller::of(&request, plaintext).may_operate()?;
            Ok(request)
        };
        let (reflection, reflection_alpha) = hub_runtime::reflection::services(
            enforcement_proto::FILE_DESCRIPTOR_SET,
            &[
                enforcement_proto::v1::court_gateway_server::SERVICE_NAME,
                enforcement_proto::v1::ops_server::SERVICE_NAME,
            ],
        )
        .context("building the reflection service")?;
        tracing::info!(addr = %listener.local_addr()?, tls = !plaintext, "gateway serving");
        let router = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(
                CourtGatewayServer::new(service)
                    .max_decoding_message_size(config.max_request_bytes),
            )
            .add_service(
                enforcement_proto::v1::ops_server::OpsServer::with_interceptor(ops, operators_only),
            );
        let served = hub_trust::serve(router, listener, tls, shutdown.clone()).await;
        shutdown.cancel();
        let _ = listener_task.await;
        let _ = broker_task.await;
        let _ = timers_task.await;
        let _ = chain_task.await;
        if let Some(maintenance) = maintenance_task {
            let _ = maintenance.await;
        }
        let _ = keeper_task.await;
        let _ = reporting.await;
        let _ = sampler_task.await;
        if let Some(http) = http_task {
            let _ = http.await;
        }
        last_ring.cancel();
        let _ = doorbell_task.await;
        served.context("serving gRPC")
    }
}

/// The public key of the gateway's instruction-signing seed, hex; `None` if it signs nothing
/// (or the seed is unreadable, which the relay refuses at start).
fn signer_public_key(seed: Option<&str>) -> Option<String> {
    seed.and_then(|s| hub_bus::signing::Signer::from_hex(s).ok())
        .map(|s| s.public_hex())
}

/// `/metrics`: the gateway's series, with the outbox's backlog and the overdue measures read at
/// each scrape.
fn metrics_route(
    metrics: &metrics::GatewayMetrics,
    store: &Store,
    clock: &Clock,
    readiness: &Readiness,
) -> axum::Router {
    let (m, store, clock) = (metrics.clone(), store.clone(), clock.clone());
    let refresh = move || {
        let (m, store, clock) = (m.clone(), store.clone(), clock.clone());
        async move {
            match store.outbox_backlog().await {
                Ok((depth, oldest)) => {
                    let age = oldest.map_or(time::Duration::ZERO, |at| clock.now() - at);
                    m.outbox(depth, age);
                }
                Err(e) => tracing::warn!(error = %e, "reading the outbox for metrics failed"),
            }
            match store.list_overdue(0).await {
                Ok((_, overdue)) => m.overdue_now(overdue),
                Err(e) => tracing::warn!(error = %e, "counting overdue measures failed"),
            }
        }
    };
    hub_runtime::metrics::route(metrics.registry().clone(), readiness.clone(), refresh)
}

/// Keeps a broker connection with the relay and the report consumer on it, reconnecting with
/// back-off whenever it fails, until `shutdown`.
async fn broker_sessions(
    config: Config,
    relay: Relay,
    consumer: ReportConsumer,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut backoff = config.reconnect_backoff();
    let policy = QueuePolicy {
        delivery_limit: config.delivery_limit,
    };
    let brokers = match hub_bus::Brokers::parse(&config.amqp_url) {
        Ok(brokers) => brokers,
        Err(e) => {
            tracing::error!(error = %e, "GATEWAY_AMQP_URL names no broker");
            return;
        }
    };
    loop {
        let session = broker_session(
            &config, &brokers, &policy, &relay, &consumer, &readiness, &shutdown,
        )
        .await;
        readiness.set(BROKER, false);
        match session {
            Ok(()) => return,
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

async fn broker_session(
    config: &Config,
    brokers: &hub_bus::Brokers,
    policy: &QueuePolicy,
    relay: &Relay,
    consumer: &ReportConsumer,
    readiness: &Readiness,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let hub_bus::Connected { connection, node } = brokers
        .connect("enforcement-gateway")
        .await
        .context("connecting to RabbitMQ")?;
    let publisher = hub_bus::Publisher::open(&connection)
        .await
        .context("opening the publish channel")?;
    tokio::time::timeout(SETUP_TIMEOUT, declare_gateway(publisher.channel(), policy))
        .await
        .context("declaring the topology took too long")?
        .context("declaring the topology")?;
    let channel = hub_bus::reply::within("opening a channel", connection.create_channel())
        .await
        .context("opening the consume channel")?;
    // Unreadable reports are dead-lettered on a channel of their own, apart from the relay's
    // ordered stream of instructions.
    let dead_letters = hub_bus::Publisher::open(&connection)
        .await
        .context("opening the dead-letter channel")?;
    let deliveries = tokio::time::timeout(
        SETUP_TIMEOUT,
        hub_bus::consume(
            &channel,
            GATEWAY_QUEUE,
            "enforcement-gateway",
            config.report_prefetch,
        ),
    )
    .await
    .context("consuming agency reports took too long")?
    .context("consuming agency reports")?;
    readiness.set(BROKER, true);
    tracing::info!(%node, "connected to RabbitMQ");

    // Either half failing ends the session; the other half is stopped and drained.
    let session = shutdown.child_token();
    let (relayed, consumed) = tokio::join!(
        async {
            let r = relay.run(&publisher, &session).await;
            session.cancel();
            r
        },
        async {
            let r = consumer.run(deliveries, &dead_letters, &session).await;
            session.cancel();
            r
        }
    );
    let _ = hub_bus::reply::within(
        "closing the connection",
        connection.close(200, "gateway stopping".into()),
    )
    .await;
    relayed.context("relaying the outbox")?;
    consumed.context("consuming agency reports")?;
    if shutdown.is_cancelled() {
        Ok(())
    } else {
        anyhow::bail!("broker session ended unexpectedly")
    }
}
