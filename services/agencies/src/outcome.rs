//! What an agency answers: the outcome of an instruction, refusals with a coded reason, the
//! updates to other measures an instruction or a lapse caused, and dates as courts read them.
//!
//! Every reference agency builds its answers here, so that a refusal, a release or a renewal
//! looks the same to the hub whichever agency sent it.

use enforcement_proto::{
    convert::{timestamp, timestamp_opt},
    v1 as pb,
};
use hub_domain::CHINA_STANDARD_TIME;
use time::OffsetDateTime;

/// A refusal: the outcome is REJECTED with this code and sentence.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The coded reason.
    pub code: pb::ReasonCode,
    /// A sentence for the enforcement officer.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and a sentence.
    pub fn new(code: pb::ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// What an instruction changed: its own outcome and updates to other measures.
#[derive(Debug, Default)]
pub struct Changes {
    /// The instruction's own measure.
    pub outcome: Option<pb::MeasureUpdate>,
    /// The target of a release, renewal or deduction, a promoted measure, positions that moved
    /// up.
    pub related: Vec<pb::MeasureUpdate>,
}

impl Changes {
    /// Only an outcome.
    pub fn outcome(update: pb::MeasureUpdate) -> Self {
        Self {
            outcome: Some(update),
            related: Vec::new(),
        }
    }

    /// A REJECTED outcome.
    pub fn refused(measure_id: &str, refusal: Refusal, at: OffsetDateTime) -> Self {
        Self::outcome(rejected(measure_id, refusal, at))
    }
}

/// The REJECTED outcome for `measure_id`. A refused measure has no row, so its only revision is 1.
pub fn rejected(measure_id: &str, refusal: Refusal, at: OffsetDateTime) -> pb::MeasureUpdate {
    pb::MeasureUpdate {
        measure_id: measure_id.to_string(),
        revision: 1,
        state: pb::MeasureState::Rejected as i32,
        reason: Some(pb::Reason {
            code: refusal.code as i32,
            message: refusal.message.clone(),
        }),
        at: Some(timestamp(at)),
        cause: pb::UpdateCause::Executed as i32,
        note: refusal.message,
        ..Default::default()
    }
}

/// The outcome of an order carried out at once that leaves nothing of its own in force (a
/// release, a renewal, an inquiry, a deduction): EFFECTIVE, revision 1.
pub fn done(
    measure_id: &str,
    registration_number: &str,
    expires_at: Option<OffsetDateTime>,
    note: String,
    at: OffsetDateTime,
) -> pb::MeasureUpdate {
    pb::MeasureUpdate {
        measure_id: measure_id.to_string(),
        revision: 1,
        state: pb::MeasureState::Effective as i32,
        effective_at: Some(timestamp(at)),
        expires_at: timestamp_opt(expires_at),
        registration_number: registration_number.to_string(),
        at: Some(timestamp(at)),
        cause: pb::UpdateCause::Executed as i32,
        note,
        ..Default::default()
    }
}

/// One measure that lapsed at its expiry and what its end caused, for one notice.
#[derive(Debug)]
pub struct Lapse {
    /// The lapse, then any promotion and position changes.
    pub updates: Vec<pb::MeasureUpdate>,
    /// The notice's sentence for the court.
    pub message: String,
}

/// A date as courts read it: the calendar day in China Standard Time.
pub fn date(at: Option<OffsetDateTime>) -> String {
    at.map(|t| format!("{} (UTC+08:00)", t.to_offset(CHINA_STANDARD_TIME).date()))
        .unwrap_or_else(|| "-".into())
}
