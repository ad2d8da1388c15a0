//! Compiles the contract with protox (pure Rust, no system `protoc`) and generates prost messages
//! and tonic clients and servers. The descriptor set is written too, for gRPC reflection.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "enforcement/v1/common.proto",
    "enforcement/v1/court.proto",
    "enforcement/v1/agency.proto",
    "enforcement/v1/bus.proto",
    "enforcement/v1/ops.proto",
    "enforcement/reference/v1/bank.proto",
    "enforcement/reference/v1/land.proto",
    "enforcement/reference/v1/police.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }
    let fds = protox::compile(PROTOS, [&root])?;
    std::fs::write(
        out.join("enforcement_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
