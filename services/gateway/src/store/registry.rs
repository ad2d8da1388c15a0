//! The registry of connected agencies.
//!
//! Each adapter announces, whenever it connects, the agencies it serves and the measures they
//! carry out. Courts may address only agencies in the registry, and only for those measures; an
//! inquiry of "all banks" goes to the banks in it.

use hub_domain::{AgencyCode, AgencyKind, MeasureKind};
use time::OffsetDateTime;

use super::Store;
use crate::Error;

/// What the registry knows of one agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Not connected.
    Unknown,
    /// Connected, but does not carry out this measure.
    DoesNotCarry,
    /// Connected and carries it out.
    Carries,
}

impl Store {
    /// Records an announcement: the agencies `codes` of `kind` exist and carry out `measures`.
    pub async fn announce(
        &self,
        kind: AgencyKind,
        codes: &[AgencyCode],
        measures: &[MeasureKind],
        now: OffsetDateTime,
    ) -> Result<usize, Error> {
        let codes: Vec<&str> = codes.iter().map(AgencyCode::as_str).collect();
        let measures: Vec<&str> = measures.iter().map(|m| m.as_str()).collect();
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
        .execute(&self.pool)
        .await?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(0))
    }

    /// Whether the agency `kind`/`code` is connected and carries out `measure`.
    pub async fn lookup(
        &self,
        kind: AgencyKind,
        code: &AgencyCode,
        measure: MeasureKind,
    ) -> Result<Known, Error> {
        let measures: Option<Vec<String>> =
            sqlx::query_scalar("SELECT measures FROM agencies WHERE kind = $1 AND code = $2")
                .bind(kind.as_str())
                .bind(code.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match measures {
            None => Known::Unknown,
            Some(m) if m.iter().any(|m| m == measure.as_str()) => Known::Carries,
            Some(_) => Known::DoesNotCarry,
        })
    }

    /// The codes of every connected agency of `kind` that carries out `measure`, in order.
    pub async fn carriers(
        &self,
        kind: AgencyKind,
        measure: MeasureKind,
    ) -> Result<Vec<String>, Error> {
        Ok(sqlx::query_scalar(
            "SELECT code FROM agencies WHERE kind = $1 AND $2 = ANY(measures) ORDER BY code",
        )
        .bind(kind.as_str())
        .bind(measure.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Of `codes`, those not connected or not carrying out `measure`, with what is wrong.
    pub async fn unusable(
        &self,
        kind: AgencyKind,
        codes: &[String],
        measure: MeasureKind,
    ) -> Result<Vec<(String, Known)>, Error> {
        let known: Vec<(String, Vec<String>)> = sqlx::query_as(
            "SELECT code, measures FROM agencies WHERE kind = $1 AND code = ANY($2)",
        )
        .bind(kind.as_str())
        .bind(codes)
        .fetch_all(&self.pool)
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
}
