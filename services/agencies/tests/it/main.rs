//! Integration tests of the reference bank, land registry and public security system.
//!
//! Each test runs the real application against the real PostgreSQL (in a schema of its own, from
//! the test kit's sandbox, dropped afterwards), calls it over gRPC on a port of its own with a
//! clock it can advance, and receives its notices on a small in-test `AgencyInbox`. No broker is
//! involved: these are the agency systems alone.

mod bank;
mod land;
mod police;
mod support;
