//! Compiles pubsub.proto with prost-build. protox parses the file in pure Rust, so no system
//! `protoc` is needed. With the `json` feature, pbjson-build also writes serde impls following
//! the proto3 JSON mapping (the gateway's `pubsub.json` WebSocket subprotocol).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=pubsub.proto");
    let descriptors = protox::compile(["pubsub.proto"], ["."])?;
    #[cfg(feature = "json")]
    let encoded = prost::Message::encode_to_vec(&descriptors);
    let mut config = prost_build::Config::new();
    // Payloads are shared between subscribers without copying.
    config.bytes(["."]);
    config.compile_fds(descriptors)?;
    #[cfg(feature = "json")]
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        // Every field is written, defaults too: a JSON client reads `offset: "0"` instead of
        // telling a missing field from a zero.
        .emit_fields()
        .build(&[".pubsub"])?;
    Ok(())
}
