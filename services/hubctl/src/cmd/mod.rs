//! One module per command, each owning its options (its clap `Args`), what it sends and how it
//! reports the answer; what the measure-creating commands share is in [`submit`], the options
//! several commands share in [`crate::cli`].

pub mod agencies;
pub mod agency_key;
pub mod answers;
pub mod audit;
pub mod bank;
pub mod case;
pub mod case_freeze;
pub mod deduct;
pub mod distrain;
pub mod dlq;
pub mod enrol;
pub mod evidence;
pub mod expiring;
pub mod freeze;
pub mod health;
pub mod inquire;
pub mod keygen;
pub mod list;
pub mod ops;
pub mod pki;
pub mod ranking;
pub mod release;
pub mod renew;
pub mod restrict_exit;
pub mod seal_up;
pub mod status;
pub mod submit;
pub mod trace;
pub mod watch;
