//! Every exchange and queue of the hub, declared here and nowhere else.
//!
//! ```text
//! gateway ──▶ enforcement.instructions (direct) ──"bank.ICBC"──▶ agency.bank.ICBC (quorum)
//!                                        └────"all.bank"──▶ every bank queue (inquiries)
//! adapter ──▶ enforcement.outcomes (topic) ──"#"──▶ gateway.outcomes (quorum)
//! rejected / over the delivery limit ──▶ enforcement.dead (fanout) ──▶ enforcement.dead-letters
//! ```
//!
//! Declarations are idempotent, so the gateway and every adapter declare what they use at each
//! (re)connect, and may start in any order.

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};

/// Instructions from the gateway to agency queues, routed by `<kind>.<code>`.
pub const INSTRUCTIONS_EXCHANGE: &str = "enforcement.instructions";
/// Reports from adapters to the gateway, routed by the reporting agency's `<kind>.<code>`.
pub const OUTCOMES_EXCHANGE: &str = "enforcement.outcomes";
/// Where rejected and poison messages go.
pub const DEAD_LETTER_EXCHANGE: &str = "enforcement.dead";
/// The one queue operators inspect and replay dead letters from.
pub const DEAD_LETTER_QUEUE: &str = "enforcement.dead-letters";
/// The gateway's inbound queue of agency reports.
pub const GATEWAY_QUEUE: &str = "gateway.outcomes";

/// Header on a dead letter: why it was dead-lettered, in words.
pub const HEADER_DEAD_REASON: &str = "x-hub-dead-reason";
/// Header on a dead letter: the queue it was taken from.
pub const HEADER_DEAD_QUEUE: &str = "x-hub-dead-queue";

/// Limits applied to every work queue.
#[derive(Clone, Copy, Debug)]
pub struct QueuePolicy {
    /// How many times the broker delivers a message before dead-lettering it. Declared
    /// explicitly because RabbitMQ 4 defaults to 20 and 3.x to unlimited: a message that crashes
    /// its consumer must end in the dead-letter queue, not loop forever.
    pub delivery_limit: u32,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self { delivery_limit: 10 }
    }
}

/// An agency's queue and the routing keys bound to it.
#[derive(Clone, Debug)]
pub struct AgencyQueue {
    /// `agency.<kind>.<code>`.
    pub queue: String,
    /// `<kind>.<code>`: instructions addressed to this agency alone.
    pub routing_key: String,
    /// `all.<kind>`: inquiries addressed to every agency of the kind, one publish for all.
    pub broadcast_key: String,
}

impl AgencyQueue {
    /// The queue of the agency `code` of `kind` (`bank`, `land`, `police`).
    pub fn new(kind: &str, code: &str) -> Self {
        Self {
            queue: format!("agency.{kind}.{code}"),
            routing_key: format!("{kind}.{code}"),
            broadcast_key: broadcast_key(kind),
        }
    }
}

/// The routing key that reaches every agency of `kind`.
pub fn broadcast_key(kind: &str) -> String {
    format!("all.{kind}")
}

/// Declares the three exchanges and the dead-letter queue. Everyone calls this first.
pub async fn declare_exchanges(channel: &Channel) -> Result<(), lapin::Error> {
    // Durable: the exchanges must survive a broker restart, or publishes after it are lost.
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            INSTRUCTIONS_EXCHANGE.into(),
            ExchangeKind::Direct,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            OUTCOMES_EXCHANGE.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    channel
        .exchange_declare(
            DEAD_LETTER_EXCHANGE.into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
    // The dead-letter queue has no dead-letter exchange of its own: it is the end of the line.
    // Operators look at dead letters by taking and returning them; RabbitMQ 4 counts each return
    // against a delivery limit (default 20) and drops the message past it, so the limit here is
    // set out of reach.
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert("x-delivery-limit".into(), AMQPValue::LongInt(i32::MAX));
    channel
        .queue_declare(DEAD_LETTER_QUEUE.into(), durable_queue(), args)
        .await?;
    channel
        .queue_bind(
            DEAD_LETTER_QUEUE.into(),
            DEAD_LETTER_EXCHANGE.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares the gateway's report queue, bound to every report.
pub async fn declare_gateway(channel: &Channel, policy: &QueuePolicy) -> Result<(), lapin::Error> {
    declare_exchanges(channel).await?;
    channel
        .queue_declare(
            GATEWAY_QUEUE.into(),
            durable_queue(),
            work_queue_args(policy, false),
        )
        .await?;
    channel
        .queue_bind(
            GATEWAY_QUEUE.into(),
            OUTCOMES_EXCHANGE.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares an agency's queue and binds its routing keys. An adapter calls this when it
/// connects: from then on the agency is reachable, and instructions to it are kept while the
/// adapter is away.
pub async fn declare_agency(
    channel: &Channel,
    agency: &AgencyQueue,
    policy: &QueuePolicy,
) -> Result<(), lapin::Error> {
    declare_exchanges(channel).await?;
    channel
        .queue_declare(
            agency.queue.as_str().into(),
            durable_queue(),
            work_queue_args(policy, true),
        )
        .await?;
    for key in [&agency.routing_key, &agency.broadcast_key] {
        channel
            .queue_bind(
                agency.queue.as_str().into(),
                INSTRUCTIONS_EXCHANGE.into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Whether `agency`'s queue exists, by a passive declare, which needs no permission: a queue
/// provisioned when the agency was enrolled is found by an adapter whose broker user may not
/// configure anything. `NOT_FOUND` closes `channel`; the caller opens another.
pub async fn agency_queue_exists(
    channel: &Channel,
    agency: &AgencyQueue,
) -> Result<bool, lapin::Error> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    match channel
        .queue_declare(agency.queue.as_str().into(), passive, FieldTable::default())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_amqp_soft_error() => Ok(false),
        Err(e) => Err(e),
    }
}

fn durable_queue() -> QueueDeclareOptions {
    // Durable and not exclusive: quorum queues must be both, and work must outlive its consumer.
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn work_queue_args(policy: &QueuePolicy, single_active_consumer: bool) -> FieldTable {
    let mut args = FieldTable::default();
    // Quorum: replicated, durable, and it counts redeliveries (x-delivery-limit needs it).
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(i32::try_from(policy.delivery_limit).unwrap_or(i32::MAX)),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(DEAD_LETTER_EXCHANGE.into()),
    );
    // At-least-once dead-lettering: a dead letter is not dropped if the dead-letter queue is
    // briefly unavailable. RabbitMQ requires reject-publish overflow for it.
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    if single_active_consumer {
        // One consumer at a time per agency queue: further adapter instances stand by. Waiting
        // measures rank by arrival, so instructions on one asset must be taken in queue order.
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    }
    args
}
