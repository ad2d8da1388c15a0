//! `--soak N`: whether the hub stays flat as its tables grow.

use crate::{Args, cpu, stack::Stack};

/// Measures per block of the soak.
const SOAK_BLOCK: u32 = 10_000;

/// `--soak N`: N freezes through one hub in blocks of 10,000, each followed by a short latency
/// probe at half the first block's rate; prints per block the throughput, the probe's p99 and
/// the gateway's resident memory, and the last block against the first.
pub async fn soak(args: &Args, n: u32) -> anyhow::Result<()> {
    let mut stack = Stack::start(args, true).await?;
    let gateway = stack.hub.gateway_pid().unwrap_or_else(std::process::id);
    let warmup = stack.run(args, args.warmup, "warm").await?;
    eprintln!("warm-up: {warmup:.0} freezes/s");
    println!(
        "== hub soak: {n} freezes, {} submitters, {} banks; PostgreSQL autovacuum {} ==",
        args.concurrency,
        args.banks,
        stack.autovacuum().await?
    );
    println!("      measures   freezes/s   probe rate   probe p99   gateway RSS");
    let (mut first, mut last) = (None, None);
    let mut done = 0;
    while done < n {
        let size = SOAK_BLOCK.min(n - done);
        let rate = stack.run(args, size, "soak").await?;
        done += size;
        let probe_rate = first.map_or(rate / 2.0, |(r, _, _): (f64, f64, f64)| r / 2.0);
        let probe = stack.latency_at(probe_rate, args.probe_seconds).await?;
        let rss = cpu::rss_mib(gateway).unwrap_or(f64::NAN);
        println!(
            "      {done:>8}   {rate:>9.0}   {probe_rate:>8.0}/s   {:>6.1} ms   {rss:>7.1} MiB",
            probe.p99
        );
        let figures = (rate, probe.p99, rss);
        first.get_or_insert(figures);
        last = Some(figures);
    }
    stack.shutdown().await?;
    if let (Some(first), Some(last)) = (first, last) {
        println!(
            "      last block against the first: throughput {:.3}, p99 {:.3}, gateway RSS {:.3} (targets: within 10 %)",
            last.0 / first.0,
            last.1 / first.1,
            last.2 / first.2
        );
    }
    Ok(())
}
