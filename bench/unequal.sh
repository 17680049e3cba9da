#!/bin/bash
# A batch of unequal mailboxes against its largest mailbox alone (issue 15: the biggest
# mailbox should set the pace, not exceed it). user1 keeps its 500 messages (108 MB);
# users 2-5 keep the first two messages of every folder (0.2-8.4 MB each). The kit's
# cutover runner then moves user1 alone and all five mailboxes, alternating, REPS times
# each, on loopback or with -d through the emulated link in front of the source
# (bench/wan_proxy.py). The corpus is loaded again afterwards.
#
#   bench/unequal.sh [-d DELAY_MS] [-R RATE_MBIT] [-r REPS] [-p PAR]
#
# Prints each run's wall time (the whole runner: target set, endpoint new, batch new,
# run --once), the medians, their ratio, and verify.py's verdict on the last batch.
set -euo pipefail
DELAY=""; RATE=200; REPS=3; PAR=4
while getopts "d:R:r:p:" o; do
  case $o in d) DELAY=$OPTARG;; R) RATE=$OPTARG;; r) REPS=$OPTARG;; p) PAR=$OPTARG;; *) exit 2;; esac
done

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
read -r USERS_N MESSAGES_N < <(python3 -c "import json;c=json.load(open('$WORK/corpus.json'));print(c['users'], c['messages_per_user'])")
restore() {
  echo "==> loading the corpus again (${USERS_N}x${MESSAGES_N})"
  "$KIT/corpus.py" --users "$USERS_N" --messages "$MESSAGES_N" | tail -1
}
PROXY=""
trap 'restore; [[ -n $PROXY ]] && kill $PROXY 2>/dev/null; true' EXIT

echo "==> users 2-$USERS_N keep two messages per folder"
for i in $(seq 2 "$USERS_N"); do
  doveadm -c "$WORK/conf/src.conf" expunge -u "user$i@example.test" mailbox '*' uid 3:*
done
for i in $(seq 1 "$USERS_N"); do
  echo "user$i: $(doveadm -c "$WORK/conf/src.conf" mailbox status -u "user$i@example.test" -t "messages vsize" '*')"
done

SRC_PORT=10143
if [[ -n $DELAY ]]; then
  python3 "$REPO/bench/wan_proxy.py" --delay-ms "$DELAY" --rate-mbit "$RATE" 20143:10143 &
  PROXY=$!
  SRC_PORT=20143
  sleep 0.5
  echo "==> the source behind a link of ${DELAY} ms each way, ${RATE} Mbit/s"
fi

OUT="$WORK/unequal-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
for rep in $(seq "$REPS"); do
  for n in 1 "$USERS_N"; do
    "$KIT/servers.sh" reset-dst >/dev/null
    sync; sleep 1
    CB_NUSERS=$n CB_PAR=$PAR CB_SRC_PORT=$SRC_PORT /usr/bin/time -f "%e" -o "$OUT/time" \
      "$KIT/peers/cutover.sh" > "$OUT/run-$n-$rep.out" 2>&1
    echo "$n $(cat "$OUT/time")" | tee -a "$OUT/walls"
  done
done
echo "==> verify (the last batch of all $USERS_N)"
"$KIT/verify.py" 10143 11143 --quiet | tail -1
python3 - "$OUT/walls" <<'EOF'
import statistics, sys
walls = {}
for line in open(sys.argv[1]):
    n, wall = line.split()
    walls.setdefault(int(n), []).append(float(wall))
alone, batch = (statistics.median(walls[k]) for k in sorted(walls))
print(f"largest alone: median {alone:.2f} s {walls[min(walls)]}")
print(f"whole batch:   median {batch:.2f} s {walls[max(walls)]}")
print(f"batch / largest alone: {batch / alone:.2f}")
EOF
