#!/usr/bin/python3
"""Fill the demo's source Dovecot with a few realistic mailboxes.

usage: make_corpus.py --conf SRC.conf --users N --messages M [--seed S] [--big-mb MB]

Messages are written as maildir files (LF line ends, ",S=" disk size and ",W=" CRLF size
in the name, ":2,<flags>", keywords through dovecot-keywords, mtime = INTERNALDATE), then
`doveadm mailbox status` makes Dovecot index them. Same seed, same bytes.
"""
import argparse
import base64
import os
import random
import subprocess
from datetime import datetime, timedelta, timezone
from email.header import Header

FOLDERS = [  # (name with '/' hierarchy, weight); Archive and Projects/a are \Noselect parents
    ("INBOX", 35), ("Sent", 15), ("Drafts", 3), ("Trash", 3),
    ("Archive/2024", 12), ("Archive/2025", 10), ("Projects", 3), ("Projects/a/b", 5),
    ("Éléments envoyés", 6), ("R&D", 5), ("Отчёты", 3),
]
EMPTY = ["Archive/Empty"]
KEYWORDS = ["$Label1", "$Label2", "NonJunk", "ProjectX"]  # maildir letters a, b, c, d
SYSTEM = {"\\Seen": "S", "\\Answered": "R", "\\Flagged": "F", "\\Draft": "D"}
WORDS = ("the project meeting budget report schedule review invoice contract server migration "
         "mailbox folder quarterly update attached regards deadline customer ticket release "
         "backup agenda minutes monday friday network storage please thanks").split()
WORDS_8BIT = "réunion équipe déjà reçu Größe Straße 会議 données café résumé Übersicht".split()


def doveadm(conf, *args):
    return subprocess.run(["doveadm", "-c", conf, *args], check=True, text=True,
                          stdout=subprocess.PIPE).stdout


def year_range(folder):
    for y in ("2024", "2025"):
        if folder.endswith(y):
            lo = datetime(int(y), 1, 1, tzinfo=timezone.utc).timestamp()
            return lo, lo + 365 * 86400
    return (datetime(2015, 1, 1, tzinfo=timezone.utc).timestamp(),
            datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp())


def rfc2822(ts, rng):
    tz = timezone(timedelta(minutes=rng.choice([0, 60, 120, -300, 330, 540])))
    return datetime.fromtimestamp(ts, tz).strftime("%a, %d %b %Y %H:%M:%S %z")


def prose(rng, nbytes, eight_bit):
    words = WORDS + (WORDS_8BIT if eight_bit else [])
    lines, n = [], 0
    while n < nbytes:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 12)))
        lines.append(line + ("\n" if rng.random() < 0.15 else ""))
        n += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


def b64(data):
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + "\n"


def message(rng, seed, user, i, folder, ts, attach_bytes):
    partner = f"{rng.choice(['alice', 'bob', 'dmitri', 'eve'])}{rng.randint(1, 99)}@partner.example"
    sent = folder in ("Sent", "Drafts", "Éléments envoyés")
    frm, to = (user, partner) if sent else (partner, user)
    eight_bit = rng.random() < 0.3
    subject = " ".join(rng.choice(WORDS + (WORDS_8BIT if eight_bit else [])) for _ in range(rng.randint(3, 8)))
    if eight_bit and rng.random() < 0.8:
        subject = Header(subject, "utf-8").encode()      # RFC 2047
    display = rng.choice(["", "", "Jürgen Groß ", "=?utf-8?q?Chlo=C3=A9_Dupr=C3=A9?= "])
    cte = "8bit" if eight_bit else "7bit"
    head = "".join(
        f"Received: from mx{h}.partner.example ([192.0.2.{rng.randint(1, 254)}])\n"
        f"\tby mail.example.test with ESMTPS id {rng.getrandbits(40):010x}\n\tfor <{to}>; {rfc2822(ts - h, rng)}\n"
        for h in range(rng.randint(1, 3)))
    head += (f"From: {display}<{frm}>\nTo: {to}\nSubject: {subject}\nDate: {rfc2822(ts - rng.randint(30, 900), rng)}\n"
             f"Message-ID: <demo.{seed}.{i}.{rng.getrandbits(32):08x}@{user.split('@')[1]}>\nMIME-Version: 1.0\n")
    text = prose(rng, rng.randint(300, 8000), eight_bit)
    boundary = f"=_demo_{rng.getrandbits(64):016x}"
    part = f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n{text}"
    if attach_bytes:
        name = rng.choice(["scan.pdf", "photos.zip", "rapport-été.pdf"])
        disp = (f'filename="{name}"' if name.isascii()
                else "filename*=utf-8''" + "".join(c if c.isascii() else "".join(f"%{b:02X}" for b in c.encode()) for c in name))
        body = (f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n--{boundary}\n{part}\n--{boundary}\n'
                f"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
                f"Content-Disposition: attachment; {disp}\n\n{b64(rng.randbytes(attach_bytes))}\n--{boundary}--\n")
    elif rng.random() < 0.5:
        body = part
    else:
        html = "".join(f"<p>{ln}</p>\n" for ln in text.splitlines() if ln)
        body = (f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n--{boundary}\n{part}\n--{boundary}\n'
                f"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: {cte}\n\n"
                f"<html><body>\n{html}</body></html>\n\n--{boundary}--\n")
    return (head + body).encode()


def flags(rng, folder):
    out = set()
    if folder == "Drafts":
        out |= {"\\Draft", "\\Seen"}
    elif folder in ("Sent", "Éléments envoyés"):
        out.add("\\Seen")
    else:
        if rng.random() < 0.8:
            out.add("\\Seen")
        if rng.random() < 0.15:
            out.add("\\Answered")
    if rng.random() < 0.06:
        out.add("\\Flagged")
    out |= {k for k, p in zip(KEYWORDS, (0.05, 0.03, 0.1, 0.04)) if rng.random() < p}
    return out


def fill_user(conf, seed, user, count, big_bytes):
    rng = random.Random(f"{seed}/{user}")
    names = [f for f, _ in FOLDERS]
    doveadm(conf, "mailbox", "create", "-u", user, *[n for n in names if n != "INBOX"], *EMPTY)
    doveadm(conf, "mailbox", "subscribe", "-u", user, *names, *EMPTY)
    paths = {n: doveadm(conf, "mailbox", "path", "-u", user, n).strip() for n in names}
    owner = os.stat(os.path.dirname(paths["Sent"]))
    for n, p in paths.items():
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(p, sub), exist_ok=True)
            os.chown(os.path.join(p, sub), owner.st_uid, owner.st_gid)
        kw = os.path.join(p, "dovecot-keywords")
        with open(kw, "w") as f:
            f.writelines(f"{i} {k}\n" for i, k in enumerate(KEYWORDS))
        os.chown(kw, owner.st_uid, owner.st_gid)
    total = 0
    for i in range(count):
        folder = names[i] if i < len(names) else rng.choices(names, [w for _, w in FOLDERS])[0]
        attach = 0
        if big_bytes and i == count // 2:
            folder, attach = "Archive/2024", big_bytes
        elif rng.random() < 0.05:
            attach = rng.randint(20_000, 400_000)
        lo, hi = year_range(folder)
        ts = int(rng.uniform(lo, hi))
        data = message(rng, seed, user, i, folder, ts, attach)
        fl = flags(rng, folder)
        letters = "".join(sorted(SYSTEM[f] for f in fl if f in SYSTEM)) + \
            "".join(sorted(chr(ord("a") + KEYWORDS.index(k)) for k in fl if k in KEYWORDS))
        wire = len(data) + data.count(b"\n")  # every line end is a bare LF here
        name = f"{ts}.M{i}P{os.getpid()}.demo,S={len(data)},W={wire}"
        tmp = os.path.join(paths[folder], "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        os.utime(tmp, (ts, ts))
        os.rename(tmp, os.path.join(paths[folder], "cur", f"{name}:2,{letters}"))
        total += wire
    doveadm(conf, "mailbox", "status", "-u", user, "messages", "*")
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conf", required=True)
    ap.add_argument("--users", type=int, default=3)
    ap.add_argument("--messages", type=int, default=120)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--big-mb", type=float, default=6, help="one message this big in user1's Archive/2024")
    a = ap.parse_args()
    for u in range(1, a.users + 1):
        user = f"user{u}@example.test"
        n = a.messages + 20 * (u - 1)  # mailboxes of different sizes
        size = fill_user(a.conf, a.seed, user, n, int(a.big_mb * 1024 * 1024) if u == 1 else 0)
        print(f"  {user}: {n} messages, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
