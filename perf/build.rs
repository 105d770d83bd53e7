//! Generates the durable echo's service (perf/proto/echo.proto) over
//! wangge's own messages, with a vendored protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);
    println!("cargo:rerun-if-changed=proto/echo.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .extern_path(".wangge.v1", "::wangge_proto::v1")
        .compile_protos(&["proto/echo.proto"], &["proto", "../proto"])?;
    Ok(())
}
