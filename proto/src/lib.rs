//! wangge's gRPC API (`wangge.v1`): generated messages, clients and servers
//! for PolicyService, CaseService, OrgService and AdminService. The
//! `.proto` files in `proto/wangge/v1/` are the documented contract.

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The generated `wangge.v1` package.
pub mod v1 {
    tonic::include_proto!("wangge.v1");
}

/// Encoded file descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("wangge_v1_descriptor");
