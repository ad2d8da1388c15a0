//! `PoliceAdmin`: recording persons, sightings and vehicles, reading the register of holds; and
//! the demo fixture, which records through the same checks.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use enforcement_proto::{
    convert::{instant, timestamp, timestamp_opt},
    reference::{self as admin, police_admin_server::PoliceAdmin},
};
use hub_domain::{AgencyCode, PersonName, ResidentId, Text};
use serde::Deserialize;
use sqlx::PgPool;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tonic::{Request, Response, Status};

use super::{PublicSecurity, distraint::parse_vin};
use crate::{
    checks::parse_holder,
    holds::{HoldKind, HoldRow, Holds},
    stored::now,
};

/// Longest place description kept.
const MAX_PLACE_CHARS: usize = 200;
/// Longest licence plate accepted (新能源 plates have 8 characters; room for foreign formats).
const MAX_PLATE_CHARS: usize = 16;

#[tonic::async_trait]
impl PoliceAdmin for PublicSecurity {
    async fn register_person(
        &self,
        request: Request<admin::RegisterPersonRequest>,
    ) -> Result<Response<admin::Person>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let person = PersonRecord::parse(code, &req.resident_id, &req.name)?;
        if !person
            .insert(&self.pool, now(&self.clock))
            .await
            .map_err(PublicSecurity::unavailable)?
        {
            return Err(Status::already_exists(format!(
                "unit {code} already has a person with identity number {}",
                person.resident_id.masked()
            )));
        }
        Ok(Response::new(admin::Person {
            agency_code: person.agency_code,
            resident_id: person.resident_id.to_string(),
            name: person.name,
        }))
    }

    async fn record_sighting(
        &self,
        request: Request<admin::RecordSightingRequest>,
    ) -> Result<Response<admin::Sighting>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let seen_at = match &req.seen_at {
            Some(ts) => {
                instant(ts).ok_or_else(|| Status::invalid_argument("seen_at: out of range"))?
            }
            None => now(&self.clock),
        };
        let sighting = SightingRecord::parse(code, &req.resident_id, &req.place, seen_at)?;
        if !sighting
            .insert(&self.pool)
            .await
            .map_err(PublicSecurity::unavailable)?
        {
            return Err(Status::not_found(format!(
                "no person with identity number {} on the register of unit {code}",
                sighting.resident_id.masked()
            )));
        }
        Ok(Response::new(admin::Sighting {
            agency_code: sighting.agency_code,
            resident_id: sighting.resident_id.to_string(),
            place: sighting.place,
            seen_at: Some(timestamp(sighting.seen_at)),
        }))
    }

    async fn register_vehicle(
        &self,
        request: Request<admin::RegisterVehicleRequest>,
    ) -> Result<Response<admin::Vehicle>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let vehicle =
            VehicleRecord::parse(code, &req.plate, &req.vin, &req.holder_id, &req.holder_name)?;
        if !vehicle
            .insert(&self.pool, now(&self.clock))
            .await
            .map_err(PublicSecurity::unavailable)?
        {
            return Err(Status::already_exists(format!(
                "unit {code} already has a vehicle with VIN {} or plate {}",
                vehicle.vin, vehicle.plate
            )));
        }
        Ok(Response::new(admin::Vehicle {
            agency_code: vehicle.agency_code,
            plate: vehicle.plate,
            vin: vehicle.vin,
            holder_id: vehicle.holder_id,
            holder_name: vehicle.holder_name,
            distrained: false,
        }))
    }

    async fn list_holds(
        &self,
        request: Request<admin::ListPoliceHoldsRequest>,
    ) -> Result<Response<admin::ListPoliceHoldsResponse>, Status> {
        let req = request.into_inner();
        let code = self.served_code(&req.agency_code)?;
        let plate = req.plate.trim();
        let resident_id = req.resident_id.trim();
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(PublicSecurity::unavailable)?;
        let filter = match (plate.is_empty(), resident_id.is_empty()) {
            (true, true) => None,
            (false, true) => {
                let vin: Option<String> = sqlx::query_scalar(
                    "SELECT vin FROM vehicles WHERE agency_code = $1 AND plate = $2",
                )
                .bind(code.as_str())
                .bind(plate)
                .fetch_optional(&mut *conn)
                .await
                .map_err(PublicSecurity::unavailable)?;
                let vin = vin.ok_or_else(|| {
                    Status::not_found(format!("no vehicle with plate {plate} in unit {code}"))
                })?;
                Some((HoldKind::Distraint, vin))
            }
            (true, false) => {
                let id = ResidentId::parse(resident_id)
                    .map_err(|e| Status::invalid_argument(format!("resident_id: {e}")))?;
                Some((HoldKind::ExitRestriction, id.to_string()))
            }
            (false, false) => {
                return Err(Status::invalid_argument(
                    "give at most one of plate and resident_id",
                ));
            }
        };
        let rows = Holds {
            conn: &mut conn,
            agency_code: code.as_str(),
            now: now(&self.clock),
        }
        .list(
            filter.as_ref().map(|(kind, _)| *kind),
            filter.as_ref().map(|(_, asset)| asset.as_str()),
        )
        .await
        .map_err(PublicSecurity::unavailable)?;
        Ok(Response::new(admin::ListPoliceHoldsResponse {
            holds: rows.iter().map(police_hold).collect(),
        }))
    }
}

/// A distraint or restriction as the administration API shows it.
fn police_hold(h: &HoldRow) -> admin::PoliceHold {
    admin::PoliceHold {
        measure_id: h.measure_id.to_string(),
        instruction_id: h.instruction_id.to_string(),
        agency_code: h.agency_code.clone(),
        kind: h.kind.as_str().to_string(),
        asset_id: h.asset_id.clone(),
        court_code: h.court_code.clone(),
        case_number: h.case_number.clone(),
        subject_id: h.subject_id.clone(),
        state: h.state.as_str().to_string(),
        waiting_position: u32::try_from(h.waiting_position).unwrap_or(0),
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

/// A checked person.
struct PersonRecord {
    agency_code: String,
    resident_id: ResidentId,
    name: String,
}

impl PersonRecord {
    fn parse(code: &AgencyCode, resident_id: &str, name: &str) -> Result<Self, Status> {
        Ok(Self {
            agency_code: code.to_string(),
            resident_id: ResidentId::parse(resident_id)
                .map_err(|e| Status::invalid_argument(format!("resident_id: {e}")))?,
            name: PersonName::parse(name)
                .map_err(|e| Status::invalid_argument(format!("name: {e}")))?
                .to_string(),
        })
    }

    /// Records the person; `false` if the unit already has them.
    async fn insert(&self, pool: &PgPool, now: OffsetDateTime) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO persons (agency_code, resident_id, name, recorded_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (agency_code, resident_id) DO NOTHING",
        )
        .bind(&self.agency_code)
        .bind(self.resident_id.as_str())
        .bind(&self.name)
        .bind(now)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A checked sighting.
struct SightingRecord {
    agency_code: String,
    resident_id: ResidentId,
    place: String,
    seen_at: OffsetDateTime,
}

impl SightingRecord {
    fn parse(
        code: &AgencyCode,
        resident_id: &str,
        place: &str,
        seen_at: OffsetDateTime,
    ) -> Result<Self, Status> {
        Ok(Self {
            agency_code: code.to_string(),
            resident_id: ResidentId::parse(resident_id)
                .map_err(|e| Status::invalid_argument(format!("resident_id: {e}")))?,
            place: Text::parse(MAX_PLACE_CHARS, place)
                .map_err(|e| Status::invalid_argument(format!("place: {e}")))?
                .to_string(),
            seen_at,
        })
    }

    /// Records the sighting of a registered person; `false` if the person is not registered.
    /// The same sighting recorded twice (a fixture loaded again) is kept once.
    async fn insert(&self, pool: &PgPool) -> Result<bool, sqlx::Error> {
        let person: Option<String> = sqlx::query_scalar(
            "SELECT resident_id FROM persons WHERE agency_code = $1 AND resident_id = $2",
        )
        .bind(&self.agency_code)
        .bind(self.resident_id.as_str())
        .fetch_optional(pool)
        .await?;
        if person.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sightings (agency_code, resident_id, place, seen_at) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM sightings \
                 WHERE agency_code = $1 AND resident_id = $2 AND place = $3 AND seen_at = $4)",
        )
        .bind(&self.agency_code)
        .bind(self.resident_id.as_str())
        .bind(&self.place)
        .bind(self.seen_at)
        .execute(pool)
        .await?;
        Ok(true)
    }
}

/// A checked vehicle.
struct VehicleRecord {
    agency_code: String,
    plate: String,
    vin: String,
    holder_id: String,
    holder_name: String,
}

impl VehicleRecord {
    fn parse(
        code: &AgencyCode,
        plate: &str,
        vin: &str,
        holder_id: &str,
        holder_name: &str,
    ) -> Result<Self, Status> {
        let plate = plate.trim();
        if plate.is_empty()
            || plate.chars().count() > MAX_PLATE_CHARS
            || plate.chars().any(char::is_whitespace)
        {
            return Err(Status::invalid_argument(format!(
                "plate: 1 to {MAX_PLATE_CHARS} characters without spaces"
            )));
        }
        let vin = parse_vin(vin).ok_or_else(|| {
            Status::invalid_argument("vin: 17 characters of A-Z and 0-9 without I, O or Q")
        })?;
        let (holder_id, holder_name) = parse_holder(holder_id, holder_name)?;
        Ok(Self {
            agency_code: code.to_string(),
            plate: plate.to_string(),
            vin,
            holder_id,
            holder_name,
        })
    }

    /// Records the vehicle; `false` if the unit already has its VIN or plate.
    async fn insert(&self, pool: &PgPool, now: OffsetDateTime) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO vehicles (agency_code, vin, plate, holder_id, holder_name, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&self.agency_code)
        .bind(&self.vin)
        .bind(&self.plate)
        .bind(&self.holder_id)
        .bind(&self.holder_name)
        .bind(now)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The demo file: `{"units": {"BJ-PSB": {"persons": […], "sightings": […], "vehicles": […]}}}`.
#[derive(Deserialize)]
struct Fixture {
    units: BTreeMap<String, FixtureUnit>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FixtureUnit {
    persons: Vec<FixturePerson>,
    sightings: Vec<FixtureSighting>,
    vehicles: Vec<FixtureVehicle>,
}

#[derive(Deserialize)]
struct FixturePerson {
    resident_id: String,
    name: String,
}

#[derive(Deserialize)]
struct FixtureSighting {
    resident_id: String,
    place: String,
    /// RFC 3339, e.g. `2024-05-01T09:30:00+08:00`.
    seen_at: String,
}

#[derive(Deserialize)]
struct FixtureVehicle {
    plate: String,
    vin: String,
    holder_id: String,
    holder_name: String,
}

/// Records the fixture's persons, sightings and vehicles of the units served; returns how many
/// persons and vehicles were new. Units the process does not serve are skipped.
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
    let invalid = |what: &str, s: Status| anyhow::anyhow!("fixture {what}: {}", s.message());
    for code in codes {
        let Some(unit) = fixture.units.get(code.as_str()) else {
            continue;
        };
        for p in &unit.persons {
            let person = PersonRecord::parse(code, &p.resident_id, &p.name)
                .map_err(|s| invalid(&format!("person {}", p.name), s))?;
            if person
                .insert(pool, now)
                .await
                .context("recording a fixture person")?
            {
                recorded += 1;
            }
        }
        for s in &unit.sightings {
            let seen_at = OffsetDateTime::parse(&s.seen_at, &Rfc3339)
                .with_context(|| format!("fixture sighting at {:?}", s.seen_at))?;
            let sighting = SightingRecord::parse(code, &s.resident_id, &s.place, seen_at)
                .map_err(|st| invalid(&format!("sighting at {}", s.place), st))?;
            anyhow::ensure!(
                sighting
                    .insert(pool)
                    .await
                    .context("recording a fixture sighting")?,
                "fixture sighting at {} names a person not in the fixture",
                s.place
            );
        }
        for v in &unit.vehicles {
            let vehicle =
                VehicleRecord::parse(code, &v.plate, &v.vin, &v.holder_id, &v.holder_name)
                    .map_err(|s| invalid(&format!("vehicle {}", v.plate), s))?;
            if vehicle
                .insert(pool, now)
                .await
                .context("recording a fixture vehicle")?
            {
                recorded += 1;
            }
        }
    }
    Ok(recorded)
}
