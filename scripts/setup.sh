#!/usr/bin/env bash
# Installs what a fresh machine lacks to build fundtrail: libclang (needed by
# the rocksdb crate's bindgen), a C++ compiler and python3 (the gate's
# module-order check), and the network tools the fault tests use. Safe to
# run repeatedly.
set -euo pipefail

need=()
# libclang-cpp.so is a different library: bindgen needs libclang.so itself.
if ! ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so' &&
  ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/llvm-*/lib/libclang-[0-9]*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# The fault tests (tests/tests/fault.rs): network namespaces and veth
# pairs (ip), one-way partitions (nft), and offloads off for the relay
# that slows a link (ethtool).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
# The long fault run moves one node's wall clock with libfaketime.
command -v faketime >/dev/null 2>&1 || need+=(faketime)
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo is not installed (install Rust with rustup first)" >&2; exit 1; }

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "setup: build prerequisites present"
