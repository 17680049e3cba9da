#!/bin/bash
# Runs a benchmark command over an emulated WAN link: netem on the loopback interface,
# for the bench servers' ports only (IMAP 10143/11143, IMAPS 10993/11993), so every
# tool's traffic to both servers, doveadm's imapc included, crosses the same link.
# Other loopback traffic is untouched. Needs root; the qdisc is removed on exit.
#
#   bench/wan.sh [-d DELAY] [-R RATE] -- bench/run.sh -r 3 -p 4
#     -d DELAY  one-way delay per packet, e.g. 10ms (round trip = twice that); default 10ms
#     -R RATE   link rate, e.g. 200mbit (shared by both directions); default 200mbit
set -euo pipefail
DELAY=10ms; RATE=200mbit
while getopts "d:R:" o; do
  case $o in d) DELAY=$OPTARG;; R) RATE=$OPTARG;; *) exit 2;; esac
done
shift $((OPTIND - 1))
[[ ${1:-} == -- ]] && shift
(($#)) || { echo "usage: $0 [-d DELAY] [-R RATE] -- COMMAND..." >&2; exit 2; }
command -v tc >/dev/null || { echo "tc not found: apt-get install -y iproute2" >&2; exit 1; }

clear_link() { tc qdisc del dev lo root 2>/dev/null || true; }
clear_link
trap clear_link EXIT
# Band 1:2 (everything else) is a plain FIFO; band 1:3 holds the netem link.
tc qdisc add dev lo root handle 1: prio bands 3 priomap 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1
tc qdisc add dev lo parent 1:3 handle 30: netem delay "$DELAY" rate "$RATE" limit 100000
for port in 10143 11143 10993 11993; do
  for dir in sport dport; do
    tc filter add dev lo parent 1:0 protocol ip prio 1 u32 match ip "$dir" "$port" 0xffff flowid 1:3
  done
done
echo "==> WAN link on the bench ports: delay $DELAY each way, rate $RATE"
"$@"
