#!/usr/bin/env bash
# Recorded media load with SIPp, the same load as the Kamailio + rtpengine anchor
# (shared/anchors/kamailio-rtpengine/run.sh load CPS CALLS HOLD_S): a SIPp carrier UAC calls the
# DID at CPS calls/s until CALLS calls, each held HOLD_S seconds; both sides stream PCMA (20 ms,
# SIPp rtp_stream) for the whole call; callrec relays and records every call (stereo, caller
# left) and uploads it to a `callrec receive` receiver. Then every received recording is
# measured with soxi.
#
#     ./sipp-scenarios/load-rec.sh [-f wav|mp3] [-b CALLREC_BINARY] [-s] [-k] [-p] [CPS CALLS HOLD_S]
#
#   CPS CALLS HOLD_S  default 50 1000 20 (about 1000 calls up at once)
#   -f wav|mp3        recording format (default wav)
#   -b BINARY         the callrec binary (default $CARGO_TARGET_DIR or target, release/callrec)
#   -s                skip `cargo build --release -p callrec` (done otherwise)
#   -k                keep the work directory (logs, spool, received recordings)
#   -p                also count callrec's context switches and task-clock with `perf stat`
#                     over the same window (needs perf; printed per 1000 relayed packets), and
#                     both per thread group (relay, recorder, tokio, the engine's main thread...):
#                     `threads_<group>=cpu_s/context_switches`
#
# callrec runs on a copy of config/ in a temporary directory, SIP on a free port of 127.0.0.1,
# the carrier on 127.0.0.2 (trusted by the example documents), relay ports 10000-19999 (away from the default range other
# callrec instances on the machine may use), the
# receiver on a free port. Phone 1001 registers from the SIPp UAS's address. SIPp media ports:
# UAC 50000 up, UAS 56000 up.
# Printed (one line, key=value): calls ok/failed (SIPp UAC), SIPp's mean call length,
# recordings received, recordings shorter than HOLD_S - 1 s or longer than HOLD_S + 2 s
# (`wrong_length`; compare with SIPp's mean call length on a loaded machine), min/mean/max
# duration, callrec's CPU
# seconds (utime+stime of the process, /proc/PID/stat) from just before the UAC starts until
# every recording is uploaded, callrec's peak RSS (VmHWM), the receiver's CPU seconds, SIPp's
# CPU, and the machine's other CPU in the window (others' work on a shared machine).
# Exit status 0 only if no call failed and every call's recording arrived with full length.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
FORMAT=wav BIN="" BUILD=1 KEEP="" PERF=""
while getopts "f:b:skph" opt; do
  case "$opt" in
    f) FORMAT="$OPTARG" ;; b) BIN="$OPTARG" ;; s) BUILD="" ;; k) KEEP=1 ;; p) PERF=1 ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $(( OPTIND - 1 ))
CPS=${1:-50} CALLS=${2:-1000} HOLD_S=${3:-20}
case "$FORMAT" in wav|mp3) ;; *) echo "-f wav|mp3" >&2; exit 2 ;; esac
for c in sipp sox soxi python3 bc; do
  command -v $c >/dev/null || { echo "missing $c (Debian: apt-get install sip-tester sox libsox-fmt-mp3 python3 bc)" >&2; exit 2; }
done
target="${CARGO_TARGET_DIR:-$root/target}"
if [ -z "$BIN" ]; then
  BIN="$target/release/callrec"
  [ -z "$BUILD" ] || (cd "$root" && cargo build --release -q -p callrec)
fi
[ -x "$BIN" ] || { echo "callrec binary $BIN not found" >&2; exit 2; }

work="$(mktemp -d -t callrec-loadrec.XXXXXX)"
callrec_pid="" recv_pid="" uas_pid="" uac_pid="" perf_pid=""
cleanup() {
  for p in $perf_pid $uac_pid $uas_pid $callrec_pid $recv_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -z "$KEEP" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n 8192

free_port() { python3 -c 'import socket,sys;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind((sys.argv[1],0));print(s.getsockname()[1])' "$1"; }
free_tcp_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
sip_port=$(free_port 127.0.0.1) carrier_port=$(free_port 127.0.0.2) uas_port=$(free_port 127.0.0.1)
recv_port=$(free_tcp_port) api_port=$(free_tcp_port)

cp -r "$root/config" "$work/config"
mkdir -p "$work/data" "$work/received"
# `listen` is in [sip] and in [api] (the API on a free port: another callrec may hold 8000).
sed -i -e "/^\[sip\]/,/^\[/ s/^listen = .*/listen = [\"127.0.0.1:$sip_port\"]/" \
       -e "/^\[api\]/,/^\[/ s/^listen = .*/listen = \"127.0.0.1:$api_port\"/" -e 's/^tcp = true/tcp = false/' \
       -e 's/^port_min = .*/port_min = 10000/' -e 's/^port_max = .*/port_max = 19999/' \
       -e 's/^min_free_mb = .*/min_free_mb = 10/' "$work/config/callrec.toml"
python3 - "$work/config/documents" "$carrier_port" "$FORMAT" "http://127.0.0.1:$recv_port/recordings/" <<'PY'
import json, pathlib, sys
root, port, fmt, url = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
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
    for direction in doc.get("call_recording", {}).get("account", {}).values():
        for rule in direction.values():
            rule.update(enabled=True, format=fmt, url=url)
    f.write_text(json.dumps(doc, indent=2))
PY
# An older binary (a "before" run) refuses keys added since: drop those from the copy.
for _ in 1 2 3 4 5; do
  err=$("$BIN" check-config --config "$work/config/callrec.toml" 2>&1) && break
  key=$(echo "$err" | grep -o 'unknown field `[a-z_0-9]*`' | head -1 | cut -d'`' -f2)
  [ -n "$key" ] || { echo "$err" >&2; exit 1; }
  echo "note: $BIN does not know $key; removed from the copied config" >&2
  sed -i "/^$key = /d" "$work/config/callrec.toml"
done
# The streamed audio (raw A-law, 8 kHz): a voice-band sweep for the caller, a 440 Hz tone for
# the callee.
sox -n -r 8000 -c 1 -e a-law -t al "$work/uac.al" synth 10 sine 300-3000 vol 0.5
sox -n -r 8000 -c 1 -e a-law -t al "$work/uas.al" synth 10 sine 440 vol 0.5

"$BIN" receive --listen "127.0.0.1:$recv_port" --dir "$work/received" >"$work/receiver.log" 2>&1 &
recv_pid=$!
(cd "$work" && NO_COLOR=1 RUST_LOG=info exec "$BIN" --config "$work/config/callrec.toml" >"$work/callrec.log" 2>&1) &
callrec_pid=$!
TARGET=127.0.0.1:$sip_port
up=""
for _ in $(seq 1 50); do
  if (cd "$work" && sipp -sf "$here/options.xml" -m 1 -nostdin -timeout 1s -timeout_error \
        -i 127.0.0.1 "$TARGET" >/dev/null 2>&1); then up=1; break; fi
  kill -0 "$callrec_pid" 2>/dev/null || break
  sleep 0.2
done
[ -n "$up" ] || { echo "callrec did not answer OPTIONS on $TARGET:" >&2; tail -20 "$work/callrec.log" >&2; exit 1; }
(cd "$work" && sipp -sf "$here/register.xml" -inf "$here/data/1001.csv" -i 127.0.0.1 -p "$uas_port" \
   -m 1 -nostdin -timeout 10s -timeout_error "$TARGET" >/dev/null 2>&1) \
  || { echo "REGISTER of 1001 failed" >&2; exit 1; }

send_s=$(( (CALLS + CPS - 1) / CPS ))
uac_timeout=$(( send_s + HOLD_S + 60 ))
(cd "$work" && exec sipp -sf "$here/phone_rec_uas.xml" -i 127.0.0.1 -p "$uas_port" -mi 127.0.0.1 -mp 56000 \
   -nostdin -timeout "$(( uac_timeout + 15 ))s" -trace_stat -stf "$work/uas_stat.csv" -fd 5 \
   >"$work/uas.out" 2>&1) &
uas_pid=$!
sleep 0.5

tck=$(getconf CLK_TCK)
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }  # user nice system irq softirq steal
if [ -n "$PERF" ]; then
  perf stat --per-thread -e task-clock,context-switches -x, -o "$work/perf.csv" -p "$callrec_pid" 2>/dev/null &
  perf_pid=$!
fi
c0=$(ticks "$callrec_pid"); r0=$(ticks "$recv_pid"); s0=$(ticks "$uas_pid"); m0=$(machine_busy)
t0=$(date +%s.%N)
(cd "$work" && exec timeout -k 10 "$(( uac_timeout + 30 ))" sipp -sf "$here/carrier_rec_uac.xml" \
   -inf "$here/data/carrier_to_did.csv" -i 127.0.0.2 -p "$carrier_port" -mi 127.0.0.2 -mp 50000 \
   -r "$CPS" -m "$CALLS" -l "$(( CPS * (HOLD_S + 5) + 100 ))" -d "$(( HOLD_S * 1000 ))" -nostdin \
   -timeout "${uac_timeout}s" -trace_stat -stf "$work/uac_stat.csv" -fd 1 -trace_err \
   "$TARGET" >"$work/uac.out" 2>&1) &
uac_pid=$!
# Sample the UAC's CPU while it runs (it is the child of timeout).
uac_ticks=0
while kill -0 "$uac_pid" 2>/dev/null; do
  child=$(pgrep -P "$uac_pid" | head -1 || true)
  [ -n "$child" ] && uac_ticks=$(ticks "$child" 2>/dev/null || echo "$uac_ticks")
  sleep 0.5
done
uac_rc=0; wait "$uac_pid" || uac_rc=$?; uac_pid=""
t_uac=$(date +%s.%N)

stat() { # FILE COLUMN: last line of a SIPp statistics CSV, column by name
  awk -F';' -v col="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i; next} {v=$c} END{print v+0}' "$1"
}
ok=$(stat "$work/uac_stat.csv" "SuccessfulCall(C)")
failed=$(stat "$work/uac_stat.csv" "FailedCall(C)")
# SIPp's own mean call length (INVITE to the end of the BYE): on an overloaded machine SIPp's
# pauses run late and calls last longer than HOLD_S; recordings should match this, not HOLD_S.
call_len=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="CallLength(C)") c=i; next} {v=$c} END{print v}' "$work/uac_stat.csv" \
  | awk -F: '{printf "%.2f", $1*3600 + $2*60 + $3 + $4/1e6}')
# every recording uploaded (at most 120 s more)
ext=$FORMAT
for _ in $(seq 1 240); do
  n=$(find "$work/received" -type f -name "*.$ext" | wc -l)
  [ "$n" -ge "$ok" ] && break
  sleep 0.5
done
sleep 1
c1=$(ticks "$callrec_pid"); r1=$(ticks "$recv_pid"); s1=$(ticks "$uas_pid"); m1=$(machine_busy)
t1=$(date +%s.%N)
hwm_kb=$(awk '/^VmHWM/{print $2}' "/proc/$callrec_pid/status")
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; perf_pid=""
fi

n=$(find "$work/received" -type f -name "*.$ext" | wc -l)
durations="$work/durations.txt"
find "$work/received" -type f -name "*.$ext" -print0 | xargs -0 -r -n 200 soxi -D 2>/dev/null >"$durations" || true
read -r dmin dmean dmax bad < <(awk -v h="$HOLD_S" '{n++; s+=$1; if(min==""||$1<min)min=$1; if($1>max)max=$1; if($1<h-1||$1>h+2)bad++}
  END{if(n) printf "%.2f %.2f %.2f %d\n", min, s/n, max, bad+0; else print "n/a n/a n/a 0"}' "$durations")
measured=$(wc -l <"$durations")
first=$(find "$work/received" -type f -name "*.$ext" -print -quit)
chans=n/a; [ -n "$first" ] && chans=$(soxi -c "$first" 2>/dev/null || echo n/a)
cs() { echo "scale=2; ($1) / $tck" | bc -l; }
cpu_callrec=$(cs "$c1 - $c0"); cpu_recv=$(cs "$r1 - $r0"); cpu_uas=$(cs "$s1 - $s0"); cpu_uac=$(cs "$uac_ticks")
other=$(echo "scale=1; ($m1 - $m0 - ($c1 - $c0) - ($r1 - $r0) - ($s1 - $s0) - $uac_ticks) / $tck" | bc -l)
# Stop callrec (SIGTERM: it logs its counters), read its last stats line.
kill -TERM "$callrec_pid" 2>/dev/null || true
for _ in $(seq 1 40); do kill -0 "$callrec_pid" 2>/dev/null || break; sleep 0.25; done
dropped=$(grep ' stats ' "$work/callrec.log" | tail -n 1 | grep -o 'recorder_frames_dropped=[0-9]*' | cut -d= -f2 || true)
relayed=$(grep ' stats ' "$work/callrec.log" | tail -n 1 | grep -o 'rtp_relayed=[0-9]*' | cut -d= -f2 || true)
perf_out=""
if [ -n "$PERF" ] && [ -s "$work/perf.csv" ]; then
  # Per thread: "<name>-<tid>,value,unit,event,..."; threads named "relay-0" etc. are grouped
  # without their number (the main thread carries the binary's name: "main").
  cswch=$(awk -F, '$4=="context-switches" && $2+0==$2 {s+=$2} END {print s+0}' "$work/perf.csv")
  tclock=$(awk -F, '$4=="task-clock" && $2+0==$2 {s+=$2} END {printf "%.2f", s/1000}' "$work/perf.csv")
  groups=$(awk -F, -v bin="$(basename "$BIN" | cut -c1-15)" '
    $2+0==$2 && ($4=="task-clock" || $4=="context-switches") {
      g=$1; sub(/-[0-9]+$/, "", g); sub(/-[0-9]+$/, "", g); if (g==bin) g="main"
      if ($4=="task-clock") cpu[g]+=$2/1000; else cs[g]+=$2
    }
    END { for (g in cpu) printf "threads_%s=%.2f/%d ", g, cpu[g], cs[g] }' "$work/perf.csv")
  per_k=n/a; [ -n "$relayed" ] && [ "${relayed:-0}" -gt 0 ] && per_k=$(echo "scale=2; $cswch * 1000 / $relayed" | bc -l)
  perf_out="perf_task_clock_s=$tclock perf_context_switches=$cswch context_switches_per_1000_packets=$per_k $groups"
fi
echo "format=$FORMAT cps=$CPS calls=$CALLS hold_s=$HOLD_S calls_ok=$ok failed=$failed uac_rc=$uac_rc" \
  "sipp_mean_call_s=$call_len recordings=$n measured=$measured wrong_length=$bad channels=$chans min_duration_s=$dmin mean_duration_s=$dmean max_duration_s=$dmax" \
  "cpu_s_callrec=$cpu_callrec rss_mb_callrec=$(echo "scale=1; $hwm_kb / 1024" | bc -l) cpu_s_receiver=$cpu_recv" \
  "cpu_s_sipp_uac=$cpu_uac cpu_s_sipp_uas=$cpu_uas cpu_s_other_procs=$other recorder_frames_dropped=${dropped:-n/a}" \
  "rtp_relayed=${relayed:-n/a} $perf_out" \
  "uac_wall_s=$(echo "scale=1; ($t_uac - $t0)/1" | bc -l) window_s=$(echo "scale=1; ($t1 - $t0)/1" | bc -l)"
[ "$uac_rc" = 0 ] && [ "$failed" = 0 ] && [ "$ok" = "$CALLS" ] && [ "$n" = "$CALLS" ] && [ "$bad" = 0 ]
