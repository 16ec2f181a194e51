#!/usr/bin/env bash
# Runs one SIPp scenario against a callrec that is already running on the example configuration
# (config/callrec.toml: SIP on 127.0.0.1:5060, phones 1001/1002 with passwords demo-1001/demo-1002,
# carrier 127.0.0.2:5060, DID +15550100 -> 1001). Start callrec first:
#
#     cargo run --release -p callrec -- --config config/callrec.toml
#
# then, from anywhere:
#
#     ./sipp-scenarios/run.sh register|p2p|p2carrier|carrier2p|cancel|busy|hold|pcap|unauth|wrongpass
#
# register   1001 and 1002 REGISTER with digest auth (401, then 200)
# p2p        1001 calls 1002                (both registered first; 1002 answers, echoes RTP)
# p2carrier  1001 calls +15559990000        (the carrier UAS on 127.0.0.2 answers)
# carrier2p  the carrier (127.0.0.2) calls +15550100, which rings 1001
# cancel     1001 calls 1002, which rings; 1001 cancels (200 + 487)
# busy       1001 calls 1002, which answers 486 Busy Here
# hold       1001 calls 1002, holds (a=sendonly), resumes (a=sendrecv), hangs up
# pcap       1001 calls the carrier and plays 10 s of G.711 A-law RTP from tests/fixtures/pcap
# unauth     an INVITE without credentials from 127.0.0.1 to an offnet number: must get 401/403/407
# wrongpass  1001 with a wrong password: must be refused
#
# Media ports: 1001 uses 16000, 1002 16010, the carrier 16020 (SIPp binds audio at -mp and
# video at -mp + 2, so they are 10 apart).
# Environment: CALLREC (default 127.0.0.1:5060), CARRIER_IP (127.0.0.2), CARRIER_PORT (5060),
# HOLD_MS (call length, default 2000), SIPP (sipp binary). Exit status 0 = every SIPp instance
# succeeded. SIPp's logs are written in a temporary directory that is printed on failure.
# 127.0.0.2 needs no setup on Linux: all of 127.0.0.0/8 is bound to the loopback interface.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$(cd "$here/../tests/fixtures" && pwd)"
data="$here/data"
CALLREC="${CALLREC:-127.0.0.1:5060}"
CARRIER_IP="${CARRIER_IP:-127.0.0.2}"
CARRIER_PORT="${CARRIER_PORT:-5060}"
HOLD_MS="${HOLD_MS:-2000}"
SIPP="${SIPP:-sipp}"
PHONE_IP=127.0.0.1
P1001=5071 P1002=5072
logs="$(mktemp -d -t callrec-sipp.XXXXXX)"

command -v "$SIPP" >/dev/null || { echo "sipp not found (Debian: apt-get install sip-tester)" >&2; exit 2; }

# sipp_run NAME ARGS... : runs SIPp in the foreground for exactly one call, bounded in time.
sipp_run() {
  local name="$1"; shift
  (cd "$logs" && "$SIPP" "$@" -m 1 -nostdin -timeout 40s -timeout_error -trace_err \
     -error_file "$logs/$name.errors.log" >"$logs/$name.out" 2>&1)
}

# sipp_bg NAME ARGS... : same in the background; the pid lands in $last_pid.
sipp_bg() {
  local name="$1"; shift
  (cd "$logs" && exec "$SIPP" "$@" -m 1 -nostdin -timeout 40s -timeout_error -trace_err \
     -error_file "$logs/$name.errors.log" >"$logs/$name.out" 2>&1) &
  last_pid=$!
  sleep 0.3
}

register() { # register EXT PORT
  sipp_run "register-$1" -sf "$here/register.xml" -inf "$data/$1.csv" -i "$PHONE_IP" -p "$2" "$CALLREC"
}

# uas_then_uac UAS_PID UAC_NAME UAC_ARGS... : runs the caller, then waits for the callee.
uac_and_wait() {
  local uas_pid="$1"; shift
  local rc=0
  sipp_run "$@" || rc=$?
  wait "$uas_pid" || rc=$?
  return $rc
}

auth_uri() { echo "$1@$CALLREC"; }

scenario="${1:-}"
rc=0
case "$scenario" in
  register)
    register 1001 $P1001 && register 1002 $P1002 || rc=$? ;;
  p2p)
    register 1001 $P1001 && register 1002 $P1002 || rc=$?
    sipp_bg callee -sf "$here/phone_uas.xml" -i "$PHONE_IP" -p $P1002 -mp 16010 -rtp_echo "$CALLREC"
    uac_and_wait $last_pid caller -sf "$here/phone_uac.xml" -inf "$data/call_1001_to_1002.csv" \
      -auth_uri "$(auth_uri 1002)" -i "$PHONE_IP" -p $P1001 -mp 16000 -d "$HOLD_MS" "$CALLREC" || rc=$? ;;
  p2carrier)
    register 1001 $P1001 || rc=$?
    sipp_bg carrier -sf "$here/carrier_uas.xml" -i "$CARRIER_IP" -p "$CARRIER_PORT" -mp 16020 -rtp_echo "$CALLREC"
    uac_and_wait $last_pid caller -sf "$here/phone_uac.xml" -inf "$data/call_1001_to_offnet.csv" \
      -auth_uri "$(auth_uri +15559990000)" -i "$PHONE_IP" -p $P1001 -mp 16000 -d "$HOLD_MS" "$CALLREC" || rc=$? ;;
  carrier2p)
    register 1001 $P1001 || rc=$?
    sipp_bg callee -sf "$here/phone_uas.xml" -i "$PHONE_IP" -p $P1001 -mp 16000 -rtp_echo "$CALLREC"
    uac_and_wait $last_pid carrier -sf "$here/carrier_uac.xml" -inf "$data/carrier_to_did.csv" \
      -i "$CARRIER_IP" -p "$CARRIER_PORT" -mp 16020 -d "$HOLD_MS" "$CALLREC" || rc=$? ;;
  cancel)
    register 1001 $P1001 && register 1002 $P1002 || rc=$?
    sipp_bg callee -sf "$here/ring_uas.xml" -i "$PHONE_IP" -p $P1002 "$CALLREC"
    uac_and_wait $last_pid caller -sf "$here/cancel_uac.xml" -inf "$data/call_1001_to_1002.csv" \
      -auth_uri "$(auth_uri 1002)" -i "$PHONE_IP" -p $P1001 -mp 16000 -d 1000 "$CALLREC" || rc=$? ;;
  busy)
    register 1001 $P1001 && register 1002 $P1002 || rc=$?
    sipp_bg callee -sf "$here/busy_uas.xml" -i "$PHONE_IP" -p $P1002 "$CALLREC"
    uac_and_wait $last_pid caller -sf "$here/busy_uac.xml" -inf "$data/call_1001_to_1002.csv" \
      -auth_uri "$(auth_uri 1002)" -i "$PHONE_IP" -p $P1001 -mp 16000 "$CALLREC" || rc=$? ;;
  hold)
    register 1001 $P1001 && register 1002 $P1002 || rc=$?
    sipp_bg callee -sf "$here/phone_uas.xml" -i "$PHONE_IP" -p $P1002 -mp 16010 -rtp_echo "$CALLREC"
    uac_and_wait $last_pid caller -sf "$here/hold_uac.xml" -inf "$data/call_1001_to_1002.csv" \
      -auth_uri "$(auth_uri 1002)" -i "$PHONE_IP" -p $P1001 -mp 16000 -d 1000 "$CALLREC" || rc=$? ;;
  pcap)
    register 1001 $P1001 || rc=$?
    [ -f "$fixtures/pcap/g711a.pcap" ] || python3 "$fixtures/make_g711a_pcap.py"
    sipp_bg carrier -sf "$here/carrier_uas.xml" -i "$CARRIER_IP" -p "$CARRIER_PORT" -mp 16020 -rtp_echo "$CALLREC"
    # play_pcap_audio opens pcap/g711a.pcap relative to SIPp's working directory
    (cd "$fixtures" && "$SIPP" -sf "$here/uac_pcap.xml" -inf "$data/call_1001_to_offnet.csv" \
      -auth_uri "$(auth_uri +15559990000)" -i "$PHONE_IP" -p $P1001 -mp 16000 -m 1 -nostdin \
      -timeout 40s -timeout_error -trace_err -error_file "$logs/caller.errors.log" "$CALLREC" \
      >"$logs/caller.out" 2>&1) || rc=$?
    wait $last_pid || rc=$? ;;
  unauth)
    sipp_run unauth -sf "$here/unauth_uac.xml" -inf "$data/call_1001_to_offnet.csv" \
      -i "$PHONE_IP" -p 5073 "$CALLREC" || rc=$? ;;
  wrongpass)
    sipp_run wrongpass -sf "$here/wrong_auth_uac.xml" -inf "$data/call_1001_wrong_password.csv" \
      -auth_uri "$(auth_uri 1002)" -i "$PHONE_IP" -p 5073 "$CALLREC" || rc=$? ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2 ;;
esac

if [ "$rc" -eq 0 ]; then
  echo "$scenario: PASS"
  rm -rf "$logs"
else
  echo "$scenario: FAIL (exit $rc); SIPp logs in $logs:" >&2
  cat "$logs"/*.errors.log 2>/dev/null | head -40 >&2 || true
fi
exit "$rc"
