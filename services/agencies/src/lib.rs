//! Reference agency systems that ship with the hub.
//!
//! Each implements the same `AgencyBackend` contract a partner agency implements, with the real
//! rules of its trade, so that the hub can be demonstrated and tested end to end without a bank
//! or registry at hand. Instructions enter through `Execute`; changes nobody asked for at that
//! moment leave through [`notices`] to the adapter's inbox. Ledgers live in PostgreSQL.
//!
//! What every agency does the same way is shared: the process ([`application`], [`config`]),
//! the office around the trade ([`office`]: addressing, once-only execution, lapses), the
//! [`journal`] of answered instructions, the [`outcome`]s it answers, the [`checks`] of an order
//! and the [`notices`] outbox. Each trade keeps its own rules: the bank's ledger of money
//! ([`bank`]), and the register of holds ([`holds`]) shared by the land registry ([`land`]) and
//! public security ([`police`]).

pub mod application;
pub mod bank;
pub mod checks;
pub mod config;
pub mod faults;
pub mod holds;
pub mod journal;
pub mod land;
pub mod notices;
pub mod office;
pub mod outcome;
pub mod police;
pub mod stored;
