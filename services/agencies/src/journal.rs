//! The journal of answered instructions: what makes `Execute` idempotent on
//! (agency code, instruction id) at every reference agency.
//!
//! The hub may deliver an instruction again (a crash, a lost answer, a dead letter replayed). The
//! first delivery is carried out and its answer recorded in `executions` in the same transaction
//! as what it changed; every later delivery gets that answer back, unchanged, and changes
//! nothing.

use enforcement_proto::v1 as pb;
use prost::Message;
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::stored::parse_id;

/// Serialises deliveries of one instruction and returns the answer given to an earlier one.
///
/// Two deliveries of one instruction at once: the second waits on the advisory lock until the
/// first commits, then finds its answer here.
pub async fn recall(
    conn: &mut PgConnection,
    agency_code: &str,
    instruction_id: &str,
) -> Result<Option<pb::ExecuteResponse>, sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))")
        .bind(agency_code)
        .bind(instruction_id)
        .execute(&mut *conn)
        .await?;
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

/// Records the answer, to be returned as is to a repeated delivery.
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
