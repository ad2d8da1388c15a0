//! `Get`, `List` and `ListExpiring`: a court reads its own measures.

use enforcement_proto::v1 as pb;
use hub_domain::{CaseNumber, CourtCode};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{CourtService, DEFAULT_PAGE, MAX_PAGE};
use crate::{
    Error,
    store::MeasureRow,
    validate::{self, Violations, invalid},
};

/// Default and largest horizon of ListExpiring, in days.
const DEFAULT_EXPIRING_DAYS: u32 = 30;
const MAX_EXPIRING_DAYS: u32 = 3660;

impl CourtService {
    pub(super) async fn get_measure(&self, req: pb::GetRequest) -> Result<pb::Measure, Error> {
        let court = CourtCode::parse(&req.court_code).map_err(|e| invalid("court_code", e))?;
        let id = validate::measure_id(&req.measure_id).map_err(|e| invalid("measure_id", e))?;
        Ok(self.own_measure(&court, id).await?.to_proto())
    }

    pub(super) async fn list_case(&self, req: pb::ListRequest) -> Result<pb::ListResponse, Error> {
        let mut v = Violations::default();
        let court = v.check("court_code", CourtCode::parse(&req.court_code));
        let case = v.check("case_number", CaseNumber::parse(&req.case_number));
        let after = if req.page_token.is_empty() {
            Some(None)
        } else {
            v.check(
                "page_token",
                Uuid::parse_str(&req.page_token)
                    .map(Some)
                    .map_err(|_| "is not a token returned by List"),
            )
        };
        let size = page_size(&mut v, req.page_size);
        let (court, case, after, size) = v.finish(all_parsed!(court, case, after, size))?;
        // One more than asked, to know whether another page follows.
        let rows = self
            .store
            .list_case(&court, case.as_str(), after, i64::from(size) + 1)
            .await?;
        Ok(page(rows, size, |last| last.id.to_string()))
    }

    pub(super) async fn list_expiring_measures(
        &self,
        req: pb::ListExpiringRequest,
    ) -> Result<pb::ListResponse, Error> {
        let mut v = Violations::default();
        let court = v.check("court_code", CourtCode::parse(&req.court_code));
        if req.within_days > MAX_EXPIRING_DAYS {
            v.add(
                "within_days",
                format!("must be at most {MAX_EXPIRING_DAYS}"),
            );
        }
        let size = page_size(&mut v, req.page_size);
        let after = if req.page_token.is_empty() {
            Some(None)
        } else {
            v.check("page_token", expiring_token(&req.page_token).map(Some))
        };
        let (court, after, size) = v.finish(all_parsed!(court, after, size))?;
        let days = if req.within_days == 0 {
            DEFAULT_EXPIRING_DAYS
        } else {
            req.within_days
        };
        let now = self.clock.now();
        let rows = self
            .store
            .expiring(
                &court,
                now,
                now + Duration::days(i64::from(days)),
                after,
                i64::from(size) + 1,
            )
            .await?;
        Ok(page(rows, size, |last| {
            last.expires_at
                .map(|e| format!("{}_{}", e.unix_timestamp_nanos() / 1_000, last.id))
                .unwrap_or_default()
        }))
    }
}

/// The page size asked for (0: the default), at most [`MAX_PAGE`].
fn page_size(v: &mut Violations, asked: u32) -> Option<u32> {
    if asked > MAX_PAGE {
        v.add("page_size", format!("must be at most {MAX_PAGE}"));
        return None;
    }
    Some(if asked == 0 { DEFAULT_PAGE } else { asked })
}

/// A page of `size` from `rows` (read one longer, to know whether another page follows), with
/// the token of the next page made from its last row.
fn page(
    mut rows: Vec<MeasureRow>,
    size: u32,
    token: impl Fn(&MeasureRow) -> String,
) -> pb::ListResponse {
    let more = rows.len() > size as usize;
    rows.truncate(size as usize);
    let next_page_token = match (more, rows.last()) {
        (true, Some(last)) => token(last),
        _ => String::new(),
    };
    pb::ListResponse {
        measures: rows.iter().map(MeasureRow::to_proto).collect(),
        next_page_token,
    }
}

/// Parses a ListExpiring page token: `<expiry in microseconds>_<measure id>`.
fn expiring_token(token: &str) -> Result<(OffsetDateTime, Uuid), &'static str> {
    let bad = "is not a token returned by ListExpiring";
    let (micros, id) = token.split_once('_').ok_or(bad)?;
    let micros: i128 = micros.parse().map_err(|_| bad)?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| bad)?;
    Ok((at, Uuid::parse_str(id).map_err(|_| bad)?))
}
