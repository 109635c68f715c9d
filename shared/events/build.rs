//! Compiles `proto-schemas/analytics.proto` with protox, a protobuf compiler
//! written in Rust, so that building needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../proto-schemas";
    let proto = format!("{proto_dir}/analytics.proto");
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto.as_str()], [proto_dir])?;
    prost_build::Config::new()
        .btree_map(["."])
        // Slices of the received message, not copies.
        .bytes([".analytics.v1.EncodedEventBatch.events"])
        .compile_fds(descriptors)?;
    Ok(())
}
