//! The alert rules operators get (`ops/alerts.yml`): valid and unit-tested by promtool, and
//! firing in a real Prometheus that scrapes a running test hub when an adapter stops.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use hub_testkit::{ChildProcess, TestHub, eventually, queue_metrics_path, rabbitmq_prometheus};

/// The ports a test Prometheus may listen on (the first free one is taken).
const PROMETHEUS_PORTS: std::ops::RangeInclusive<u16> = 22090..=22099;

fn ops_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

/// A Prometheus tool: `HUB_TEST_<NAME>` if set, else found on the PATH (scripts/services.sh
/// installs Debian's `prometheus` package).
fn tool(name: &str) -> PathBuf {
    std::env::var_os(format!("HUB_TEST_{}", name.to_uppercase()))
        .map_or_else(|| PathBuf::from(name), PathBuf::from)
}

async fn promtool(args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(tool("promtool"))
        .args(args)
        .current_dir(ops_dir())
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("running promtool (scripts/services.sh installs it): {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(out.status.success(), "promtool {args:?} failed:\n{text}");
    Ok(text)
}

#[tokio::test]
async fn the_shipped_alert_rules_and_prometheus_config_are_valid_and_pass_their_unit_tests()
-> anyhow::Result<()> {
    let checked = promtool(&["check", "rules", "alerts.yml"]).await?;
    assert!(checked.contains("SUCCESS: 7 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "alerts.test.yml"]).await?;
    assert!(tested.contains("SUCCESS"), "{tested}");
    // The compose stack's configuration, with the rules it loads.
    let config = promtool(&["check", "config", "prometheus.yml"]).await?;
    assert!(config.contains("SUCCESS: 1 rule files found"), "{config}");
    Ok(())
}

/// The shipped rules with every `for` window shortened to `window`, so a test need not wait
/// minutes; the expressions are the shipped ones.
fn with_short_windows(rules: &str, window: &str) -> String {
    rules
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for:") {
            Some(_) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}for: {window}")
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Prometheus process scraping a test hub, with its files in a directory of its own.
struct Prometheus {
    process: ChildProcess,
    dir: PathBuf,
    url: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus with `config` and `rules` on the first free port of
    /// [`PROMETHEUS_PORTS`] and waits until it is ready.
    async fn start(config: &str, rules: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("hub-prometheus-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::write(dir.join("prometheus.yml"), config)?;
        std::fs::write(dir.join("alerts.yml"), rules)?;
        let port = PROMETHEUS_PORTS
            .clone()
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .ok_or_else(|| anyhow::anyhow!("no free port in {PROMETHEUS_PORTS:?}"))?;
        let arg = |flag: &str, path: &Path| format!("--{flag}={}", path.display());
        let args = [
            arg("config.file", &dir.join("prometheus.yml")),
            arg("storage.tsdb.path", &dir.join("data")),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = ChildProcess::spawn("prometheus", &tool("prometheus"), &args, &[], None)
            .await
            .map_err(|e| {
                anyhow::anyhow!("starting prometheus (scripts/services.sh installs it): {e:#}")
            })?;
        let prometheus = Self {
            process,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let ready = format!("{}/-/ready", prometheus.url);
        eventually("Prometheus ready", Duration::from_secs(30), || async {
            Ok(match prometheus.http.get(&ready).send().await {
                Ok(r) if r.status().is_success() => Some(()),
                _ => None,
            })
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}; log:\n{}", prometheus.process.log_tail()))?;
        Ok(prometheus)
    }

    /// The alerts in `state` (`pending`, `firing`) named `name`, by their `queue` label.
    async fn alerts(&self, name: &str, state: &str) -> anyhow::Result<Vec<String>> {
        let body: serde_json::Value = self
            .http
            .get(format!("{}/api/v1/alerts", self.url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let alerts = body["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(alerts
            .iter()
            .filter(|a| a["labels"]["alertname"] == name && a["state"] == state)
            .map(|a| {
                a["labels"]["queue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect())
    }

    /// The value of an instant query's first result, if any.
    async fn query(&self, expr: &str) -> anyhow::Result<Option<f64>> {
        let body: serde_json::Value = self
            .http
            .get(format!("{}/api/v1/query?query={}", self.url, encode(expr)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok()))
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.process.terminate().await;
        std::fs::remove_dir_all(&self.dir)?;
        Ok(())
    }
}

/// `s` percent-encoded for a URL's query.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Scrape configuration for the test hub: its gateway, its adapters and the queues of its
/// vhost, every second.
fn scrape_config(hub: &TestHub, adapters: &[std::net::SocketAddr]) -> anyhow::Result<String> {
    let gateway = hub
        .gateway_http_addr()
        .ok_or_else(|| anyhow::anyhow!("no gateway HTTP address"))?;
    let rabbit = rabbitmq_prometheus();
    let rabbit = rabbit
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("RabbitMQ Prometheus URL must be http://: {rabbit}"))?;
    // The path and its query go in separately: Prometheus takes `params` for the query.
    let path = queue_metrics_path(hub.sandbox().vhost());
    let (path, _) = path.split_once('?').unwrap_or((path.as_str(), ""));
    let adapters = adapters
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(format!(
        "global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: hub-gateway
    static_configs:
      - targets: ['{gateway}']
  - job_name: hub-adapter
    static_configs:
      - targets: [{adapters}]
  - job_name: rabbitmq-queues
    metrics_path: {path}
    params:
      vhost: ['{vhost}']
      family: [queue_coarse_metrics, queue_consumer_count]
    static_configs:
      - targets: ['{rabbit}']
",
        vhost = hub.sandbox().vhost(),
    ))
}

#[tokio::test]
async fn prometheus_fires_no_consumer_when_an_adapter_stops() -> anyhow::Result<()> {
    let mut hub = TestHub::with_banks(&["ICBC", "CCB"]).await?;
    let adapters = [
        hub.bank("ICBC")?.adapter_http_addr(),
        hub.bank("CCB")?.adapter_http_addr(),
    ]
    .into_iter()
    .collect::<Option<Vec<_>>>()
    .ok_or_else(|| anyhow::anyhow!("adapters without HTTP"))?;
    let rules = with_short_windows(
        &std::fs::read_to_string(ops_dir().join("alerts.yml"))?,
        "3s",
    );
    let prometheus = Prometheus::start(&scrape_config(&hub, &adapters)?, &rules).await?;

    // Everything scraped, both agency queues consumed, nothing alerting.
    eventually("every target up", Duration::from_secs(30), || async {
        let up = prometheus.query("sum(up)").await?;
        let consumers = prometheus
            .query(r#"sum(rabbitmq_detailed_queue_consumers{queue=~"agency\\..+"})"#)
            .await?;
        Ok((up == Some(4.0) && consumers == Some(2.0)).then_some(()))
    })
    .await?;
    let name = "HubAgencyQueueNoConsumer";
    assert!(prometheus.alerts(name, "firing").await?.is_empty());
    assert!(prometheus.alerts(name, "pending").await?.is_empty());

    hub.stop_adapter("CCB").await?;
    let stopped = Instant::now();
    let firing = eventually(
        "the no-consumer alert firing",
        Duration::from_secs(45),
        || async {
            let firing = prometheus.alerts(name, "firing").await?;
            Ok((!firing.is_empty()).then_some(firing))
        },
    )
    .await?;
    let took = stopped.elapsed();
    assert_eq!(firing, ["agency.bank.CCB"]);
    // RabbitMQ refreshes queue statistics every 5 s; then the 3 s window of the test rules.
    assert!(
        took >= Duration::from_secs(3),
        "fired before its window: {took:?}"
    );
    eprintln!("no-consumer alert fired {took:?} after the adapter stopped");

    // The adapter returns: the alert resolves.
    hub.start_adapter("CCB").await?;
    eventually("the alert resolved", Duration::from_secs(30), || async {
        Ok(prometheus
            .alerts(name, "firing")
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;
    prometheus.stop().await?;
    hub.shutdown().await
}
