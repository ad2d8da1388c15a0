//! `LandAdmin`: recording properties, registering title, reading the register; and the demo
//! fixture, which records properties through the same checks.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use enforcement_proto::{
    convert::{timestamp, timestamp_opt},
    reference::{self as admin, land_admin_server::LandAdmin},
};
use hub_domain::{AgencyCode, Text};
use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use super::{
    Registry,
    seal_up::{self, PropertyKind, TitleError, TitleStatus},
};
use crate::{
    checks::parse_holder,
    holds::{HoldKind, HoldRow, Holds, Party},
    notices,
    stored::now,
};

/// Longest address kept.
const MAX_ADDRESS_CHARS: usize = 200;

#[tonic::async_trait]
impl LandAdmin for Registry {
    async fn register_property(
        &self,
        request: Request<admin::RegisterPropertyRequest>,
    ) -> Result<Response<admin::Property>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let record = PropertyRecord::parse(
            code,
            &req.property_id,
            &req.kind,
            &req.address,
            &req.holder_id,
            &req.holder_name,
            &req.status,
        )?;
        let recorded = record
            .insert(&self.pool, now(&self.clock))
            .await
            .map_err(Registry::unavailable)?;
        if !recorded {
            return Err(Status::already_exists(format!(
                "region {code} already has property {}",
                record.property_id
            )));
        }
        self.property(code, &record.property_id)
            .await
            .map(Response::new)
    }

    async fn register_title(
        &self,
        request: Request<admin::RegisterTitleRequest>,
    ) -> Result<Response<admin::RegisterTitleResponse>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let (id, name) = parse_holder(&req.holder_id, &req.holder_name)?;
        let holder = Party { id, name };
        let property_id = req.property_id.trim();
        let now = now(&self.clock);
        let mut tx = self.pool.begin().await.map_err(Registry::unavailable)?;
        let converted = seal_up::register_title(
            &mut Holds {
                conn: &mut tx,
                agency_code: code.as_str(),
                now,
            },
            property_id,
            &holder,
        )
        .await
        .map_err(|e| match e {
            TitleError::NotFound(_) => Status::not_found(e.to_string()),
            TitleError::Sealed { .. } => Status::failed_precondition(e.to_string()),
            TitleError::Database(e) => Registry::unavailable(e),
        })?;
        let updates: Vec<_> = converted.iter().map(|(_, u)| u.clone()).collect();
        let any = !updates.is_empty();
        notices::record(
            &mut tx,
            &Self::agency_ref(code),
            updates,
            "title registered to the subject: pre-seizure converted to a formal seal-up",
            now,
        )
        .await
        .map_err(Registry::unavailable)?;
        tx.commit().await.map_err(Registry::unavailable)?;
        if any {
            self.notices_wake.notify_one();
        }
        Ok(Response::new(admin::RegisterTitleResponse {
            property: Some(self.property(code, property_id).await?),
            converted: converted.iter().map(|(h, _)| property_hold(h)).collect(),
        }))
    }

    async fn get_property(
        &self,
        request: Request<admin::PropertyRequest>,
    ) -> Result<Response<admin::Property>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        self.property(code, req.property_id.trim())
            .await
            .map(Response::new)
    }

    async fn list_holds(
        &self,
        request: Request<admin::ListPropertyHoldsRequest>,
    ) -> Result<Response<admin::ListPropertyHoldsResponse>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let property_id = req.property_id.trim();
        let mut conn = self.pool.acquire().await.map_err(Registry::unavailable)?;
        let rows = Holds {
            conn: &mut conn,
            agency_code: code.as_str(),
            now: now(&self.clock),
        }
        .list(
            Some(HoldKind::SealUp),
            (!property_id.is_empty()).then_some(property_id),
        )
        .await
        .map_err(Registry::unavailable)?;
        Ok(Response::new(admin::ListPropertyHoldsResponse {
            holds: rows.iter().map(property_hold).collect(),
        }))
    }
}

impl Registry {
    /// A property with whether it is sealed up and how many seal-ups wait on it.
    async fn property(
        &self,
        code: &AgencyCode,
        property_id: &str,
    ) -> Result<admin::Property, Status> {
        let row: Option<PropertyView> = sqlx::query_as(
            "SELECT p.agency_code, p.property_id, p.kind, p.address, p.holder_id, p.holder_name, \
                 p.status, \
                 EXISTS (SELECT 1 FROM holds h WHERE h.agency_code = p.agency_code \
                     AND h.asset_id = p.property_id AND h.state = 'effective') AS sealed, \
                 (SELECT count(*) FROM holds h WHERE h.agency_code = p.agency_code \
                     AND h.asset_id = p.property_id AND h.state = 'waiting') AS waiting \
             FROM properties p WHERE p.agency_code = $1 AND p.property_id = $2",
        )
        .bind(code.as_str())
        .bind(property_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Registry::unavailable)?;
        let Some(PropertyView {
            property: p,
            sealed,
            waiting,
        }) = row
        else {
            return Err(Status::not_found(format!(
                "no property {property_id} in the register of region {code}"
            )));
        };
        Ok(admin::Property {
            agency_code: p.agency_code,
            property_id: p.property_id,
            kind: p.kind.as_str().to_string(),
            address: p.address,
            holder_id: p.holder_id,
            holder_name: p.holder_name,
            status: p.status.as_str().to_string(),
            sealed,
            waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
        })
    }
}

/// A property with what binds it.
#[derive(sqlx::FromRow)]
struct PropertyView {
    #[sqlx(flatten)]
    property: seal_up::PropertyRow,
    /// A seal-up or pre-seizure is in force.
    sealed: bool,
    /// Seal-ups waiting behind it.
    waiting: i64,
}

/// A seal-up as the administration API shows it.
fn property_hold(h: &HoldRow) -> admin::PropertyHold {
    admin::PropertyHold {
        measure_id: h.measure_id.to_string(),
        instruction_id: h.instruction_id.to_string(),
        agency_code: h.agency_code.clone(),
        property_id: h.asset_id.clone(),
        court_code: h.court_code.clone(),
        case_number: h.case_number.clone(),
        subject_id: h.subject_id.clone(),
        state: h.state.as_str().to_string(),
        waiting_position: u32::try_from(h.waiting_position).unwrap_or(0),
        pre_seizure: h.pre_seizure,
        period_months: u32::try_from(h.period_months).unwrap_or(0),
        period_days: u32::try_from(h.period_days).unwrap_or(0),
        registration_number: h.registration_number.clone(),
        revision: u64::try_from(h.revision).unwrap_or(0),
        received_at: Some(timestamp(h.received_at)),
        effective_at: timestamp_opt(h.effective_at),
        expires_at: timestamp_opt(h.expires_at),
        ended_at: timestamp_opt(h.ended_at),
    }
}

/// A checked property record.
struct PropertyRecord {
    agency_code: String,
    property_id: String,
    kind: PropertyKind,
    address: String,
    holder_id: String,
    holder_name: String,
    status: TitleStatus,
}

impl PropertyRecord {
    fn parse(
        code: &AgencyCode,
        property_id: &str,
        kind: &str,
        address: &str,
        holder_id: &str,
        holder_name: &str,
        status: &str,
    ) -> Result<Self, Status> {
        let property_id = property_id.trim();
        if property_id.is_empty()
            || property_id.len() > 64
            || !property_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Status::invalid_argument(
                "property_id: 1 to 64 characters of A-Z, a-z, 0-9 and -",
            ));
        }
        let kind = PropertyKind::try_from(kind.trim().to_string())
            .map_err(|_| Status::invalid_argument("kind: `unit` or `parcel`"))?;
        let status = TitleStatus::try_from(status.trim().to_string()).map_err(|_| {
            Status::invalid_argument("status: `registered`, `advance_registered` or `presold`")
        })?;
        let address = Text::parse(MAX_ADDRESS_CHARS, address)
            .map_err(|e| Status::invalid_argument(format!("address: {e}")))?;
        let (holder_id, holder_name) = parse_holder(holder_id, holder_name)?;
        Ok(Self {
            agency_code: code.to_string(),
            property_id: property_id.to_string(),
            kind,
            address: address.to_string(),
            holder_id,
            holder_name,
            status,
        })
    }

    /// Records the property; `false` if the region already has it.
    async fn insert(&self, pool: &PgPool, now: OffsetDateTime) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO properties (agency_code, property_id, kind, address, holder_id, \
                 holder_name, status, recorded_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (agency_code, property_id) DO NOTHING",
        )
        .bind(&self.agency_code)
        .bind(&self.property_id)
        .bind(self.kind.as_str())
        .bind(&self.address)
        .bind(&self.holder_id)
        .bind(&self.holder_name)
        .bind(self.status.as_str())
        .bind(now)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The demo properties file: `{"registries": {"110105": [{"property_id": …}, …], …}}`.
#[derive(Deserialize)]
struct Fixture {
    registries: BTreeMap<String, Vec<FixtureProperty>>,
}

#[derive(Deserialize)]
struct FixtureProperty {
    property_id: String,
    kind: String,
    address: String,
    holder_id: String,
    holder_name: String,
    status: String,
}

/// Records the fixture's properties of the regions served; returns how many were new. Regions
/// the process does not serve are skipped, so one file can serve every deployment.
pub(super) async fn load_fixture(
    pool: &PgPool,
    codes: &[AgencyCode],
    path: &Path,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let fixture: Fixture =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut recorded = 0;
    for code in codes {
        for p in fixture.registries.get(code.as_str()).into_iter().flatten() {
            let record = PropertyRecord::parse(
                code,
                &p.property_id,
                &p.kind,
                &p.address,
                &p.holder_id,
                &p.holder_name,
                &p.status,
            )
            .map_err(|s| anyhow::anyhow!("fixture property {}: {}", p.property_id, s.message()))?;
            if record
                .insert(pool, now)
                .await
                .with_context(|| format!("recording fixture property {}", p.property_id))?
            {
                recorded += 1;
            }
        }
    }
    Ok(recorded)
}
