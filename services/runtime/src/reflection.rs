//! gRPC server reflection, so that grpcurl, Evans or Postman can list a service's methods and
//! call them without the `.proto` files.
//!
//! Both versions of the reflection protocol are served: `grpc.reflection.v1` and the older
//! `v1alpha` that many clients still ask for first.

use tonic_reflection::server::{
    Builder, Error,
    v1::{ServerReflection, ServerReflectionServer},
    v1alpha,
};

/// The standard health service, served by every hub process.
const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION_V1: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// The reflection services describing the files of `descriptor_set` (an encoded
/// `FileDescriptorSet`, as the proto crate writes it) and the standard health service. They
/// list the services named in `served` (full names), the health service and themselves: the
/// descriptor set holds every service of the contract, and a client must not be told of one
/// this process does not serve.
pub fn services(
    descriptor_set: &'static [u8],
    served: &[&str],
) -> Result<
    (
        ServerReflectionServer<impl ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    Error,
> {
    let builder = |reflection: &str| {
        served.iter().chain([&HEALTH, &reflection]).fold(
            Builder::configure()
                .register_encoded_file_descriptor_set(descriptor_set)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |b, name| b.with_service_name(*name),
        )
    };
    Ok((
        builder(REFLECTION_V1).build_v1()?,
        builder(REFLECTION_V1ALPHA).build_v1alpha()?,
    ))
}
