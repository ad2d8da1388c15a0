//! The registry of connected agencies.
//!
//! Each adapter announces, whenever it connects, the agencies it serves and the measures they
//! carry out. Courts may address only agencies in the registry, and only for those measures; an
//! inquiry of "all banks" goes to the banks in it.

use enforcement_proto::{convert, v1 as pb};
use hub_domain::{AgencyKind, MeasureKind};
use time::OffsetDateTime;

use crate::store::Store;

/// Records an announcement: the agencies exist, and carry out these measures.
pub async fn announce(
    store: &Store,
    announcement: &pb::Announcement,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let Some(kind) = convert::agency_kind_from_proto(announcement.kind) else {
        return Ok(0);
    };
    let codes: Vec<&str> = announcement
        .codes
        .iter()
        .map(String::as_str)
        .filter(|c| hub_domain::AgencyCode::parse(c).is_ok())
        .collect();
    let measures: Vec<&str> = announcement
        .measures
        .iter()
        .filter_map(|m| convert::kind_from_proto(*m))
        .filter(|m| kind.carries(*m))
        .map(MeasureKind::as_str)
        .collect();
    let done = sqlx::query(
        "INSERT INTO agencies (kind, code, measures, first_seen, last_seen) \
         SELECT $1, code, $3, $4, $4 FROM UNNEST($2::text[]) AS code \
         ON CONFLICT (kind, code) DO UPDATE \
             SET measures = EXCLUDED.measures, last_seen = EXCLUDED.last_seen",
    )
    .bind(kind.as_str())
    .bind(&codes)
    .bind(&measures)
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(0))
}

/// What the registry knows of one agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Not connected.
    Unknown,
    /// Connected, but does not carry out this measure.
    DoesNotCarry,
    /// Connected and carries it out.
    Carries,
}

/// Whether the agency `kind`/`code` is connected and carries out `measure`.
pub async fn lookup(
    store: &Store,
    kind: AgencyKind,
    code: &str,
    measure: MeasureKind,
) -> Result<Known, sqlx::Error> {
    let measures: Option<Vec<String>> =
        sqlx::query_scalar("SELECT measures FROM agencies WHERE kind = $1 AND code = $2")
            .bind(kind.as_str())
            .bind(code)
            .fetch_optional(store.pool())
            .await?;
    Ok(match measures {
        None => Known::Unknown,
        Some(m) if m.iter().any(|m| m == measure.as_str()) => Known::Carries,
        Some(_) => Known::DoesNotCarry,
    })
}

/// The codes of every connected agency of `kind` that carries out `measure`, in order.
pub async fn carriers(
    store: &Store,
    kind: AgencyKind,
    measure: MeasureKind,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT code FROM agencies WHERE kind = $1 AND $2 = ANY(measures) ORDER BY code",
    )
    .bind(kind.as_str())
    .bind(measure.as_str())
    .fetch_all(store.pool())
    .await
}

/// Of `codes`, those not connected or not carrying out `measure`, with what is wrong.
pub async fn unusable(
    store: &Store,
    kind: AgencyKind,
    codes: &[String],
    measure: MeasureKind,
) -> Result<Vec<(String, Known)>, sqlx::Error> {
    let known: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT code, measures FROM agencies WHERE kind = $1 AND code = ANY($2)")
            .bind(kind.as_str())
            .bind(codes)
            .fetch_all(store.pool())
            .await?;
    Ok(codes
        .iter()
        .filter_map(|code| match known.iter().find(|(c, _)| c == code) {
            None => Some((code.clone(), Known::Unknown)),
            Some((_, m)) if !m.iter().any(|m| m == measure.as_str()) => {
                Some((code.clone(), Known::DoesNotCarry))
            }
            Some(_) => None,
        })
        .collect())
}
