#!/usr/bin/env bash
# Installs what callrec's tests need on a fresh Debian machine, then runs every test.
# Used by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
# nginx lives in /usr/sbin, which a non-login shell may not have on its PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

need=()
command -v sipp   >/dev/null 2>&1 || need+=(sip-tester)
command -v nginx  >/dev/null 2>&1 || need+=(nginx)
command -v soxi   >/dev/null 2>&1 || need+=(sox libsox-fmt-mp3)
# PostgreSQL server binaries for callrec-store's tests (a throwaway cluster per test run;
# no system service is started or used).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# A real S3-compatible server for tests/e2e_s3.rs (storage plans): s3s-fs from crates.io, built
# once per machine (release build: 730 CPU-seconds, so about 6-7 minutes on an idle 2-core
# machine). Pinned: 0.14.1 is the newest that builds with this toolchain (0.17 wants rustc 1.96).
S3S_FS_VERSION=0.14.1
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
if ! s3s-fs --version 2>/dev/null | grep -qF "$S3S_FS_VERSION"; then
  cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --features binary
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
