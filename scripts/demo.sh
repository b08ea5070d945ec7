#!/usr/bin/env bash
# The main job: builds fundtrail, starts a local network of four department
# nodes (real processes on loopback), runs a seeded year of realistic records
# with injected abuses through it, exports the chain, verifies it
# independently and writes the audit report.
#
#   scripts/demo.sh [DIR] [extra `fundtrail demo` options, e.g. --people 5000]
#
# DIR defaults to ./demo-run and is recreated on each run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The same build the tests use (one RocksDB compile serves both).
cargo build --workspace --bins

dir=demo-run
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  dir=$1
  shift
fi
if [ -e "$dir/devnet.json" ]; then
  target/debug/fundtrail devnet down --dir "$dir" >/dev/null 2>&1 || true
fi
rm -rf "$dir"
exec target/debug/fundtrail demo --dir "$dir" "$@"
