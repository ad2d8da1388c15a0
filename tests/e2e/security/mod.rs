//! Trust: what the hub believes of what agencies say. Reports must be signed by the agency's
//! adapter and outcomes sealed by its system, with keys registered at the gateway; forged,
//! unsigned, wrongly keyed and replayed reports change nothing and end in dead letters with the
//! reason; keys rotate with an overlap.

mod audit;
mod reports;
