# TEST-ONLY: the cases of tests_host/mpy/test_link_fuzz.py (see cases_commands.py for why).
import os
import json
import random
from binascii import hexlify
import mptest
from core import frame
from core.store import Store
from core.commands import Commands
from fakemeters.fakeprepay import FakePrepay, FakeDriver, FakeClock
from fakemeters.cmdfix import KEY, MID, DIR, NOW, fresh, flash_hash, body, send, unchanged


# ---- generated malformed frames -------------------------------------------------------
BREAK = [
    ("id", None), ("id", 12), ("id", "x" * 41), ("id", "bad id"), ("meter", "e-9999"), ("meter", None),
    ("seq", 0), ("seq", -3), ("seq", "7"), ("seq", 1.5), ("seq", 1), ("op", 5), ("op", "warp"),
    ("args", "x"), ("args", [1]), ("exp", 1), ("exp", "x"),
]
BAD_ARGS = [
    {"txn": "t", "amount": 0}, {"txn": "t", "amount": -1}, {"txn": "t", "amount": 2 ** 40},
    {"txn": "t"}, {"amount": 3}, {"txn": [], "amount": 3}, {"txn": "t", "amount": 3.0},
]


def gen(rnd, seq):
    k = rnd.getrandbits(3)
    if k == 0:      # random bytes, sometimes with a newline and a random "mac"
        n = rnd.getrandbits(8)
        b = bytes(rnd.getrandbits(8) for _ in range(n))
        return b + (b"\n" + hexlify(bytes(rnd.getrandbits(8) for _ in range(32))) if k & 1 else b"")
    good = body(seq, "recharge", {"txn": "f%d" % seq, "amount": 1 + rnd.getrandbits(10)})
    if k == 1 or k == 2:      # byte-mutated valid frame, not re-signed
        f = bytearray(frame.sign(KEY, good))
        for _ in range(1 + rnd.getrandbits(2)):
            i = rnd.getrandbits(16) % len(f)
            f[i] = (f[i] + 1 + rnd.getrandbits(8) % 255) % 256    # a byte that really changes
        return bytes(f)
    if k == 3:      # signed, but not an object / not JSON
        return frame.sign(KEY, rnd.choice([b"1", b"null", b"[]", b'"x"', good[:-1], good + b"}", b"{,}"]))
    d = json.loads(good)
    if k in (4, 5):  # signed, envelope broken
        for _ in range(1 + rnd.getrandbits(1)):
            f, v = rnd.choice(BREAK)
            d[f] = v
        if rnd.getrandbits(1):
            d.pop(rnd.choice(["id", "meter", "seq", "op", "args"]), None)
    else:           # signed, args broken
        d["args"] = rnd.choice(BAD_ARGS)
    return frame.sign(KEY, json.dumps(d).encode())


def test_generated_malformed_change_nothing():
    n = int(os.getenv("FUZZ_N") or 2000)
    rnd = random
    random.seed(1234)
    c = fresh()
    send(c, body(1, "recharge", {"txn": "base", "amount": 1000}))
    h = flash_hash()
    codes = {}
    for i in range(n):
        p = gen(rnd, 2 + i)       # a fresh seq each: an answered seq is used up
        a = c.handle(p, NOW + i * 2, None)
        mptest.true(a is None or not a["ok"], repr(p[:120]))
        if a:
            codes[a["code"]] = codes.get(a["code"], 0) + 1
    mptest.eq(c.prepay.balance_minor, 1000)
    mptest.eq(flash_hash(), h)
    print("fuzz", n, "codes", sorted(codes.items()))
    for code in ("bad_mac", "malformed", "wrong_meter", "replay", "expired", "unknown_op", "bad_args"):
        mptest.true(code in codes, code)


