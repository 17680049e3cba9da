#!/usr/bin/python3
"""Writes one RFC 5322 message of about N megabytes (a base64 attachment) to stdout."""
import base64
import random
import sys

mb = float(sys.argv[1])
rng = random.Random(7)
raw = rng.randbytes(int(mb * 1_000_000 * 0.74))
b64 = base64.b64encode(raw)
lines = b"\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
sys.stdout.buffer.write(
    b"From: Big <big@partner.example>\r\nTo: user1@example.test\r\n"
    b"Subject: a very large attachment\r\nMessage-ID: <big-message@partner.example>\r\n"
    b"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
    b"Content-Type: text/plain\r\n\r\nSee attachment.\r\n--b\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n" + lines + b"\r\n--b--\r\n")
