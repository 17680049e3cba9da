#!/bin/bash
# The project's test command: format, lints, then every test of the workspace.
# The end-to-end tests start their own servers and browser (.ci/run installs them: Dovecot,
# dnsmasq, Chromium and chromedriver).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cutover-target}"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
echo "==> cargo exited with $status"
echo "tests: $passed passed, $failed failed"
exit "$status"
