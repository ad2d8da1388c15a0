//! How the reference agencies read and write their rows: the words stored for kinds and states,
//! ids, and "now".
//!
//! Kinds and states are stored as words (`'effective'`, `'seal_up'`) and read back into enums
//! through `#[sqlx(try_from = "String")]`, so that past the row nothing compares strings.

use hub_domain::Clock;
use time::OffsetDateTime;
use uuid::Uuid;

/// A stored word (kind, state) that this version does not know: the row was written by a newer
/// version or by hand.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {found:?} in the register")]
pub struct UnknownWord {
    what: &'static str,
    found: String,
}

impl UnknownWord {
    /// `found` is not a `what` this version knows.
    pub fn new(what: &'static str, found: String) -> Self {
        Self { what, found }
    }
}

/// "Now" as the registers store it. PostgreSQL keeps microseconds; truncating here makes what an
/// outcome reports equal to what a later update or listing reports for the same instant.
pub fn now(clock: &Clock) -> OffsetDateTime {
    let at = clock.now();
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000)
        .unwrap_or(at)
}

/// A UUID the caller has already checked; nil otherwise (never stored: execution refuses
/// instructions whose ids are not UUIDs).
pub fn parse_id(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or(Uuid::nil())
}
