#!/bin/bash
# cutover over an emulated WAN link: bench/wan_proxy.py puts a shared link of RATE Mbit/s
# each way with DELAY ms one-way in front of each bench server (source 20143 -> 10143,
# target 21143 -> 11143), because this machine's kernel has no netem qdisc. Runs
# cutover with COMPRESS off and on, and the kit's raw pipelined FETCH and MULTIAPPEND
# through the same links, and prints wall time, MB/s and the share of the link floor
# (corpus bytes / rate). doveadm cannot take part: its imapc port is fixed in the kit's
# configuration.
#
#   bench/wan.sh [-d DELAY_MS] [-R RATE_MBIT] [-r REPS] [-p PAR] [-c UxM]
set -euo pipefail
DELAY=10; RATE=200; REPS=1; PAR=4; CORPUS=""
while getopts "d:R:r:p:c:" o; do
  case $o in d) DELAY=$OPTARG;; R) RATE=$OPTARG;; r) REPS=$OPTARG;; p) PAR=$OPTARG;; c) CORPUS=$OPTARG;; *) exit 2;; esac
done

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

python3 "$REPO/bench/wan_proxy.py" --delay-ms "$DELAY" --rate-mbit "$RATE" 20143:10143 21143:11143 &
PROXY=$!
trap 'kill $PROXY 2>/dev/null || true' EXIT
sleep 0.5

OUT="$WORK/wan-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
bytes=$(python3 -c "import json;print(json.load(open('$WORK/corpus.json'))['bytes_rfc822'])")
floor=$(python3 -c "print(f'{$bytes * 8 / ($RATE * 1e6):.1f}')")
echo "==> link: ${DELAY} ms each way (RTT $((2 * DELAY)) ms), ${RATE} Mbit/s each way; corpus $bytes bytes; floor ${floor} s"

timed() { # timed NAME CMD...: wall seconds into $OUT/NAME.times
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$OUT/$name.log" 2>&1
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')" >>"$OUT/$name.times"
}

for rep in $(seq "$REPS"); do
  for comp in off on; do
    "$KIT/servers.sh" reset-dst >/dev/null
    CB_PAR=$PAR CB_SRC_PORT=20143 CB_DST_PORT=21143 CUTOVER_COMPRESSION=$comp \
      timed "cutover-compress-$comp" "$KIT/peers/cutover.sh"
    "$KIT/verify.py" 10143 11143 --quiet | tail -1 >>"$OUT/cutover-compress-$comp.verify"
  done
  timed raw-fetch "$KIT/raw.py" fetch --port 20143 --par "$PAR"
  "$KIT/servers.sh" reset-dst >/dev/null
  # raw append loads the bodies from the source untimed; it prints its own timing.
  "$KIT/raw.py" append --src 10143 --dst 21143 --par "$PAR" >"$OUT/raw-append.log" 2>&1
  sed -n 's/^raw-append: .*, \([0-9.]*\) s, .*/\1/p' "$OUT/raw-append.log" >>"$OUT/raw-append.times"
done

python3 - "$OUT" "$bytes" "$floor" <<'EOF'
import pathlib, statistics, sys
out, nbytes, floor = pathlib.Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
print(f"\n| tool | wall s (median) | MB/s | link floor / wall | verify |")
print("|---|---|---|---|---|")
for name in ["cutover-compress-off", "cutover-compress-on", "raw-fetch", "raw-append"]:
    f = out / f"{name}.times"
    if not f.exists():
        continue
    times = [float(x) for x in f.read_text().split()]
    wall = statistics.median(times)
    v = out / f"{name}.verify"
    verdict = v.read_text().strip().splitlines()[-1] if v.exists() else "-"
    print(f"| {name} | {wall:.2f} | {nbytes / 1e6 / wall:.1f} | {floor / wall:.2f} | {verdict} |")
print(f"\nresults in {out}")
EOF
