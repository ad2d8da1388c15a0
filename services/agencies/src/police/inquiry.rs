//! Inquiries public security answers: the subject's vehicles (with whether each is distrained)
//! and the subject's latest known whereabouts (for a natural person).

use enforcement_proto::{convert::timestamp, v1 as pb};
use time::OffsetDateTime;

use crate::{
    holds::{Holds, Party},
    outcome::{Changes, Refusal, date, done},
};

/// Answers the vehicle and whereabouts classes of an inquiry; other classes are not known here.
pub async fn inquire(
    holds: &mut Holds<'_>,
    instruction: &pb::Instruction,
    order: &pb::Inquiry,
) -> Result<(Changes, Option<pb::InquiryAnswer>), sqlx::Error> {
    let measure_id = &instruction.measure_id;
    let now = holds.now;
    let refuse = |code, message: &str| {
        Ok((
            Changes::refused(measure_id, Refusal::new(code, message), now),
            None,
        ))
    };
    if order.classes.is_empty() {
        return refuse(
            pb::ReasonCode::DocumentDefect,
            "the inquiry names no asset class",
        );
    }
    let vehicles = order.classes.contains(&(pb::AssetClass::Vehicles as i32));
    let whereabouts = order
        .classes
        .contains(&(pb::AssetClass::Whereabouts as i32));
    if !vehicles && !whereabouts {
        return refuse(
            pb::ReasonCode::NotSupported,
            "public security answers vehicle and whereabouts inquiries only",
        );
    }
    let Some(subject) = Party::of(instruction.subject.as_ref()) else {
        return refuse(pb::ReasonCode::DocumentDefect, "the order names no subject");
    };
    let mut holdings = Vec::new();
    let mut found = Vec::new();
    if vehicles {
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT v.plate, v.vin, \
                 EXISTS (SELECT 1 FROM holds h WHERE h.agency_code = v.agency_code \
                     AND h.kind = 'distraint' AND h.asset_id = v.vin AND h.state = 'effective') \
             FROM vehicles v WHERE v.agency_code = $1 AND v.holder_id = $2 ORDER BY v.plate",
        )
        .bind(holds.agency_code)
        .bind(&subject.id)
        .fetch_all(&mut *holds.conn)
        .await?;
        found.push(format!("{} vehicle(s)", rows.len()));
        holdings.extend(
            rows.into_iter()
                .map(|(plate, vin, distrained)| pb::Holding {
                    asset: Some(pb::holding::Asset::Vehicle(pb::VehicleHolding {
                        plate,
                        vin,
                        distrained,
                    })),
                }),
        );
    }
    let is_person = matches!(
        instruction.subject.as_ref().and_then(|s| s.party.as_ref()),
        Some(pb::subject::Party::Person(_))
    );
    if whereabouts && is_person {
        let latest: Option<(String, OffsetDateTime)> = sqlx::query_as(
            "SELECT place, seen_at FROM sightings WHERE agency_code = $1 AND resident_id = $2 \
             ORDER BY seen_at DESC, id DESC LIMIT 1",
        )
        .bind(holds.agency_code)
        .bind(&subject.id)
        .fetch_optional(&mut *holds.conn)
        .await?;
        match latest {
            Some((place, seen_at)) => {
                found.push(format!("last seen {}", date(Some(seen_at))));
                holdings.push(pb::Holding {
                    asset: Some(pb::holding::Asset::Whereabouts(pb::Whereabouts {
                        place,
                        seen_at: Some(timestamp(seen_at)),
                    })),
                });
            }
            None => found.push("no known whereabouts".into()),
        }
    } else if whereabouts {
        found.push("no whereabouts for an organisation".into());
    }
    let note = format!("unit {}: {}", holds.agency_code, found.join("; "));
    Ok((
        Changes::outcome(done(measure_id, "", None, note, now)),
        Some(pb::InquiryAnswer { holdings }),
    ))
}
