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

/// Opens a connection named `name` (shown in the management UI, so operators can tell which
/// service holds which connection), giving up after [`CONNECT_TIMEOUT`].
pub async fn connect(url: &str, name: &str) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties)).await {
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
