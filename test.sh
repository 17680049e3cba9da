#!/bin/bash
# The project's test command: format, lints, then every test of the workspace.
# The end-to-end tests start their own servers and browser (Dovecot, Cyrus, dnsmasq, Chromium
# and chromedriver: .ci/packages and fixtures/cyrus/install.sh, run here when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cutover-target}"

# A fresh machine: the Debian packages the tests need (.ci/packages), when missing.
missing=()
for p in $(sed 's/#.*//' .ci/packages); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "test.sh: the tests need ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "==> installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  # The packages' own daemons are not used (the tests start private slapd, Samba and PostgreSQL servers),
  # and a system slapd would hold 127.0.0.1:389, which Samba's AD DC of the tests needs.
  for daemon in slapd samba-ad-dc postgresql; do
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now "$daemon" 2>/dev/null || true
    elif [[ -x /etc/init.d/$daemon ]]; then
      /etc/init.d/$daemon stop >/dev/null 2>&1 || true
    fi
  done
fi
# Cyrus IMAP, unpacked beside Dovecot (its package conflicts with dovecot-imapd); a no-op
# once done
fixtures/cyrus/install.sh

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
