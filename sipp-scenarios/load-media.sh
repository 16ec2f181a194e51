#!/usr/bin/env bash
# Media load: N concurrent carrier -> DID calls through callrec with G.711 RTP both ways at
# 50 packets/s per direction per call (crates/loadgen, `callrec-loadgen`), held for D seconds of
# steady state, on loopback only. Measures callrec's CPU and memory per call.
#
#     ./sipp-scenarios/load-media.sh [-m none|wav|mp3] [-n CALLS] [-d SECONDS] [-k]
#
#   -m none   relay only (the account's recording rules disabled)
#   -m wav    (default) relay + recording of every call as WAV (account inbound offnet rule)
#   -m mp3    relay + recording as MP3
#   -n CALLS  concurrent calls (default 100, at most 5000); -d SECONDS steady window (default 30)
#   -k        keep the temporary directory (logs, spool, received recordings)
#   -s        skip the build: use the release binaries already in the target directory
#
# It builds callrec and callrec-loadgen in release mode (CARGO_TARGET_DIR is honoured), runs
# callrec on a copy of config/ in a temporary directory with SIP on 127.0.0.1:5090, relay ports
# 40000-49999 and the recording receiver (`callrec receive`) on 127.0.0.1:18080, so it does not
# collide with an instance on the default ports. The carrier is 127.0.0.2:5092, the phone
# 127.0.0.1:5094. callrec's CPU (utime+stime from /proc/PID/stat) is sampled at the start and end
# of the steady window (all calls up, media flowing); its RSS (VmRSS) every second in the window,
# and its peak (VmHWM). An idle baseline (CPU over 3 s, RSS) is taken before the calls and
# subtracted. Printed: % of one core per call, MB RSS per call, loss, recordings received.
# Bounded: everything is killed on exit; the loadgen is limited to DURATION + 120 s.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
MODE=wav CALLS=100 DURATION=30 KEEP="" BUILD=1
while getopts "m:n:d:ksh" opt; do
  case "$opt" in
    m) MODE="$OPTARG" ;; n) CALLS="$OPTARG" ;; d) DURATION="$OPTARG" ;; k) KEEP=1 ;; s) BUILD="" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
case "$MODE" in none|wav|mp3) ;; *) echo "-m none|wav|mp3" >&2; exit 2 ;; esac

target="${CARGO_TARGET_DIR:-$root/target}"
[ -z "$BUILD" ] || (cd "$root" && cargo build --release -q -p callrec -p callrec-loadgen)
BIN="$target/release/callrec" LOADGEN="$target/release/callrec-loadgen"

work="$(mktemp -d -t callrec-media.XXXXXX)"
callrec_pid="" recv_pid="" lg_pid=""
cleanup() {
  for p in $lg_pid $recv_pid $callrec_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "$KEEP" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

cp -r "$root/config" "$work/config"
mkdir -p "$work/data" "$work/received"
sed -i -e '0,/^listen = .*/s//listen = ["127.0.0.1:5090"]/' -e 's/^tcp = true/tcp = false/' \
       -e 's/127\.0\.0\.1:8000/127.0.0.1:5098/' \
       -e 's/^port_min = .*/port_min = 40000/' -e 's/^port_max = .*/port_max = 49999/' \
       -e 's/^min_free_mb = .*/min_free_mb = 10/' \
       -e 's/^keep_after_upload = .*/keep_after_upload = true/' "$work/config/callrec.toml"
python3 - "$work/config/documents/account-demo.json" "$MODE" <<'PY'
import json, sys
path, mode = sys.argv[1], sys.argv[2]
doc = json.load(open(path))
for direction in doc["call_recording"]["account"].values():
    for rule in direction.values():
        rule["url"] = "http://127.0.0.1:18080/recordings/"
        if mode == "none":
            rule["enabled"] = False
        else:
            rule["format"] = mode
json.dump(doc, open(path, "w"), indent=2)
PY

"$BIN" receive --listen 127.0.0.1:18080 --dir "$work/received" >"$work/receiver.log" 2>&1 &
recv_pid=$!
(cd "$work" && NO_COLOR=1 RUST_LOG=info exec "$BIN" --config "$work/config/callrec.toml" >"$work/callrec.log" 2>&1) &
callrec_pid=$!
sleep 1.5
kill -0 "$callrec_pid" 2>/dev/null || { echo "callrec did not start:" >&2; tail -20 "$work/callrec.log" >&2; exit 1; }

tck=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }

# idle baseline
idle_c0=$(cpu_ticks "$callrec_pid"); idle_t0=$(date +%s.%N)
sleep 3
idle_c1=$(cpu_ticks "$callrec_pid"); idle_t1=$(date +%s.%N)
idle_rss=$(rss_kb "$callrec_pid")
idle_cpu_pct=$(echo "($idle_c1 - $idle_c0) / $tck / ($idle_t1 - $idle_t0) * 100" | bc -l)

total_c0=$(cpu_ticks "$callrec_pid")
timeout $(( DURATION + 120 )) "$LOADGEN" --calls "$CALLS" --duration "$DURATION" --ramp 5 \
  --callrec 127.0.0.1:5090 --carrier-port 5092 --phone-port 5094 >"$work/loadgen.out" 2>"$work/loadgen.err" &
lg_pid=$!

wait_for() { # PATTERN
  while ! grep -q "$1" "$work/loadgen.out" 2>/dev/null; do
    kill -0 "$lg_pid" 2>/dev/null || return 1
    sleep 0.2
  done
}
if ! wait_for "PHASE steady_start"; then
  echo "loadgen ended before the steady window:" >&2; cat "$work/loadgen.out" "$work/loadgen.err" >&2
  tail -20 "$work/callrec.log" >&2; exit 1
fi
w_c0=$(cpu_ticks "$callrec_pid"); w_t0=$(date +%s.%N)
lg_child=$(pgrep -P "$lg_pid" | head -1 || true)
lg_c0=$(cpu_ticks "${lg_child:-$lg_pid}")
rss_sum=0 rss_n=0 rss_max=0
while ! grep -q "PHASE steady_end" "$work/loadgen.out"; do
  kill -0 "$lg_pid" 2>/dev/null || break
  r=$(rss_kb "$callrec_pid"); rss_sum=$(( rss_sum + r )); rss_n=$(( rss_n + 1 ))
  [ "$r" -gt "$rss_max" ] && rss_max=$r
  sleep 1
done
w_c1=$(cpu_ticks "$callrec_pid"); w_t1=$(date +%s.%N)
lg_c1=$(cpu_ticks "${lg_child:-$lg_pid}" 2>/dev/null || echo "$lg_c0")
load=$(cut -d' ' -f1-3 /proc/loadavg)
lg_rc=0
wait "$lg_pid" || lg_rc=$?
lg_pid=""

# wait (at most 60 s) for the recordings to be uploaded
if [ "$MODE" != none ]; then
  for _ in $(seq 1 120); do
    n=$(find "$work/received" -type f ! -name '*.json' | wc -l)
    [ "$n" -ge "$(grep -o 'set_up=[0-9]*' "$work/loadgen.out" | cut -d= -f2)" ] && break
    sleep 0.5
  done
fi
total_c1=$(cpu_ticks "$callrec_pid")
hwm=$(hwm_kb "$callrec_pid")

cat "$work/loadgen.out" | grep -v '^PHASE'
set_up=$(grep -o ' set_up=[0-9]*' "$work/loadgen.out" | cut -d= -f2)
set_up=${set_up:-0}
[ "$set_up" -gt 0 ] || { echo "no call was set up" >&2; exit 1; }
win=$(echo "$w_t1 - $w_t0" | bc -l)
cpu_pct=$(echo "($w_c1 - $w_c0) / $tck / $win * 100" | bc -l)
per_call_cpu=$(echo "($cpu_pct - $idle_cpu_pct) / $set_up" | bc -l)
rss_avg=$(( rss_n > 0 ? rss_sum / rss_n : 0 ))
per_call_mb=$(echo "($rss_avg - $idle_rss) / 1024 / $set_up" | bc -l)
per_call_mb_hwm=$(echo "($hwm - $idle_rss) / 1024 / $set_up" | bc -l)
lg_pct=$(echo "($lg_c1 - $lg_c0) / $tck / $win * 100" | bc -l)
total_cpu_s=$(echo "($total_c1 - $total_c0) / $tck" | bc -l)
printf 'mode %s, %s calls up, steady window %.1f s, load average at its end: %s\n' "$MODE" "$set_up" "$win" "$load"
printf 'callrec idle: %.2f %% of one core, RSS %.1f MB\n' "$idle_cpu_pct" "$(echo "$idle_rss/1024" | bc -l)"
printf 'callrec in the window: %.1f %% of one core, RSS avg %.1f MB max %.1f MB, peak (VmHWM) %.1f MB\n' \
  "$cpu_pct" "$(echo "$rss_avg/1024" | bc -l)" "$(echo "$rss_max/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)"
printf 'per call: %.4f %% of one core, %.3f MB RSS (avg in window; %.3f MB from the peak)\n' \
  "$per_call_cpu" "$per_call_mb" "$per_call_mb_hwm"
printf 'callrec CPU from the first INVITE to the last upload: %.2f s (%.4f s per call)\n' \
  "$total_cpu_s" "$(echo "$total_cpu_s / $set_up" | bc -l)"
printf 'loadgen itself: %.1f %% of one core in the window\n' "$lg_pct"
if [ "$MODE" != none ]; then
  echo "recordings received: $(find "$work/received" -type f ! -name '*.json' | wc -l) (sizes: $(find "$work/received" -type f ! -name '*.json' -printf '%s\n' | sort -n | awk '{a[NR]=$1} END{if(NR) print "min", a[1], "max", a[NR]}'))"
fi
# Stop callrec (SIGTERM: it finishes and logs its counters), then read its last stats line.
kill -TERM "$callrec_pid" 2>/dev/null || true
for _ in $(seq 1 40); do kill -0 "$callrec_pid" 2>/dev/null || break; sleep 0.25; done
stats=$(grep ' stats ' "$work/callrec.log" | tail -n 1)
field() { echo "$stats" | grep -o "$1=[0-9]*" | cut -d= -f2; }
echo "callrec counters at exit: rtp_relayed=$(field rtp_relayed) recorder_frames_queued=$(field recorder_frames_queued) recorder_frames_dropped=$(field recorder_frames_dropped) rtp_dropped_wrong_source=$(field rtp_dropped_wrong_source) uploads_stored=$(field uploads_stored) uploads_failed=$(field uploads_failed)"
if [ "$MODE" != none ]; then
  # Every spooled recording (kept after upload for this check) arrived once, byte for byte.
  spooled=$(find "$work/data/spool" -type f \( -name '*.wav' -o -name '*.mp3' \) -exec sha256sum {} + | cut -d' ' -f1 | sort)
  received=$(find "$work/received" -type f ! -name '*.json' -exec sha256sum {} + | cut -d' ' -f1 | sort)
  if [ -n "$spooled" ] && [ "$spooled" = "$received" ]; then
    echo "checksums: all $(echo "$spooled" | wc -l) received files are byte-identical to the spooled recordings (none missing, none twice)"
  else
    echo "checksums: MISMATCH between spooled ($(echo "$spooled" | grep -c . || true)) and received ($(echo "$received" | grep -c . || true)) recordings"
  fi
fi
echo "callrec log warnings/errors: $(grep -cE ' (WARN|ERROR) ' "$work/callrec.log" || true)"
grep -E ' (WARN|ERROR) ' "$work/callrec.log" | sed 's/^[^ ]* //' | cut -c1-160 | sort | uniq -c | sort -rn | head -5 || true
exit "$lg_rc"
