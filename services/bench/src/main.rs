//! Throughput and latency of the hub, against the broker's own ceiling, measured in one run.
//!
//! (a) The broker ceiling: confirmed publishes and acknowledged consumes per second through one
//!     quorum queue, with the payload of a real freeze instruction.
//! (b) End-to-end freezes per second, Submit to final outcome, with many concurrent submitters,
//!     through a whole in-process hub (gateway, banks, adapters) on the real broker and database.
//! (c) Latency (p50, p95, p99) at half of (b), open loop, observed on a court's watch stream.
//!
//! A measure crosses the broker twice (instruction, outcome), so the fair comparison for (b) is
//! half the ceiling; the run prints that ratio.
//!
//! `cargo run --release -p hub-bench -- --help`

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use enforcement_proto::v1 as pb;
use hub_bus::{MessageMeta, Publisher};
use hub_testkit::{
    Sandbox, TestHub,
    fixtures::{self, Freeze},
};
use lapin::{
    options::{BasicAckOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};
use prost::Message;
use tokio::sync::Mutex;
use tokio_stream::StreamExt;

/// Measures the hub against the broker it runs on.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Messages through the raw quorum queue.
    #[arg(long, default_value_t = 20_000)]
    messages: u32,
    /// Freezes for the end-to-end throughput run.
    #[arg(long, default_value_t = 4_000)]
    freezes: u32,
    /// Concurrent submitters in the throughput run.
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Banks (each with its adapter) in the hub.
    #[arg(long, default_value_t = 4)]
    banks: u32,
    /// Seconds of open-loop load in the latency run.
    #[arg(long, default_value_t = 10)]
    latency_seconds: u32,
    /// Rate of the latency run in freezes per second [default: half the measured throughput].
    #[arg(long)]
    latency_rate: Option<f64>,
    /// Throughput runs each with the audit chain on and off, alternately, for its cost (0: none);
    /// the runs vary by a tenth from one to the next on a shared machine, so take several.
    #[arg(long, default_value_t = 4)]
    chain_runs: u32,
    /// The broker's AMQP URLs without vhost, one per node of a cluster, comma-separated
    /// (`scripts/cluster.sh urls`) [default: HUB_TEST_AMQP_URL or the machine's node].
    #[arg(long, requires = "rabbitmq_api")]
    amqp_url: Option<String>,
    /// The management API of each node, comma-separated, with `--amqp-url`.
    #[arg(long, requires = "amqp_url")]
    rabbitmq_api: Option<String>,
}

impl Args {
    /// The broker to run on, when given on the command line.
    fn broker(&self) -> Option<(&str, &str)> {
        Some((self.amqp_url.as_deref()?, self.rabbitmq_api.as_deref()?))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ceiling = broker_ceiling(&args).await?;
    eprintln!(
        "broker ceiling: {:.0} msg/s; running the hub",
        ceiling.through
    );
    let (throughput, hub, accounts_used) = end_to_end_throughput(&args, true).await?;
    eprintln!("throughput run done: {throughput:.0} freezes/s; measuring latency");
    let rate = args.latency_rate.unwrap_or(throughput / 2.0);
    let latency = latency_at(&hub, rate, args.latency_seconds, accounts_used).await?;
    hub.shutdown().await?;
    // The audit chain's cost: the same throughput run with the chain on and off, alternately,
    // so that the machine's drift falls on both.
    let (mut with_chain, mut without) = (Vec::new(), Vec::new());
    for run in 0..args.chain_runs {
        for chain in [run % 2 == 0, run % 2 != 0] {
            let (rate, hub, _) = end_to_end_throughput(&args, chain).await?;
            hub.shutdown().await?;
            eprintln!(
                "chain {}: {rate:.0} freezes/s",
                if chain { "on" } else { "off" }
            );
            if chain {
                with_chain.push(rate)
            } else {
                without.push(rate)
            }
        }
    }

    let fair = ceiling.through / 2.0;
    println!();
    println!("== hub benchmark ==");
    let from_env = std::env::var("HUB_TEST_AMQP_URL").ok();
    let nodes = args
        .amqp_url
        .as_deref()
        .or(from_env.as_deref())
        .map_or(1, |u| u.split(',').count());
    println!("broker: {nodes} RabbitMQ node(s)");
    println!(
        "(a) broker ceiling, one quorum queue, {} B payload, {} messages:",
        ceiling.payload, args.messages
    );
    println!(
        "      publish with confirms   {:>9.0} msg/s",
        ceiling.publish
    );
    println!(
        "      consume with acks       {:>9.0} msg/s",
        ceiling.consume
    );
    println!(
        "      through (both at once)  {:>9.0} msg/s",
        ceiling.through
    );
    println!(
        "(b) end to end, Submit → EFFECTIVE, {} freezes, {} submitters, {} banks:",
        args.freezes, args.concurrency, args.banks
    );
    println!("      {throughput:>9.0} freezes/s");
    println!(
        "      ratio to half the broker ceiling (two hops a measure): {:.2}",
        throughput / fair
    );
    println!(
        "(c) latency at {rate:.0} freezes/s{}, open loop, {} measures:",
        if args.latency_rate.is_none() {
            " (half of b)"
        } else {
            ""
        },
        latency.count
    );
    println!(
        "      p50 {:>7.1} ms   p95 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        latency.p50, latency.p95, latency.p99, latency.max
    );
    if !with_chain.is_empty() {
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (on, off) = (median(&mut with_chain), median(&mut without));
        println!(
            "(d) the audit chain's cost, {} runs each, median freezes/s (every gRPC hop over TLS):",
            with_chain.len()
        );
        println!("      chain on  {on:>9.0}   runs {with_chain:.0?}");
        println!("      chain off {off:>9.0}   runs {without:.0?}");
        println!(
            "      cost: {:.1} % of end-to-end throughput (target ≤ 10 %)",
            (1.0 - on / off) * 100.0
        );
    }
    Ok(())
}

struct Ceiling {
    payload: usize,
    publish: f64,
    consume: f64,
    through: f64,
}

/// A freeze instruction as the gateway publishes it.
fn sample_instruction() -> Vec<u8> {
    let request = Freeze::of(1_000_000)
        .at("ICBC", &fixtures::account_number(1))
        .held_by("张三", &fixtures::resident_id(1))
        .by("京0105")
        .case(1)
        .key("bench")
        .request();
    pb::Instruction {
        instruction_id: uuid::Uuid::now_v7().to_string(),
        measure_id: uuid::Uuid::now_v7().to_string(),
        court_code: request.court_code,
        case: request.case,
        subject: request.subject,
        agency: request.agency,
        issued_at: Some(enforcement_proto::convert::timestamp(
            time::OffsetDateTime::now_utc(),
        )),
        deadline: Some(enforcement_proto::convert::timestamp(
            time::OffsetDateTime::now_utc(),
        )),
        action: request.measure.map(|m| match m {
            pb::submit_request::Measure::Freeze(f) => pb::instruction::Action::Freeze(f),
            _ => pb::instruction::Action::Inquiry(pb::Inquiry::default()),
        }),
    }
    .encode_to_vec()
}

/// (a): publish `n` messages with confirms (a window of outstanding confirms, as the relay
/// does) while a manual-ack consumer drains the queue.
async fn broker_ceiling(args: &Args) -> anyhow::Result<Ceiling> {
    let n = args.messages;
    let mut sandbox = Sandbox::create_on(args.broker()).await?;
    let payload = sample_instruction();
    let connection = hub_bus::connect(&sandbox.amqp_url(), "bench").await?;
    let publisher = Publisher::open(&connection).await?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    publisher
        .channel()
        .queue_declare(
            "bench.ceiling".into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            args,
        )
        .await?;
    let consume_channel = connection.create_channel().await?;
    let mut consumer = hub_bus::consume(&consume_channel, "bench.ceiling", "bench", 256).await?;

    let started = Instant::now();
    let consuming = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            match consumer.next().await {
                Some(Ok(delivery)) => {
                    delivery.acker.ack(BasicAckOptions::default()).await?;
                    got += 1;
                }
                Some(Err(e)) => return Err(anyhow::Error::new(e)),
                None => break,
            }
        }
        Ok::<_, anyhow::Error>(started.elapsed())
    });
    let meta = MessageMeta {
        message_id: "bench".into(),
        kind: "enforcement.v1.Instruction".into(),
        ..MessageMeta::default()
    };
    let mut window = std::collections::VecDeque::new();
    for _ in 0..n {
        window.push_back(publisher.send("", "bench.ceiling", &payload, &meta).await?);
        if window.len() >= 256
            && let Some(oldest) = window.pop_front()
        {
            oldest.wait().await?;
        }
    }
    for pending in window {
        pending.wait().await?;
    }
    let published = started.elapsed();
    let consumed = consuming.await??;
    let _ = connection.close(200, "done".into()).await;
    sandbox.remove().await?;
    let rate = |d: Duration| f64::from(n) / d.as_secs_f64();
    Ok(Ceiling {
        payload: payload.len(),
        publish: rate(published),
        consume: rate(consumed),
        through: rate(published.max(consumed)),
    })
}

/// (b): `freezes` freezes by `concurrency` submitters on distinct accounts; returns freezes per
/// second from the first Submit to the last EFFECTIVE, and the hub for the latency run.
async fn end_to_end_throughput(args: &Args, chain: bool) -> anyhow::Result<(f64, TestHub, u32)> {
    let codes: Vec<String> = (0..args.banks.max(1)).map(|i| format!("B{i:03}")).collect();
    let code_refs: Vec<&str> = codes.iter().map(String::as_str).collect();
    let mut builder = TestHub::builder().banks(&code_refs).audit_chain(chain);
    if let Some((amqp, api)) = args.broker() {
        builder = builder.broker(amqp, api);
    }
    let hub = builder.start().await?;
    open_accounts(&hub, &codes, 0..args.freezes).await?;

    let next = Arc::new(Mutex::new(0u32));
    let started = Instant::now();
    let mut submitters = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let next = next.clone();
        let codes = codes.clone();
        let mut court = hub.court().await?;
        let total = args.freezes;
        submitters.spawn(async move {
            loop {
                let k = {
                    let mut n = next.lock().await;
                    if *n >= total {
                        return Ok::<_, anyhow::Error>(());
                    }
                    *n += 1;
                    *n - 1
                };
                court.submit(freeze_request(&codes, k, "tp")).await?;
            }
        });
    }
    while let Some(done) = submitters.join_next().await {
        done??;
    }
    wait_until_effective(&hub, i64::from(args.freezes)).await?;
    let elapsed = started.elapsed();
    Ok((
        f64::from(args.freezes) / elapsed.as_secs_f64(),
        hub,
        args.freezes,
    ))
}

/// Cases the latency run spreads its freezes over, each with a watch stream.
const LATENCY_CASES: u32 = 16;

/// (c): submits at `rate` per second for `seconds`, each on a fresh account, and times each
/// from its Submit to the EFFECTIVE event on the court's watch stream of the case.
async fn latency_at(
    hub: &TestHub,
    rate: f64,
    seconds: u32,
    first_account: u32,
) -> anyhow::Result<Latency> {
    let codes: Vec<String> = (0..hub_bank_count(hub))
        .map(|i| format!("B{i:03}"))
        .collect();
    let count = ((rate * f64::from(seconds)) as u32).clamp(1, 20_000);
    open_accounts(hub, &codes, first_account..first_account + count).await?;
    // Each freeze is in one of a few cases, each followed on its own case watch: a case's
    // freezes are checked one after another against its ledger, and no real case takes
    // thousands of freezes, so one case for all would time the case's lock, not the hub.
    let cases: Vec<String> = (0..LATENCY_CASES)
        .map(|c| fixtures::case_number(2 + c))
        .collect();
    let effective_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
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
                        .insert(m.measure_id, Instant::now());
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
        let mut request = freeze_request_in(&codes, first_account + i, "lat", case);
        if let Some(c) = request.case.as_mut() {
            // Every freeze of the case fits within its enforcement amount.
            c.enforcement_amount_fen = i64::from(count) * 1_000_000;
        }
        sent.spawn(async move {
            let start = Instant::now();
            let measure = court.submit(request).await?.into_inner().measure;
            Ok::<_, anyhow::Error>((measure.map(|m| m.measure_id).unwrap_or_default(), start))
        });
    }
    let mut starts = HashMap::new();
    while let Some(done) = sent.join_next().await {
        let (id, start) = done??;
        starts.insert(id, start);
    }
    tokio::time::timeout(Duration::from_secs(120), watching)
        .await
        .context("latency run did not finish")??;
    let ends = effective_at.lock().await;
    let mut samples: Vec<f64> = starts
        .iter()
        .filter_map(|(id, start)| {
            ends.get(id)
                .map(|end| (*end - *start).as_secs_f64() * 1000.0)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(Latency {
        count: samples.len(),
        p50: pick(0.50),
        p95: pick(0.95),
        p99: pick(0.99),
        max: samples.last().copied().unwrap_or(f64::NAN),
    })
}

struct Latency {
    count: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn hub_bank_count(hub: &TestHub) -> u32 {
    (0..)
        .take_while(|i| hub.bank(&format!("B{i:03}")).is_ok())
        .count() as u32
}

/// A freeze in a case of its own: courts freeze for many cases at once, each within its own
/// enforcement amount.
fn freeze_request(codes: &[String], k: u32, prefix: &str) -> pb::SubmitRequest {
    freeze_request_in(codes, k, prefix, &fixtures::case_number(1_000 + k))
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

/// Waits until `n` measures are effective, polling the gateway's table.
async fn wait_until_effective(hub: &TestHub, n: i64) -> anyhow::Result<()> {
    hub_testkit::eventually(
        "every freeze effective",
        Duration::from_secs(600),
        || async {
            let effective = hub.measures_in_state("effective").await?;
            Ok((effective >= n).then_some(()))
        },
    )
    .await
}
