#!/usr/bin/env python3
"""bench_paygo: cost of decoding an OpenPAYGO token on the MicroPython unix port
(64 KiB heap) against the reference decoder in CPython, measured in the same run.
A decode walks the hash chain from count 0 to last+64, so its cost grows with the
meter's count; figures are per SipHash step and per decode at several counts."""
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests_host"))
from conftest import MICROPYTHON, mpy_env  # noqa: E402
from openpaygo import OpenPAYGOTokenDecoder as Dec, OpenPAYGOTokenEncoder as Enc  # noqa: E402

KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"
START = 123456789
COUNTS = (2, 100, 500, 1000)

MPY = r"""
import time, gc
from paygo import token, siphash
key = bytes(int(%(key)r[i:i+2], 16) for i in range(0, 32, 2))
k0, k1 = siphash.key_words(key)
n = 2000
t = time.ticks_us(); c = 1
for _ in range(n):
    c = token.next_std(c, k0, k1)
print("hash_us", time.ticks_diff(time.ticks_us(), t) / n)
for tok, last in %(toks)r:
    code, ext = token.parse(tok)
    gc.collect()
    t = time.ticks_us()
    r = token.decode(code, ext, k0, k1, %(start)d, last, [last])
    us = time.ticks_diff(time.ticks_us(), t)
    print("decode", last, us, r[0])
"""


def main():
    toks = []
    for c in COUNTS:
        _, tok = Enc.generate_token(secret_key=KEY, count=c - 2, value=50, starting_code=START)
        toks.append((tok, c - 2))
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=64k", "-c",
                        MPY % {"key": KEY, "toks": toks, "start": START}],
                       capture_output=True, text=True, env=mpy_env())
    if r.returncode:
        print(r.stdout, r.stderr)
        sys.exit(1)
    lines = r.stdout.split("\n")
    print("SipHash step on the unix port: %s us" % lines[0].split()[1])
    print("%-22s %14s %14s %8s" % ("token at count (last)", "unix port ms", "CPython ref ms", "ratio"))
    for (tok, last), line in zip(toks, lines[1:]):
        _, _, us, kind = line.split()
        t = time.perf_counter()
        Dec.decode_token(tok, KEY, last, [last], starting_code=START)
        ref_ms = (time.perf_counter() - t) * 1000
        print("%-22s %14.2f %14.2f %8.2f  (%s)" % ("%d (%d)" % (last + 2, last),
              int(us) / 1000, ref_ms, int(us) / 1000 / ref_ms, kind))


if __name__ == "__main__":
    main()
