//! What every test needs: its own schema (dropped even when the test fails), a running agency
//! system on a port of its own, an inbox that records notices, and builders for instructions.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use enforcement_proto::{
    convert::instant,
    reference::{land_admin_client::LandAdminClient, police_admin_client::PoliceAdminClient},
    v1::{
        self as pb,
        agency_backend_client::AgencyBackendClient,
        agency_inbox_server::{AgencyInbox, AgencyInboxServer},
    },
};
use hub_agencies::{
    land::{LandApplication, LandConfig, Registry},
    police::{PoliceApplication, PoliceConfig, PublicSecurity},
};
use hub_domain::{AgencyCode, Clock, Period};
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::Channel};
use uuid::Uuid;

/// How long a test waits for something that should happen at once (a notice to arrive).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The lapse task's poll in tests that do not exercise it: long enough never to run twice.
pub const LAPSE_RARELY_MS: u64 = 3_600_000;

fn database_url() -> String {
    std::env::var("HUB_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// A schema of the test's own, `t<unix secs>_<random>_<name>`, dropped when the guard goes, even
/// if the test panicked.
pub struct TestSchema {
    name: String,
}

impl TestSchema {
    /// A fresh name; the application creates the schema when it connects.
    pub fn new(name: &str) -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            name: format!("t{secs}_{:08x}_{name}", fastrand::u32(..)),
        }
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestSchema {
    /// Drops the schema on a thread of its own: the test's runtime may be shutting down.
    fn drop(&mut self) {
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(pool) = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&database_url())
                    .await
                else {
                    eprintln!("cannot connect to drop test schema {name}");
                    return;
                };
                // The application was told to stop, but a task of it may be suspended inside a
                // transaction on the test's own thread, which this drop is blocking.
                if let Err(e) = hub_runtime::postgres::drop_schema(&pool, &name).await {
                    eprintln!("{e:#}");
                }
                pool.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

/// An `AgencyInbox` that keeps every notice it is sent.
#[derive(Clone)]
pub struct RecordingInbox {
    notices: Arc<Mutex<Vec<pb::Notice>>>,
    received: Arc<watch::Sender<usize>>,
}

#[tonic::async_trait]
impl AgencyInbox for RecordingInbox {
    async fn notify(
        &self,
        request: Request<pb::Notice>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        let notice = request.into_inner();
        let count = {
            let mut notices = self.notices.lock().unwrap_or_else(PoisonError::into_inner);
            notices.push(notice);
            notices.len()
        };
        self.received.send_replace(count);
        Ok(Response::new(pb::NotifyResponse {}))
    }
}

impl RecordingInbox {
    /// Serves the inbox on a port of its own until `shutdown`; returns its URL.
    async fn serve(shutdown: CancellationToken) -> (Self, String) {
        let inbox = Self {
            notices: Arc::default(),
            received: Arc::new(watch::channel(0).0),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the test inbox");
        let addr = listener.local_addr().expect("inbox address");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(AgencyInboxServer::new(inbox.clone()))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    shutdown.cancelled_owned(),
                ),
        );
        (inbox, format!("http://{addr}"))
    }

    /// Every notice received so far.
    pub fn notices(&self) -> Vec<pb::Notice> {
        self.notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the notices received satisfy `done`, and returns them.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[pb::Notice]) -> bool,
    ) -> Vec<pb::Notice> {
        let mut received = self.received.subscribe();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let notices = self.notices();
            if done(&notices) {
                return notices;
            }
            if tokio::time::timeout_at(deadline, received.changed())
                .await
                .is_err()
            {
                panic!("no notice {what} within {PATIENCE:?}; received {notices:#?}");
            }
        }
    }

    /// Waits for an update of `measure_id` with `cause`, and returns it.
    pub async fn wait_for_update(
        &self,
        measure_id: &str,
        cause: pb::UpdateCause,
    ) -> pb::MeasureUpdate {
        let found = |notices: &[pb::Notice]| {
            notices
                .iter()
                .flat_map(|n| &n.updates)
                .find(|u| u.measure_id == measure_id && u.cause == cause as i32)
                .cloned()
        };
        let notices = self
            .wait_for(&format!("{cause:?} for {measure_id}"), |n| {
                found(n).is_some()
            })
            .await;
        found(&notices).expect("waited for it")
    }
}

/// Stops a running application when the test ends, passed or failed.
struct Stop(CancellationToken);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A running land registry with its clients, clock and inbox.
pub struct LandApp {
    /// `AgencyBackend`, as the adapter calls it.
    pub backend: AgencyBackendClient<Channel>,
    /// `LandAdmin`.
    pub admin: LandAdminClient<Channel>,
    /// The handle, for driving lapses and faults.
    pub registry: Registry,
    /// The registry's clock; `advance` moves it.
    pub clock: Clock,
    /// Where its notices arrive.
    pub inbox: RecordingInbox,
    _stop: Stop,
    /// Declared last: dropped after the application is told to stop.
    _schema: TestSchema,
}

/// Options for a test application.
pub struct Options {
    /// Agency codes served.
    pub codes: &'static [&'static str],
    /// Lapse task poll.
    pub lapse_poll_ms: u64,
    /// Fixture file under `services/agencies/fixtures`.
    pub fixture: Option<&'static str>,
}

impl Options {
    /// Serving `codes`, lapsing rarely, no fixture.
    pub fn codes(codes: &'static [&'static str]) -> Self {
        Self {
            codes,
            lapse_poll_ms: LAPSE_RARELY_MS,
            fixture: None,
        }
    }
}

fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn codes(codes: &[&str]) -> Vec<AgencyCode> {
    codes
        .iter()
        .map(|c| AgencyCode::parse(c).expect("valid test agency code"))
        .collect()
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid URL")
        .connect()
        .await
        .expect("connecting to the application")
}

/// Starts a land registry serving `options.codes` in a fresh schema.
pub async fn spawn_land(options: Options) -> LandApp {
    let schema = TestSchema::new("land");
    let shutdown = CancellationToken::new();
    let (inbox, inbox_url) = RecordingInbox::serve(shutdown.clone()).await;
    let clock = Clock::adjustable();
    let config = LandConfig {
        codes: codes(options.codes),
        listen: "127.0.0.1:0".parse().expect("loopback"),
        database_url: database_url(),
        database_schema: schema.name().to_string(),
        inbox_url: String::new(),
        fixture: options.fixture.map(fixture_path),
        notice_poll_ms: 100,
        lapse_poll_ms: options.lapse_poll_ms,
    };
    let app = LandApplication::build(config, clock.clone())
        .await
        .expect("building the land registry")
        .with_inbox_url(inbox_url);
    let addr = app.local_addr().expect("bound address");
    let registry = app.registry();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let channel = channel(addr).await;
    LandApp {
        backend: AgencyBackendClient::new(channel.clone()),
        admin: LandAdminClient::new(channel),
        registry,
        clock,
        inbox,
        _stop: Stop(shutdown),
        _schema: schema,
    }
}

/// A running public security system with its clients, clock and inbox.
pub struct PoliceApp {
    /// `AgencyBackend`, as the adapter calls it.
    pub backend: AgencyBackendClient<Channel>,
    /// `PoliceAdmin`.
    pub admin: PoliceAdminClient<Channel>,
    /// The handle, for driving lapses and faults.
    pub public_security: PublicSecurity,
    /// The system's clock; `advance` moves it.
    pub clock: Clock,
    /// Where its notices arrive.
    pub inbox: RecordingInbox,
    _stop: Stop,
    /// Declared last: dropped after the application is told to stop.
    _schema: TestSchema,
}

/// Starts a public security system serving `options.codes` in a fresh schema.
pub async fn spawn_police(options: Options) -> PoliceApp {
    let schema = TestSchema::new("police");
    let shutdown = CancellationToken::new();
    let (inbox, inbox_url) = RecordingInbox::serve(shutdown.clone()).await;
    let clock = Clock::adjustable();
    let config = PoliceConfig {
        codes: codes(options.codes),
        listen: "127.0.0.1:0".parse().expect("loopback"),
        database_url: database_url(),
        database_schema: schema.name().to_string(),
        inbox_url: String::new(),
        fixture: options.fixture.map(fixture_path),
        notice_poll_ms: 100,
        lapse_poll_ms: options.lapse_poll_ms,
    };
    let app = PoliceApplication::build(config, clock.clone())
        .await
        .expect("building the public security system")
        .with_inbox_url(inbox_url);
    let addr = app.local_addr().expect("bound address");
    let public_security = app.public_security();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let channel = channel(addr).await;
    PoliceApp {
        backend: AgencyBackendClient::new(channel.clone()),
        admin: PoliceAdminClient::new(channel),
        public_security,
        clock,
        inbox,
        _stop: Stop(shutdown),
        _schema: schema,
    }
}

/// A natural-person subject.
pub fn person(name: &str, resident_id: &str) -> pb::Subject {
    pb::Subject {
        party: Some(pb::subject::Party::Person(pb::NaturalPerson {
            name: name.into(),
            resident_id: resident_id.into(),
        })),
    }
}

/// An organisation subject.
pub fn organisation(name: &str, credit_code: &str) -> pb::Subject {
    pb::Subject {
        party: Some(pb::subject::Party::Organisation(pb::Organisation {
            name: name.into(),
            credit_code: credit_code.into(),
        })),
    }
}

/// A new instruction from `court` against `subject` to agency `kind`/`code`, with fresh ids.
pub fn instruction(
    kind: pb::AgencyKind,
    code: &str,
    court: &str,
    subject: pb::Subject,
    action: pb::instruction::Action,
) -> pb::Instruction {
    pb::Instruction {
        instruction_id: Uuid::now_v7().to_string(),
        measure_id: Uuid::now_v7().to_string(),
        court_code: court.into(),
        case: Some(pb::CaseInfo {
            case_number: format!("（2024）{court}执{}号", fastrand::u16(1..9999)),
            enforcement_amount_fen: 50_000_000,
            ruling_number: "（2024）执裁1号".into(),
            notice_number: "（2024）执协1号".into(),
            officer: "王法官".into(),
        }),
        subject: Some(subject),
        agency: Some(pb::AgencyRef {
            kind: kind as i32,
            code: code.into(),
        }),
        issued_at: None,
        deadline: None,
        action: Some(action),
    }
}

/// A period of whole months.
pub fn months(months: u32) -> Option<pb::Period> {
    Some(pb::Period { months, days: 0 })
}

/// A release of `target` (same court).
pub fn release(target: &pb::Instruction, reason: &str) -> pb::instruction::Action {
    pb::instruction::Action::Release(pb::Release {
        target_measure_id: target.measure_id.clone(),
        reason: reason.into(),
    })
}

/// A renewal of `target` by whole months.
pub fn renewal(target: &pb::Instruction, by: u32) -> pb::instruction::Action {
    pb::instruction::Action::Renewal(pb::Renewal {
        target_measure_id: target.measure_id.clone(),
        period: months(by),
    })
}

/// The same court, subject and agency as `earlier`, with fresh ids and another action.
pub fn follow_up(earlier: &pb::Instruction, action: pb::instruction::Action) -> pb::Instruction {
    pb::Instruction {
        instruction_id: Uuid::now_v7().to_string(),
        measure_id: Uuid::now_v7().to_string(),
        action: Some(action),
        ..earlier.clone()
    }
}

/// The outcome of a response.
pub fn outcome(response: &pb::ExecuteResponse) -> &pb::MeasureUpdate {
    response
        .outcome
        .as_ref()
        .expect("every answer has an outcome")
}

/// An update's state.
pub fn state(update: &pb::MeasureUpdate) -> pb::MeasureState {
    pb::MeasureState::try_from(update.state).expect("a known state")
}

/// An update's cause.
pub fn cause(update: &pb::MeasureUpdate) -> pb::UpdateCause {
    pb::UpdateCause::try_from(update.cause).expect("a known cause")
}

/// A rejected outcome's reason code.
pub fn reason(update: &pb::MeasureUpdate) -> pb::ReasonCode {
    assert_eq!(state(update), pb::MeasureState::Rejected, "{update:#?}");
    pb::ReasonCode::try_from(update.reason.as_ref().expect("a reason").code)
        .expect("a known reason")
}

/// An optional timestamp as an instant.
pub fn at(ts: Option<&prost_types::Timestamp>) -> OffsetDateTime {
    instant(ts.expect("a timestamp")).expect("in range")
}

/// When a measure effective at `start` for `months` months expires.
pub fn expiry(start: OffsetDateTime, months: u32) -> OffsetDateTime {
    Period::new(months, 0)
        .expect("valid test period")
        .end_from(start)
}
