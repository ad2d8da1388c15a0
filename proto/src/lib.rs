//! The hub's wire contract, generated from `proto/enforcement` at build time.
//!
//! `enforcement::v1` holds the court service, the agency contract and the bus envelopes;
//! `enforcement::reference::v1` the administration API of the reference agency systems.
//! [`FILE_DESCRIPTOR_SET`] serves gRPC reflection.

/// Generated code for package `enforcement.v1`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("enforcement.v1");
}

/// Generated code for package `enforcement.reference.v1`.
pub mod reference {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("enforcement.reference.v1");
}

/// The encoded `FileDescriptorSet` of every proto file, for reflection services.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/enforcement_descriptor.bin"));

pub mod convert;
pub mod seal;
