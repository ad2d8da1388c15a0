//! A test's own vhost and schemas, removed afterwards.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Deserialize;
use sqlx::{PgPool, postgres::PgPoolOptions};

/// Prefix of every test vhost; the rest is `<unix seconds>-<random>`.
const VHOST_PREFIX: &str = "hub-test-";
/// Prefix of every test schema; the rest is `<unix seconds>_<random>_<name>`.
const SCHEMA_PREFIX: &str = "t";
/// Leftovers older than this are from runs that died; later runs remove them.
const STALE_AFTER: Duration = Duration::from_secs(30 * 60);

/// Settings for reaching the machine's services.
#[derive(Clone, Debug)]
struct Endpoints {
    database_url: String,
    amqp_url: String,
    /// The management API of each node, one or several.
    rabbitmq_api: Vec<String>,
    /// Which of them requests go to.
    api_node: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    rabbitmq_user: String,
    rabbitmq_password: String,
}

impl Endpoints {
    fn from_env() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        Self {
            database_url: var(
                "HUB_TEST_DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/postgres",
            ),
            amqp_url: var("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672"),
            rabbitmq_api: list(&var("HUB_TEST_RABBITMQ_API", "http://127.0.0.1:15672")),
            api_node: std::sync::Arc::default(),
            rabbitmq_user: var("HUB_TEST_RABBITMQ_USER", "guest"),
            rabbitmq_password: var("HUB_TEST_RABBITMQ_PASSWORD", "guest"),
        }
    }
}

/// The entries of a comma-separated list of URLs, without trailing slashes.
fn list(urls: &str) -> Vec<String> {
    urls.split(',')
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

/// Messages in a queue, as the management API reports them.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting to be delivered.
    #[serde(default)]
    pub messages_ready: u64,
    /// Delivered, not yet acknowledged.
    #[serde(default)]
    pub messages_unacknowledged: u64,
}

/// The nodes of a quorum queue, as the management API reports them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct QueueNodes {
    /// The node of the queue's leader (`hub1@localhost`); none while it elects one.
    #[serde(default)]
    pub leader: Option<String>,
    /// Every node holding a replica.
    #[serde(default)]
    pub members: Vec<String>,
    /// Consumers registered (with a single active consumer, one active and the rest waiting).
    #[serde(default)]
    pub consumers: u64,
}

/// A test's own RabbitMQ vhost and PostgreSQL schemas.
pub struct Sandbox {
    endpoints: Endpoints,
    http: reqwest::Client,
    vhost: String,
    prefix: String,
    pool: PgPool,
    schemas: std::sync::Mutex<Vec<String>>,
    /// Whether the vhost was created (not for a [`Sandbox::database_only`]).
    broker: bool,
    removed: bool,
}

impl Sandbox {
    /// Creates the vhost (with permissions for the test user) and connects to the database.
    /// Also removes what dead runs left behind.
    pub async fn create() -> anyhow::Result<Self> {
        Self::create_on(None).await
    }

    /// [`Sandbox::create`] on the broker given as (AMQP URLs, management API URLs), each one or
    /// several comma-separated nodes, instead of the `HUB_TEST_*` settings.
    pub async fn create_on(broker: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let mut sandbox = Self::connect(true).await?;
        if let Some((amqp, api)) = broker {
            sandbox.endpoints.amqp_url = amqp.to_string();
            sandbox.endpoints.rabbitmq_api = list(api);
        }
        sandbox
            .api(
                reqwest::Method::PUT,
                &format!("/api/vhosts/{}", sandbox.vhost),
            )
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("creating the test vhost (is the RabbitMQ management plugin enabled?)")?;
        sandbox
            .api(
                reqwest::Method::PUT,
                &format!(
                    "/api/permissions/{}/{}",
                    sandbox.vhost, sandbox.endpoints.rabbitmq_user
                ),
            )
            .json(&serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("granting permissions on the test vhost")?;
        Ok(sandbox)
    }

    /// Schemas only, no vhost: for tests of a service that does not use the broker (the
    /// reference agencies alone). Its broker methods find no vhost.
    pub async fn database_only() -> anyhow::Result<Self> {
        Self::connect(false).await
    }

    /// Connects to the database and sweeps leftovers; creates nothing yet.
    async fn connect(broker: bool) -> anyhow::Result<Self> {
        let endpoints = Endpoints::from_env();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        let now = unix_now();
        let tag = format!("{now}-{:08x}", fastrand_u32());
        let vhost = format!("{VHOST_PREFIX}{tag}");
        let prefix = format!("{SCHEMA_PREFIX}{}", tag.replace('-', "_"));
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect(&endpoints.database_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to PostgreSQL at {} (is it running?)",
                    endpoints.database_url
                )
            })?;
        let sandbox = Self {
            endpoints,
            http,
            vhost,
            prefix,
            pool,
            schemas: std::sync::Mutex::new(Vec::new()),
            broker,
            removed: false,
        };
        sandbox.sweep_stale(now).await;
        Ok(sandbox)
    }

    /// The AMQP URL of the test's vhost; on a cluster (`HUB_TEST_AMQP_URL` listing several
    /// nodes, comma-separated) one URL per node, comma-separated, as the services take them.
    pub fn amqp_url(&self) -> String {
        self.endpoints
            .amqp_url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| format!("{}/{}", u.trim_end_matches('/'), self.vhost))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Sends management API requests to the `index`-th of the nodes `HUB_TEST_RABBITMQ_API`
    /// lists (comma-separated), e.g. when a test is about to stop the node it was using.
    pub fn use_api_node(&self, index: usize) {
        self.endpoints
            .api_node
            .store(index, std::sync::atomic::Ordering::Relaxed);
    }

    /// The test's vhost.
    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// A broker user name of this test's own, `<vhost>.<name>`: users are not per vhost, so
    /// tests running at once keep theirs apart, and removing the sandbox deletes them.
    pub fn broker_user(&self, name: &str) -> String {
        format!("{}.{name}", self.vhost)
    }

    /// The management API (the node requests go to) and its administrator, `USER:PASSWORD`,
    /// as `hubctl agency enrol` takes them.
    pub fn management(&self) -> (String, String) {
        let node = self
            .endpoints
            .api_node
            .load(std::sync::atomic::Ordering::Relaxed);
        let api = self
            .endpoints
            .rabbitmq_api
            .get(node)
            .or_else(|| self.endpoints.rabbitmq_api.first())
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:15672".into());
        (
            api,
            format!(
                "{}:{}",
                self.endpoints.rabbitmq_user, self.endpoints.rabbitmq_password
            ),
        )
    }

    /// The URL of the test's vhost over TLS: `HUB_TEST_AMQPS_URL` (default
    /// `amqps://guest:guest@127.0.0.1:5671`, the listener `scripts/services.sh` adds) with the
    /// broker's CA, `HUB_TEST_AMQP_CA` (default `/etc/rabbitmq/hub-tls/ca.pem`), as `cacertfile`.
    pub fn amqps_url(&self) -> String {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        let base = var("HUB_TEST_AMQPS_URL", "amqps://guest:guest@127.0.0.1:5671");
        let ca = var("HUB_TEST_AMQP_CA", "/etc/rabbitmq/hub-tls/ca.pem");
        format!(
            "{}/{}?cacertfile={ca}",
            base.trim_end_matches('/'),
            self.vhost
        )
    }

    /// The database URL (schemas are chosen per service).
    pub fn database_url(&self) -> &str {
        &self.endpoints.database_url
    }

    /// A schema name for `name`, unique to this test and removed with the sandbox.
    pub fn schema(&self, name: &str) -> String {
        let schema = format!(
            "{}_{}",
            self.prefix,
            name.to_ascii_lowercase().replace('-', "_")
        );
        if let Ok(mut schemas) = self.schemas.lock() {
            schemas.push(schema.clone());
        }
        schema
    }

    /// A pool on the test database, without a schema on the search path.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How many messages a queue of the test's vhost holds.
    pub async fn queue_depth(&self, queue: &str) -> anyhow::Result<QueueDepth> {
        let response = self
            .api(
                reqwest::Method::GET,
                &format!("/api/queues/{}/{}", self.vhost, queue),
            )
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            anyhow::bail!("no queue {queue} in vhost {}", self.vhost);
        }
        Ok(response.error_for_status()?.json().await?)
    }

    /// Where a quorum queue of the test's vhost lives: its leader's node and its members.
    pub async fn queue_nodes(&self, queue: &str) -> anyhow::Result<QueueNodes> {
        let response = self
            .api(
                reqwest::Method::GET,
                &format!("/api/queues/{}/{}", self.vhost, encode_path(queue)),
            )
            .send()
            .await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// Deletes a queue of the test's vhost.
    pub async fn delete_queue(&self, queue: &str) -> anyhow::Result<()> {
        self.api(
            reqwest::Method::DELETE,
            &format!("/api/queues/{}/{}", self.vhost, encode_path(queue)),
        )
        .send()
        .await?
        .error_for_status()?;
        Ok(())
    }

    /// The names of the queues in the test's vhost.
    pub async fn queues(&self) -> anyhow::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Queue {
            name: String,
        }
        let queues: Vec<Queue> = self
            .api(reqwest::Method::GET, &format!("/api/queues/{}", self.vhost))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(queues.into_iter().map(|q| q.name).collect())
    }

    /// Force-closes every AMQP connection of the test's vhost.
    pub async fn close_connections(&self) -> anyhow::Result<usize> {
        #[derive(Deserialize)]
        struct Connection {
            name: String,
        }
        let connections: Vec<Connection> = self
            .api(
                reqwest::Method::GET,
                &format!("/api/vhosts/{}/connections", self.vhost),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for c in &connections {
            let name = encode_path(&c.name);
            self.api(reqwest::Method::DELETE, &format!("/api/connections/{name}"))
                .send()
                .await?;
        }
        Ok(connections.len())
    }

    /// Removes the vhost and the schemas. Safe to call more than once.
    pub async fn remove(&mut self) -> anyhow::Result<()> {
        if self.removed {
            return Ok(());
        }
        let schemas: Vec<String> = self.schemas.lock().map(|s| s.clone()).unwrap_or_default();
        let vhost = self.broker.then(|| self.vhost.clone());
        remove(
            &self.endpoints,
            &self.http,
            &self.pool,
            vhost.as_deref(),
            &schemas,
        )
        .await?;
        self.removed = true;
        Ok(())
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        api(&self.http, &self.endpoints, method, path)
    }

    /// Removes vhosts and schemas of earlier runs that are older than [`STALE_AFTER`].
    async fn sweep_stale(&self, now: u64) {
        let cutoff = now.saturating_sub(STALE_AFTER.as_secs());
        #[derive(Deserialize)]
        struct Vhost {
            name: String,
        }
        if let Ok(response) = self.api(reqwest::Method::GET, "/api/vhosts").send().await
            && let Ok(vhosts) = response.json::<Vec<Vhost>>().await
        {
            for v in vhosts {
                if let Some(ts) = stamp(v.name.strip_prefix(VHOST_PREFIX), '-')
                    && ts < cutoff
                {
                    let _ =
                        delete_users(&self.http, &self.endpoints, &format!("{}.", v.name)).await;
                    let _ = self
                        .api(reqwest::Method::DELETE, &format!("/api/vhosts/{}", v.name))
                        .send()
                        .await;
                }
            }
        }
        let schemas: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^t[0-9]+_[0-9a-f]{8}_'",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        for schema in schemas {
            if let Some(ts) = stamp(schema.strip_prefix(SCHEMA_PREFIX), '_')
                && ts < cutoff
            {
                let _ = hub_runtime::postgres::drop_schema(&self.pool, &schema).await;
            }
        }
    }
}

impl Drop for Sandbox {
    /// A test that panicked still removes what it created, on a thread of its own because the
    /// test's runtime may be gone.
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let endpoints = self.endpoints.clone();
        let vhost = self.broker.then(|| self.vhost.clone());
        let schemas: Vec<String> = self.schemas.lock().map(|s| s.clone()).unwrap_or_default();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(http) = reqwest::Client::builder()
                    .timeout(Duration::from_secs(120))
                    .build()
                else {
                    return;
                };
                let Ok(pool) = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&endpoints.database_url)
                    .await
                else {
                    return;
                };
                if let Err(e) = remove(&endpoints, &http, &pool, vhost.as_deref(), &schemas).await {
                    eprintln!("test sandbox cleanup failed: {e:#}");
                }
                pool.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

async fn remove(
    endpoints: &Endpoints,
    http: &reqwest::Client,
    pool: &PgPool,
    vhost: Option<&str>,
    schemas: &[String],
) -> anyhow::Result<()> {
    if let Some(vhost) = vhost {
        delete_users(http, endpoints, &format!("{vhost}.")).await?;
        let response = api(
            http,
            endpoints,
            reqwest::Method::DELETE,
            &format!("/api/vhosts/{vhost}"),
        )
        .send()
        .await
        .context("deleting the test vhost")?;
        if !(response.status().is_success() || response.status() == reqwest::StatusCode::NOT_FOUND)
        {
            anyhow::bail!("deleting vhost {vhost}: {}", response.status());
        }
    }
    for schema in schemas {
        hub_runtime::postgres::drop_schema(pool, schema).await?;
    }
    Ok(())
}

/// Deletes the broker users whose names begin with `prefix` (a sandbox's own).
async fn delete_users(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    prefix: &str,
) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct User {
        name: String,
    }
    let users: Vec<User> = api(http, endpoints, reqwest::Method::GET, "/api/users")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("listing the broker's users")?
        .json()
        .await
        .context("reading the broker's users")?;
    for user in users.iter().filter(|u| u.name.starts_with(prefix)) {
        api(
            http,
            endpoints,
            reqwest::Method::DELETE,
            &format!("/api/users/{}", encode_path(&user.name)),
        )
        .send()
        .await
        .with_context(|| format!("deleting the test's broker user {}", user.name))?;
    }
    Ok(())
}

fn api(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let node = endpoints
        .api_node
        .load(std::sync::atomic::Ordering::Relaxed);
    let base = endpoints
        .rabbitmq_api
        .get(node)
        .or_else(|| endpoints.rabbitmq_api.first())
        .map_or("http://127.0.0.1:15672", String::as_str);
    http.request(method, format!("{base}{path}"))
        .basic_auth(&endpoints.rabbitmq_user, Some(&endpoints.rabbitmq_password))
}

/// The Unix time stamped at the start of a leftover's name.
fn stamp(rest: Option<&str>, separator: char) -> Option<u64> {
    rest?.split(separator).next()?.parse().ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn fastrand_u32() -> u32 {
    fastrand::u32(..)
}

/// Percent-encodes a management API path segment.
fn encode_path(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
