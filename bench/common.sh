# Sourced by bench/run.sh and bench/wan.sh, after their options: the kit, a release build
# of cutover, the corpus (CORPUS=UxM regenerates it) and the two servers, started.
# Sets REPO KIT WORK CUTOVER_BIN CB_USERS.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIT="${CUTOVER_BENCH_KIT:-$REPO/../shared/bench}"
[[ -x $KIT/run-peers.sh ]] || { echo "bench kit not found at $KIT (set CUTOVER_BENCH_KIT)" >&2; exit 1; }
WORK="${CB_WORK:-/tmp/cutover-bench}"

echo "==> building cutover (release)"
(cd "$REPO" && cargo build --release -p cutover >/dev/null)
export CUTOVER_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/cutover"
# The kit's users are @example.test, which no DNS here can verify: a benchmark, not a cutover.
export CUTOVER_SKIP_DOMAIN_CHECK=1

if [[ -n ${CORPUS:-} ]]; then
  echo "==> corpus $CORPUS"
  "$KIT/corpus.py" --users "${CORPUS%x*}" --messages "${CORPUS#*x}" | tail -1
fi
# The servers' user list must cover the corpus (servers.sh rewrites it to CB_USERS).
CB_USERS="$(python3 -c "import json;print(json.load(open('$WORK/corpus.json'))['users'])")"
export CB_USERS
"$KIT/servers.sh" start >/dev/null
