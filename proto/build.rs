//! Compiles pubsub.proto with prost-build. protox parses the file in pure Rust, so no system
//! `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=pubsub.proto");
    let descriptors = protox::compile(["pubsub.proto"], ["."])?;
    let mut config = prost_build::Config::new();
    // Payloads are shared between subscribers without copying.
    config.bytes(["."]);
    config.compile_fds(descriptors)?;
    Ok(())
}
