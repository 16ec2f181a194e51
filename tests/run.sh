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
# A DNS server for tests/e2e_dns.rs (the binary only: dnsmasq-base starts no system service).
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
# PostgreSQL server binaries for callrec-store's tests (a throwaway cluster per test run;
# no system service is started or used).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --all-targets
