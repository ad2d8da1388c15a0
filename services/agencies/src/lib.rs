//! Reference agency systems that ship with the hub.
//!
//! Each implements the same `AgencyBackend` contract a partner agency implements, with the real
//! rules of its trade, so that the hub can be demonstrated and tested end to end without a bank
//! or registry at hand. Instructions enter through `Execute`; changes nobody asked for at that
//! moment leave through [`notices`] to the adapter's inbox. Ledgers live in PostgreSQL.

pub mod bank;
pub mod faults;
pub mod holds;
pub mod land;
pub mod notices;
pub mod office;
pub mod police;
mod serving;
