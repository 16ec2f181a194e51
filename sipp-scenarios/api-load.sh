#!/usr/bin/env bash
# API load: reads and PATCHes per second through the Crossbar-compatible API, on SQLite or on a
# throwaway PostgreSQL cluster, and optionally the SIP signalling load at the same time (to see
# that calls are not slowed down by API writes).
#
#   ./sipp-scenarios/api-load.sh [-b CALLREC_BINARY] [-s sqlite|postgres] [-d SECONDS]
#                                [-c CONNECTIONS] [-l]
#
#   -b  callrec binary (default target/release/callrec; build it with
#       `cargo build --release -p callrec`)
#   -s  database: sqlite (default, <data_dir>/callrec.db) or postgres (initdb + pg_ctl in a
#       temp directory, as the postgres user when run as root; Debian's postgresql package)
#   -d  seconds per measurement (default 10)
#   -c  concurrent HTTP connections for reads (default 8; PATCHes use one connection: PATCHes
#       of one document from several connections mostly get 409, as they should)
#   -l  also run sipp-scenarios/load.sh (5,000 phone-to-phone calls at 200/s) against the same
#       callrec while the PATCH load runs, and print its result
#
# Prints wrk's requests/s and latency for GET /v2/accounts/demo/users/user-1001 and for
# PATCH of the same document (each PATCH: token check, read, merge, validation against the
# document set, one transaction, applied to the engine before the reply). Needs wrk (Debian:
# apt-get install wrk), curl and python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$root/target/release/callrec" DB=sqlite SECS=10 CONNS=8 WITH_CALLS=0
while getopts "b:s:d:c:lh" opt; do
  case "$opt" in
    b) BIN="$OPTARG" ;; s) DB="$OPTARG" ;; d) SECS="$OPTARG" ;; c) CONNS="$OPTARG" ;;
    l) WITH_CALLS=1 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "callrec binary $BIN not found: cargo build --release -p callrec" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/usr/lib/postgresql/15/bin:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"

work="$(mktemp -d -t callrec-api-load.XXXXXX)"
chmod 755 "$work"
callrec_pid="" pg_dir=""
cleanup() {
  [ -n "$callrec_pid" ] && kill "$callrec_pid" 2>/dev/null || true
  if [ -n "$pg_dir" ]; then
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- pg_ctl -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    else pg_ctl -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; fi
  fi
  wait 2>/dev/null || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

cp -r "$root/config" "$work/config"
mkdir -p "$work/data"
sip_port=$(free_port) api_port=$(free_port)
sed -i "s/127\.0\.0\.1:5060/127.0.0.1:$sip_port/; s/127\.0\.0\.1:8000/127.0.0.1:$api_port/" "$work/config/callrec.toml"

if [ "$DB" = postgres ]; then
  pg_dir="$work/pg"; pg_port=$(free_port)
  mkdir -p "$pg_dir"
  as_pg() { if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$pg_dir"; runuser -u postgres -- "$@"; else "$@"; fi; }
  as_pg initdb -D "$pg_dir/data" -A trust -U postgres >/dev/null
  as_pg pg_ctl -D "$pg_dir/data" -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" -l "$pg_dir/log" -w start >/dev/null
  as_pg createdb -h 127.0.0.1 -p "$pg_port" -U postgres callrec
  sed -i "s|^url = \"\"|url = \"postgres://postgres@127.0.0.1:$pg_port/callrec\"|" "$work/config/callrec.toml"
elif [ "$DB" != sqlite ]; then
  echo "-s takes sqlite or postgres" >&2; exit 2
fi

(cd "$work" && RUST_LOG=warn exec "$BIN" --config config/callrec.toml >"$work/callrec.log" 2>&1) &
callrec_pid=$!
api="http://127.0.0.1:$api_port"
for _ in $(seq 100); do curl -s -o /dev/null "$api/metrics" && break; sleep 0.1; done
token=$(curl -s -X PUT -H 'Content-Type: application/json' -d '{"data":{"api_key":"demo-api-key"}}' \
  "$api/v2/api_auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_token"])')

cat >"$work/patch.lua" <<LUA
wrk.method = "PATCH"
wrk.headers["X-Auth-Token"] = "$token"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"data":{"first_name":"Alice ' .. n .. '"}}')
end
LUA
doc="$api/v2/accounts/demo/users/user-1001"
echo "== $DB: GET $doc ($CONNS connections, ${SECS}s)"
wrk -t2 -c"$CONNS" -d"${SECS}s" -H "X-Auth-Token: $token" "$doc" | grep -E "Requests/sec|Latency|Non-2xx|requests in"
echo "== $DB: PATCH $doc (1 connection)"
cpu_s() { # callrec's utime+stime in seconds (fields 14/15 of /proc/PID/stat)
  sed 's/^.*) //' "/proc/$callrec_pid/stat" | awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($12 + $13) / t}'
}
if [ "$WITH_CALLS" = 1 ]; then
  calls_secs=$(( 5000 / 200 + 10 ))
  cpu0=$(cpu_s)
  wrk -t1 -c1 -d"${calls_secs}s" -s "$work/patch.lua" "$doc" >"$work/wrk-patch.out" 2>&1 &
  wrk_pid=$!
  "$root/sipp-scenarios/load.sh" -t "127.0.0.1:$sip_port" -m p2p || true
  wait "$wrk_pid" || true
  grep -E "Requests/sec|Latency|Non-2xx|requests in" "$work/wrk-patch.out"
  echo "callrec CPU during calls + PATCHes: $(echo "$(cpu_s) - $cpu0" | bc -l) s"
else
  wrk -t1 -c1 -d"${SECS}s" -s "$work/patch.lua" "$doc" | grep -E "Requests/sec|Latency|Non-2xx|requests in"
fi
final=$(curl -s -H "X-Auth-Token: $token" "$doc" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["revision"], d["data"]["first_name"])')
echo "final revision and name: $final"
echo "callrec warnings/errors: $(grep -cE ' (WARN|ERROR) ' "$work/callrec.log" || true)"
