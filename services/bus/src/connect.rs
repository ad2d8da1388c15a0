use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use lapin::{
    Channel, Connection, ConnectionProperties, Consumer,
    options::{BasicConsumeOptions, BasicQosOptions},
    types::FieldTable,
};

use crate::reply::within;

/// How long opening a connection may take. A broker that is starting up can accept the TCP
/// connection and then not answer the handshake; without a limit a service would wait forever
/// instead of trying again.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// The nodes of a RabbitMQ cluster a service may connect to, tried in turn.
///
/// Configured as one AMQP URL or several separated by commas (each with its vhost). A session
/// connects to the first node that answers, beginning after the node of the previous session:
/// when a node goes away, the next session is opened on another one at once instead of first
/// waiting on the node that was just lost. Every node of a cluster holds the same exchanges,
/// queues and bindings, so the services' declarations on reconnecting to another node are the
/// same idempotent declarations and conflict with nothing.
#[derive(Clone, Debug)]
pub struct Brokers {
    urls: Arc<[String]>,
    /// Index of the node to try first.
    next: Arc<AtomicUsize>,
}

/// A connection and which node it is on.
pub struct Connected {
    /// The connection.
    pub connection: Connection,
    /// The node's address (`host:port`, no credentials), for logs.
    pub node: String,
}

impl Brokers {
    /// The nodes in `list`: AMQP URLs separated by commas. Empty entries are ignored.
    pub fn parse(list: &str) -> Result<Self, lapin::Error> {
        let urls: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        if urls.is_empty() {
            return Err(lapin::Error::from(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no broker address given",
            )));
        }
        Ok(Self {
            urls: urls.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.urls.len()
    }

    /// Whether there is no node (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The nodes' addresses without credentials, for logs.
    pub fn nodes(&self) -> Vec<String> {
        self.urls.iter().map(|u| node_of(u)).collect()
    }

    /// Connects to the first node that answers, beginning after the previous session's node.
    /// Each node gets [`CONNECT_TIMEOUT`]; the error is the last node's.
    pub async fn connect(&self, name: &str) -> Result<Connected, lapin::Error> {
        let first = self.next.load(Ordering::Relaxed);
        let mut last_error = None;
        for i in 0..self.urls.len() {
            let index = (first + i) % self.urls.len();
            let url = &self.urls[index];
            match connect_one(url, name).await {
                Ok(connection) => {
                    // The next session starts with the next node: if this one goes away, the
                    // service does not wait on it first.
                    self.next.store(index + 1, Ordering::Relaxed);
                    return Ok(Connected {
                        connection,
                        node: node_of(url),
                    });
                }
                Err(e) => {
                    if self.urls.len() > 1 {
                        tracing::warn!(node = %node_of(url), error = %e, "broker node not answering; trying the next");
                    }
                    last_error = Some(e);
                }
            }
        }
        self.next.store(first + 1, Ordering::Relaxed);
        Err(last_error.unwrap_or_else(|| crate::reply::timed_out("no broker node configured")))
    }
}

/// The broker user an AMQP URL (the first of a comma-separated list) logs in as, percent-decoded
/// (`guest` when it names none, as RabbitMQ's clients default).
pub fn user_of(urls: &str) -> Option<String> {
    let url = urls.split(',').map(str::trim).find(|u| !u.is_empty())?;
    split_ca(url)
        .0
        .parse::<lapin::uri::AMQPUri>()
        .ok()
        .map(|uri| uri.authority.userinfo.username)
}

/// `host:port` of an AMQP URL, without user, password or vhost.
fn node_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// Opens a connection named `name` (shown in the management UI, so operators can tell which
/// service holds which connection) to the first node of `urls` (one AMQP URL or several
/// separated by commas) that answers, giving up on each after [`CONNECT_TIMEOUT`]. For a
/// connection of one call; services that reconnect hold a [`Brokers`].
pub async fn connect(urls: &str, name: &str) -> Result<Connection, lapin::Error> {
    Ok(Brokers::parse(urls)?.connect(name).await?.connection)
}

/// `url` without its `cacertfile` query parameter, and that parameter's value: the CA an
/// `amqps://` broker's certificate must come from, as in RabbitMQ's own URI scheme
/// (`amqps://user:password@host:5671/vhost?cacertfile=/path/ca.pem`). Without it, the system's
/// roots are trusted.
pub fn split_ca(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut ca = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("cacertfile=") {
            Some(path) => {
                ca = Some(path.to_string());
                false
            }
            None => !pair.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, ca)
}

async fn open(url: &str, properties: ConnectionProperties) -> Result<Connection, lapin::Error> {
    let (url, ca) = split_ca(url);
    let Some(path) = ca else {
        return Connection::connect(&url, properties).await;
    };
    let pem = std::fs::read_to_string(&path).map_err(|e| {
        lapin::Error::from(std::io::Error::new(
            e.kind(),
            format!("reading the broker's CA (cacertfile) {path}: {e}"),
        ))
    })?;
    lapin::ConnectionBuilder::new()?
        .with_uri_str(url)
        .with_properties(properties)
        .with_tls_config(lapin::tcp::OwnedTLSConfig {
            identity: None,
            cert_chain: Some(pem),
        })
        .connect()
        .await
}

async fn connect_one(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, open(url, properties)).await {
        Ok(connected) => connected,
        Err(_) => Err(crate::reply::timed_out(
            "the broker did not complete the connection handshake in time",
        )),
    }
}

/// Starts a manual-ack consumer on `queue` with at most `prefetch` unacknowledged deliveries.
///
/// The bounded prefetch keeps a slow consumer from hoarding a queue, and with manual ack a
/// consumer that dies gives its deliveries back to the broker.
pub async fn consume(
    channel: &Channel,
    queue: &str,
    consumer_tag: &str,
    prefetch: u16,
) -> Result<Consumer, lapin::Error> {
    within(
        "setting the prefetch",
        channel.basic_qos(prefetch, BasicQosOptions { global: false }),
    )
    .await?;
    within(
        "starting a consumer",
        channel.basic_consume(
            queue.into(),
            consumer_tag.into(),
            BasicConsumeOptions {
                no_ack: false,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_urls_names_each_node_without_credentials() {
        let brokers = Brokers::parse(
            "amqp://guest:secret@127.0.0.1:23001/%2f, amqp://u:p@10.0.0.2:5672/hub,,amqp://h3",
        )
        .expect("parsed");
        assert_eq!(brokers.len(), 3);
        assert_eq!(
            brokers.nodes(),
            vec!["127.0.0.1:23001", "10.0.0.2:5672", "h3"]
        );
    }

    #[test]
    fn the_user_is_read_from_the_first_url() {
        assert_eq!(
            user_of("amqp://adapter.bank.ICBC:s3cret@127.0.0.1:5672/hub,amqp://x:y@h2").as_deref(),
            Some("adapter.bank.ICBC")
        );
        assert_eq!(
            user_of("amqp://127.0.0.1:5672/%2f").as_deref(),
            Some("guest")
        );
        assert_eq!(user_of(" , ").as_deref(), None);
    }

    #[test]
    fn the_broker_ca_is_taken_out_of_the_url() {
        assert_eq!(
            split_ca("amqps://u:p@h:5671/hub?cacertfile=/etc/ca.pem"),
            (
                "amqps://u:p@h:5671/hub".to_string(),
                Some("/etc/ca.pem".to_string())
            )
        );
        assert_eq!(
            split_ca("amqps://h/hub?heartbeat=10&cacertfile=/ca.pem"),
            (
                "amqps://h/hub?heartbeat=10".to_string(),
                Some("/ca.pem".to_string())
            )
        );
        assert_eq!(split_ca("amqp://h/hub"), ("amqp://h/hub".to_string(), None));
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert!(Brokers::parse(" , ").is_err());
    }

    #[tokio::test]
    async fn a_node_that_does_not_answer_is_passed_over_and_the_next_session_starts_after_it() {
        // Nothing listens on these ports; both fail fast, and the cursor moves on.
        let brokers = Brokers::parse("amqp://g:g@127.0.0.1:1/%2f,amqp://g:g@127.0.0.1:2/%2f")
            .expect("parsed");
        assert!(brokers.connect("test").await.is_err());
        assert_eq!(brokers.next.load(Ordering::Relaxed) % 2, 1);
    }
}
