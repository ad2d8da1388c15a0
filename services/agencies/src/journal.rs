//! The journal of answered instructions: what makes `Execute` idempotent on
//! (agency code, instruction id) at every reference agency.
//!
//! The hub may deliver an instruction again (a crash, a lost answer, a dead letter replayed). The
//! first delivery is carried out and its answer recorded in `executions` in the same transaction
//! as what it changed; every later delivery gets that answer back, unchanged, and changes
//! nothing.
//!
//! Two deliveries of one instruction at once both find no answer and both carry it out, each in
//! its own transaction; the keys of what they write (the measure's row, the journal's entry) let
//! only one of them commit. The other waits on such a key until the first commits, fails on it
//! ([`may_be_answered`]), and is rolled back whole: its caller returns the first answer instead.
//! The common case, one delivery, takes no lock beyond the rows it changes.

use enforcement_proto::v1 as pb;
use prost::Message;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::stored::parse_id;

/// The answer given to an earlier delivery of the instruction, if one was recorded.
pub async fn recall(
    conn: &mut PgConnection,
    agency_code: &str,
    instruction_id: &str,
) -> Result<Option<pb::ExecuteResponse>, sqlx::Error> {
    let earlier: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT response FROM executions WHERE agency_code = $1 AND instruction_id = $2",
    )
    .bind(agency_code)
    .bind(parse_id(instruction_id))
    .fetch_optional(&mut *conn)
    .await?;
    earlier
        .map(|bytes| {
            pb::ExecuteResponse::decode(bytes.as_slice())
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        })
        .transpose()
}

/// Whether `error` may be a delivery of the same instruction that committed first (a key taken
/// meanwhile): the transaction is then to be dropped and the answer [recalled](recall); if there
/// is none, `error` stands.
pub fn may_be_answered(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Records the answer, to be returned as is to a repeated delivery. Fails on the journal's key if
/// another delivery recorded one first.
pub async fn remember(
    conn: &mut PgConnection,
    agency_code: &str,
    instruction: &pb::Instruction,
    action: &str,
    response: &pb::ExecuteResponse,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO executions (agency_code, instruction_id, measure_id, action, response, \
             executed_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(agency_code)
    .bind(parse_id(&instruction.instruction_id))
    .bind(parse_id(&instruction.measure_id))
    .bind(action)
    .bind(response.encode_to_vec())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
