#!/usr/bin/python3
"""The demo's own check, independent of cutover's code: for each user, every folder of the
source Dovecot and the target Dovecot as doveadm (Dovecot's admin tool, not IMAP) shows
them, compared as multisets of (SHA-256 of the message, flags, received date).

usage: compare_mailboxes.py SRC_CONF DST_CONF USER...
Prints one line per user and exits 1 on any difference.
"""
import hashlib
import json
import subprocess
import sys
from collections import Counter


def messages(conf, user):
    out = subprocess.run(
        ["doveadm", "-c", conf, "-f", "json", "fetch", "-u", user,
         "mailbox flags date.received.unixtime text", "ALL"],
        check=True, capture_output=True).stdout
    folders = {}
    for m in json.loads(out or b"[]"):
        flags = " ".join(sorted(f.lower() for f in m["flags"].split() if f != "\\Recent"))
        digest = hashlib.sha256(m["text"].encode("utf-8", "surrogateescape")).hexdigest()
        folders.setdefault(m["mailbox"], Counter())[(digest, flags, m["date.received.unixtime"])] += 1
    return folders


def main():
    src_conf, dst_conf, users = sys.argv[1], sys.argv[2], sys.argv[3:]
    bad = 0
    for user in users:
        src, dst = messages(src_conf, user), messages(dst_conf, user)
        total = sum(sum(c.values()) for c in src.values())
        problems = []
        for folder, want in sorted(src.items()):
            have = dst.get(folder, Counter())
            if want - have:
                problems.append(f"{folder}: {sum((want - have).values())} missing or different")
            if have - want:
                problems.append(f"{folder}: {sum((have - want).values())} extra")
        for folder in sorted(set(dst) - set(src)):
            problems.append(f"{folder}: only on the target ({sum(dst[folder].values())} messages)")
        bad += len(problems)
        print(f"{user}: {total} messages in {len(src)} folders, "
              + ("identical on the target" if not problems else "; ".join(problems)))
    sys.exit(1 if bad else 0)


main()
