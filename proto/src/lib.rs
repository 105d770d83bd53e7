//! wangge's gRPC API (`wangge.v1`). The `.proto` files live in
//! `proto/wangge/v1/`; generated code and services arrive with the gRPC
//! service. Until then this crate only names where the definitions live.

/// Directory holding the `wangge/v1/*.proto` files, for build scripts.
pub const PROTO_ROOT: &str = env!("CARGO_MANIFEST_DIR");
