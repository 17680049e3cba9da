#!/bin/bash
# cutover against Dovecot's dsync (doveadm backup over imapc) and the servers' raw limits,
# on the same corpus, in one run, with the benchmark kit of the steering repository
# (../shared/bench beside this repository, or CUTOVER_BENCH_KIT).
#
#   bench/run.sh [-c UxM] [-r REPS] [-p "1 4"] [-t "cutover doveadm"] [-b MB]
#     -c UxM   (re)generate the corpus (corpus.py --users U --messages M); default: keep it
#     -b MB    add one message of MB megabytes to user1's INBOX first (memory bound check)
#
# Prints, per tool and parallelism, the medians of wall time, messages/s, MB/s, CPU, peak RSS
# and verify.py's verdict, the ratios cutover/doveadm and cutover/raw-append, and the time of
# a no-change incremental pass. Everything talks to 127.0.0.1 only.
set -euo pipefail
CORPUS=""; REPS=3; PARS="4"; TOOLS="cutover doveadm"; BIG=""
while getopts "c:r:p:t:b:" o; do
  case $o in c) CORPUS=$OPTARG;; r) REPS=$OPTARG;; p) PARS=$OPTARG;; t) TOOLS=$OPTARG;; b) BIG=$OPTARG;; *) exit 2;; esac
done

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [[ -n $BIG ]]; then
  echo "==> adding a ${BIG} MB message to user1@example.test's INBOX"
  python3 "$REPO/bench/big_message.py" "$BIG" |
    doveadm -c "$WORK/conf/src.conf" save -u user1@example.test -m INBOX
fi

# Results of this run only: a fresh runs.tsv in its own folder.
export CB_RESULTS="$WORK/results-cutover-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$CB_RESULTS"
"$KIT/run-peers.sh" -r "$REPS" -t "$TOOLS" -p "$PARS" -l "${CORPUS:-current}" | grep -E '^\[' || true

# A pass over mailboxes where nothing changed (after one more full copy).
echo "==> no-change incremental pass"
"$KIT/servers.sh" reset-dst >/dev/null
p="${PARS##* }"
CB_PAR=$p "$KIT/peers/cutover.sh" >/dev/null 2>&1
export CUTOVER_STATE="sqlite://$WORK/logs/cutover-p$p/state.db"
for _ in $(seq "$REPS"); do
  "$CUTOVER_BIN" batch start Bench >/dev/null
  /usr/bin/time -f "%e" -o "$CB_RESULTS/nochange.time" "$CUTOVER_BIN" run --once >/dev/null 2>&1
  cat "$CB_RESULTS/nochange.time" >> "$CB_RESULTS/nochange.txt"
done
python3 "$REPO/bench/summary.py" "$CB_RESULTS"
