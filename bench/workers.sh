#!/bin/bash
# Throughput with several `cutover worker` processes on one state, against `cutover run`
# alone on SQLite, on the same corpus, in one run. Each case: a fresh target, a fresh
# state, the batch created and started, then the workers (or `run --once`) until the batch
# is Synced; wall time from the start of the workers to the batch's end, and the kit's
# verify.py. PostgreSQL is a private cluster of this script (initdb/pg_ctl under the work
# dir, on 127.0.0.1 only, trust for the local user), started once and stopped at the end.
#
#   bench/workers.sh [-c UxM] [-w "1 2 3"] [-p PAR] [-r REPS] [-s "sqlite postgres"]
#     -p PAR   MaxConcurrentMigrations of the endpoint (across all workers)
set -euo pipefail
CORPUS=""; WORKERS="1 2 3"; PAR=8; REPS=1; STATES="sqlite postgres"
while getopts "c:w:p:r:s:" o; do
  case $o in c) CORPUS=$OPTARG;; w) WORKERS=$OPTARG;; p) PAR=$OPTARG;; r) REPS=$OPTARG;; s) STATES=$OPTARG;; *) exit 2;; esac
done

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OUT="$WORK/workers-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
KEY="$OUT/state.key"
USERS_CSV="$OUT/users.csv"
{ echo EmailAddress,UserName,Password; for i in $(seq 1 "$CB_USERS"); do echo "user$i@example.test,,"; done; } >"$USERS_CSV"
export SRC_ADMIN_PW=adminpass DST_ADMIN_PW=adminpass

PG_DIR="$WORK/pg"; PG_PORT=15432; PG_BIN=""
pg_start() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [[ -x $PG_BIN/initdb ]] || { echo "PostgreSQL is missing: apt-get install postgresql" >&2; exit 1; }
  rm -rf "$PG_DIR"; mkdir -p "$PG_DIR"; chown postgres: "$PG_DIR"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on" start >/dev/null
}
pg_stop() {
  [[ -n $PG_BIN ]] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
}
trap pg_stop EXIT
[[ $STATES == *postgres* ]] && pg_start

# A fresh state of kind $1 for case $2: prints its URL.
fresh_state() {
  case $1 in
    sqlite) rm -f "$OUT/$2.db"*; echo "sqlite://$OUT/$2.db" ;;
    postgres)
      runuser -u postgres -- "$PG_BIN/psql" -h 127.0.0.1 -p $PG_PORT -q -c "DROP DATABASE IF EXISTS \"$2\"" -c "CREATE DATABASE \"$2\"" >/dev/null
      echo "postgres://postgres@127.0.0.1:$PG_PORT/$2" ;;
  esac
}

setup() { # setup STATE_URL: target, endpoint, batch started
  local c=("$CUTOVER_BIN" --state "$1" --key-file "$KEY")
  "${c[@]}" target set --server 127.0.0.1 --port 11143 --security none --admin admin \
    --password-env DST_ADMIN_PW --impersonation authzid >/dev/null
  "${c[@]}" endpoint new --name Bench --server 127.0.0.1 --port 10143 --security none --admin admin \
    --password-env SRC_ADMIN_PW --impersonation authzid --skip-verification \
    --max-concurrent-migrations "$PAR" --max-concurrent-incremental-syncs "$PAR" >/dev/null
  "${c[@]}" batch new --name Bench --source-endpoint Bench --users-csv "$USERS_CSV" --auto-start >/dev/null
}

status() { "$CUTOVER_BIN" --state "$1" --key-file "$KEY" batch get Bench --format json | python3 -c "import json,sys;print(json.load(sys.stdin)['Status'])"; }

for rep in $(seq "$REPS"); do
  for state in $STATES; do
    for n in $WORKERS; do
      name="$state-w$n"
      # `run` alone is the reference on SQLite; workers otherwise.
      "$KIT/servers.sh" reset-dst >/dev/null
      url=$(fresh_state "$state" "bench_${state}_w${n}_$rep")
      setup "$url"
      t0=$(date +%s.%N)
      pids=()
      for i in $(seq "$n"); do
        "$CUTOVER_BIN" --state "$url" --key-file "$KEY" worker >"$OUT/$name-$i.log" 2>&1 &
        pids+=($!)
      done
      until [[ $(status "$url") == Synced ]]; do sleep 0.2; done
      t1=$(date +%s.%N)
      kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
      python3 -c "print(f'{$t1 - $t0:.2f}')" >>"$OUT/$name.times"
      "$KIT/verify.py" 10143 11143 --quiet | tail -1 >>"$OUT/$name.verify"
    done
  done
done

python3 - "$OUT" <<'PY'
import pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
rows = {}
for f in sorted(out.glob("*.times")):
    rows[f.stem] = statistics.median(float(x) for x in f.read_text().split())
base = rows.get("sqlite-w1")
print("\n| state | workers | wall s (median) | vs SQLite with one | verify |")
print("|---|---:|---:|---:|---|")
for name, wall in rows.items():
    state, w = name.rsplit("-w", 1)
    verify = (out / f"{name}.verify").read_text().strip().replace("\n", "; ")
    ratio = f"{wall / base:.2f}" if base else "-"
    print(f"| {state} | {w} | {wall:.2f} | {ratio} | {verify} |")
PY
