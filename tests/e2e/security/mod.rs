//! Trust: every party proves who it is with a certificate of the hub CA, sees only what is its
//! own, and signs what it says.
//!
//! - [`handshake`]: no client certificate, one of another CA, an expired one and a revoked one
//!   are each refused by the gateway, an adapter's inbox and an agency system.
//! - [`courts`]: a court is its certificate: naming another court is `PERMISSION_DENIED` on
//!   `court_code` with nothing written, another court's measures are absent, and only an
//!   operator's certificate opens the Ops service.
//! - [`reports`]: reports must be signed by the agency's adapter and outcomes sealed by its
//!   system, with keys registered at the gateway; forged, unsigned, wrongly keyed and replayed
//!   reports change nothing and end in dead letters with the reason; keys rotate with an overlap.
//! - [`broker`]: an enrolled agency's broker user reads only its own queue and publishes only
//!   reports; its reports count only from that user; a suspended agency's queue keeps its orders.
//! - [`evidence`]: a measure's evidence file verifies offline, and one changed byte fails it.
//! - [`logs`]: no service logs a name, identity number or account number.
//! - [`audit`]: the audit log is a hash chain that names the first entry altered, removed or
//!   reordered.

mod audit;
mod broker;
mod courts;
mod evidence;
mod handshake;
mod logs;
mod reports;
