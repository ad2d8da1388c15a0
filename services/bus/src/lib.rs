//! The hub's use of RabbitMQ, in one place.
//!
//! - [`topology`] declares every exchange and queue the hub uses, with their arguments spelled out.
//! - [`Publisher`] publishes with publisher confirms and `mandatory`, so that a message the broker
//!   could not route or store is an error the caller sees, never a silent drop.
//! - [`consume`] opens a manual-ack consumer with a bounded prefetch.
//! - [`dead_letter`] puts what a consumer cannot process in the dead-letter queue, with why.
//! - [`reply`] bounds every wait on the broker, so a dead connection cannot hang a service.
//! - [`trace`] is the W3C trace context a measure's messages carry (`traceparent`).
//!
//! Messages enter as protobuf bytes with [`MessageMeta`] and leave as lapin deliveries; this crate
//! does not know the envelopes' contents.

mod connect;
mod dead;
mod headers;
mod publish;
pub mod reply;
pub mod signing;
pub mod topology;
pub mod trace;

pub use connect::{Brokers, Connected, connect, consume, split_ca, user_of};
pub use dead::dead_letter;
pub use headers::{header_str, header_u64};
pub use publish::{MessageMeta, PendingConfirm, Published, Publisher};

/// The largest message the hub sends or takes: an instruction or report is a few hundred bytes,
/// an inquiry answer of a subject with many holdings some kilobytes. Anything larger is not the
/// hub's and is dead-lettered unread.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// What can go wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The connection or channel failed; reconnect and try again.
    #[error("broker error: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused to take responsibility for a message (basic.nack).
    #[error("broker did not confirm the message (nack)")]
    Nacked,
}
