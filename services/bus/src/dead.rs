//! Dead-lettering with a reason. A consumer that cannot process a delivery publishes a copy to
//! the dead-letter exchange itself, with why ([`HEADER_DEAD_REASON`]) and from which queue
//! ([`HEADER_DEAD_QUEUE`]), and then acknowledges the original. A plain rejection would reach the
//! same queue, but with only the broker's `rejected` to say why.

use lapin::{message::Delivery, types::AMQPValue};

use crate::{
    BusError, MessageMeta, Published, Publisher,
    topology::{DEAD_LETTER_EXCHANGE, HEADER_DEAD_QUEUE, HEADER_DEAD_REASON},
};

/// Publishes a copy of `delivery`, taken from `queue`, to the dead-letter exchange under
/// `routing_key`, with `reason`; waits for the broker's confirm. The caller acknowledges the
/// original only once this returned [`Published::Confirmed`].
pub async fn dead_letter(
    publisher: &Publisher,
    delivery: &Delivery,
    queue: &str,
    routing_key: &str,
    reason: &str,
) -> Result<Published, BusError> {
    let props = &delivery.properties;
    let mut headers = vec![
        (HEADER_DEAD_REASON.to_string(), reason.to_string()),
        (HEADER_DEAD_QUEUE.to_string(), queue.to_string()),
    ];
    // Every string header of the original travels with it (court, asset, deadline, signature,
    // trace), so that a replay sends what was first sent.
    if let Some(table) = props.headers().as_ref() {
        for (key, value) in table.inner() {
            let key = key.as_str();
            if key == HEADER_DEAD_REASON || key == HEADER_DEAD_QUEUE {
                continue;
            }
            let value = match value {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.to_string(),
                _ => continue,
            };
            headers.push((key.to_string(), value));
        }
    }
    let meta = MessageMeta {
        message_id: props
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
        correlation_id: props.correlation_id().as_ref().map(|c| c.to_string()),
        kind: props
            .kind()
            .as_ref()
            .map(|k| k.to_string())
            .unwrap_or_default(),
        timestamp: props.timestamp().unwrap_or(0),
        headers,
    };
    publisher
        .publish(DEAD_LETTER_EXCHANGE, routing_key, &delivery.data, &meta)
        .await
}
