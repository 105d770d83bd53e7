//! Generates the wangge.v1 messages, clients and servers with a vendored
//! protoc, and a file descriptor set for server reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build finds protoc through PROTOC; no system install is needed.
    std::env::set_var("PROTOC", protoc);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let files = [
        "wangge/v1/common.proto",
        "wangge/v1/policy.proto",
        "wangge/v1/case.proto",
        "wangge/v1/org.proto",
        "wangge/v1/admin.proto",
        "wangge/v1/incentive.proto",
        "wangge/v1/evaluation.proto",
        "wangge/v1/audit.proto",
        "wangge/v1/task.proto",
        "wangge/v1/intake.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    tonic_prost_build::configure()
        // Serialize only: the CLI prints answers as JSON (`-o json`).
        .type_attribute(".wangge.v1", "#[derive(serde::Serialize)]")
        .file_descriptor_set_path(out.join("wangge_v1_descriptor.bin"))
        .compile_protos(&files, &["."])?;
    Ok(())
}
