//! What every test needs: its own sandbox (a schema of its own, dropped even when the test
//! fails), a running agency system on a port of its own, an inbox that records notices, and
//! builders for instructions.

use std::{
    marker::PhantomData,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use enforcement_proto::{
    convert::instant,
    reference::{
        bank_admin_client::BankAdminClient, land_admin_client::LandAdminClient,
        police_admin_client::PoliceAdminClient,
    },
    v1::{
        self as pb,
        agency_backend_client::AgencyBackendClient,
        agency_inbox_server::{AgencyInbox, AgencyInboxServer},
    },
};
use hub_agencies::{
    application::{Application, System},
    bank::Banking,
    config::AgencyConfig,
    land::Land,
    office::Office,
    police::Police,
};
use hub_domain::{AgencyCode, Clock, Period};
use hub_testkit::Sandbox;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::Channel};
use uuid::Uuid;

/// How long a test waits for something that should happen at once (a notice to arrive).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The lapse task's poll in tests that do not exercise it: long enough never to run twice.
pub const LAPSE_RARELY_MS: u64 = 3_600_000;

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

/// A running agency system of kind `S` with its clients, clock and inbox; `A` is its
/// administration client.
pub struct AgencyApp<S: System, A> {
    /// `AgencyBackend`, as the adapter calls it.
    pub backend: AgencyBackendClient<Channel>,
    /// The administration service (`BankAdmin`, `LandAdmin`, `PoliceAdmin`).
    pub admin: A,
    /// The handle, for driving lapses and faults.
    pub office: Office<S>,
    /// The system's clock; `advance` moves it.
    pub clock: Clock,
    /// Where its notices arrive.
    pub inbox: RecordingInbox,
    _stop: Stop,
    /// Declared last: dropped (schema removed) after the application is told to stop.
    _sandbox: Sandbox,
}

/// A running reference bank.
pub type BankApp = AgencyApp<Banking, BankAdminClient<Channel>>;
/// A running land registry.
pub type LandApp = AgencyApp<Land, LandAdminClient<Channel>>;
/// A running public security system.
pub type PoliceApp = AgencyApp<Police, PoliceAdminClient<Channel>>;

impl<S: System, A> AgencyApp<S, A> {
    /// Sends an instruction as the adapter does, and returns the answer.
    pub async fn execute(&self, instruction: &pb::Instruction) -> pb::ExecuteResponse {
        self.backend
            .clone()
            .execute(instruction.clone())
            .await
            .expect("Execute answers")
            .into_inner()
    }

    /// Sends `instruction` `n` times at once, as a hub delivering it again would, and returns
    /// every answer.
    pub async fn execute_at_once(
        &self,
        instruction: &pb::Instruction,
        n: usize,
    ) -> Vec<pb::ExecuteResponse> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let mut backend = self.backend.clone();
            let instruction = instruction.clone();
            tasks.spawn(async move {
                backend
                    .execute(instruction)
                    .await
                    .expect("Execute answers")
                    .into_inner()
            });
        }
        tasks.join_all().await
    }
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

/// Starts a system of kind `S` serving `options.codes` in a sandbox of its own, with `admin` as
/// its administration client.
async fn spawn<S: System, A>(
    options: Options,
    admin: impl FnOnce(Channel) -> A,
) -> AgencyApp<S, A> {
    let sandbox = Sandbox::database_only()
        .await
        .expect("creating the test sandbox");
    let shutdown = CancellationToken::new();
    let (inbox, inbox_url) = RecordingInbox::serve(shutdown.clone()).await;
    let clock = Clock::adjustable();
    let config = AgencyConfig::<S> {
        codes: codes(options.codes),
        listen: "127.0.0.1:0".parse().expect("loopback"),
        database_url: sandbox.database_url().to_string(),
        database_schema: Some(sandbox.schema(S::SETTINGS.prefix)),
        inbox_url,
        // The reference systems' own rules are tested here; TLS on their hops end to end.
        tls_ca: None,
        tls_cert: None,
        tls_key: None,
        tls_deny_list: None,
        insecure_plaintext: true,
        fixture: options.fixture.map(fixture_path),
        notice_poll_ms: 100,
        lapse_poll_ms: options.lapse_poll_ms,
        seal_key: None,
        seal_key_id: "seal-1".into(),
        system: PhantomData,
    };
    let app = Application::build(config, clock.clone())
        .await
        .expect("building the agency system");
    let addr = app.local_addr().expect("bound address");
    let office = app.office();
    tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let channel = channel(addr).await;
    AgencyApp {
        backend: AgencyBackendClient::new(channel.clone()),
        admin: admin(channel),
        office,
        clock,
        inbox,
        _stop: Stop(shutdown),
        _sandbox: sandbox,
    }
}

/// Starts a reference bank serving `options.codes`.
pub async fn spawn_bank(options: Options) -> BankApp {
    spawn(options, BankAdminClient::new).await
}

/// Starts a land registry serving `options.codes`.
pub async fn spawn_land(options: Options) -> LandApp {
    spawn(options, LandAdminClient::new).await
}

/// Starts a public security system serving `options.codes`.
pub async fn spawn_police(options: Options) -> PoliceApp {
    spawn(options, PoliceAdminClient::new).await
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
