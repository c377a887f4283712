//! Compiles `proto/` with protox (pure Rust, so no system `protoc` is needed), writes the
//! descriptor set that server reflection serves, and generates prost types and tonic stubs.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "devokr/bench/v1/bench.proto",
    "devokr/common/v1/common.proto",
    "devokr/metrics/v1/metrics_service.proto",
    "devokr/objectives/v1/objectives_service.proto",
    "devokr/roadmap/v1/roadmap_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let descriptors = protox::compile(PROTOS, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // `compile_fds` does not write the descriptor set itself, so reflection gets it from here.
    fs::write(
        out_dir.join("devokr_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // A method a service does not implement answers UNIMPLEMENTED instead of failing the
        // build, so new RPCs can land before every service serves them.
        .generate_default_stubs(true)
        // Small encode buffers: a long-lived watch stream holds one for its whole life.
        .codec_path("crate::codec::SmallBufferCodec")
        .compile_fds_with_config(descriptors, type_names())?;
    Ok(())
}

/// Every message knows its full protobuf name (`prost::Name`), which stays put when Rust
/// code moves: request digests include it, so two kinds of request never share one.
fn type_names() -> tonic_prost_build::Config {
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    config
}
