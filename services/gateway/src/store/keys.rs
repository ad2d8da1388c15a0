//! The registry of agency signing keys (`agency_keys`), of enrolled agencies' broker users
//! (`agency_enrolments`) and the receipts of accepted reports (`report_receipts`), which
//! [`crate::trust`] decides with.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Store, reports::ReportBatch};
use crate::trust::Receipt;

/// One registered key, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AgencyKeyRow {
    /// `bank`, `land` or `police`.
    pub agency_kind: String,
    /// The agency's code.
    pub agency_code: String,
    /// The key's id.
    pub key_id: String,
    /// Ed25519, 32 bytes.
    pub public_key: Vec<u8>,
    /// Valid from (inclusive).
    pub valid_from: OffsetDateTime,
    /// Valid until (exclusive), once retired.
    pub valid_until: Option<OffsetDateTime>,
}

/// An enrolled agency, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrolmentRow {
    pub agency_kind: String,
    pub agency_code: String,
    /// The broker user it publishes as.
    pub broker_user: String,
    pub enrolled_at: OffsetDateTime,
    pub suspended_at: Option<OffsetDateTime>,
}

const ENROLMENT_COLUMNS: &str = "agency_kind, agency_code, broker_user, enrolled_at, suspended_at";

/// What adding a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAdded {
    /// Recorded now, or recorded before exactly so.
    Recorded(AgencyKeyRow),
    /// The agency has a different key under this id.
    Conflict(AgencyKeyRow),
}

/// A report accepted, to remember.
#[derive(Debug, Clone)]
pub struct NewReceipt {
    /// The report id.
    pub report_id: Uuid,
    /// The reporting agency.
    pub agency_kind: String,
    /// Its code.
    pub agency_code: String,
    /// SHA-256 of the body.
    pub digest: Vec<u8>,
    /// The report's `sent_at`.
    pub sent_at: Option<OffsetDateTime>,
    /// For a report on an instruction: which.
    pub instruction_id: Option<Uuid>,
    /// The report's `received_at`: when the adapter took the instruction's delivery.
    pub delivered_at: Option<OffsetDateTime>,
    /// The report's `answered_at`: when the agency's system answered.
    pub answered_at: Option<OffsetDateTime>,
    /// The trace id of the report's `traceparent` header.
    pub trace_id: Option<String>,
    /// The body as received, and the adapter's key id and signature over it: the evidence.
    pub body: Vec<u8>,
    pub key_id: Option<String>,
    pub signature: Option<String>,
    /// The measures the report changes.
    pub measure_ids: Vec<Uuid>,
}

const KEY_COLUMNS: &str = "agency_kind, agency_code, key_id, public_key, valid_from, valid_until";

impl Store {
    /// Registers `key` (its `valid_until` is ignored: a key is retired by [`Store::retire_key`]).
    pub async fn add_key(
        &self,
        key: &AgencyKeyRow,
        now: OffsetDateTime,
    ) -> Result<KeyAdded, sqlx::Error> {
        sqlx::query(
            "INSERT INTO agency_keys (agency_kind, agency_code, key_id, public_key, valid_from, \
                 added_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&key.agency_kind)
        .bind(&key.agency_code)
        .bind(&key.key_id)
        .bind(&key.public_key)
        .bind(key.valid_from)
        .bind(now)
        .execute(&self.pool)
        .await?;
        let stored: AgencyKeyRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM agency_keys \
             WHERE agency_kind = $1 AND agency_code = $2 AND key_id = $3"
        )))
        .bind(&key.agency_kind)
        .bind(&key.agency_code)
        .bind(&key.key_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(if stored.public_key == key.public_key {
            KeyAdded::Recorded(stored)
        } else {
            KeyAdded::Conflict(stored)
        })
    }

    /// The keys of the agency `kind`/`code`, or every key when `agency` is `None`, by agency
    /// and validity.
    pub async fn keys(
        &self,
        agency: Option<(&str, &str)>,
    ) -> Result<Vec<AgencyKeyRow>, sqlx::Error> {
        let (kind, code) = agency.unzip();
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM agency_keys \
             WHERE ($1::text IS NULL OR (agency_kind = $1 AND agency_code = $2)) \
             ORDER BY agency_kind, agency_code, valid_from, key_id"
        )))
        .bind(kind)
        .bind(code)
        .fetch_all(&self.pool)
        .await
    }

    /// The keys of the agencies `agencies` (kind, code), for verifying their reports.
    pub async fn keys_of(
        &self,
        agencies: &[(String, String)],
    ) -> Result<Vec<AgencyKeyRow>, sqlx::Error> {
        self.of_agencies("agency_keys", KEY_COLUMNS, agencies).await
    }

    /// Enrols an agency as publishing as `broker_user` (enrolling it again changes the user and
    /// ends a suspension); the enrolment as it stands.
    pub async fn enrol(
        &self,
        kind: &str,
        code: &str,
        broker_user: &str,
        now: OffsetDateTime,
    ) -> Result<EnrolmentRow, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO agency_enrolments (agency_kind, agency_code, broker_user, enrolled_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (agency_kind, agency_code) DO UPDATE \
                 SET broker_user = EXCLUDED.broker_user, suspended_at = NULL \
             RETURNING {ENROLMENT_COLUMNS}"
        )))
        .bind(kind)
        .bind(code)
        .bind(broker_user)
        .bind(now)
        .fetch_one(&self.pool)
        .await
    }

    /// Records an enrolled agency suspended (at `now`, unless it already is) or resumed;
    /// `None` if it is not enrolled.
    pub async fn set_suspended(
        &self,
        kind: &str,
        code: &str,
        suspended: bool,
        now: OffsetDateTime,
    ) -> Result<Option<EnrolmentRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE agency_enrolments \
             SET suspended_at = CASE WHEN $3 THEN COALESCE(suspended_at, $4) END \
             WHERE agency_kind = $1 AND agency_code = $2 \
             RETURNING {ENROLMENT_COLUMNS}"
        )))
        .bind(kind)
        .bind(code)
        .bind(suspended)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
    }

    /// The enrolments of `agencies` (kind, code) that are enrolled.
    pub async fn enrolments_of(
        &self,
        agencies: &[(String, String)],
    ) -> Result<Vec<EnrolmentRow>, sqlx::Error> {
        self.of_agencies("agency_enrolments", ENROLMENT_COLUMNS, agencies)
            .await
    }

    /// The rows of `table` (`columns`) of the agencies `agencies` (kind, code).
    async fn of_agencies<T>(
        &self,
        table: &str,
        columns: &str,
        agencies: &[(String, String)],
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let (kinds, codes): (Vec<&str>, Vec<&str>) = agencies
            .iter()
            .map(|(k, c)| (k.as_str(), c.as_str()))
            .unzip();
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {columns} FROM {table} WHERE (agency_kind, agency_code) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::text[]))"
        )))
        .bind(&kinds)
        .bind(&codes)
        .fetch_all(&self.pool)
        .await
    }

    /// Ends the validity of a key at `at` (never before it began, never later than an end set
    /// already); the key as it stands now, or `None` if there is no such key.
    pub async fn retire_key(
        &self,
        kind: &str,
        code: &str,
        key_id: &str,
        at: OffsetDateTime,
    ) -> Result<Option<AgencyKeyRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE agency_keys \
             SET valid_until = LEAST(COALESCE(valid_until, 'infinity'), GREATEST(valid_from, $4)) \
             WHERE agency_kind = $1 AND agency_code = $2 AND key_id = $3 \
             RETURNING {KEY_COLUMNS}"
        )))
        .bind(kind)
        .bind(code)
        .bind(key_id)
        .bind(at)
        .fetch_optional(&self.pool)
        .await
    }

    /// What was received before under the report ids `ids`.
    pub async fn receipts(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, Receipt)>, sqlx::Error> {
        let rows: Vec<(Uuid, Vec<u8>, Option<OffsetDateTime>, OffsetDateTime)> = sqlx::query_as(
            "SELECT report_id, digest, sent_at, received_at FROM report_receipts \
             WHERE report_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, digest, sent_at, received_at)| {
                (
                    id,
                    Receipt {
                        digest,
                        sent_at,
                        received_at,
                    },
                )
            })
            .collect())
    }

    /// Remembers accepted reports outside a batch of updates (announcements).
    pub async fn record_receipts(
        &self,
        receipts: &[NewReceipt],
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        insert_receipts(&mut conn, receipts, now).await
    }
}

impl ReportBatch {
    /// Remembers the reports whose updates this batch applies, in its transaction: a report is
    /// remembered exactly when what it says is.
    pub async fn record_receipts(
        &mut self,
        receipts: &[NewReceipt],
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        insert_receipts(&mut self.tx, receipts, now).await
    }
}

async fn insert_receipts(
    conn: &mut PgConnection,
    receipts: &[NewReceipt],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    if receipts.is_empty() {
        return Ok(());
    }
    // One row per id: an upsert may not touch a row twice in one statement.
    let mut unique: Vec<&NewReceipt> = Vec::with_capacity(receipts.len());
    for receipt in receipts {
        match unique.iter_mut().find(|r| r.report_id == receipt.report_id) {
            Some(kept) if kept.sent_at < receipt.sent_at => *kept = receipt,
            Some(_) => {}
            None => unique.push(receipt),
        }
    }
    let ids: Vec<Uuid> = unique.iter().map(|r| r.report_id).collect();
    let kinds: Vec<&str> = unique.iter().map(|r| r.agency_kind.as_str()).collect();
    let codes: Vec<&str> = unique.iter().map(|r| r.agency_code.as_str()).collect();
    let digests: Vec<Vec<u8>> = unique.iter().map(|r| r.digest.clone()).collect();
    let sent: Vec<Option<OffsetDateTime>> = unique.iter().map(|r| r.sent_at).collect();
    let instructions: Vec<Option<Uuid>> = unique.iter().map(|r| r.instruction_id).collect();
    let delivered: Vec<Option<OffsetDateTime>> = unique.iter().map(|r| r.delivered_at).collect();
    let answered: Vec<Option<OffsetDateTime>> = unique.iter().map(|r| r.answered_at).collect();
    let traces: Vec<Option<&str>> = unique.iter().map(|r| r.trace_id.as_deref()).collect();
    let bodies: Vec<&[u8]> = unique.iter().map(|r| r.body.as_slice()).collect();
    let key_ids: Vec<Option<&str>> = unique.iter().map(|r| r.key_id.as_deref()).collect();
    let signatures: Vec<Option<&str>> = unique.iter().map(|r| r.signature.as_deref()).collect();
    // A notice forwarded again keeps its first receipt's digest but moves its `sent_at`, so a
    // copy of the second is recognised too.
    sqlx::query(
        "INSERT INTO report_receipts (report_id, agency_kind, agency_code, digest, sent_at, \
             instruction_id, delivered_at, answered_at, trace_id, body, key_id, signature, \
             received_at) \
         SELECT *, $6 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bytea[], \
             $5::timestamptz[], $7::uuid[], $8::timestamptz[], $9::timestamptz[], $10::text[], \
             $11::bytea[], $12::text[], $13::text[]) \
         ON CONFLICT (report_id) DO UPDATE SET sent_at = GREATEST(report_receipts.sent_at, \
             EXCLUDED.sent_at)",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&codes)
    .bind(&digests)
    .bind(&sent)
    .bind(now)
    .bind(&instructions)
    .bind(&delivered)
    .bind(&answered)
    .bind(&traces)
    .bind(&bodies)
    .bind(&key_ids)
    .bind(&signatures)
    .execute(&mut *conn)
    .await?;
    let (measures, reports): (Vec<Uuid>, Vec<Uuid>) = unique
        .iter()
        .flat_map(|r| r.measure_ids.iter().map(|m| (*m, r.report_id)))
        .unzip();
    sqlx::query(
        "INSERT INTO report_measures (measure_id, report_id) \
         SELECT DISTINCT * FROM UNNEST($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(&measures)
    .bind(&reports)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
