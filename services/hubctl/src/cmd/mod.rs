//! One module per command; what the measure-creating commands share is in [`submit`].

pub mod bank;
pub mod deduct;
pub mod freeze;
pub mod health;
pub mod list;
pub mod release;
pub mod renew;
pub mod status;
pub mod submit;
pub mod watch;
