#!/bin/bash
# cutover demo: two private Dovecot servers on this machine, a realistic source organization,
# and one cutover migration of all its mailboxes with the `cutover` CLI, checked independently.
#
#   sudo ./demo.sh                 # everything, then stop the servers
#   ./demo.sh --keep               # leave both servers running at the end
#   ./demo.sh --servers-only       # servers + corpus + self-check, no build, no migration
#
# Env: CUTOVER_DEMO_DIR (work dir, default /tmp/cutover-demo), CARGO_TARGET_DIR.
# Talks to 127.0.0.1 only: source IMAP on :20143, target IMAP on :21143, DNS (dnsmasq,
# the demo's zone for example.test) on :20053, the SMTP relay for notification mails on
# :20025 (aiosmtpd, delivering into the target over LMTP), the source's and the target's
# CalDAV/CardDAV servers (Radicale) on :20232 and :21232.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${CUTOVER_DEMO_DIR:-/tmp/cutover-demo}"
SRC_PORT=20143
DST_PORT=21143
DNS_PORT=20053
SMTP_PORT=20025
SRC_DAV_PORT=20232
DST_DAV_PORT=21232
NUSERS=3
MAIL_USER=cutover-mail
KEEP=no
SERVERS_ONLY=no
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=yes ;;
    --servers-only) SERVERS_ONLY=yes ;;
    *) echo "usage: $0 [--keep] [--servers-only]" >&2; exit 2 ;;
  esac
done

if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
run() { printf '+ %s\n' "$*"; "$@"; }
die() { echo "demo: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (Dovecot runs mail as system user $MAIL_USER): sudo $0"

install_packages() {
  local missing=() p
  for p in dovecot-core dovecot-imapd dovecot-lmtpd python3 python3-aiosmtpd openssl dnsmasq radicale; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    step "Installing ${missing[*]}"
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    echo "  (Debian may also have started its own system Dovecot on port 143; the demo does not use it:"
    echo "   'systemctl disable --now dovecot' turns it off; the same goes for dnsmasq on port 53)"
  fi
  id "$MAIL_USER" >/dev/null 2>&1 ||
    run useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$MAIL_USER"
}

# --- servers -------------------------------------------------------------------------------
conf() { echo "$WORK/conf/$1.conf"; }
pidfile() { echo "$WORK/$1/run/master.pid"; }

render_conf() { # NAME PORT
  local n="$1" port="$2"
  mkdir -p "$WORK/conf" "$WORK/$n/run" "$WORK/$n/state" "$WORK/$n/log" "$WORK/$n/mail"
  chown "$MAIL_USER:" "$WORK/$n/mail"
  sed -e "s|@INSTANCE@|cutover-demo-$n|g" -e "s|@BASE_DIR@|$WORK/$n/run|g" \
      -e "s|@STATE_DIR@|$WORK/$n/state|g" -e "s|@LOG_PATH@|$WORK/$n/log/dovecot.log|g" \
      -e "s|@MAIL_ROOT@|$WORK/$n/mail|g" -e "s|@PASSWD_FILE@|$WORK/users.passwd|g" \
      -e "s|@MASTER_USERS@|$WORK/master-users|g" \
      -e "s|@UID@|$(id -u "$MAIL_USER")|g" -e "s|@GID@|$(id -g "$MAIL_USER")|g" \
      -e "s|@INTERNAL_USER@|dovecot|g" -e "s|@LOGIN_USER@|dovenull|g" -e "s|@SEPARATOR@|/|g" -e "s|@PREFIX@||g" \
      -e "s|@IMAP_PORT@|$port|g" -e "s|@SSL@|no|g" -e "s|@IMAPS@|#|g" -e "s|@IMAP_CAPABILITY@||g" -e "s|@MAILBOXES@||g" \
      "$REPO/fixtures/dovecot/dovecot.conf.in" > "$(conf "$n")"
  # The target also takes mail over LMTP (the notification mails reach the admin there).
  [[ $n == dst ]] && echo "protocols = imap lmtp" >> "$(conf "$n")"
  return 0
}

stop_server() { # NAME: TERM the master from its pidfile, wait for it and its children
  local pf pid kids
  pf="$(pidfile "$1")"
  [[ -s "$pf" ]] || return 0
  pid="$(cat "$pf")"
  if [[ -d /proc/$pid ]] && grep -q dovecot "/proc/$pid/comm" 2>/dev/null; then
    # its children, from /proc (procps may not be installed)
    kids="$(awk -v p="$pid" '{ sub(/.*\) /, ""); if ($2 == p) { split(FILENAME, f, "/"); print f[3] } }' \
      /proc/[0-9]*/stat 2>/dev/null || true)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null || true
    for k in $kids; do for _ in $(seq 30); do [[ -d /proc/$k ]] || break; sleep 0.1; done; done
    echo "  $1 stopped (pid $pid)"
  fi
  rm -f "$pf"
}

start_server() { # NAME PORT
  local n="$1" port="$2"
  render_conf "$n" "$port"
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
    die "127.0.0.1:$port is already in use (another demo still running? see ss -ltnp)"
  # Dovecot keeps the caller's stdio open after daemonising: detach it.
  dovecot -c "$(conf "$n")" </dev/null >>"$WORK/$n/log/startup.log" 2>&1 ||
    { tail -5 "$WORK/$n/log/startup.log" >&2; die "$n: dovecot failed to start"; }
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "  $n: pid $(cat "$(pidfile "$n")"), imap://127.0.0.1:$port, log $WORK/$n/log/dovecot.log"
      return 0
    fi
    sleep 0.1
  done
  tail -5 "$WORK/$n/log/dovecot.log" >&2
  die "$n: not listening on 127.0.0.1:$port"
}

# The demo's DNS zone: dnsmasq on 127.0.0.1:$DNS_PORT with only these records (no
# upstream, no /etc/hosts). Restarted whenever the zone changes.
DNS_RECORDS=()
stop_dns() {
  local pf="$WORK/dns/dnsmasq.pid" pid
  [[ -s $pf ]] || return 0
  pid="$(cat "$pf")"
  if [[ -d /proc/$pid ]] && grep -q dnsmasq "/proc/$pid/comm" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    echo "  dns stopped (pid $pid)"
  fi
  rm -f "$pf"
}
start_dns() {
  stop_dns
  mkdir -p "$WORK/dns"
  (exec 3<>"/dev/tcp/127.0.0.1/$DNS_PORT") 2>/dev/null &&
    die "127.0.0.1:$DNS_PORT is already in use (another demo still running? see ss -ltnp)"
  dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --port="$DNS_PORT" --listen-address=127.0.0.1 \
    --bind-interfaces --local=/test/ --user=root --pid-file="$WORK/dns/dnsmasq.pid" \
    --log-facility="$WORK/dns/dnsmasq.log" "${DNS_RECORDS[@]}" ||
    die "dnsmasq failed to start (see $WORK/dns/dnsmasq.log)"
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$DNS_PORT") 2>/dev/null && break
    sleep 0.1
  done
  echo "  dns: pid $(cat "$WORK/dns/dnsmasq.pid"), 127.0.0.1:$DNS_PORT, records: ${DNS_RECORDS[*]}"
}

# The SMTP relay the notification mails go through: a real SMTP server (aiosmtpd) that
# wants STARTTLS and a login, with a certificate from the demo's own CA, and delivers into
# the target Dovecot over LMTP.
stop_relay() {
  local pf="$WORK/smtp/relay.pid"
  [[ -s $pf ]] && kill -TERM "$(cat "$pf")" 2>/dev/null || true
  rm -f "$pf"
}
start_relay() {
  stop_relay
  mkdir -p "$WORK/smtp"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cutover demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
    -keyout "$WORK/smtp/ca.key" -out "$WORK/smtp/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$WORK/smtp/relay.key" -out "$WORK/smtp/relay.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$WORK/smtp/ext"
  openssl x509 -req -in "$WORK/smtp/relay.csr" -CA "$WORK/smtp/ca.pem" -CAkey "$WORK/smtp/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/smtp/ext" -out "$WORK/smtp/relay.pem" 2>/dev/null
  echo relaypass > "$WORK/smtp/relay-password"
  chmod 600 "$WORK/smtp/relay-password" "$WORK/smtp/"*.key
  /usr/bin/python3 "$REPO/fixtures/smtp/relay.py" --port "$SMTP_PORT" \
    --cert "$WORK/smtp/relay.pem" --key "$WORK/smtp/relay.key" --user relay \
    --password-file "$WORK/smtp/relay-password" --lmtp "$WORK/dst/run/lmtp" \
    </dev/null >"$WORK/smtp/ready" 2>"$WORK/smtp/relay.log" &
  echo $! > "$WORK/smtp/relay.pid"
  for _ in $(seq 100); do
    grep -q ready "$WORK/smtp/ready" 2>/dev/null && break
    sleep 0.1
  done
  grep -q ready "$WORK/smtp/ready" || { cat "$WORK/smtp/relay.log" >&2; die "the SMTP relay did not start"; }
  echo "  relay: pid $(cat "$WORK/smtp/relay.pid"), smtp://127.0.0.1:$SMTP_PORT (STARTTLS, login), log $WORK/smtp/relay.log"
}

# Calendars and contacts: a Radicale (CalDAV/CardDAV) beside each Dovecot, with the same
# users and passwords in a plain htpasswd file, each user owning only their own home.
stop_dav() { # NAME
  local pf="$WORK/dav-$1/radicale.pid"
  [[ -s $pf ]] && kill -TERM "$(cat "$pf")" 2>/dev/null || true
  rm -f "$pf"
}
start_dav() { # NAME PORT
  local n="$1" port="$2" d="$WORK/dav-$1"
  stop_dav "$n"
  mkdir -p "$d"
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
    die "127.0.0.1:$port is already in use (another demo still running? see ss -ltnp)"
  for i in $(seq "$NUSERS"); do echo "user$i@example.test:pass"; done > "$d/users"
  printf '[server]\nhosts = 127.0.0.1:%s\n[auth]\ntype = htpasswd\nhtpasswd_filename = %s\nhtpasswd_encryption = plain\n[storage]\nfilesystem_folder = %s\n[rights]\ntype = owner_only\n' \
    "$port" "$d/users" "$d/collections" > "$d/radicale.conf"
  /usr/bin/python3 -m radicale --config "$d/radicale.conf" </dev/null >"$d/radicale.log" 2>&1 &
  echo $! > "$d/radicale.pid"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { tail -5 "$d/radicale.log" >&2; die "$n: Radicale did not start"; }
  echo "  $n: pid $(cat "$d/radicale.pid"), http://127.0.0.1:$port/ (CalDAV and CardDAV), log $d/radicale.log"
}

cleanup() {
  local rc=$?
  if [[ $KEEP == yes && $rc -eq 0 ]]; then
    echo "servers left running; stop them with: kill \$(cat $(pidfile src) $(pidfile dst) $WORK/dns/dnsmasq.pid $WORK/smtp/relay.pid $WORK/dav-src/radicale.pid $WORK/dav-dst/radicale.pid)"
  else
    step "Stopping the servers"
    stop_relay
    stop_dav src
    stop_dav dst
    stop_server src
    stop_server dst
    stop_dns
  fi
  ((rc == 0)) || echo "demo: FAILED (exit $rc); logs are under $WORK" >&2
}

# --- the demo ------------------------------------------------------------------------------
install_packages
command -v doveadm >/dev/null || die "doveadm not found after installing dovecot-core"

if [[ $SERVERS_ONLY == no ]]; then
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), then rerun"
  step "Building cutover (release)"
  (cd "$REPO" && run cargo build --release -p cutover)
fi
CUTOVER="${CARGO_TARGET_DIR:-$REPO/target}/release/cutover"

step "Preparing a fresh work dir $WORK"
mkdir -p "$WORK"
trap cleanup EXIT
stop_server src
stop_server dst
stop_dns
stop_dav src
stop_dav dst
rm -rf "$WORK/src" "$WORK/dst" "$WORK/conf" "$WORK"/state.db* "$WORK/dav-src" "$WORK/dav-dst"
{
  for i in $(seq "$NUSERS"); do echo "user$i@example.test:{PLAIN}pass::::::"; done
  # The admin who gets the notification mails (a mailbox of the new system).
  echo "it-admin@example.test:{PLAIN}pass::::::"
} > "$WORK/users.passwd"
echo 'admin:{PLAIN}adminpass' > "$WORK/master-users"
chmod 644 "$WORK/users.passwd" "$WORK/master-users"
{
  # Each user's password: the calendars' servers have no admin who can act for a user.
  echo "EmailAddress,UserName,Password"
  for i in $(seq "$NUSERS"); do echo "user$i@example.test,,pass"; done
} > "$WORK/users.csv"
chmod 600 "$WORK/users.csv"
echo "  users user1..user$NUSERS@example.test / pass, master user admin / adminpass"

step "Starting the source (old system) and target (new system) Dovecot servers"
start_server src "$SRC_PORT"
start_server dst "$DST_PORT"

step "Filling the source with $NUSERS realistic mailboxes"
run python3 "$REPO/demo/make_corpus.py" --conf "$(conf src)" --users "$NUSERS" --messages 120

step "The calendars and contacts of both systems (Radicale); user1's source holds calendars with a recurring series, tasks and address books"
start_dav src "$SRC_DAV_PORT"
start_dav dst "$DST_DAV_PORT"
DAVTOOL="$REPO/fixtures/dav/davtool.py"
dav_side() { # NAME PORT: davtool.py's arguments for user1 on that server
  echo "http://127.0.0.1:$2/ user1@example.test pass /user1@example.test/ /user1@example.test/"
}
# shellcheck disable=SC2046 # one argument per word
run /usr/bin/python3 "$DAVTOOL" seed $(dav_side src "$SRC_DAV_PORT")

VERIFY="$REPO/../shared/bench/verify.py"
if [[ $SERVERS_ONLY == yes ]]; then
  if [[ -f $VERIFY ]]; then
    step "Checking the checker: source against itself"
    run python3 "$VERIFY" "$SRC_PORT" "$SRC_PORT" --users "$NUSERS" --quiet
  fi
  exit 0
fi

step "Migrating with cutover (the seed's cutover flow)"
export CUTOVER_STATE="sqlite://$WORK/state.db"
export SRC_ADMIN_PASSWORD=adminpass DST_ADMIN_PASSWORD=adminpass
# Step 1: the users' domain must be an accepted domain of the target, proven by a TXT record.
run "$CUTOVER" domain add example.test
TOKEN="$("$CUTOVER" domain get example.test --format json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["TxtRecordValue"])')"
DNS_RECORDS=("--txt-record=example.test,$TOKEN" "--mx-host=example.test,mx.old.example.test,10")
step "Publishing the TXT record in the demo's DNS (the old MX still in place)"
start_dns
run "$CUTOVER" domain verify example.test --dns-server "127.0.0.1:$DNS_PORT"
run "$CUTOVER" target set --server 127.0.0.1 --port "$DST_PORT" --security none --admin admin \
  --password-env DST_ADMIN_PASSWORD --impersonation authzid --test-mailbox user1@example.test \
  --dav-url "http://127.0.0.1:$DST_DAV_PORT/"
run "$CUTOVER" endpoint new --name CutoverEndpoint --server 127.0.0.1 --port "$SRC_PORT" --security none \
  --admin admin --password-env SRC_ADMIN_PASSWORD --impersonation authzid --test-mailbox user1@example.test \
  --dav-url "http://127.0.0.1:$SRC_DAV_PORT/"
run "$CUTOVER" endpoint get CutoverEndpoint --format list --select 'EndpointType,RemoteServer,Max*'
step "Notification mails: the SMTP relay, and the admin's address on the batch"
start_relay
run "$CUTOVER" notify set --smtp-host 127.0.0.1 --smtp-port "$SMTP_PORT" --tls starttls \
  --from cutover@example.test --user relay --password-file "$WORK/smtp/relay-password" \
  --ca-file "$WORK/smtp/ca.pem"
run "$CUTOVER" batch new --name CutoverBatch --source-endpoint CutoverEndpoint --users-csv "$WORK/users.csv" \
  --notification-emails it-admin@example.test --auto-start
step "Two workers on one state (as on two machines) run the initial sync, one mailbox at a time"
# MaxConcurrentMigrations holds across every worker: with 1, the mailboxes go one by one,
# each to whichever worker claims it first (on SQLite, often the one that just finished
# one; PostgreSQL wakes the others at once).
run "$CUTOVER" endpoint set CutoverEndpoint --max-concurrent-migrations 1 --max-concurrent-incremental-syncs 1
"$CUTOVER" worker >"$WORK/worker1.log" 2>&1 &
WORKER1=$!
"$CUTOVER" worker >"$WORK/worker2.log" 2>&1 &
WORKER2=$!
SHOWN=""
for _ in $(seq 600); do
  STATUS="$("$CUTOVER" batch get CutoverBatch --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["Status"])')"
  [[ $STATUS == Syncing ]] || break
  # The round's jobs while it runs: Running on which worker, or Queued.
  if [[ -z $SHOWN ]] && "$CUTOVER" job get --format json | grep -q '"Running"'; then
    run "$CUTOVER" job get --format table --select 'Identity,Status,Worker'
    SHOWN=1
  fi
  sleep 0.1
done
kill -TERM "$WORKER1" "$WORKER2"
wait "$WORKER1" "$WORKER2" || die "a worker did not stop cleanly (see $WORK/worker*.log)"
[[ $STATUS == Synced ]] || die "the initial sync ended $STATUS (see $WORK/worker*.log)"
for w in 1 2; do
  echo "worker $w ran: $(grep 'step applied' "$WORK/worker$w.log" | grep -o 'user="[^"]*"' | sort -u | sed 's/user=//; s/"//g' | paste -sd' ')"
done
# Anything due after the round (the notification mail) goes out with the next run.
run "$CUTOVER" run --once
step "The admin's mail: the initial sync finished, with both reports attached (read over IMAP)"
run /usr/bin/python3 "$REPO/demo/show_inbox.py" "$REPO/fixtures/smtp/fetch_inbox.py" "$DST_PORT" it-admin@example.test pass
run "$CUTOVER" batch get CutoverBatch --format list
run "$CUTOVER" user get --format table
step "Calendars, contacts and tasks moved beside the mail (a dav-pass job per mailbox)"
run "$CUTOVER" user get user1@example.test --format list \
  --select 'Identity,ItemsSynced,CalendarItemsSynced,TaskItemsSynced,ContactItemsSynced,DavItemsSkipped,DavLastSyncedDateTime'
echo "  independent check (davtool.py over plain HTTP, not cutover's code): same collections, same items by UID"
# shellcheck disable=SC2046 # one argument per word
run /usr/bin/python3 "$DAVTOOL" compare $(dav_side src "$SRC_DAV_PORT") $(dav_side dst "$DST_DAV_PORT")

step "Incremental sync: the old system loses user2's INBOX; the brake holds the removals for the admin"
run doveadm -c "$(conf src)" expunge -u user2@example.test mailbox INBOX all
# What the next pass would do, read from both servers without touching them.
run "$CUTOVER" batch plan CutoverBatch --user user2@example.test
run "$CUTOVER" batch start CutoverBatch
run "$CUTOVER" run --once
run "$CUTOVER" user get user2@example.test --format list --select 'Identity,Status,RemovalsHeld,RemovalsHeldDetail'
# The admin checked the source: the removals are wanted.
run "$CUTOVER" batch approve-removals CutoverBatch --user user2@example.test
run "$CUTOVER" batch start CutoverBatch
run "$CUTOVER" run --once
run "$CUTOVER" batch get CutoverBatch --format list --select 'Identity,Status,RemovalsHeldCount,LastSyncedDateTime'

step "Step 5: MX moves to the target; dns check sees it (batch remove waits for this and a sync after it)"
run "$CUTOVER" dns check --domain example.test --expect-mx mx.new.example.test --dns-server "127.0.0.1:$DNS_PORT"
DNS_RECORDS=("--txt-record=example.test,$TOKEN" "--mx-host=example.test,mx.new.example.test,10")
start_dns
run "$CUTOVER" dns check --domain example.test --dns-server "127.0.0.1:$DNS_PORT" --select 'MxRecords,MxPointsToTarget,MxSwitchFirstSeen'

step "The batch's reports: MigrationStatistics.csv and MigrationErrors.csv"
run "$CUTOVER" batch report CutoverBatch --out "$WORK/reports"
run cat "$WORK/reports/MigrationStatistics.csv"

step "Did everything arrive? The signed completeness proof, and its check"
run "$CUTOVER" report proof CutoverBatch --out "$WORK/completeness-proof.json"
run "$CUTOVER" report verify "$WORK/completeness-proof.json"

step "Independent check (doveadm, not cutover's code): every message, flag and date of the source on the target"
USERS=()
for i in $(seq 1 "$NUSERS"); do USERS+=("user$i@example.test"); done
run python3 "$REPO/demo/compare_mailboxes.py" "$(conf src)" "$(conf dst)" "${USERS[@]}"
if [[ -f $VERIFY ]]; then
  step "And the benchmark kit's checker, over IMAP"
  run python3 "$VERIFY" "$SRC_PORT" "$DST_PORT" --users "$NUSERS"
fi

step "Done"
cat <<EOF
  work dir     $WORK
  state        $CUTOVER_STATE
  source       imap://127.0.0.1:$SRC_PORT  mail $WORK/src/mail  log $WORK/src/log/dovecot.log
  target       imap://127.0.0.1:$DST_PORT  mail $WORK/dst/mail  log $WORK/dst/log/dovecot.log
  dns          127.0.0.1:$DNS_PORT (dnsmasq, zone example.test)  log $WORK/dns/dnsmasq.log
  relay        smtp://127.0.0.1:$SMTP_PORT (aiosmtpd -> target over LMTP)  log $WORK/smtp/relay.log
  dav          http://127.0.0.1:$SRC_DAV_PORT/ -> http://127.0.0.1:$DST_DAV_PORT/ (Radicale)  logs $WORK/dav-*/radicale.log
  try          CUTOVER_STATE=$CUTOVER_STATE $CUTOVER user stats user1@example.test
EOF
