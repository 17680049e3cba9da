#!/usr/bin/python3
"""Shows what reached a mailbox's INBOX (read over IMAP by fixtures/smtp/fetch_inbox.py,
not by cutover): each message's subject, its first lines, and its attachments with their
row counts.

    show_inbox.py FETCH_INBOX_PY PORT USER PASSWORD
"""

import base64
import email
import email.policy
import json
import subprocess
import sys


def main():
    fetch, port, user, password = sys.argv[1:5]
    out = subprocess.run([sys.executable, fetch, port, user, password],
                         check=True, capture_output=True, text=True).stdout
    messages = [base64.b64decode(m) for m in json.loads(out)]
    if not messages:
        sys.exit(f"{user}: the INBOX is empty; no notification arrived")
    for raw in messages:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        print(f"  Subject: {msg['Subject']}")
        print(f"  From: {msg['From']}  To: {msg['To']}")
        body = msg.get_body(preferencelist=("plain",))
        for line in body.get_content().splitlines()[:6]:
            print(f"    | {line}")
        for part in msg.iter_attachments():
            data = part.get_payload(decode=True) or b""
            rows = max(len(data.decode("utf-8-sig", "replace").splitlines()) - 1, 0)
            print(f"  attached: {part.get_filename()} ({rows} rows)")


if __name__ == "__main__":
    main()
