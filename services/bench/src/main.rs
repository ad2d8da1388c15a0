//! Throughput and latency of the hub, against the broker's own ceiling, measured in one run.
//!
//! (a) The broker ceiling: confirmed publishes and acknowledged consumes per second through one
//!     quorum queue, with the payload of a real freeze instruction.
//! (b) End-to-end freezes per second, Submit to final outcome, with many concurrent submitters,
//!     through a whole in-process hub (gateway, banks, adapters) on the real broker and database.
//! (c) Latency (p50, p95, p99) at half of (b), open loop, observed on a court's watch stream.
//! (d) The audit chain's cost: (b) with the chain on and off.
//! (e) CPU microseconds per freeze of each process in (b): the gateway and the adapters (each a
//!     process of its own), the banks with the bench's own clients (this process), PostgreSQL
//!     and RabbitMQ.
//! (f) An inquiry of 1,000 connected banks, first answer to last.
//!
//! A measure crosses the broker twice (instruction, outcome), so the fair comparison for (b) is
//! half the ceiling; the run prints that ratio, and each target as a ratio to what it asks.
//!
//! `--soak N` instead runs N freezes through one hub and prints, per 10,000, the throughput,
//! the p99 latency of a probe at half the first block's rate, and the gateway's memory.
//!
//! `cargo run --release -p hub-bench -- --help`

mod cpu;
mod history;
mod hops;
mod inquiry;
mod soak;
mod stack;

use std::time::{Duration, Instant};

use clap::Parser;
use enforcement_proto::v1 as pb;
use hub_bus::{MessageMeta, Publisher};
use hub_testkit::{
    Sandbox,
    fixtures::{self, Freeze},
};
use lapin::{
    options::{BasicAckOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};
use prost::Message;
use tokio_stream::StreamExt;

/// Measures the hub against the broker it runs on.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Messages through the raw quorum queue.
    #[arg(long, default_value_t = 20_000)]
    messages: u32,
    /// Freezes for each end-to-end throughput run, warm-up excluded.
    #[arg(long, default_value_t = 30_000)]
    freezes: u32,
    /// Freezes through the hub before a throughput run's clock starts.
    #[arg(long, default_value_t = 2_000)]
    warmup: u32,
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
    #[arg(long, default_value_t = 1)]
    chain_runs: u32,
    /// Banks of the inquiry run, one adapter for all (0: no inquiry run).
    #[arg(long, default_value_t = 1_000)]
    inquiry_banks: u32,
    /// Finished measures recorded before a second pair of throughput and latency runs, against
    /// the same pair on empty tables, both with the audit chain off (0: no such runs).
    #[arg(long, default_value_t = 0)]
    history: u32,
    /// Instead of the runs above: this many freezes through one hub, with figures per 10,000.
    #[arg(long)]
    soak: Option<u32>,
    /// Runs the gateway and the adapters in the benchmark's process instead of as processes of
    /// their own (the CPU figures then count them with the banks and clients).
    #[arg(long)]
    in_process: bool,
    /// Seconds of each soak block's latency probe.
    #[arg(long, default_value_t = 3)]
    probe_seconds: u32,
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

/// What the issue asks of the hub, each printed as a ratio to what was measured.
const TARGET_RATIO_TO_HALF_CEILING: f64 = 0.35;
const TARGET_P99_MS: f64 = 50.0;
const TARGET_INQUIRY_SPREAD_S: f64 = 2.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Passive declarations of queues not yet there are refused by the broker on purpose, and
    // lapin logs each refusal as an error; sqlx warns of the history's bulk statements as slow:
    // both kept out of the figures.
    hub_testkit::logs::init_with("warn,lapin=off,sqlx::query=error");
    if let Some(n) = args.soak {
        return soak::soak(&args, n).await;
    }
    let ceiling = broker_ceiling(&args).await?;
    eprintln!(
        "broker ceiling: {:.0} msg/s; running the hub",
        ceiling.through
    );
    let mut stack = stack::Stack::start(&args, true).await?;
    let autovacuum = stack.autovacuum().await?;
    let processes = stack.processes();
    let before = processes.sample();
    let throughput = stack.throughput(&args, "tp").await?;
    let spent = processes.since(&before);
    eprintln!("throughput run done: {throughput:.0} freezes/s; measuring latency");
    let rate = args.latency_rate.unwrap_or(throughput / 2.0);
    let latency = stack.latency_at(rate, args.latency_seconds).await?;
    stack.shutdown().await?;
    // The audit chain's cost: the same throughput run with the chain on and off, alternately,
    // so that the machine's drift falls on both.
    let (mut with_chain, mut without) = (Vec::new(), Vec::new());
    for run in 0..args.chain_runs {
        for chain in [run % 2 == 0, run % 2 != 0] {
            let mut stack = stack::Stack::start(&args, chain).await?;
            let rate = stack.throughput(&args, "tp").await?;
            stack.shutdown().await?;
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
    let flatness = if args.history > 0 {
        eprintln!(
            "runs on empty tables and on {} finished measures",
            args.history
        );
        Some(history::compare(&args, args.history, rate).await?)
    } else {
        None
    };
    let inquiries = if args.inquiry_banks > 0 {
        eprintln!("inquiry of {} banks", args.inquiry_banks);
        inquiry::inquiry_spread(&args).await?
    } else {
        Vec::new()
    };

    let fair = ceiling.through / 2.0;
    println!();
    println!("== hub benchmark ==");
    let from_env = std::env::var("HUB_TEST_AMQP_URL").ok();
    let nodes = args
        .amqp_url
        .as_deref()
        .or(from_env.as_deref())
        .map_or(1, |u| u.split(',').count());
    println!("broker: {nodes} RabbitMQ node(s); PostgreSQL autovacuum {autovacuum}");
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
        "(b) end to end, Submit → EFFECTIVE, {} freezes after {} of warm-up, {} submitters, {} banks:",
        args.freezes, args.warmup, args.concurrency, args.banks
    );
    println!("      {throughput:>9.0} freezes/s");
    let ratio = throughput / fair;
    println!(
        "      ratio to half the broker ceiling (two hops a measure): {ratio:.3}; target ≥ {TARGET_RATIO_TO_HALF_CEILING}: {:.2} of it",
        ratio / TARGET_RATIO_TO_HALF_CEILING
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
    println!(
        "      p99 against the target of ≤ {TARGET_P99_MS} ms: {:.2} × the target",
        latency.p99 / TARGET_P99_MS
    );
    for hop in &latency.hops {
        println!(
            "      {:<56} p50 {:>7.1} ms   p99 {:>7.1} ms",
            hop.name, hop.p50, hop.p99
        );
    }
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
    println!("(e) CPU per freeze in (b), µs, and each process's share of the machine's busy time:");
    spent.print(args.freezes);
    if let Some(flatness) = &flatness {
        flatness.print(args.freezes);
    }
    if !inquiries.is_empty() {
        println!(
            "(f) inquiry of {} connected banks, one adapter, queues already declared:",
            args.inquiry_banks
        );
        for (i, inquiry) in inquiries.iter().enumerate() {
            println!(
                "      run {}: {} answers; Inquire → first answer {:>6.0} ms, first → last {:>6.0} ms ({:.2} × the target of ≤ {TARGET_INQUIRY_SPREAD_S} s)",
                i + 1,
                inquiry.answers,
                inquiry.to_first * 1000.0,
                inquiry.spread * 1000.0,
                inquiry.spread / TARGET_INQUIRY_SPREAD_S
            );
        }
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
