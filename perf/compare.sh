#!/bin/sh
# The side-by-side harness: builds the release `wangge`, then runs
# perf/benches/compare/main.rs (ZEN, bare rhai, the durable echo) in interleaved
# rounds. Arguments go to the harness, e.g. `--rounds 3 --only tables,rules`
# or `--replay 2000000`.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --bin wangge
exec cargo bench --manifest-path perf/Cargo.toml --bench compare -- --wangge "$PWD/target/release/wangge" "$@"
