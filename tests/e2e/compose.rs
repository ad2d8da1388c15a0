//! `docker-compose.yml` cannot be started here (no Docker engine), so it is checked statically:
//! every service is healthy-checked and waits for what it needs, runs a binary the image builds,
//! sets only settings that binary reads, and is wired to the right peer.

use std::{collections::BTreeMap, path::PathBuf};

use clap::CommandFactory;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A service of the compose file, after `<<` merge keys are applied.
#[derive(Debug, Default)]
struct Service {
    command: Vec<String>,
    environment: BTreeMap<String, String>,
    depends_on: BTreeMap<String, String>,
    healthcheck: Vec<String>,
    profiles: Vec<String>,
    volumes: Vec<String>,
    has_build_or_image: bool,
}

/// Applies YAML merge keys (`<<: *anchor`), which compose supports and YAML 1.2 leaves alone.
fn merged(node: &Yaml) -> BTreeMap<String, Yaml> {
    let mut out = BTreeMap::new();
    if let Yaml::Hash(hash) = node {
        if let Some(base) = hash.get(&Yaml::String("<<".into())) {
            out.extend(merged(base));
        }
        for (k, v) in hash {
            if let Some(k) = k.as_str()
                && k != "<<"
            {
                out.insert(k.to_string(), v.clone());
            }
        }
    }
    out
}

fn strings(node: Option<&Yaml>) -> Vec<String> {
    match node {
        Some(Yaml::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(Yaml::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn scalar(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

fn services() -> anyhow::Result<BTreeMap<String, Service>> {
    let text = std::fs::read_to_string(root().join("docker-compose.yml"))?;
    let docs = YamlLoader::load_from_str(&text)?;
    let doc = docs
        .first()
        .ok_or_else(|| anyhow::anyhow!("empty compose file"))?;
    let mut out = BTreeMap::new();
    for (name, node) in merged(&merged(doc).remove("services").unwrap_or(Yaml::Null)) {
        let fields = merged(&node);
        let environment = merged(fields.get("environment").unwrap_or(&Yaml::Null))
            .into_iter()
            .map(|(k, v)| (k, scalar(&v)))
            .collect();
        let depends_on = merged(fields.get("depends_on").unwrap_or(&Yaml::Null))
            .into_iter()
            .map(|(k, v)| {
                let condition = merged(&v).get("condition").map(scalar).unwrap_or_default();
                (k, condition)
            })
            .collect();
        let healthcheck =
            strings(merged(fields.get("healthcheck").unwrap_or(&Yaml::Null)).get("test"));
        out.insert(
            name,
            Service {
                command: strings(fields.get("command")),
                environment,
                depends_on,
                healthcheck,
                profiles: strings(fields.get("profiles")),
                volumes: strings(fields.get("volumes")),
                has_build_or_image: fields.contains_key("image") || fields.contains_key("build"),
            },
        );
    }
    Ok(out)
}

/// The environment variables a binary's configuration reads.
fn env_vars(command: clap::Command) -> Vec<String> {
    let mut vars: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env().and_then(|e| e.to_str()).map(str::to_string))
        .collect();
    for sub in command.get_subcommands() {
        vars.extend(env_vars(sub.clone()));
    }
    vars.push("RUST_LOG".into());
    vars
}

#[derive(clap::Parser)]
struct GatewayCli {
    #[command(flatten)]
    config: hub_gateway::Config,
}

#[derive(clap::Parser)]
struct AdapterCli {
    #[command(flatten)]
    config: hub_adapter::Config,
}

#[derive(clap::Parser)]
struct BankCli {
    #[command(flatten)]
    config: hub_agencies::bank::BankConfig,
}

#[derive(clap::Parser)]
struct LandCli {
    #[command(flatten)]
    config: hub_agencies::land::LandConfig,
}

#[derive(clap::Parser)]
struct PoliceCli {
    #[command(flatten)]
    config: hub_agencies::police::PoliceConfig,
}

/// The settings prefix of an agency kind's reference system.
fn prefix(kind: &str) -> &'static str {
    match kind {
        "bank" => "BANK",
        "land" => "LAND",
        _ => "POLICE",
    }
}

fn port(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or_default()
}

#[test]
fn the_compose_file_describes_the_stack_the_binaries_can_run() -> anyhow::Result<()> {
    let services = services()?;
    for infra in ["rabbitmq", "postgres"] {
        let s = services
            .get(infra)
            .ok_or_else(|| anyhow::anyhow!("no {infra} service"))?;
        assert!(!s.healthcheck.is_empty(), "{infra} needs a health check");
    }
    let rabbit = services["rabbitmq"].command.join(" ");
    for plugin in [
        "rabbitmq_management",
        "rabbitmq_consistent_hash_exchange",
        "rabbitmq_prometheus",
    ] {
        assert!(rabbit.contains(plugin), "RabbitMQ must enable {plugin}");
    }

    // The demo PKI is made once, before any hub service starts, in the volume they all mount.
    let pki = services
        .get("pki")
        .ok_or_else(|| anyhow::anyhow!("no pki service"))?;
    let making = pki.command.join(" ");
    assert!(making.contains("hubctl pki init --dir /pki"), "{making}");
    // The broker's TLS listener, with a certificate for `rabbitmq` from the same PKI.
    assert!(
        making.contains("hubctl pki issue --dir /pki --name broker --host rabbitmq"),
        "{making}"
    );
    let broker = &services["rabbitmq"];
    assert!(
        broker
            .volumes
            .iter()
            .any(|v| v == "./ops/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro")
            && broker.volumes.iter().any(|v| v == "pki:/pki:ro"),
        "{:?}",
        broker.volumes
    );
    assert_eq!(
        broker.depends_on.get("pki").map(String::as_str),
        Some("service_completed_successfully")
    );
    let conf = std::fs::read_to_string(root().join("ops/rabbitmq/rabbitmq.conf"))?;
    for line in [
        "listeners.ssl.default = 5671",
        "ssl_options.cacertfile = /pki/ca.pem",
        "ssl_options.certfile = /pki/broker.pem",
        "ssl_options.keyfile = /pki/broker.key",
    ] {
        assert!(
            conf.lines().any(|l| l.trim() == line),
            "rabbitmq.conf lacks {line:?}"
        );
    }

    let dockerfile = std::fs::read_to_string(root().join("Dockerfile"))?;
    let mut agencies = Vec::new();
    for (name, s) in &services {
        if name.starts_with("rabbitmq")
            || name == "postgres"
            || name == "prometheus"
            || name == "pki"
        {
            continue;
        }
        assert!(
            s.volumes.iter().any(|v| v == "pki:/pki:ro"),
            "{name} must mount the PKI read-only"
        );
        assert!(s.has_build_or_image, "{name}: no image");
        let binary = if s.profiles.is_empty() {
            s.command.first().cloned().unwrap_or_default()
        } else {
            "hubctl".to_string()
        };
        assert!(
            dockerfile.contains(&format!("target/release/{binary}")),
            "{name}: the image does not build {binary:?}"
        );
        if !s.profiles.is_empty() {
            continue; // tools, run on demand
        }
        assert_eq!(
            s.healthcheck.get(1..6).map(|h| h.join(" ")),
            Some("hubctl --pki /pki health --url".to_string()),
            "{name}: health check, with the demo PKI's operator certificate"
        );
        for infra in ["rabbitmq", "postgres"] {
            assert_eq!(
                s.depends_on.get(infra).map(String::as_str),
                Some("service_healthy"),
                "{name} must wait for a healthy {infra}"
            );
        }
        assert_eq!(
            s.depends_on.get("pki").map(String::as_str),
            Some("service_completed_successfully"),
            "{name} must wait for the PKI"
        );
        // Every service serves mutual TLS with a certificate the pki service issues.
        let cert = s
            .environment
            .iter()
            .find(|(k, _)| k.ends_with("_TLS_CERT"))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| anyhow::anyhow!("{name}: no TLS certificate"))?;
        let issued = cert
            .strip_prefix("/pki/")
            .and_then(|c| c.strip_suffix(".pem"))
            .unwrap_or_default();
        // The agencies' certificates are issued in a loop over `<kind>-<code>`.
        let issues = match issued.split_once('-') {
            _ if issued == "gateway" => making.contains("--gateway-server"),
            Some(("system" | "adapter", agency)) => {
                making.contains("--system") && making.contains(&agency.replacen('.', "-", 1))
            }
            _ => false,
        };
        assert!(issues, "{name}: the pki service does not issue {cert}");
        let known = match binary.as_str() {
            "gateway" => env_vars(GatewayCli::command()),
            "adapter" => env_vars(AdapterCli::command()),
            "agency" => {
                let kind = s.command.get(1).cloned().unwrap_or_default();
                agencies.push((name.clone(), kind.clone()));
                match kind.as_str() {
                    "bank" => env_vars(BankCli::command()),
                    "land" => env_vars(LandCli::command()),
                    "police" => env_vars(PoliceCli::command()),
                    other => panic!("{name}: unknown agency kind {other}"),
                }
            }
            other => panic!("{name}: unknown binary {other}"),
        };
        for key in s.environment.keys() {
            assert!(known.contains(key), "{name}: {binary} does not read {key}");
        }
        // The health check probes the port the service listens on.
        let listen = [
            "GATEWAY_LISTEN",
            "BANK_LISTEN",
            "LAND_LISTEN",
            "POLICE_LISTEN",
            "ADAPTER_INBOX_LISTEN",
        ]
        .iter()
        .find_map(|k| s.environment.get(*k))
        .ok_or_else(|| anyhow::anyhow!("{name}: no listen address"))?;
        assert!(
            s.healthcheck
                .last()
                .is_some_and(|url| url.ends_with(&format!(":{}", port(listen)))),
            "{name}: health check on the wrong port"
        );
    }

    // Each agency system and its adapter point at each other; its demo data is in the image.
    let runner = std::fs::read_to_string(root().join("scripts/run"))?;
    let mut bank_codes = Vec::new();
    for (name, kind) in &agencies {
        let p = prefix(kind);
        let system = &services[name];
        let adapter_name = format!("adapter-{name}");
        let a = services
            .get(&adapter_name)
            .ok_or_else(|| anyhow::anyhow!("{name} has no {adapter_name}"))?;
        let codes = &system.environment[&format!("{p}_CODES")];
        assert_eq!(
            &a.environment["ADAPTER_AGENCY_CODES"], codes,
            "{adapter_name}"
        );
        // Agencies reach the broker over TLS, trusting the hub CA that issued its certificate.
        let amqp = &a.environment["ADAPTER_AMQP_URL"];
        assert!(
            amqp.starts_with("amqps://") && amqp.contains("@rabbitmq:5671/"),
            "{adapter_name}: {amqp}"
        );
        assert!(
            amqp.ends_with("?cacertfile=/pki/ca.pem"),
            "{adapter_name}: {amqp}"
        );
        assert_eq!(
            &a.environment["ADAPTER_AGENCY_KIND"], kind,
            "{adapter_name}"
        );
        let system_port = port(&system.environment[&format!("{p}_LISTEN")]);
        let inbox_port = port(&a.environment["ADAPTER_INBOX_LISTEN"]);
        assert_eq!(
            a.environment["ADAPTER_AGENCY_URL"],
            format!("https://{name}:{system_port}")
        );
        assert_eq!(
            system.environment[&format!("{p}_INBOX_URL")],
            format!("https://{adapter_name}:{inbox_port}")
        );
        assert_eq!(
            a.depends_on.get(name).map(String::as_str),
            Some("service_healthy"),
            "{adapter_name} must wait for {name}"
        );
        let fixture = system.environment[&format!("{p}_FIXTURE")]
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(
            root()
                .join("services/agencies/fixtures")
                .join(&fixture)
                .exists(),
            "{name}: fixture {fixture} missing"
        );
        // The native runner starts the same agency on the same ports.
        let entry = format!("\"{kind}:{codes}:{system_port}:{inbox_port}\"");
        assert!(
            runner.contains(&entry),
            "scripts/run does not start {entry}"
        );
        if kind == "bank" {
            bank_codes.extend(codes.split(',').map(str::to_string));
        }
    }
    for kind in ["bank", "land", "police"] {
        assert!(
            agencies.iter().any(|(_, k)| k == kind),
            "no {kind} in the stack"
        );
    }
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root().join("services/agencies/fixtures/demo-banks.json"),
    )?)?;
    let mut fixture_banks: Vec<String> = fixture["banks"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    fixture_banks.sort();
    bank_codes.sort();
    assert_eq!(
        bank_codes, fixture_banks,
        "every demo bank of the fixture runs"
    );
    Ok(())
}

#[test]
fn the_cluster_profile_runs_three_rabbitmq_nodes_of_one_cluster() -> anyhow::Result<()> {
    let services = services()?;
    let single = &services["rabbitmq"];
    let nodes: Vec<String> = (1..=3).map(|n| format!("rabbitmq-{n}")).collect();
    let conf = std::fs::read_to_string(root().join("deploy/rabbitmq-cluster.conf"))?;
    let advanced = std::fs::read_to_string(root().join("deploy/rabbitmq-cluster.advanced.config"))?;
    let cookie = services
        .get(&nodes[0])
        .and_then(|s| s.environment.get("RABBITMQ_ERLANG_COOKIE"))
        .cloned()
        .unwrap_or_default();
    assert!(
        !cookie.is_empty(),
        "the cluster's nodes need an Erlang cookie"
    );
    for name in &nodes {
        let node = services
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("no {name} service"))?;
        assert_eq!(node.profiles, vec!["cluster"], "{name}: profile");
        assert_eq!(
            node.environment.get("RABBITMQ_ERLANG_COOKIE"),
            Some(&cookie),
            "{name}: every node shares one cookie"
        );
        // The same plugins as the single node, the same configuration files.
        assert_eq!(node.command, single.command, "{name}: command");
        assert!(!node.healthcheck.is_empty(), "{name}: health check");
        for file in [
            "./deploy/rabbitmq-cluster.conf:",
            "./deploy/rabbitmq-cluster.advanced.config:",
        ] {
            assert!(
                node.volumes.iter().any(|v| v.starts_with(file)),
                "{name}: does not mount {file}"
            );
        }
        assert!(
            conf.contains(&format!("= rabbit@{name}")),
            "the cluster configuration does not name {name}"
        );
    }
    assert!(conf.contains("cluster_partition_handling = pause_minority"));
    assert!(
        advanced.contains("{quorum_cluster_size, 3}"),
        "quorum queues on all three nodes"
    );
    Ok(())
}

#[test]
fn compose_prometheus_scrapes_every_hub_service_and_evaluates_the_alert_rules() -> anyhow::Result<()>
{
    let services = services()?;
    let prometheus = services
        .get("prometheus")
        .ok_or_else(|| anyhow::anyhow!("no prometheus service"))?;
    assert!(
        !prometheus.healthcheck.is_empty(),
        "prometheus needs a health check"
    );
    for (file, mounted) in [
        ("ops/prometheus.yml", "/etc/prometheus/prometheus.yml"),
        ("ops/alerts.yml", "/etc/prometheus/alerts.yml"),
    ] {
        assert!(root().join(file).exists(), "{file} missing");
        assert!(
            prometheus
                .volumes
                .iter()
                .any(|v| v.starts_with(&format!("./{file}:{mounted}"))),
            "prometheus does not mount {file} at {mounted}"
        );
    }
    let text = std::fs::read_to_string(root().join("ops/prometheus.yml"))?;
    let config = YamlLoader::load_from_str(&text)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("empty ops/prometheus.yml"))?;
    assert_eq!(strings(Some(&config["rule_files"])), ["alerts.yml"]);
    let mut targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in config["scrape_configs"].as_vec().into_iter().flatten() {
        let name = job["job_name"].as_str().unwrap_or_default().to_string();
        for group in job["static_configs"].as_vec().into_iter().flatten() {
            targets
                .entry(name.clone())
                .or_default()
                .extend(strings(Some(&group["targets"])));
        }
    }
    // Every hub service with an HTTP port is scraped there, under its job.
    for (name, s) in &services {
        let (job, key) = match s.command.first().map(String::as_str) {
            Some("gateway") => ("hub-gateway", "GATEWAY_HTTP_LISTEN"),
            Some("adapter") => ("hub-adapter", "ADAPTER_HTTP_LISTEN"),
            _ => continue,
        };
        let listen = s
            .environment
            .get(key)
            .ok_or_else(|| anyhow::anyhow!("{name}: no {key}, so no /metrics"))?;
        let target = format!("{name}:{}", port(listen));
        assert!(
            targets.get(job).is_some_and(|t| t.contains(&target)),
            "{job} does not scrape {target}"
        );
    }
    assert!(
        targets
            .get("rabbitmq-queues")
            .is_some_and(|t| t.contains(&"rabbitmq:15692".to_string())),
        "RabbitMQ's queues are not scraped"
    );
    Ok(())
}
