//! The enforcement domain shared by every service of the hub.
//!
//! Courts send measures (freeze, seal-up, distraint, exit restriction, …) through the hub to
//! banks, land registries and public security. Data enters at the edges — the gateway's gRPC
//! API, agency replies, the `hubctl` command line — as strings and integers, and is parsed there
//! into the types of this crate: case numbers, court codes, identity numbers, credit codes,
//! account numbers, bounded text, money in fen and statutory periods. Past the edge nothing holds
//! a raw string for them, so invalid data cannot reach an agency.
//!
//! The crate also holds the rules every service must agree on: which agency kind carries which
//! measure, the maximum period by kind of property (民诉解释 art. 485), how an end date is
//! computed (calendar months then days, in China Standard Time), and which state transitions a
//! measure may make.
//!
//! It has no I/O and no runtime. Every parse error is a sentence naming the rule that was broken,
//! written to be shown to a court user next to the field.

mod account;
mod agency;
mod case_number;
mod clock;
mod court;
mod credit_code;
mod error;
mod idempotency;
mod identity;
mod kind;
mod money;
mod period;
mod state;
mod text;

pub use account::AccountNumber;
pub use agency::{AgencyCode, AgencyId};
pub use case_number::CaseNumber;
pub use clock::Clock;
pub use court::{CourtCode, PROVINCE_ABBREVIATIONS};
pub use credit_code::CreditCode;
pub use error::{IdentifierError, UnknownNameError};
pub use idempotency::{IdempotencyKey, IdempotencyKeyError};
pub use identity::ResidentId;
pub use kind::{AgencyKind, MeasureKind};
pub use money::{Money, MoneyError};
pub use period::{CHINA_STANDARD_TIME, Period, PeriodError, StatutoryMaximum};
pub use state::MeasureState;
pub use text::{DocumentNumber, OrganisationName, PersonName, Text, TextError};
