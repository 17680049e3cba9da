#!/bin/bash
# cutover and its peers over an emulated WAN link, side by side in one run.
# bench/wan_proxy.py puts a shared link of RATE Mbit/s each way with DELAY ms one-way in
# front of the source (20143 -> 10143) and, with -s both, of the target too (21143 ->
# 11143), because this machine's kernel has no netem qdisc. The realistic case is the
# default: the source far away, the tool beside the target.
#
# Tools (-t, any of): cutover-off cutover-on cutover-auto (COMPRESS off, on, auto),
# doveadm (dsync over imapc, pointed at the link with -o imapc_port; it writes the
# target's storage itself, so with -s both its target is not behind the link), imapsync
# (when installed), raw-fetch (the kit's pipelined FETCH through the source link) and
# raw-append (its MULTIAPPEND through the target link, -s both only).
# Prints wall time, MB/s and the link floor (corpus bytes / rate) over wall time.
#
#   bench/wan.sh [-d DELAY_MS] [-R RATE_MBIT] [-r REPS] [-p PAR] [-c UxM] [-s src|both] [-t TOOLS]
set -euo pipefail
DELAY=10; RATE=200; REPS=1; PAR=4; CORPUS=""; SIDES=src
TOOLS="cutover-off cutover-on cutover-auto doveadm imapsync raw-fetch"
while getopts "d:R:r:p:c:s:t:" o; do
  case $o in d) DELAY=$OPTARG;; R) RATE=$OPTARG;; r) REPS=$OPTARG;; p) PAR=$OPTARG;; c) CORPUS=$OPTARG;;
    s) SIDES=$OPTARG;; t) TOOLS=$OPTARG;; *) exit 2;; esac
done
case $SIDES in src|both) ;; *) echo "-s takes src or both" >&2; exit 2;; esac

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LINKS=(20143:10143)
DST_PORT=11143
if [[ $SIDES == both ]]; then LINKS+=(21143:11143); DST_PORT=21143; fi
python3 "$REPO/bench/wan_proxy.py" --delay-ms "$DELAY" --rate-mbit "$RATE" "${LINKS[@]}" &
PROXY=$!
trap 'kill $PROXY 2>/dev/null || true' EXIT
sleep 0.5

OUT="$WORK/wan-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
bytes=$(python3 -c "import json;print(json.load(open('$WORK/corpus.json'))['bytes_rfc822'])")
floor=$(python3 -c "print(f'{$bytes * 8 / ($RATE * 1e6):.1f}')")
echo "==> link: ${DELAY} ms each way (RTT $((2 * DELAY)) ms), ${RATE} Mbit/s each way, in front of: $SIDES;" \
  "corpus $bytes bytes; floor ${floor} s; $PAR mailboxes at once"

timed() { # timed NAME CMD...: wall seconds into $OUT/NAME.times
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$OUT/$name.log" 2>&1 || echo "$name failed: see $OUT/$name.log" >&2
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')" >>"$OUT/$name.times"
}
verified() { # verified NAME: the kit's checker on the direct ports
  "$KIT/verify.py" 10143 11143 --quiet | tail -1 >>"$OUT/$1.verify"
}

doveadm_all() {
  local users; users=$(python3 -c "import json;print(json.load(open('$WORK/corpus.json'))['users'])")
  seq 1 "$users" | xargs -P "$PAR" -I{} doveadm -c "$WORK/conf/dst.conf" -o imapc_port=20143 \
    backup -R -u "user{}@example.test" imapc:
}

for rep in $(seq "$REPS"); do
  for tool in $TOOLS; do
    case $tool in
      cutover-off|cutover-on|cutover-auto)
        "$KIT/servers.sh" reset-dst >/dev/null
        # The link is emulated on loopback: let `auto` measure it as a real one.
        CB_PAR=$PAR CB_SRC_PORT=20143 CB_DST_PORT=$DST_PORT CUTOVER_COMPRESSION=${tool#cutover-} \
          CUTOVER_LOOPBACK_IS_A_LINK=1 \
          timed "$tool" "$KIT/peers/cutover.sh"
        verified "$tool";;
      doveadm)
        "$KIT/servers.sh" reset-dst >/dev/null
        timed doveadm doveadm_all
        verified doveadm;;
      imapsync)
        if ! command -v imapsync >/dev/null; then
          [[ $rep == 1 ]] && echo "(imapsync is not installed: left out)"
          continue
        fi
        "$KIT/servers.sh" reset-dst >/dev/null
        CB_PAR=$PAR CB_SRC_PORT=20143 CB_DST_PORT=$DST_PORT timed imapsync "$KIT/peers/imapsync.sh"
        verified imapsync;;
      raw-fetch)
        timed raw-fetch "$KIT/raw.py" fetch --port 20143 --par "$PAR";;
      raw-append)
        [[ $SIDES == both ]] || continue
        "$KIT/servers.sh" reset-dst >/dev/null
        # raw append loads the bodies from the source untimed; it prints its own timing.
        "$KIT/raw.py" append --src 10143 --dst 21143 --par "$PAR" >"$OUT/raw-append.log" 2>&1
        sed -n 's/^raw-append: .*, \([0-9.]*\) s, .*/\1/p' "$OUT/raw-append.log" >>"$OUT/raw-append.times";;
      *) echo "unknown tool $tool" >&2; exit 2;;
    esac
  done
done

python3 - "$OUT" "$bytes" "$floor" "$TOOLS" <<'PY'
import pathlib, statistics, sys
out, nbytes, floor, tools = pathlib.Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split()
print(f"\n| tool | wall s (median) | runs | MB/s | wall / link floor | verify |")
print("|---|---:|---|---:|---:|---|")
for name in tools:
    f = out / f"{name}.times"
    if not f.exists():
        continue
    times = [float(x) for x in f.read_text().split()]
    wall = statistics.median(times)
    v = out / f"{name}.verify"
    verdict = v.read_text().strip().splitlines()[-1] if v.exists() else "-"
    runs = ", ".join(f"{t:.1f}" for t in times)
    print(f"| {name} | {wall:.2f} | {runs} | {nbytes / 1e6 / wall:.1f} | {wall / floor:.2f} | {verdict} |")
print(f"\nresults in {out}")
PY
