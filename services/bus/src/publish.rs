use lapin::{
    BasicProperties, Channel, Confirmation, Connection, PublisherConfirm,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::{AMQPValue, FieldTable},
};

use crate::{BusError, reply::within};

/// AMQP properties of a hub message.
#[derive(Clone, Debug, Default)]
pub struct MessageMeta {
    /// `message_id`: the instruction or report id, for deduplication and tracing.
    pub message_id: String,
    /// `correlation_id`: the measure the message is about.
    pub correlation_id: Option<String>,
    /// `type`: the protobuf message name, e.g. `enforcement.v1.Instruction`.
    pub kind: String,
    /// `timestamp`: seconds since the Unix epoch.
    pub timestamp: u64,
    /// Extra string headers (court, asset, deadline, dead-letter reason).
    pub headers: Vec<(String, String)>,
}

impl MessageMeta {
    fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (k, v) in &self.headers {
            headers.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
        }
        let mut props = BasicProperties::default()
            .with_content_type("application/x-protobuf".into())
            // Persistent: quorum queues store every message anyway; classic ones need this to
            // keep it across a broker restart.
            .with_delivery_mode(2)
            .with_message_id(self.message_id.as_str().into())
            .with_type(self.kind.as_str().into())
            .with_timestamp(self.timestamp)
            .with_headers(headers);
        if let Some(correlation_id) = &self.correlation_id {
            props = props.with_correlation_id(correlation_id.as_str().into());
        }
        props
    }
}

/// What the broker did with a confirmed publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Routed to at least one queue and stored.
    Confirmed,
    /// No queue matched the routing key (`mandatory` publish returned): nobody is listening
    /// for it. For an instruction this means the agency is not connected.
    Returned {
        /// AMQP reply code (312 NO_ROUTE).
        reply_code: u16,
        /// The broker's text.
        reply_text: String,
    },
}

/// A channel in confirm mode. Every publish is `mandatory` and waits (or lets the caller wait)
/// for the broker's confirm, so nothing is reported sent that the broker has not stored.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
    /// The broker user every message is stamped with (`user_id`): RabbitMQ refuses a message
    /// whose `user_id` is not the connection's user, so a receiver can believe who sent it.
    user_id: Option<String>,
}

/// A publish the broker has received but not yet confirmed.
pub struct PendingConfirm(PublisherConfirm);

impl PendingConfirm {
    /// Waits for the broker's verdict.
    pub async fn wait(self) -> Result<Published, BusError> {
        match within("a publish with its confirm", self.0).await? {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(Published::Confirmed),
            Confirmation::Ack(Some(returned)) => Ok(Published::Returned {
                reply_code: returned.reply_code,
                reply_text: returned.reply_text.to_string(),
            }),
            Confirmation::Nack(_) => Err(BusError::Nacked),
        }
    }
}

impl Publisher {
    /// Opens a channel on `connection` and puts it in confirm mode.
    pub async fn open(connection: &Connection) -> Result<Self, lapin::Error> {
        let channel = within("opening a channel", connection.create_channel()).await?;
        within(
            "turning on publisher confirms",
            channel.confirm_select(ConfirmSelectOptions { nowait: false }),
        )
        .await?;
        Ok(Self {
            channel,
            user_id: None,
        })
    }

    /// The same, stamping every message with `user` (the connection's broker user) as its
    /// `user_id`, which the broker checks.
    pub fn as_user(mut self, user: Option<String>) -> Self {
        self.user_id = user;
        self
    }

    /// Sends a message and returns without waiting for the confirm, so that a batch can be
    /// pipelined: send all, then wait for each. Messages sent on one channel reach a queue in
    /// the order they were sent.
    pub async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        meta: &MessageMeta,
    ) -> Result<PendingConfirm, BusError> {
        let confirm = within(
            "a publish",
            self.channel.basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    // Unroutable messages come back instead of vanishing.
                    mandatory: true,
                    immediate: false,
                },
                payload,
                match &self.user_id {
                    Some(user) => meta.properties().with_user_id(user.as_str().into()),
                    None => meta.properties(),
                },
            ),
        )
        .await?;
        Ok(PendingConfirm(confirm))
    }

    /// Sends a message and waits for the broker's confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        meta: &MessageMeta,
    ) -> Result<Published, BusError> {
        self.send(exchange, routing_key, payload, meta)
            .await?
            .wait()
            .await
    }

    /// The underlying channel, for declarations.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }
}
