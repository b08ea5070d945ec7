#!/usr/bin/env bash
# The one read-only gate: formatting, lints, tests and docs, all denied on
# warnings. CI runs exactly this; run it before you push. Build, clippy,
# test and doc share one RocksDB compile (docs/ARCHITECTURE.md, Build notes).
#
# Everything is built with --workspace so Cargo unifies features once: a
# per-package build would rebuild RocksDB's C++ with another feature set.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export RUSTFLAGS="${RUSTFLAGS:-}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
