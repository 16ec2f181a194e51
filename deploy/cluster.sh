#!/usr/bin/env bash
# A local callrec cluster in one command (docs/deployment.md): a throwaway PostgreSQL, an
# S3-compatible server (s3s-fs) holding the cluster bucket, three callrec nodes on 127.0.0.2-4
# and the Kamailio edge (deploy/kamailio/kamailio.cfg) on 127.0.0.1:5060. Prints where
# everything is, then runs until Ctrl-C, which stops it all (and deletes the run directory
# unless KEEP=1).
#
#   bash deploy/cluster.sh            # phones register to 127.0.0.1:5060 (realm demo.callrec.local)
#
# Needs: kamailio kamailio-postgres-modules postgresql (Debian packages), s3s-fs (cargo install
# s3s-fs --locked --features binary; tests/run.sh installs all of them) and cargo to build
# callrec. Settings (environment): CALLREC_BIN (default: build target/release/callrec),
# RUN_DIR (default: a new temporary directory), PG_PORT (55432), S3_PORT (9000),
# EDGE_IP (127.0.0.1), EDGE_PORT (5060).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:$HOME/.cargo/bin"

PG_PORT="${PG_PORT:-55432}"
S3_PORT="${S3_PORT:-9000}"
EDGE_IP="${EDGE_IP:-127.0.0.1}"
EDGE_PORT="${EDGE_PORT:-5060}"
NODE_IPS=(127.0.0.2 127.0.0.3 127.0.0.4)
NODE_IDS=(node-a node-b node-c)
# The example carrier moves off 127.0.0.2 (node-a's address) to here.
CARRIER_IP=127.0.0.5
S3_KEY=callrec-cluster
S3_SECRET="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"

for tool in kamailio kamcmd s3s-fs; do
  command -v "$tool" >/dev/null || { echo "missing $tool (see the header of $0)" >&2; exit 1; }
done
ls /usr/lib/*/kamailio/modules/db_postgres.so >/dev/null 2>&1 \
  || { echo "missing kamailio-postgres-modules" >&2; exit 1; }
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$PG_BIN/initdb" ] || { echo "missing postgresql" >&2; exit 1; }

if [ -z "${CALLREC_BIN:-}" ]; then
  cargo build --release -p callrec
  CALLREC_BIN="$PWD/target/release/callrec"
fi

RUN_DIR="${RUN_DIR:-$(mktemp -d /tmp/callrec-cluster.XXXXXX)}"
mkdir -p "$RUN_DIR"
chmod 755 "$RUN_DIR"
PIDS=()
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)

stop_all() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  # newest first: the edge, the nodes, s3s-fs
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  [ -d "$RUN_DIR/pg" ] && "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $RUN_DIR"; else rm -rf "$RUN_DIR"; fi
}
trap stop_all INT TERM EXIT

wait_tcp() { # host port what
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
  echo "$3 did not listen on $1:$2" >&2; exit 1
}

# --- PostgreSQL: one database for callrec's tables, Kamailio's tables and the views ---------
mkdir -p "$RUN_DIR/pg"
[ "$(id -u)" -eq 0 ] && chown postgres "$RUN_DIR/pg"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$RUN_DIR/pg" -U postgres -A trust >"$RUN_DIR/initdb.log"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg" -l "$RUN_DIR/pg/postgres.log" -w \
  -o "-p $PG_PORT -k $RUN_DIR/pg -c listen_addresses=127.0.0.1" start >/dev/null
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres callrec 2>/dev/null \
  || "${AS_PG[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres callrec
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/callrec"
# Kamailio's URL parser wants the (empty) password's ':'.
KAM_DB_URL="postgres://postgres:@127.0.0.1:$PG_PORT/callrec"

# --- the cluster bucket ----------------------------------------------------------------------
mkdir -p "$RUN_DIR/s3/recordings"
s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_KEY" --secret-key "$S3_SECRET" \
  "$RUN_DIR/s3" >"$RUN_DIR/s3.log" 2>&1 &
PIDS+=($!)
wait_tcp 127.0.0.1 "$S3_PORT" s3s-fs

# --- the documents: the example's, with the carrier on $CARRIER_IP and the recordings of the
#     example's rule (no url) going to the cluster bucket --------------------------------------
cp -r config/documents "$RUN_DIR/documents"
sed -i "s/127\.0\.0\.2/$CARRIER_IP/g" "$RUN_DIR/documents/"*.json
sed -i -e '/"url": "http:\/\/127\.0\.0\.1:8080\/recordings\/"/d' \
  -e 's/"format": "wav",$/"format": "wav"/' "$RUN_DIR/documents/account-demo.json"

# --- three callrec nodes -----------------------------------------------------------------------
for i in 0 1 2; do
  ip="${NODE_IPS[$i]}"; id="${NODE_IDS[$i]}"; dir="$RUN_DIR/$id"
  mkdir -p "$dir/data"
  cat >"$dir/callrec.toml" <<EOF
[sip]
listen = ["$ip:5060"]
[media]
relay_ip = "$ip"
[paths]
data_dir = "$dir/data"
documents_dir = "$RUN_DIR/documents"
[store]
url = "$DB_URL"
[api]
listen = "$ip:8000"
[cluster]
node_id = "$id"
edge = ["$EDGE_IP:$EDGE_PORT"]
[cluster.storage]
endpoint = "http://127.0.0.1:$S3_PORT"
bucket = "recordings"
region = "us-east-1"
access_key = "$S3_KEY"
secret_key = "$S3_SECRET"
EOF
  "$CALLREC_BIN" --config "$dir/callrec.toml" >"$dir/callrec.log" 2>&1 &
  PIDS+=($!)
  # the first node migrates the database and imports the documents before the others start
  wait_tcp "$ip" 8000 "callrec $id"
done

# --- the Kamailio edge -------------------------------------------------------------------------
mkdir -p "$RUN_DIR/kamailio/run"
for i in 0 1 2; do
  echo "1 sip:${NODE_IPS[$i]}:5060 0 0 duid=${NODE_IDS[$i]}"
done >"$RUN_DIR/kamailio/dispatcher.list"
CTL="unix:$RUN_DIR/kamailio/ctl.sock"
kamailio -DD -E -f "$PWD/deploy/kamailio/kamailio.cfg" -P "$RUN_DIR/kamailio/kamailio.pid" \
  -Y "$RUN_DIR/kamailio/run" -w "$RUN_DIR/kamailio" -m 64 -M 8 \
  -A "LISTEN_IP=$EDGE_IP" -A "SIP_PORT=$EDGE_PORT" \
  -A "DBURL=\"$KAM_DB_URL\"" -A "SQLCON=\"cb=>$KAM_DB_URL\"" \
  -A "DSLIST=\"$RUN_DIR/kamailio/dispatcher.list\"" -A "CTLSOCK=\"$CTL\"" \
  >"$RUN_DIR/kamailio/kamailio.log" 2>&1 &
PIDS+=($!)
wait_tcp "$EDGE_IP" "$EDGE_PORT" kamailio

cat <<EOF

callrec cluster running (Ctrl-C stops everything)
  SIP edge (phones, carriers)  $EDGE_IP:$EDGE_PORT  UDP+TCP   realm demo.callrec.local
                               phones 1001/demo-1001, 1002/demo-1002; carrier from $CARRIER_IP
  nodes                        ${NODE_IDS[0]} ${NODE_IPS[0]}:5060  API http://${NODE_IPS[0]}:8000
                               ${NODE_IDS[1]} ${NODE_IPS[1]}:5060  API http://${NODE_IPS[1]}:8000
                               ${NODE_IDS[2]} ${NODE_IPS[2]}:5060  API http://${NODE_IPS[2]}:8000
                               (API key demo-api-key; metrics at /metrics)
  PostgreSQL                   $DB_URL
  cluster bucket (s3s-fs)      http://127.0.0.1:$S3_PORT/recordings  key $S3_KEY  (files in $RUN_DIR/s3)
  dispatcher state             kamcmd -s $CTL dispatcher.list
  registrations                kamcmd -s $CTL ul.dump
  edge counters                kamcmd -s $CTL cnt.grp_get_all script
  logs                         $RUN_DIR/*/*.log
EOF
wait
