//! The hub as the benchmark drives it, and its runs: closed-loop throughput, open-loop latency.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use enforcement_proto::v1 as pb;
use hub_testkit::{
    ChildProcess, TestHub,
    fixtures::{self, Freeze},
};
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::{Args, cpu};

/// Cases the latency run spreads its freezes over, each with a watch stream.
const LATENCY_CASES: u32 = 16;

/// A hub as the benchmark drives it: the gateway and every bank's adapter each a process of
/// its own (release builds, as deployed), the banks in this process with the bench's clients.
pub struct Stack {
    pub hub: TestHub,
    adapters: Vec<ChildProcess>,
    codes: Vec<String>,
    /// The next account (and case) number not yet used.
    next_account: u32,
    /// Freezes submitted so far, all of which end EFFECTIVE.
    submitted: i64,
}

impl Stack {
    pub async fn start(args: &Args, chain: bool) -> anyhow::Result<Stack> {
        let codes: Vec<String> = (0..args.banks.max(1)).map(|i| format!("B{i:03}")).collect();
        let code_refs: Vec<&str> = codes.iter().map(String::as_str).collect();
        let mut builder = TestHub::builder()
            .banks(&code_refs)
            .audit_chain(chain)
            // The deadlines of freezes are months away; the timers need not wake to look.
            .timer_poll(10_000);
        if !args.in_process {
            builder = builder.gateway_process(None);
        }
        if let Some((amqp, api)) = args.broker() {
            builder = builder.broker(amqp, api);
        }
        let mut hub = builder.start().await?;
        let mut adapters = Vec::new();
        for code in codes.iter().filter(|_| !args.in_process) {
            hub.stop_adapter(code).await?;
            adapters.push(hub.spawn_adapter_process(code).await?);
        }
        Ok(Stack {
            hub,
            adapters,
            codes,
            next_account: 0,
            submitted: 0,
        })
    }

    /// Whether the database vacuums and analyses its tables as they change (`on`, `off`): with
    /// it off, dead rows and stale statistics pile up and every figure degrades with the tables.
    pub async fn autovacuum(&self) -> anyhow::Result<String> {
        Ok(sqlx::query_scalar("SHOW autovacuum")
            .fetch_one(self.hub.sandbox().pool())
            .await?)
    }

    /// The processes whose CPU the figures report.
    pub fn processes(&self) -> cpu::Processes {
        use cpu::Select::{Named, Pids};
        cpu::Processes::new()
            .with(
                "gateway",
                Pids(self.hub.gateway_pid().into_iter().collect()),
            )
            .with(
                &format!("adapters ({})", self.adapters.len()),
                Pids(self.adapters.iter().filter_map(ChildProcess::pid).collect()),
            )
            .with(
                "banks and the bench's clients",
                Pids(vec![std::process::id()]),
            )
            .with("PostgreSQL", Named("postgres"))
            .with("RabbitMQ", Named("beam.smp"))
    }

    /// (b): a warm-up, then `freezes` freezes timed from the first Submit to the last
    /// EFFECTIVE.
    pub async fn throughput(&mut self, args: &Args, prefix: &str) -> anyhow::Result<f64> {
        self.run(args, args.warmup, "warm").await?;
        self.run(args, args.freezes, prefix).await
    }

    /// `n` freezes by `concurrency` submitters on fresh accounts, each in a case of its own;
    /// returns freezes per second from the first Submit to the last EFFECTIVE (the accounts
    /// are opened before the clock starts).
    pub async fn run(&mut self, args: &Args, n: u32, prefix: &str) -> anyhow::Result<f64> {
        let first = self.next_account;
        self.next_account += n;
        open_accounts(&self.hub, &self.codes, first..first + n).await?;
        let next = Arc::new(AtomicU32::new(first));
        let end = first + n;
        let started = Instant::now();
        let mut submitters = tokio::task::JoinSet::new();
        for _ in 0..args.concurrency.max(1) {
            let next = next.clone();
            let codes = self.codes.clone();
            let mut court = self.hub.court().await?;
            let prefix = prefix.to_string();
            submitters.spawn(async move {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= end {
                        return Ok::<_, anyhow::Error>(());
                    }
                    court.submit(freeze_request(&codes, k, &prefix)).await?;
                }
            });
        }
        while let Some(done) = submitters.join_next().await {
            done??;
        }
        self.submitted += i64::from(n);
        self.wait_until_effective().await?;
        Ok(f64::from(n) / started.elapsed().as_secs_f64())
    }

    /// Waits until every freeze submitted so far is answered, looking every 100 ms at the count
    /// of measures awaiting an answer (through their partial index, so that the look costs the
    /// same however much history the tables hold), then checks that all of them are effective.
    async fn wait_until_effective(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(600);
        let schema = self.hub.gateway_schema();
        let awaiting = format!(
            "SELECT count(*) FROM {schema}.measures \
             WHERE state IN ('submitted', 'dispatched', 'delivered') AND kind <> 'inquiry'"
        );
        loop {
            let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(awaiting.clone()))
                .fetch_one(self.hub.sandbox().pool())
                .await?;
            if left == 0 {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{left} of {} freezes unanswered after 600 s",
                self.submitted
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let effective: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {schema}.measures WHERE state = 'effective' AND expires_at IS NOT NULL"
        )))
        .fetch_one(self.hub.sandbox().pool())
        .await?;
        anyhow::ensure!(
            effective >= self.submitted,
            "{effective} of {} freezes effective once all were answered",
            self.submitted
        );
        Ok(())
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        for mut adapter in self.adapters {
            adapter.terminate().await?;
        }
        self.hub.shutdown().await
    }

    /// (c): submits at `rate` per second for `seconds`, each on a fresh account, and times each
    /// from its Submit to the EFFECTIVE event on the court's watch stream of the case. The
    /// freezes are spread over cases of their own, numbered as the throughput runs number theirs
    /// (by account), from accounts taken for this run.
    pub async fn latency_at(&mut self, rate: f64, seconds: u32) -> anyhow::Result<Latency> {
        let (hub, codes) = (&self.hub, &self.codes);
        let count = ((rate * f64::from(seconds)) as u32).clamp(1, 20_000);
        let first_account = self.next_account;
        // At least as many accounts as cases, so that no case number is a later run's.
        self.next_account += count.max(LATENCY_CASES);
        self.submitted += i64::from(count);
        open_accounts(hub, codes, first_account..first_account + count).await?;
        // Each freeze is in one of a few cases, each followed on its own case watch: a case's
        // freezes are checked one after another against its ledger, and no real case takes
        // thousands of freezes, so one case for all would time the case's lock, not the hub.
        let cases: Vec<String> = (0..LATENCY_CASES)
            .map(|c| case_of(first_account + c))
            .collect();
        // When each freeze was seen EFFECTIVE: for its latency, and on the wall clock for the
        // last hop.
        let effective_at: Arc<Mutex<HashMap<String, (Instant, OffsetDateTime)>>> = Arc::default();
        let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let mut watchers = tokio::task::JoinSet::new();
        for case in &cases {
            let mut watch = hub
                .court()
                .await?
                .watch(pb::WatchRequest {
                    court_code: "京0105".into(),
                    target: Some(pb::watch_request::Target::CaseNumber(case.clone())),
                })
                .await?
                .into_inner();
            let effective_at = effective_at.clone();
            let seen = seen.clone();
            watchers.spawn(async move {
                while seen.load(std::sync::atomic::Ordering::SeqCst) < count {
                    let Some(event) = watch.message().await? else {
                        break;
                    };
                    if let Some(m) = event.measure
                        && m.state == pb::MeasureState::Effective as i32
                        && m.kind == pb::MeasureKind::Freeze as i32
                    {
                        effective_at
                            .lock()
                            .await
                            .insert(m.measure_id, (Instant::now(), OffsetDateTime::now_utc()));
                        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                Ok::<_, anyhow::Error>(())
            });
        }
        // Done when every freeze has been seen effective on one of the streams (or a stream failed).
        let watching = {
            let seen = seen.clone();
            async move {
                while seen.load(std::sync::atomic::Ordering::SeqCst) < count {
                    if let Some(done) = watchers.try_join_next() {
                        done??;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                watchers.abort_all();
                Ok::<_, anyhow::Error>(())
            }
        };
        let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = tokio::task::JoinSet::new();
        let client = hub.court().await?;
        for i in 0..count {
            ticker.tick().await;
            let mut court = client.clone();
            let case = &cases[i as usize % cases.len()];
            let mut request = freeze_request_in(codes, first_account + i, "lat", case);
            if let Some(c) = request.case.as_mut() {
                // Every freeze of the case fits within its enforcement amount.
                c.enforcement_amount_fen = i64::from(count) * 1_000_000;
            }
            sent.spawn(async move {
                let (start, called) = (Instant::now(), OffsetDateTime::now_utc());
                let measure = court.submit(request).await?.into_inner().measure;
                let id = measure.map(|m| m.measure_id).unwrap_or_default();
                Ok::<_, anyhow::Error>((id, start, called))
            });
        }
        let mut starts = HashMap::new();
        while let Some(done) = sent.join_next().await {
            let (id, start, called) = done??;
            starts.insert(id, (start, called));
        }
        tokio::time::timeout(Duration::from_secs(120), watching)
            .await
            .context("latency run did not finish")??;
        let ends = effective_at.lock().await;
        // Each freeze seen effective: its latency, and its two ends for the hops.
        let (mut samples, edges): (Vec<f64>, Vec<crate::hops::Ends>) = starts
            .iter()
            .filter_map(|(id, (start, called))| {
                let (end, seen) = ends.get(id)?;
                let ends = crate::hops::Ends {
                    measure_id: id.clone(),
                    called: *called,
                    seen: *seen,
                };
                Some(((*end - *start).as_secs_f64() * 1000.0, ends))
            })
            .unzip();
        samples.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        let keys: Vec<String> = (0..count)
            .map(|i| format!("lat-{}", first_account + i))
            .collect();
        Ok(Latency {
            hops: crate::hops::of(hub, &keys, &edges).await?,
            count: samples.len(),
            p50: pick(0.50),
            p95: pick(0.95),
            p99: pick(0.99),
            max: samples.last().copied().unwrap_or(f64::NAN),
        })
    }
}

pub struct Latency {
    /// Where the time went, hop by hop.
    pub hops: Vec<crate::hops::Hop>,
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// The case number of account `k`'s freeze in a throughput run, and of the latency runs' cases.
fn case_of(k: u32) -> String {
    fixtures::case_number(1_000 + k)
}

/// A freeze in a case of its own: courts freeze for many cases at once, each within its own
/// enforcement amount.
fn freeze_request(codes: &[String], k: u32, prefix: &str) -> pb::SubmitRequest {
    freeze_request_in(codes, k, prefix, &case_of(k))
}

fn freeze_request_in(codes: &[String], k: u32, prefix: &str, case: &str) -> pb::SubmitRequest {
    let bank = &codes[k as usize % codes.len()];
    Freeze::of(1_000_000)
        .at(bank, &fixtures::account_number(k))
        .held_by("张三", &fixtures::resident_id(k))
        .by("京0105")
        .case_number(case)
        .key(&format!("{prefix}-{k}"))
        .request()
}

/// Opens accounts `range`, account k at bank k mod banks, 16 at a time.
async fn open_accounts(
    hub: &TestHub,
    codes: &[String],
    range: std::ops::Range<u32>,
) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    for code in codes {
        clients.push(hub.bank_admin(code).await?);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for k in range {
        let mut admin = clients[k as usize % clients.len()].clone();
        tasks.spawn(async move {
            admin
                .open_account(enforcement_proto::reference::OpenAccountRequest {
                    bank_code: String::new(),
                    account_number: fixtures::account_number(k),
                    holder_name: "张三".into(),
                    holder_id: fixtures::resident_id(k),
                    balance_fen: 5_000_000,
                })
                .await
        });
        if tasks.len() >= 16
            && let Some(done) = tasks.join_next().await
        {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
