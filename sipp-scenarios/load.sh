#!/usr/bin/env bash
# Load test: N calls (default 5000) at R calls/s (default 200), signalling only (SDP offered, no RTP
# sent), each held HOLD_MS (default 500 ms), through callrec, on loopback only. Bounded: SIPp stops
# after N calls or TIMEOUT seconds (default N/R + 60).
#
#     ./sipp-scenarios/load.sh [-n CALLS] [-r RATE] [-d HOLD_MS] [-m p2p|p2carrier|carrier2p]
#                              [-b CALLREC_BINARY] [-t HOST:PORT] [-V CALLGRIND_OUT]
#
# By default it starts callrec itself from target/release/callrec (build it first with
# `cargo build --release -p callrec`) on a copy of config/ in a temporary directory (data dir and
# spool there too), on free ports instead of 5060 (callrec, and the carrier at 127.0.0.2), so the
# example config in the tree is never touched.
#   -m p2p        (default) 1001 calls 1002: digest challenge on every call (INVITE, 407, ACK,
#                 INVITE with credentials, 200, ACK, BYE), no recording (onnet call).
#   -m p2carrier  1001 calls an offnet number; the carrier UAS on 127.0.0.2 answers (recorded by the
#                 example account's offnet rules: recordings stay in the spool if no receiver runs).
#   -m carrier2p  the carrier on 127.0.0.2 calls +15550100 (1001 answers), no authentication.
#   -t HOST:PORT  use a callrec (or anything) already listening there: nothing is started, no
#                 registration (except p2p's two phones, and 1002's SIPp answering), and no
#                 CPU/RSS figures.
#   -V FILE       run callrec under `valgrind --tool=callgrind`: the counters are zeroed once the
#                 phones are registered and dumped to FILE when the calls are over, so FILE holds
#                 the instructions of the calls alone (divide by -n for a per-call figure; the
#                 machine's load does not change it). Use a low rate (-r 5) so it keeps up.
# It prints: calls attempted, successful and failed, calls/s achieved (successful calls / time from
# the first INVITE to the last call's end), callrec's CPU seconds (utime+stime from /proc/PID/stat)
# and peak RSS (VmHWM from /proc/PID/status). Exit status 0 only if no call failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
CALLS=5000 RATE=200 HOLD_MS=500 MODE=p2p BIN="$root/target/release/callrec" TARGET="" CALLGRIND=""
while getopts "n:r:d:m:b:t:V:h" opt; do
  case "$opt" in
    n) CALLS="$OPTARG" ;; r) RATE="$OPTARG" ;; d) HOLD_MS="$OPTARG" ;; m) MODE="$OPTARG" ;;
    b) BIN="$OPTARG" ;; t) TARGET="$OPTARG" ;; V) CALLGRIND="$(realpath -m "$OPTARG")" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
TIMEOUT="${TIMEOUT:-$(( CALLS / RATE + 60 ))}"
command -v sipp >/dev/null || { echo "sipp not found (Debian: apt-get install sip-tester)" >&2; exit 2; }

work="$(mktemp -d -t callrec-load.XXXXXX)"
callrec_pid="" uas_pid=""
cleanup() {
  [ -n "$uas_pid" ] && kill "$uas_pid" 2>/dev/null || true
  [ -n "$callrec_pid" ] && kill "$callrec_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# free_port: a UDP port nobody uses right now on 127.0.0.1
free_port() { python3 -c 'import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((sys.argv[1] if len(sys.argv)>1 else "127.0.0.1",0));print(s.getsockname()[1])' "$@"; }
carrier_port=5060

if [ -z "$TARGET" ]; then
  [ -x "$BIN" ] || { echo "callrec binary $BIN not found: cargo build --release -p callrec" >&2; exit 2; }
  cp -r "$root/config" "$work/config"
  mkdir -p "$work/data"
  # free ports instead of the example's 5060 (for callrec and for the carrier at 127.0.0.2), so
  # that the load test does not collide with anything else running on this machine
  sip_port=$(free_port 127.0.0.1) carrier_port=$(free_port 127.0.0.2)
  api_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  sed -i "s/127\.0\.0\.1:5060/127.0.0.1:$sip_port/; s/127\.0\.0\.1:8000/127.0.0.1:$api_port/" "$work/config/callrec.toml"
  python3 - "$carrier_port" "$work/config/documents" <<'PY'
import json, pathlib, sys
port, root = int(sys.argv[1]), pathlib.Path(sys.argv[2])
def walk(v):
    if isinstance(v, dict):
        if v.get("server") == "127.0.0.2":
            v["port"] = port
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for f in root.rglob("*.json"):
    doc = json.loads(f.read_text())
    walk(doc)
    f.write_text(json.dumps(doc, indent=2))
PY
  grep -q "127.0.0.1:$sip_port" "$work/config/callrec.toml" \
    || { echo "could not set sip.listen in the copied config" >&2; exit 1; }
  grep -rq "\"port\": $carrier_port" "$work/config/documents/" \
    || { echo "could not set the carrier gateway port in the copied documents" >&2; exit 1; }
  # the example config names ./data; run from $work so it lands in the temp dir
  wrap=() tries=50
  if [ -n "$CALLGRIND" ]; then
    command -v valgrind >/dev/null || { echo "valgrind not found (Debian: apt-get install valgrind)" >&2; exit 2; }
    wrap=(valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$work/callgrind.out.%p")
    tries=600
  fi
  (cd "$work" && NO_COLOR=1 exec "${wrap[@]}" "$BIN" --config "$work/config/callrec.toml" >"$work/callrec.log" 2>&1) &
  callrec_pid=$!
  TARGET=127.0.0.1:$sip_port
  up=""
  for _ in $(seq 1 "$tries"); do
    if (cd "$work" && sipp -sf "$here/options.xml" -m 1 -nostdin -timeout 1s -timeout_error \
          -i 127.0.0.1 "$TARGET" >/dev/null 2>&1); then up=1; break; fi
    kill -0 "$callrec_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$up" ] || { echo "callrec did not answer OPTIONS on $TARGET; log:" >&2; tail -20 "$work/callrec.log" >&2; exit 1; }
fi

sipp_common=(-nostdin -trace_err -trace_stat -fd 1 -timeout "${TIMEOUT}s" -timeout_error)
register() { # EXT PORT
  (cd "$work" && sipp -sf "$here/register.xml" -inf "$here/data/$1.csv" -i 127.0.0.1 -p "$2" \
     -m 1 -nostdin -timeout 10s -timeout_error "$TARGET" >/dev/null 2>&1) \
    || { echo "REGISTER of $1 failed" >&2; exit 1; }
}
uas_port=$(free_port) uac_port=$(free_port)
case "$MODE" in
  p2p)
    register 1001 "$uac_port"; register 1002 "$uas_port"
    uas=(-sf "$here/phone_uas.xml" -i 127.0.0.1 -p "$uas_port")
    uac=(-sf "$here/phone_uac.xml" -inf "$here/data/call_1001_to_1002.csv" -auth_uri "1002@$TARGET" -i 127.0.0.1 -p "$uac_port") ;;
  p2carrier)
    [ -n "$callrec_pid" ] && register 1001 "$uac_port"
    uas=(-sf "$here/carrier_uas.xml" -i 127.0.0.2 -p "$carrier_port")
    uac=(-sf "$here/phone_uac.xml" -inf "$here/data/call_1001_to_offnet.csv" -auth_uri "+15559990000@$TARGET" -i 127.0.0.1 -p "$uac_port") ;;
  carrier2p)
    [ -n "$callrec_pid" ] && register 1001 "$uas_port"
    uas=(-sf "$here/phone_uas.xml" -i 127.0.0.1 -p "$uas_port")
    uac=(-sf "$here/carrier_uac.xml" -inf "$here/data/carrier_to_did.csv" -i 127.0.0.2 -p "$carrier_port") ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac

# With -t pointing at a plain SIPp UAS (self-test), the UAS below is not needed; p2p always
# registers its phones, so -t there names a real callrec and phone 1002 must answer.
if [ -n "$callrec_pid" ] || [ "$MODE" = p2p ]; then
  (cd "$work" && exec sipp "${uas[@]}" -mp "$(free_port)" "${sipp_common[@]}" -stf "$work/uas_stat.csv" >"$work/uas.out" 2>&1) &
  uas_pid=$!
  sleep 0.3
fi

if [ -n "$CALLGRIND" ]; then
  callgrind_control -z "$callrec_pid" >/dev/null 2>&1
fi
start=$(date +%s.%N)
uac_rc=0
(cd "$work" && sipp "${uac[@]}" -mp "$(free_port)" -r "$RATE" -m "$CALLS" -l $(( RATE * 5 + 100 )) -d "$HOLD_MS" \
   "${sipp_common[@]}" -stf "$work/uac_stat.csv" "$TARGET" >"$work/uac.out" 2>&1) || uac_rc=$?
end=$(date +%s.%N)
if [ -n "$CALLGRIND" ]; then
  # the dump holds everything since the zeroing: the calls (and the 0.25 s document polls)
  callgrind_control -d "$callrec_pid" >/dev/null 2>&1
  dump=$(ls -t "$work"/callgrind.out.*.* 2>/dev/null | head -1)
  [ -n "$dump" ] || { echo "callgrind wrote no dump in $work" >&2; exit 1; }
  cp "$dump" "$CALLGRIND"
  echo "callgrind dump:    $CALLGRIND"
fi

# last line of SIPp's statistics CSV, columns looked up by name
stat() { # FILE COLUMN
  awk -F';' -v col="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i; next} {v=$c} END{print v+0}' "$1"
}
[ -s "$work/uac_stat.csv" ] || { echo "SIPp produced no statistics (exit $uac_rc):" >&2; tail -5 "$work/uac.out" >&2; exit 1; }
created=$(stat "$work/uac_stat.csv" "TotalCallCreated")
ok=$(stat "$work/uac_stat.csv" "SuccessfulCall(C)")
failed=$(stat "$work/uac_stat.csv" "FailedCall(C)")
elapsed=$(echo "$end - $start" | bc -l)
# calls/s: successful calls over the time during which calls were being started (the last call
# starts at most one hold time + setup before the end)
busy_s=$(echo "$elapsed - $HOLD_MS / 1000" | bc -l)
cps=$(echo "scale=1; $ok / $busy_s" | bc -l)

echo "calls attempted:   $created (target $CALLS at $RATE/s, hold ${HOLD_MS} ms, mode $MODE)"
echo "calls successful:  $ok"
echo "calls failed:      $failed   (SIPp exit status $uac_rc)"
printf 'calls/s achieved:  %s  (wall time %.1f s)\n' "$cps" "$elapsed"
if [ -n "$callrec_pid" ] && [ -r "/proc/$callrec_pid/stat" ]; then
  tck=$(getconf CLK_TCK)
  # fields 14/15 of /proc/PID/stat counted after the ')' that ends the command name
  read -r ut st < <(sed 's/^.*) //' "/proc/$callrec_pid/stat" | awk '{print $12, $13}')
  echo "callrec CPU:       $(echo "scale=2; ($ut + $st) / $tck" | bc -l) s (user $(echo "scale=2; $ut/$tck" | bc -l), system $(echo "scale=2; $st/$tck" | bc -l))"
  echo "callrec peak RSS:  $(awk '/VmHWM/{print $2, $3}' "/proc/$callrec_pid/status")"
elif [ -n "$callrec_pid" ]; then
  echo "callrec exited during the test; log:" >&2; tail -20 "$work/callrec.log" >&2
  uac_rc=1
fi
if [ "$uac_rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$ok" -ne "$CALLS" ]; then
  echo "FAIL: logs in $work" >&2
  trap - EXIT; cleanup
  exit 1
fi
trap - EXIT
cleanup
rm -rf "$work"
