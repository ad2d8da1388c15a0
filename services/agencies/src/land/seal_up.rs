//! What is particular to real estate: who may be sealed up, pre-seizure (预查封) and its
//! conversion, real-estate inquiries.
//!
//! - A seal-up (查封) binds property whose title is registered to the subject. Property only
//!   advance-registered (预告登记) or presold (预售合同备案) to the subject cannot be sealed up: the
//!   court must order a pre-seizure, which has the same effect (法发〔2004〕5号 arts. 13-15).
//! - When title is registered to the subject, each pre-seizure for that subject converts on its
//!   own to a formal seal-up. Its period is still counted from the pre-seizure date, so its expiry
//!   does not move; the registry issues a seal-up registration number and tells the court.
//! - Periods are at most 36 months (民诉解释 art. 485).

use enforcement_proto::v1 as pb;
use hub_domain::StatutoryMaximum;
use sqlx::PgConnection;

use crate::{
    checks::checked_period,
    holds::{HoldKind, HoldRow, HoldState, Holds, NewHold, Party, registration_number},
    outcome::{Changes, Refusal, date, done},
    stored::UnknownWord,
};

/// Whether a property is a building unit or a land parcel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyKind {
    /// A real-property unit (不动产单元): flat, house, commercial unit.
    Unit,
    /// A land parcel (宗地).
    Parcel,
}

impl PropertyKind {
    /// The word stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unit => "unit",
            Self::Parcel => "parcel",
        }
    }

    fn to_proto(self) -> pb::PropertyKind {
        match self {
            Self::Unit => pb::PropertyKind::Unit,
            Self::Parcel => pb::PropertyKind::Parcel,
        }
    }
}

impl TryFrom<String> for PropertyKind {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "unit" => Ok(Self::Unit),
            "parcel" => Ok(Self::Parcel),
            _ => Err(UnknownWord::new("property kind", word)),
        }
    }
}

/// How far the holder's title has come: only registered title can be sealed up; the rest can be
/// pre-seized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TitleStatus {
    /// Title registered to the holder.
    Registered,
    /// Advance registration (预告登记) in the holder's favour; title not yet registered.
    AdvanceRegistered,
    /// Presale contract recorded (预售合同备案) with the holder as buyer.
    Presold,
}

impl TitleStatus {
    /// The word stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::AdvanceRegistered => "advance_registered",
            Self::Presold => "presold",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::AdvanceRegistered => "only advance-registered (预告登记)",
            Self::Presold => "only presold (预售合同备案)",
        }
    }
}

impl TryFrom<String> for TitleStatus {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "registered" => Ok(Self::Registered),
            "advance_registered" => Ok(Self::AdvanceRegistered),
            "presold" => Ok(Self::Presold),
            _ => Err(UnknownWord::new("title status", word)),
        }
    }
}

/// One row of `properties`.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct PropertyRow {
    /// The registry region.
    pub agency_code: String,
    /// Unit or parcel number.
    pub property_id: String,
    /// Unit or parcel.
    #[sqlx(try_from = "String")]
    pub kind: PropertyKind,
    /// Street address.
    pub address: String,
    /// Identity number or credit code of the holder (the buyer, before registration).
    pub holder_id: String,
    /// The holder's name.
    pub holder_name: String,
    /// How far the title has come.
    #[sqlx(try_from = "String")]
    pub status: TitleStatus,
}

/// Locks a property's row: the first lock of every operation on it.
pub async fn lock_property(
    conn: &mut PgConnection,
    agency_code: &str,
    property_id: &str,
) -> Result<Option<PropertyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT agency_code, property_id, kind, address, holder_id, holder_name, status \
         FROM properties WHERE agency_code = $1 AND property_id = $2 FOR UPDATE",
    )
    .bind(agency_code)
    .bind(property_id)
    .fetch_optional(conn)
    .await
}

/// Seals up (or pre-seizes) a property of the subject: EFFECTIVE if the property is free, WAITING
/// behind the seal-ups already on it otherwise.
pub async fn seal_up(
    holds: &mut Holds<'_>,
    instruction: &pb::Instruction,
    order: &pb::SealUp,
) -> Result<Changes, sqlx::Error> {
    let measure_id = &instruction.measure_id;
    let now = holds.now;
    if let Some(earlier) = holds.already_held(measure_id).await? {
        return Ok(Changes::outcome(earlier));
    }
    let measure = if order.pre_seizure {
        "pre-seizure"
    } else {
        "seal-up"
    };
    let Some(subject) = Party::of(instruction.subject.as_ref()) else {
        return Ok(Changes::refused(
            measure_id,
            Refusal::new(pb::ReasonCode::DocumentDefect, "the order names no subject"),
            now,
        ));
    };
    let property_id = order.property_id.trim();
    let Some(property) = lock_property(holds.conn, holds.agency_code, property_id).await? else {
        return Ok(Changes::refused(
            measure_id,
            Refusal::new(
                pb::ReasonCode::NotFound,
                format!(
                    "no property {property_id} in the register of region {}",
                    holds.agency_code
                ),
            ),
            now,
        ));
    };
    if let Err(refusal) = check_eligible(&property, order, &subject) {
        return Ok(Changes::refused(measure_id, refusal, now));
    }
    let period = match checked_period(
        order.period.as_ref(),
        StatutoryMaximum::RealEstate,
        now,
        measure,
    ) {
        Ok(p) => p,
        Err(refusal) => return Ok(Changes::refused(measure_id, refusal, now)),
    };
    let mut outcome = holds
        .place(
            instruction,
            NewHold {
                kind: HoldKind::SealUp,
                asset_id: property.property_id,
                pre_seizure: order.pre_seizure,
                period,
                subject,
            },
        )
        .await?;
    if order.pre_seizure {
        outcome.note.push_str(
            "; it converts to a formal seal-up, its period counted from today, when title is \
             registered to the subject",
        );
    }
    Ok(Changes::outcome(outcome))
}

/// Whether the order may bind this property: the kind named must be the property's, the holder
/// must be the subject, and the title must be registered for a seal-up and not yet registered for
/// a pre-seizure.
fn check_eligible(
    property: &PropertyRow,
    order: &pb::SealUp,
    subject: &Party,
) -> Result<(), Refusal> {
    let what = format!("property {}", property.property_id);
    if order.property_kind != pb::PropertyKind::Unspecified as i32
        && order.property_kind != property.kind.to_proto() as i32
    {
        return Err(Refusal::new(
            pb::ReasonCode::DocumentDefect,
            format!(
                "{what} is a {}, not what the order names",
                property.kind.as_str()
            ),
        ));
    }
    subject.check_holds(&property.holder_id, &property.holder_name, &what)?;
    match (order.pre_seizure, property.status) {
        (false, TitleStatus::Registered)
        | (true, TitleStatus::AdvanceRegistered | TitleStatus::Presold) => Ok(()),
        (false, status) => Err(Refusal::new(
            pb::ReasonCode::DocumentDefect,
            format!(
                "{what} is {} to the subject, not yet registered; order a pre-seizure (预查封)",
                status.words()
            ),
        )),
        (true, TitleStatus::Registered) => Err(Refusal::new(
            pb::ReasonCode::DocumentDefect,
            format!("{what} is already registered to the subject; order a seal-up (查封)"),
        )),
    }
}

/// Why title cannot be registered as asked.
#[derive(Debug, thiserror::Error)]
pub enum TitleError {
    /// No such property in the region.
    #[error("no property {0} in the register")]
    NotFound(String),
    /// A court's measure against another person stands on the property.
    #[error(
        "property {property_id} is bound by {label} {registration_number} against another person; \
         title cannot pass to a new holder while it stands"
    )]
    Sealed {
        /// The property.
        property_id: String,
        /// `seal-up` or `pre-seizure`.
        label: &'static str,
        /// The measure in the way.
        registration_number: String,
    },
    /// The register failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Registers title to `holder` and converts every live pre-seizure for that holder to a formal
/// seal-up, expiry unchanged. Returns the converted holds and their updates for the notice.
///
/// Refused while a seal-up or pre-seizure against another person stands: a sealed-up property
/// cannot change hands, which is the point of sealing it up.
pub async fn register_title(
    holds: &mut Holds<'_>,
    property_id: &str,
    holder: &Party,
) -> Result<Vec<(HoldRow, pb::MeasureUpdate)>, TitleError> {
    let Some(property) = lock_property(holds.conn, holds.agency_code, property_id).await? else {
        return Err(TitleError::NotFound(property_id.to_string()));
    };
    let live = holds.live(HoldKind::SealUp, &property.property_id).await?;
    if let Some(other) = live.iter().find(|h| h.subject_id != holder.id) {
        return Err(TitleError::Sealed {
            property_id: property.property_id,
            label: other.label(),
            registration_number: other.registration_number.clone(),
        });
    }
    let mut converted = Vec::new();
    for mut hold in live.into_iter().filter(|h| h.pre_seizure) {
        let old_number = hold.registration_number.clone();
        hold.pre_seizure = false;
        hold.registration_number =
            registration_number(holds.agency_code, HoldKind::SealUp, false, hold.seq);
        hold.revision += 1;
        holds.save(&hold).await?;
        let standing = match hold.state {
            HoldState::Waiting => format!("waiting at position {}", hold.waiting_position),
            _ => format!(
                "in force until {}, its period still counted from the pre-seizure date",
                date(hold.expires_at)
            ),
        };
        let note = format!(
            "title registered to the subject: pre-seizure {old_number} converted to formal \
             seal-up {} (法发〔2004〕5号 arts. 13-15), {standing}",
            hold.registration_number
        );
        let update = hold.update(pb::UpdateCause::Converted, note, holds.now);
        converted.push((hold, update));
    }
    sqlx::query(
        "UPDATE properties SET status = 'registered', holder_id = $3, holder_name = $4, \
             updated_at = $5 \
         WHERE agency_code = $1 AND property_id = $2",
    )
    .bind(holds.agency_code)
    .bind(&property.property_id)
    .bind(&holder.id)
    .bind(&holder.name)
    .bind(holds.now)
    .execute(&mut *holds.conn)
    .await?;
    Ok(converted)
}

/// Answers a real-estate inquiry: every property the subject holds in the region (registered,
/// advance-registered or presold, since a court may seal up the first and pre-seize the others),
/// with whether a seal-up is in force on it.
pub async fn inquire(
    holds: &mut Holds<'_>,
    instruction: &pb::Instruction,
    order: &pb::Inquiry,
) -> Result<(Changes, Option<pb::InquiryAnswer>), sqlx::Error> {
    let measure_id = &instruction.measure_id;
    let now = holds.now;
    if order.classes.is_empty() {
        return Ok((
            Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::DocumentDefect,
                    "the inquiry names no asset class",
                ),
                now,
            ),
            None,
        ));
    }
    if !order.classes.contains(&(pb::AssetClass::RealEstate as i32)) {
        return Ok((
            Changes::refused(
                measure_id,
                Refusal::new(
                    pb::ReasonCode::NotSupported,
                    "a land registry answers real-estate inquiries only",
                ),
                now,
            ),
            None,
        ));
    }
    let Some(subject) = Party::of(instruction.subject.as_ref()) else {
        return Ok((
            Changes::refused(
                measure_id,
                Refusal::new(pb::ReasonCode::DocumentDefect, "the order names no subject"),
                now,
            ),
            None,
        ));
    };
    let found: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT p.kind, p.property_id, p.address, \
             EXISTS (SELECT 1 FROM holds h WHERE h.agency_code = p.agency_code \
                 AND h.asset_id = p.property_id AND h.state = 'effective') \
         FROM properties p WHERE p.agency_code = $1 AND p.holder_id = $2 \
         ORDER BY p.property_id",
    )
    .bind(holds.agency_code)
    .bind(&subject.id)
    .fetch_all(&mut *holds.conn)
    .await?;
    let note = if found.is_empty() {
        format!(
            "no property held by the subject in region {}",
            holds.agency_code
        )
    } else {
        format!(
            "{} property record(s) held by the subject in region {}",
            found.len(),
            holds.agency_code
        )
    };
    let mut holdings = Vec::with_capacity(found.len());
    for (kind, property_id, address, sealed) in found {
        let kind = PropertyKind::try_from(kind).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        holdings.push(pb::Holding {
            asset: Some(pb::holding::Asset::Property(pb::PropertyHolding {
                property_kind: kind.to_proto() as i32,
                property_id,
                address,
                sealed,
            })),
        });
    }
    Ok((
        Changes::outcome(done(measure_id, "", None, note, now)),
        Some(pb::InquiryAnswer { holdings }),
    ))
}
