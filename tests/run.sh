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
# Headless Chromium and its WebDriver for the recordings browser's tests (tests/e2e_ui.rs).
command -v chromedriver >/dev/null 2>&1 || need+=(chromium chromium-driver)
# The SIP edge of tests/e2e_cluster.rs: Kamailio and its PostgreSQL driver (the test runs its
# own instance on a free port; the package's service is not used).
ls /usr/lib/*/kamailio/modules/db_postgres.so >/dev/null 2>&1 || need+=(kamailio kamailio-postgres-modules)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# One throwaway PostgreSQL cluster for the whole run (initdb + pg_ctl in a temp directory, on a
# free port, as the postgres user when root): tests that need PostgreSQL create their own
# databases on it (CALLREC_TEST_PG_URL; without it, `cargo test` starts a cluster per test
# process). Stopped and removed on exit.
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
pg_dir="$(mktemp -d -t callrec-test-pg.XXXXXX)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_pg() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_pg EXIT
chmod 755 "$pg_dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$pg_dir"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
pg_port=""
for _ in 1 2 3 4 5; do
  port=$(( 20000 + RANDOM % 30000 ))
  if as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -t 60 -o "-p $port -k $pg_dir \
       -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off \
       -c synchronous_commit=off -c full_page_writes=off" start >/dev/null; then
    pg_port=$port; break
  fi
done
[ -n "$pg_port" ] || { echo "could not start PostgreSQL; log:" >&2; cat "$pg_dir/log" >&2; exit 1; }
export CALLREC_TEST_PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"

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
