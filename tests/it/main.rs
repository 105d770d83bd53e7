//! The integration tests: one binary, modules by area (ripgrep style).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod authoring;
mod browser;
mod cli;
mod client;
mod console;
mod docs;
mod failover;
mod faults;
mod grpc;
mod inputs;
mod intake;
mod layers;
mod lsp;
mod lsp_client;
mod metrics;
mod org;
mod packaging;
mod postgres;
mod python;
mod readme;
mod regression;
mod restart;
mod server;
mod store;
mod tasks;
mod util;
mod webdriver;
mod webhooks;
