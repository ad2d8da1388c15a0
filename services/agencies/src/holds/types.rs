//! The shape of the hold register: what a hold is, where it stands, its row, and whom an order
//! names. Kinds and states are read from their stored words through `try_from`, so nothing past
//! the row compares strings.

use enforcement_proto::{
    convert::{timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::{CreditCode, Period, ResidentId, StatutoryMaximum};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{outcome::Refusal, stored::UnknownWord};

/// What a hold is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldKind {
    /// Seal-up (查封) or pre-seizure (预查封) of a property; exclusive; at most 36 months.
    SealUp,
    /// Distraint (扣押) of a vehicle; exclusive; at most 24 months.
    Distraint,
    /// Exit restriction (限制出境) on a person; not exclusive; no statutory maximum.
    ExitRestriction,
}

impl HoldKind {
    /// The word stored in `holds.kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SealUp => "seal_up",
            Self::Distraint => "distraint",
            Self::ExitRestriction => "exit_restriction",
        }
    }

    /// Whether a second hold on the same asset must wait (民诉法 art. 106). Several courts may
    /// each bar one person from leaving, so exit restrictions never wait.
    pub const fn exclusive(self) -> bool {
        !matches!(self, Self::ExitRestriction)
    }

    /// The longest period one order or one renewal may set (民诉解释 art. 485).
    pub const fn maximum(self) -> StatutoryMaximum {
        match self {
            Self::SealUp => StatutoryMaximum::RealEstate,
            Self::Distraint => StatutoryMaximum::Movables,
            Self::ExitRestriction => StatutoryMaximum::None,
        }
    }

    /// The letters of the registration number after the agency code: `CF` (查封), `YCF` (预查封),
    /// `KY` (扣押), `XZCJ` (限制出境), as registries and vehicle administrations write them.
    pub const fn registration_mark(self, pre_seizure: bool) -> &'static str {
        match (self, pre_seizure) {
            (Self::SealUp, false) => "CF",
            (Self::SealUp, true) => "YCF",
            (Self::Distraint, _) => "KY",
            (Self::ExitRestriction, _) => "XZCJ",
        }
    }

    /// The measure in words, for notes to the court.
    pub(super) const fn words(self) -> &'static str {
        match self {
            Self::SealUp => "seal-up",
            Self::Distraint => "distraint",
            Self::ExitRestriction => "exit restriction",
        }
    }

    /// The asset in words.
    pub(super) const fn asset_words(self) -> &'static str {
        match self {
            Self::SealUp => "property",
            Self::Distraint => "vehicle",
            Self::ExitRestriction => "person",
        }
    }

    /// Locks the asset's row. Static SQL per kind, so that the lock order (asset, then holds) is
    /// written down in one place.
    pub(super) const fn lock_asset_sql(self) -> &'static str {
        match self {
            Self::SealUp => {
                "SELECT property_id FROM properties WHERE agency_code = $1 AND property_id = $2 FOR UPDATE"
            }
            Self::Distraint => {
                "SELECT vin FROM vehicles WHERE agency_code = $1 AND vin = $2 FOR UPDATE"
            }
            Self::ExitRestriction => {
                "SELECT resident_id FROM persons WHERE agency_code = $1 AND resident_id = $2 FOR UPDATE"
            }
        }
    }
}

impl TryFrom<String> for HoldKind {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "seal_up" => Ok(Self::SealUp),
            "distraint" => Ok(Self::Distraint),
            "exit_restriction" => Ok(Self::ExitRestriction),
            _ => Err(UnknownWord::new("hold kind", word)),
        }
    }
}

/// Where a hold stands at the agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// In force.
    Effective,
    /// Registered behind the hold in force (轮候).
    Waiting,
    /// Lifted by a release order. Final.
    Released,
    /// Reached its expiry without renewal (失效). Final.
    Lapsed,
}

impl HoldState {
    /// The word stored in `holds.state`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Effective => "effective",
            Self::Waiting => "waiting",
            Self::Released => "released",
            Self::Lapsed => "lapsed",
        }
    }

    /// The wire state.
    pub const fn to_proto(self) -> pb::MeasureState {
        match self {
            Self::Effective => pb::MeasureState::Effective,
            Self::Waiting => pb::MeasureState::Waiting,
            Self::Released => pb::MeasureState::Released,
            Self::Lapsed => pb::MeasureState::Lapsed,
        }
    }

    /// In force or waiting: what a release may still end.
    pub const fn is_live(self) -> bool {
        matches!(self, Self::Effective | Self::Waiting)
    }
}

impl TryFrom<String> for HoldState {
    type Error = UnknownWord;

    fn try_from(word: String) -> Result<Self, Self::Error> {
        match word.as_str() {
            "effective" => Ok(Self::Effective),
            "waiting" => Ok(Self::Waiting),
            "released" => Ok(Self::Released),
            "lapsed" => Ok(Self::Lapsed),
            _ => Err(UnknownWord::new("hold state", word)),
        }
    }
}

/// One row of `holds`.
#[derive(sqlx::FromRow, Debug, Clone)]
pub struct HoldRow {
    /// The agency (registry region, public security unit) that holds it.
    pub agency_code: String,
    /// The hub's measure id.
    pub measure_id: Uuid,
    /// The instruction that created it.
    pub instruction_id: Uuid,
    /// Order of receipt; ranks the waiting line.
    pub seq: i64,
    /// What is held: property id, VIN, resident identity number.
    pub asset_id: String,
    /// The ordering court: the only one that may release or renew.
    pub court_code: String,
    /// The case number.
    pub case_number: String,
    /// The subject's identity number or credit code, as the order named it.
    pub subject_id: String,
    /// The subject's name, as the order named it.
    pub subject_name: String,
    /// What the hold is.
    #[sqlx(try_from = "String")]
    pub kind: HoldKind,
    /// Whether later holds on the asset wait behind it.
    pub exclusive: bool,
    /// A pre-seizure (预查封) not yet converted.
    pub pre_seizure: bool,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub state: HoldState,
    /// 1 for the first in line while waiting; 0 otherwise.
    pub waiting_position: i32,
    /// The period ordered (months), counted from when it took effect.
    pub period_months: i32,
    /// The period ordered (days after the months).
    pub period_days: i32,
    /// The agency's registration number.
    pub registration_number: String,
    /// Numbers every change reported to the hub.
    pub revision: i64,
    /// When the agency received the order.
    pub received_at: OffsetDateTime,
    /// When it took effect; `None` while waiting.
    pub effective_at: Option<OffsetDateTime>,
    /// When it lapses unless renewed; `None` while waiting.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was released or lapsed.
    pub ended_at: Option<OffsetDateTime>,
}

impl HoldRow {
    /// The stored period (always one checked before it was stored).
    pub fn period(&self) -> Option<Period> {
        Period::new(
            u32::try_from(self.period_months).ok()?,
            u32::try_from(self.period_days).ok()?,
        )
        .ok()
    }

    /// The measure in words: `pre-seizure`, `seal-up`, `distraint`, `exit restriction`.
    pub fn label(&self) -> &'static str {
        if self.pre_seizure {
            "pre-seizure"
        } else {
            self.kind.words()
        }
    }

    /// The update the hub is told for this hold as it now stands.
    pub fn update(
        &self,
        cause: pb::UpdateCause,
        note: String,
        at: OffsetDateTime,
    ) -> pb::MeasureUpdate {
        pb::MeasureUpdate {
            measure_id: self.measure_id.to_string(),
            revision: u64::try_from(self.revision).unwrap_or(0),
            state: self.state.to_proto() as i32,
            held_fen: 0,
            amount_fen: 0,
            waiting_position: u32::try_from(self.waiting_position).unwrap_or(0),
            effective_at: timestamp_opt(self.effective_at),
            expires_at: timestamp_opt(self.expires_at),
            registration_number: self.registration_number.clone(),
            reason: None,
            at: Some(timestamp(at)),
            cause: cause as i32,
            note,
        }
    }

    /// Takes effect at `now`: its period starts now, whenever it was received.
    pub(super) fn take_effect(&mut self, now: OffsetDateTime) {
        self.state = HoldState::Effective;
        self.waiting_position = 0;
        self.effective_at = Some(now);
        self.expires_at = self.period().map(|p| p.end_from(now));
    }
}

/// The subject of an order: identity number or credit code (normalised), and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Resident identity number or unified social credit code.
    pub id: String,
    /// Name.
    pub name: String,
}

impl Party {
    /// The instruction's subject; `None` if it names none.
    pub fn of(subject: Option<&pb::Subject>) -> Option<Self> {
        let (id, name) = match subject?.party.as_ref()? {
            pb::subject::Party::Person(p) => (p.resident_id.as_str(), p.name.as_str()),
            pb::subject::Party::Organisation(o) => (o.credit_code.as_str(), o.name.as_str()),
        };
        Some(Self {
            id: normalise_id(id),
            name: name.trim().to_string(),
        })
    }

    /// Whether the asset's recorded holder is this party. A different identity number means the
    /// asset is someone else's; the same number under another name is a name mismatch (a typing
    /// error or a changed name), which the court must clear up before the agency acts.
    pub fn check_holds(
        &self,
        holder_id: &str,
        holder_name: &str,
        what: &str,
    ) -> Result<(), Refusal> {
        if holder_id != self.id {
            return Err(Refusal::new(
                pb::ReasonCode::NotOwnedBySubject,
                format!("{what} is not held by the subject"),
            ));
        }
        if holder_name != self.name {
            return Err(Refusal::new(
                pb::ReasonCode::NameMismatch,
                format!(
                    "{what} is held under the subject's identity number but another name than {}",
                    self.name
                ),
            ));
        }
        Ok(())
    }
}

/// An identity number or credit code in its stored form (upper-case check character), or the
/// trimmed input if it is neither: comparing stored and ordered ids must not fail on an `x`.
pub fn normalise_id(id: &str) -> String {
    ResidentId::parse(id)
        .map(|r| r.to_string())
        .or_else(|_| CreditCode::parse(id).map(|c| c.to_string()))
        .unwrap_or_else(|_| id.trim().to_string())
}

/// A hold to register, checked by the caller (asset found and locked, holder and period valid).
#[derive(Debug, Clone)]
pub struct NewHold {
    /// What it is.
    pub kind: HoldKind,
    /// The asset (property id, VIN, resident identity number), already locked.
    pub asset_id: String,
    /// A pre-seizure rather than a seal-up.
    pub pre_seizure: bool,
    /// The checked period.
    pub period: Period,
    /// Whom the order names.
    pub subject: Party,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exit_restrictions_are_not_exclusive() {
        assert!(HoldKind::SealUp.exclusive());
        assert!(HoldKind::Distraint.exclusive());
        assert!(!HoldKind::ExitRestriction.exclusive());
        assert_eq!(HoldKind::SealUp.maximum().months(), Some(36));
        assert_eq!(HoldKind::Distraint.maximum().months(), Some(24));
        assert_eq!(HoldKind::ExitRestriction.maximum().months(), None);
    }

    #[test]
    fn stored_words_round_trip() {
        for kind in [
            HoldKind::SealUp,
            HoldKind::Distraint,
            HoldKind::ExitRestriction,
        ] {
            assert_eq!(
                HoldKind::try_from(kind.as_str().to_string()).ok(),
                Some(kind)
            );
        }
        for state in [
            HoldState::Effective,
            HoldState::Waiting,
            HoldState::Released,
            HoldState::Lapsed,
        ] {
            assert_eq!(
                HoldState::try_from(state.as_str().to_string()).ok(),
                Some(state)
            );
        }
        assert!(HoldState::try_from("deducted".to_string()).is_err());
    }

    #[test]
    fn a_holder_under_another_id_does_not_own_and_under_another_name_mismatches() {
        let party = Party {
            id: "110105198001010016".into(),
            name: "张伟".into(),
        };
        assert!(party.check_holds("110105198001010016", "张伟", "x").is_ok());
        assert_eq!(
            party
                .check_holds("440304198506150023", "王芳", "x")
                .map_err(|r| r.code),
            Err(pb::ReasonCode::NotOwnedBySubject)
        );
        assert_eq!(
            party
                .check_holds("110105198001010016", "张卫", "x")
                .map_err(|r| r.code),
            Err(pb::ReasonCode::NameMismatch)
        );
    }
}
