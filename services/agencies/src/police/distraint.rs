//! Distraint (扣押) of a vehicle through the vehicle administration: exclusive, so a second
//! court's distraint waits (轮候); at most 24 months (民诉解释 art. 485, movables).
//!
//! The vehicle is found by VIN when the order gives one, because the VIN is stamped on the frame
//! and never changes, while plates are reissued; by plate otherwise.

use enforcement_proto::v1 as pb;
use hub_domain::StatutoryMaximum;
use sqlx::PgConnection;

use crate::{
    checks::checked_period,
    holds::{HoldKind, Holds, NewHold, Party},
    outcome::{Changes, Refusal},
};

/// One row of `vehicles`.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct VehicleRow {
    /// The public security unit.
    pub agency_code: String,
    /// Vehicle identification number; names the vehicle.
    pub vin: String,
    /// Licence plate.
    pub plate: String,
    /// The holder's identity number or credit code.
    pub holder_id: String,
    /// The holder's name.
    pub holder_name: String,
}

/// A VIN in its stored form: 17 characters of `A-Z 0-9` without I, O or Q (ISO 3779, GB 16735),
/// upper case; `None` if the input is not one.
pub fn parse_vin(input: &str) -> Option<String> {
    let vin = input.trim().to_ascii_uppercase();
    (vin.len() == 17
        && vin.chars().all(|c| {
            c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'O' | 'Q'))
        }))
    .then_some(vin)
}

/// Locks a vehicle's row, by VIN if given, else by plate.
async fn lock_vehicle(
    conn: &mut PgConnection,
    agency_code: &str,
    vin: &str,
    plate: &str,
) -> Result<Option<VehicleRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT agency_code, vin, plate, holder_id, holder_name FROM vehicles \
         WHERE agency_code = $1 AND (CASE WHEN $2 <> '' THEN vin = $2 ELSE plate = $3 END) \
         FOR UPDATE",
    )
    .bind(agency_code)
    .bind(vin)
    .bind(plate)
    .fetch_optional(conn)
    .await
}

/// Distrains a vehicle of the subject: EFFECTIVE if it is free, WAITING behind the distraints
/// already on it otherwise.
pub async fn distrain(
    holds: &mut Holds<'_>,
    instruction: &pb::Instruction,
    order: &pb::Distraint,
) -> Result<Changes, sqlx::Error> {
    let measure_id = &instruction.measure_id;
    let now = holds.now;
    if let Some(earlier) = holds.already_held(measure_id).await? {
        return Ok(Changes::outcome(earlier));
    }
    let refuse = |code, message: String| {
        Ok(Changes::refused(
            measure_id,
            Refusal::new(code, message),
            now,
        ))
    };
    let Some(subject) = Party::of(instruction.subject.as_ref()) else {
        return refuse(
            pb::ReasonCode::DocumentDefect,
            "the order names no subject".into(),
        );
    };
    let plate = order.plate.trim();
    let vin = if order.vin.trim().is_empty() {
        String::new()
    } else {
        match parse_vin(&order.vin) {
            Some(vin) => vin,
            None => {
                return refuse(
                    pb::ReasonCode::DocumentDefect,
                    format!(
                        "{:?} is not a VIN: 17 characters of A-Z and 0-9 without I, O or Q",
                        order.vin
                    ),
                );
            }
        }
    };
    if vin.is_empty() && plate.is_empty() {
        return refuse(
            pb::ReasonCode::DocumentDefect,
            "the distraint names neither a plate nor a VIN".into(),
        );
    }
    let Some(vehicle) = lock_vehicle(holds.conn, holds.agency_code, &vin, plate).await? else {
        let named = if vin.is_empty() {
            format!("plate {plate}")
        } else {
            format!("VIN {vin}")
        };
        return refuse(
            pb::ReasonCode::NotFound,
            format!(
                "no vehicle with {named} in the register of unit {}",
                holds.agency_code
            ),
        );
    };
    if !vin.is_empty() && !plate.is_empty() && vehicle.plate != plate {
        return refuse(
            pb::ReasonCode::DocumentDefect,
            format!(
                "VIN {} is registered with plate {}, not {plate}",
                vehicle.vin, vehicle.plate
            ),
        );
    }
    let what = format!("vehicle {} (VIN {})", vehicle.plate, vehicle.vin);
    if let Err(refusal) = subject.check_holds(&vehicle.holder_id, &vehicle.holder_name, &what) {
        return Ok(Changes::refused(measure_id, refusal, now));
    }
    let period = match checked_period(
        order.period.as_ref(),
        StatutoryMaximum::Movables,
        now,
        "distraint",
    ) {
        Ok(p) => p,
        Err(refusal) => return Ok(Changes::refused(measure_id, refusal, now)),
    };
    let outcome = holds
        .place(
            instruction,
            NewHold {
                kind: HoldKind::Distraint,
                asset_id: vehicle.vin,
                pre_seizure: false,
                period,
                subject,
            },
        )
        .await?;
    Ok(Changes::outcome(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vins_are_seventeen_characters_without_i_o_q() {
        assert_eq!(
            parse_vin(" lsvau2185n2100001 ").as_deref(),
            Some("LSVAU2185N2100001")
        );
        assert_eq!(parse_vin("LSVAU2185N210000"), None);
        assert_eq!(parse_vin("LSVAU2185N210000I"), None);
        assert_eq!(parse_vin("LSVAU2185N210000O"), None);
        assert_eq!(parse_vin("LSVAU2185N210000Q"), None);
        assert_eq!(parse_vin("LSVAU2185N21000-1"), None);
    }
}
