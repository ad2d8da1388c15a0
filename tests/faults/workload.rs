//! The fault suite's workload and its checks.
//!
//! A workload is at least 2,000 measures across four banks and a land registry: freezes on bank
//! accounts and seal-ups on properties, a quarter of the assets ordered twice (by two courts, one
//! after the other) so that waiting lines form. Courts submit as real courts would: concurrently,
//! each asset's orders in sequence, and every order retried with the same idempotency key until
//! the hub takes it. While it runs, a fault is injected; afterwards the checks compare what the
//! gateway reports with what every agency holds.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use enforcement_proto::{reference as admin, v1 as pb};
use hub_testkit::{
    TestHub,
    fixtures::{self, Freeze},
};
use tokio::{sync::watch, task::JoinSet};
use tonic::Code;

pub const BANKS: [&str; 4] = ["FA", "FB", "FC", "FD"];
pub const REGISTRY: &str = "110105";
const ACCOUNTS_PER_BANK: u32 = 400;
const PROPERTIES: u32 = 240;
const FIRST_COURT: &str = "京0105";
const SECOND_COURT: &str = "粤03";
/// Assets ordered by courts at once.
const CONCURRENT_ASSETS: usize = 24;

/// The hub of a fault test: four banks and a land registry, adapters retrying patiently.
pub fn hub() -> hub_testkit::TestHubBuilder {
    TestHub::builder()
        .banks(&BANKS)
        .land(&[REGISTRY])
        .adapter_retries(100, 12)
}

/// One asset's orders, submitted in this order, each with the certificate of its court.
#[derive(Clone)]
struct Job {
    asset: String,
    orders: Vec<(pb::SubmitRequest, hub_trust::TlsFiles)>,
}

/// The planned workload.
pub struct Workload {
    jobs: Vec<Job>,
}

impl Workload {
    /// Opens the accounts and registers the properties the workload orders against.
    pub async fn prepare(hub: &TestHub) -> anyhow::Result<Self> {
        let certificates = [
            (FIRST_COURT, hub.pki().court(FIRST_COURT)?),
            (SECOND_COURT, hub.pki().court(SECOND_COURT)?),
        ];
        // Each order goes with the certificate of the court it names.
        let signed = |request: pb::SubmitRequest| {
            let files = certificates
                .iter()
                .find(|(court, _)| *court == request.court_code)
                .map(|(_, files)| files.clone())
                .unwrap_or_else(|| certificates[0].1.clone());
            (request, files)
        };
        let mut jobs = Vec::new();
        let mut setup = JoinSet::new();
        for (b, bank) in BANKS.iter().enumerate() {
            let admin = hub.bank_admin(bank).await?;
            for a in 0..ACCOUNTS_PER_BANK {
                let n = b as u32 * 10_000 + a;
                let id = fixtures::resident_id(n);
                let account = fixtures::account_number(n);
                let mut admin = admin.clone();
                let (bank_code, account_for_setup, id_for_setup) =
                    (bank.to_string(), account.clone(), id.clone());
                setup.spawn(async move {
                    admin
                        .open_account(admin::OpenAccountRequest {
                            bank_code,
                            account_number: account_for_setup,
                            holder_name: "张三".into(),
                            holder_id: id_for_setup,
                            balance_fen: 10_000_000,
                        })
                        .await
                        .map(|_| ())
                });
                let mut orders = vec![freeze(FIRST_COURT, &format!("f1-{n}"), &id, bank, &account)];
                if a % 4 == 0 {
                    orders.push(freeze(
                        SECOND_COURT,
                        &format!("f2-{n}"),
                        &id,
                        bank,
                        &account,
                    ));
                }
                jobs.push(Job {
                    asset: format!("bank.{bank}:{account}"),
                    orders: orders.into_iter().map(signed).collect(),
                });
                drain(&mut setup, 16).await?;
            }
        }
        let land = hub.land_admin(REGISTRY).await?;
        for p in 0..PROPERTIES {
            let id = fixtures::resident_id(90_000 + p);
            let property = format!("110105-F-{p:05}");
            let mut land = land.clone();
            let (property_for_setup, id_for_setup) = (property.clone(), id.clone());
            setup.spawn(async move {
                land.register_property(admin::RegisterPropertyRequest {
                    agency_code: REGISTRY.into(),
                    property_id: property_for_setup,
                    kind: "unit".into(),
                    address: "北京市朝阳区".into(),
                    holder_id: id_for_setup,
                    holder_name: "李四".into(),
                    status: "registered".into(),
                })
                .await
                .map(|_| ())
            });
            let mut orders = vec![seal_up(FIRST_COURT, &format!("s1-{p}"), &id, &property)];
            if p % 4 == 0 {
                orders.push(seal_up(SECOND_COURT, &format!("s2-{p}"), &id, &property));
            }
            jobs.push(Job {
                asset: format!("land.{REGISTRY}:{property}"),
                orders: orders.into_iter().map(signed).collect(),
            });
            drain(&mut setup, 16).await?;
        }
        drain(&mut setup, 0).await?;
        Ok(Self { jobs })
    }

    /// How many measures the workload orders.
    pub fn size(&self) -> usize {
        self.jobs.iter().map(|j| j.orders.len()).sum()
    }

    /// Starts the courts: every order submitted, retried until taken, to the gateways at the
    /// addresses `gateway` holds at the time (several instances: the next one on each retry).
    pub fn start(&self, gateway: watch::Receiver<Vec<SocketAddr>>) -> Running {
        let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
        let jobs = self.jobs.clone();
        let record = accepted.clone();
        let task = tokio::spawn(async move {
            let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_ASSETS));
            let mut running = JoinSet::new();
            for job in jobs {
                let permit = permits.clone().acquire_owned().await?;
                let gateway = gateway.clone();
                let record = record.clone();
                running.spawn(async move {
                    for (order, (request, files)) in job.orders.into_iter().enumerate() {
                        let measure = submit_until_taken(&gateway, request, &files).await?;
                        if let Ok(mut accepted) = record.lock() {
                            accepted.push(Accepted {
                                asset: job.asset.clone(),
                                order,
                                measure_id: measure.measure_id,
                            });
                        }
                    }
                    drop(permit);
                    Ok::<_, anyhow::Error>(())
                });
                while let Some(done) = running.try_join_next() {
                    done??;
                }
            }
            while let Some(done) = running.join_next().await {
                done??;
            }
            Ok(())
        });
        Running { task, accepted }
    }
}

/// Waits for set-up calls until at most `keep` are in flight.
async fn drain(setup: &mut JoinSet<Result<(), tonic::Status>>, keep: usize) -> anyhow::Result<()> {
    while setup.len() > keep {
        if let Some(done) = setup.join_next().await {
            done??;
        }
    }
    Ok(())
}

/// The case an asset's order is made in: each asset's debtor is a case of its own at each
/// court, so every order fits its case's enforcement amount.
fn case_of(court: &str, serial: u32) -> String {
    if court == FIRST_COURT {
        fixtures::case_number(serial)
    } else {
        format!("（2024）粤03执{serial}号")
    }
}

fn freeze(court: &str, key: &str, id: &str, bank: &str, account: &str) -> pb::SubmitRequest {
    let serial = account
        .get(account.len().saturating_sub(6)..)
        .and_then(|tail| tail.parse::<u32>().ok())
        .unwrap_or(0)
        + 1;
    let case = case_of(court, serial);
    Freeze::of(1_000_000)
        .at(bank, account)
        .held_by("张三", id)
        .by(court)
        .case_number(&case)
        .key(key)
        .request()
}

fn seal_up(court: &str, key: &str, id: &str, property: &str) -> pb::SubmitRequest {
    let serial = property
        .rsplit('-')
        .next()
        .and_then(|tail| tail.parse::<u32>().ok())
        .unwrap_or(0)
        + 100_000;
    let case = case_of(court, serial);
    fixtures::order(
        court,
        key,
        &case,
        fixtures::person("李四", id),
        fixtures::land(REGISTRY),
        pb::submit_request::Measure::SealUp(pb::SealUp {
            property_kind: pb::PropertyKind::Unit as i32,
            property_id: property.into(),
            pre_seizure: false,
            period: fixtures::months(36),
        }),
    )
}

/// Submits `request` until the hub takes it, retrying what a court would retry (the hub down,
/// unavailable, or the connection lost) with the same idempotency key, at the next gateway
/// instance each time when there are several, presenting the court's certificate `files`.
async fn submit_until_taken(
    gateway: &watch::Receiver<Vec<SocketAddr>>,
    request: pb::SubmitRequest,
    files: &hub_trust::TlsFiles,
) -> anyhow::Result<pb::Measure> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    // Courts spread over the instances: each order starts at an instance of its own.
    let mut attempt_no = request.idempotency_key.len()
        + request
            .idempotency_key
            .bytes()
            .map(usize::from)
            .sum::<usize>();
    loop {
        let addr = {
            let addrs = gateway.borrow();
            anyhow::ensure!(!addrs.is_empty(), "no gateway address");
            addrs[attempt_no % addrs.len()]
        };
        attempt_no += 1;
        let attempt = async {
            let mut court = hub_testkit::court_client(addr, files)
                .await
                .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            court.submit(request.clone()).await
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt).await {
            Ok(Ok(response)) => {
                return response
                    .into_inner()
                    .measure
                    .ok_or_else(|| anyhow::anyhow!("Submit answered without a measure"));
            }
            Ok(Err(status))
                if !matches!(
                    status.code(),
                    Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
                ) =>
            {
                anyhow::bail!("order {} refused: {status}", request.idempotency_key);
            }
            _ if started.elapsed() > Duration::from_secs(180) => {
                anyhow::bail!("order {} never taken", request.idempotency_key);
            }
            _ => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// An order the hub took.
#[derive(Clone, Debug)]
struct Accepted {
    asset: String,
    /// 0 for the first order on the asset, 1 for the second.
    order: usize,
    measure_id: String,
}

/// A workload under way.
pub struct Running {
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    accepted: Arc<Mutex<Vec<Accepted>>>,
}

/// Counts answered measures over time, to time the disruption and the recovery.
pub struct Progress {
    samples: Arc<Mutex<Vec<(Instant, i64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Samples the gateway's answered measures every 100 ms.
    pub fn start(hub: &TestHub) -> Self {
        let pool = hub.sandbox().pool().clone();
        let query = format!(
            "SELECT count(*) FROM {}.measures WHERE state NOT IN ('submitted', 'dispatched', 'delivered')",
            hub.gateway_schema()
        );
        let samples: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
        let record = samples.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(n) = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(query.clone()))
                    .fetch_one(&pool)
                    .await
                    && let Ok(mut samples) = record.lock()
                {
                    samples.push((Instant::now(), n));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { samples, task }
    }

    /// The latest count.
    pub fn answered(&self) -> i64 {
        self.samples
            .lock()
            .ok()
            .and_then(|s| s.last().map(|(_, n)| *n))
            .unwrap_or(0)
    }

    /// Waits until at least `n` measures are answered.
    pub async fn wait_for(&self, n: i64, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        while self.answered() < n {
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {} of {n} answered within {within:?}",
                self.answered()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// When answers flowed again after `since`: the first sample after it that is higher than
    /// the count at `since`... once the count had stalled. Returns the disruption: from `since`
    /// to the first increase after `restored`.
    fn recovered_after(&self, restored: Instant) -> Option<Instant> {
        let samples = self.samples.lock().ok()?;
        let at_restore = samples
            .iter()
            .rev()
            .find(|(t, _)| *t <= restored)
            .map(|(_, n)| *n)?;
        samples
            .iter()
            .find(|(t, n)| *t > restored && *n > at_restore)
            .map(|(t, _)| *t)
    }

    fn count_at(&self, at: Instant) -> i64 {
        self.samples
            .lock()
            .ok()
            .and_then(|s| s.iter().rev().find(|(t, _)| *t <= at).map(|(_, n)| *n))
            .unwrap_or(0)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// When the fault happened and when the faulty part was back.
pub struct FaultTimes {
    pub injected: Instant,
    pub restored: Instant,
}

/// What the suite prints for each fault.
#[derive(Debug)]
pub struct Report {
    pub fault: String,
    pub submitted: usize,
    pub final_states: BTreeMap<String, usize>,
    /// Why measures failed or expired, if any did.
    pub failures: BTreeMap<String, usize>,
    pub lost: usize,
    pub doubled: usize,
    pub ledger_mismatches: usize,
    pub order_violations: usize,
    pub recovery: Option<Duration>,
    pub throughput_during: f64,
    pub elapsed: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "== fault: {} ==", self.fault)?;
        writeln!(f, "  measures submitted   {}", self.submitted)?;
        let states: Vec<String> = self
            .final_states
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "  final states         {}", states.join(", "))?;
        for (reason, n) in &self.failures {
            writeln!(f, "  {n} ended for: {reason}")?;
        }
        writeln!(f, "  faults injected      1")?;
        writeln!(
            f,
            "  lost {}, doubled {}, ledger mismatches {}, order violations {}",
            self.lost, self.doubled, self.ledger_mismatches, self.order_violations
        )?;
        match self.recovery {
            Some(r) => writeln!(
                f,
                "  recovery             {:.1} s from the fault until answers flowed again",
                r.as_secs_f64()
            )?,
            None => writeln!(f, "  recovery             answers never stopped")?,
        }
        writeln!(
            f,
            "  throughput           {:.0} measures/s from the fault to the end ({:.1} s in all)",
            self.throughput_during,
            self.elapsed.as_secs_f64()
        )
    }
}

impl Running {
    /// Waits for every order to be taken and answered, then checks the invariants.
    pub async fn finish(
        self,
        hub: &TestHub,
        progress: &Progress,
        fault: &str,
        times: FaultTimes,
        started: Instant,
        expected: usize,
    ) -> anyhow::Result<Report> {
        tokio::time::timeout(Duration::from_secs(300), self.task)
            .await
            .map_err(|_| anyhow::anyhow!("courts still submitting after 300 s"))???;
        progress
            .wait_for(expected as i64, Duration::from_secs(300))
            .await?;
        let accepted = self.accepted.lock().map(|a| a.clone()).unwrap_or_default();
        let end = Instant::now();
        let recovery = progress
            .recovered_after(times.restored)
            .map(|t| t.saturating_duration_since(times.injected));
        let answered_since_fault = progress.count_at(end) - progress.count_at(times.injected);
        let throughput_during = answered_since_fault as f64
            / end
                .saturating_duration_since(times.injected)
                .as_secs_f64()
                .max(0.001);
        check(
            hub,
            fault,
            accepted,
            expected,
            recovery,
            throughput_during,
            end - started,
        )
        .await
    }
}

/// The gateway's view of one measure.
#[derive(sqlx::FromRow)]
struct GatewayMeasure {
    id: uuid::Uuid,
    agency_kind: String,
    agency_code: String,
    state: String,
    held_fen: i64,
    reason_message: String,
}

async fn check(
    hub: &TestHub,
    fault: &str,
    accepted: Vec<Accepted>,
    expected: usize,
    recovery: Option<Duration>,
    throughput_during: f64,
    elapsed: Duration,
) -> anyhow::Result<Report> {
    let pool = hub.sandbox().pool();
    let measures: Vec<GatewayMeasure> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, agency_kind, agency_code, state, held_fen, reason_message FROM {}.measures",
        hub.gateway_schema()
    )))
    .fetch_all(pool)
    .await?;

    let mut final_states = BTreeMap::new();
    let mut unanswered = 0;
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for m in &measures {
        if m.state == "failed" || m.state == "expired" {
            *failures.entry(m.reason_message.clone()).or_insert(0) += 1;
        }
        *final_states.entry(m.state.clone()).or_insert(0) += 1;
        if matches!(m.state.as_str(), "submitted" | "dispatched" | "delivered") {
            unanswered += 1;
        }
    }
    let accepted_ids: BTreeSet<&str> = accepted.iter().map(|a| a.measure_id.as_str()).collect();
    // Lost: an order never taken, or a measure never answered.
    let lost = expected.saturating_sub(accepted_ids.len()) + unanswered;

    // Each agency holds exactly the measures in force or waiting the gateway reports.
    let mut ledger_mismatches = 0;
    let mut received_order: BTreeMap<String, usize> = BTreeMap::new();
    for bank in BANKS {
        let gateway: BTreeMap<String, (String, i64)> = measures
            .iter()
            .filter(|m| m.agency_kind == "bank" && m.agency_code == bank && m.state != "rejected")
            .map(|m| (m.id.to_string(), (m.state.clone(), m.held_fen)))
            .collect();
        let ledger = hub.ledger(bank).await?;
        for (i, f) in ledger.iter().enumerate() {
            received_order.insert(f.measure_id.clone(), i);
        }
        let ledger: BTreeMap<String, (String, i64)> = ledger
            .into_iter()
            .map(|f| (f.measure_id, (f.state, f.frozen_fen)))
            .collect();
        ledger_mismatches += differences(&gateway, &ledger);
    }
    let holds = hub
        .land_admin(REGISTRY)
        .await?
        .list_holds(admin::ListPropertyHoldsRequest {
            agency_code: REGISTRY.into(),
            property_id: String::new(),
        })
        .await?
        .into_inner()
        .holds;
    for (i, h) in holds.iter().enumerate() {
        received_order.insert(h.measure_id.clone(), i);
    }
    let gateway_land: BTreeMap<String, (String, i64)> = measures
        .iter()
        .filter(|m| m.agency_kind == "land" && m.state != "rejected")
        .map(|m| (m.id.to_string(), (m.state.clone(), 0)))
        .collect();
    let ledger_land: BTreeMap<String, (String, i64)> = holds
        .into_iter()
        .map(|h| (h.measure_id, (h.state, 0)))
        .collect();
    ledger_mismatches += differences(&gateway_land, &ledger_land);

    // No instruction carried out twice: one execution per measure at every agency.
    let mut doubled = 0;
    for node_code in [BANKS[0], BANKS[1], BANKS[2], BANKS[3]] {
        doubled += executed_twice(hub, hub.bank(node_code)?.schema()).await?;
    }
    doubled += executed_twice(
        hub,
        hub.node(hub_domain::AgencyKind::LandRegistry, REGISTRY)?
            .schema(),
    )
    .await?;
    // A measure recorded twice for one order would show as more measures than orders.
    doubled += measures.len().saturating_sub(expected);

    // Waiting order: on every asset ordered twice, the first order in force, the second behind.
    let by_id: BTreeMap<String, &GatewayMeasure> =
        measures.iter().map(|m| (m.id.to_string(), m)).collect();
    let mut per_asset: BTreeMap<&str, Vec<&Accepted>> = BTreeMap::new();
    for a in &accepted {
        per_asset.entry(a.asset.as_str()).or_default().push(a);
    }
    let mut order_violations = 0;
    for orders in per_asset.values_mut().filter(|o| o.len() == 2) {
        orders.sort_by_key(|a| a.order);
        let (first, second) = (&orders[0].measure_id, &orders[1].measure_id);
        let in_order = match (received_order.get(first), received_order.get(second)) {
            (Some(a), Some(b)) => a < b,
            _ => false,
        };
        let states_right = by_id.get(first).is_some_and(|m| m.state == "effective")
            && by_id.get(second).is_some_and(|m| m.state == "waiting");
        if !in_order || !states_right {
            order_violations += 1;
            let seen = |id: &String| {
                let state = by_id.get(id).map_or("unknown", |m| m.state.as_str());
                format!("{id} ({state}, arrived {:?})", received_order.get(id))
            };
            eprintln!(
                "order violation on {}: first {}, second {}",
                orders[0].asset,
                seen(first),
                seen(second)
            );
        }
    }

    Ok(Report {
        fault: fault.to_string(),
        submitted: accepted.len(),
        final_states,
        failures,
        lost,
        doubled,
        ledger_mismatches,
        order_violations,
        recovery,
        throughput_during,
        elapsed,
    })
}

fn differences(
    gateway: &BTreeMap<String, (String, i64)>,
    ledger: &BTreeMap<String, (String, i64)>,
) -> usize {
    let ids: BTreeSet<&String> = gateway.keys().chain(ledger.keys()).collect();
    ids.into_iter()
        .filter(|id| gateway.get(*id) != ledger.get(*id))
        .count()
}

async fn executed_twice(hub: &TestHub, schema: &str) -> anyhow::Result<usize> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM (SELECT measure_id FROM {schema}.executions \
         GROUP BY measure_id HAVING count(*) > 1) AS doubled"
    )))
    .fetch_one(hub.sandbox().pool())
    .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Prints the report, keeps a copy under `target/fault-reports/`, and fails the test on any
/// violation.
pub fn conclude(report: &Report) -> anyhow::Result<()> {
    println!("{report}");
    if let Ok(exe) = std::env::current_exe()
        && let Some(target) = exe
            .parent()
            .and_then(|d| d.parent())
            .and_then(|p| p.parent())
    {
        let dir = target.join("fault-reports");
        let _ = std::fs::create_dir_all(&dir);
        let name: String = report
            .fault
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let _ = std::fs::write(dir.join(format!("{name}.txt")), report.to_string());
    }
    anyhow::ensure!(
        report.lost == 0
            && report.doubled == 0
            && report.ledger_mismatches == 0
            && report.order_violations == 0,
        "invariants violated:\n{report}"
    );
    Ok(())
}

/// When the fault is injected.
#[derive(PartialEq, Eq)]
pub enum When {
    /// Once a quarter of the workload is answered.
    QuarterAnswered,
    /// At once: the injector waits for the fault itself (a failpoint firing).
    Started,
}

/// Runs the workload on `hub`, calls `inject` once a quarter of it is answered (or at once,
/// for a fault that comes by itself), and checks. Courts call the hub's gateway.
pub async fn under_fault<F, Fut>(
    hub: TestHub,
    fault: &str,
    when: When,
    inject: F,
) -> anyhow::Result<()>
where
    F: FnOnce(TestHub, watch::Sender<Vec<SocketAddr>>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(TestHub, FaultTimes)>>,
{
    let gateways = vec![hub.gateway_addr()];
    under_fault_at(hub, gateways, fault, when, inject).await
}

/// [`under_fault`] with courts calling any of `gateways` (instances sharing the hub's
/// database), moving to the next one whenever a call fails.
pub async fn under_fault_at<F, Fut>(
    mut hub: TestHub,
    gateways: Vec<SocketAddr>,
    fault: &str,
    when: When,
    inject: F,
) -> anyhow::Result<()>
where
    F: FnOnce(TestHub, watch::Sender<Vec<SocketAddr>>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(TestHub, FaultTimes)>>,
{
    let work = Workload::prepare(&hub).await?;
    let expected = work.size();
    assert!(expected >= 2000, "the workload has {expected} measures");
    let (gateway_tx, gateway_rx) = watch::channel(gateways);
    let progress = Progress::start(&hub);
    let started = Instant::now();
    let running = work.start(gateway_rx);
    if when == When::QuarterAnswered {
        progress
            .wait_for(expected as i64 / 4, Duration::from_secs(180))
            .await?;
    }
    let times;
    (hub, times) = inject(hub, gateway_tx).await?;
    let report: anyhow::Result<Report> = running
        .finish(&hub, &progress, fault, times, started, expected)
        .await;
    if report.is_err() {
        eprintln!("gateway log:\n{}", hub.gateway_log());
    }
    hub.shutdown().await?;
    conclude(&report?)
}
