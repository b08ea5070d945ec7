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
# Each crate's top-level modules import one way (docs/ARCHITECTURE.md).
python3 scripts/module_order.py ledger/src intake/src contracts/src testkit/src audit/src bench/src node/src
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
