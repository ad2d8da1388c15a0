//! Integration tests of the reference land registry and public security system.
//!
//! Each test runs the real application against the real PostgreSQL (in a schema of its own,
//! dropped afterwards), calls it over gRPC on a port of its own, and receives its notices on a
//! small in-test `AgencyInbox`. No broker is involved: these are the agency systems alone.

mod land;
mod police;
mod support;
