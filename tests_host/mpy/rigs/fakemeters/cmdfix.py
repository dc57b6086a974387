# TEST-ONLY fixtures for the command tests: a fresh flash dir, frames, a flash hash.
import os
import json
import random
import hashlib
from binascii import hexlify
import mptest
from core import frame
from core.store import Store
from core.commands import Commands
from fakemeters.fakeprepay import FakePrepay, FakeDriver, FakeClock

KEY = bytes(range(32))
MID = "e-0001"
DIR = "cmdflash"
NOW = 1767225600


def rmtree(d):
    try:
        for n in os.listdir(d):
            os.remove(d + "/" + n)
        os.rmdir(d)
    except OSError:
        pass


def fresh():
    rmtree(DIR)
    st = Store(DIR)
    p = FakePrepay(st, "electricity", {}, NOW)
    p.save()
    d = FakeDriver(p, None, {}, st)
    return Commands(MID, KEY, p, d, FakeClock(NOW), fw="test")


_BUF = bytearray(256)


def flash_hash():
    # every record but the floor: a command that passed the seq check uses up its seq there,
    # whatever its outcome (docs/protocol.md §3); that is the one write a rejection makes
    h = hashlib.sha256()
    for n in sorted(os.listdir(DIR)):
        if n.startswith("floor."):
            continue
        h.update(n.encode())
        with open(DIR + "/" + n, "rb") as f:
            while True:
                n = f.readinto(_BUF)
                if not n:
                    break
                h.update(_BUF if n == len(_BUF) else _BUF[:n])
    return h.digest()


def body(seq, op, args, cid=None, meter=MID, **kw):
    d = {"id": cid or ("c%d" % seq), "meter": meter, "seq": seq, "op": op, "args": args}
    d.update(kw)
    return json.dumps(d).encode()


def send(c, b, key=KEY, now=NOW, ms=None):
    return c.handle(frame.sign(key, b), now, ms)


def unchanged(c, payload, code, now=NOW):
    if callable(payload):
        payload = payload()
    h = flash_hash()
    bal = c.prepay.balance_minor
    a = c.handle(payload, now, None)
    mptest.eq(flash_hash(), h, "flash changed by " + code)
    mptest.eq(c.prepay.balance_minor, bal)
    if a is not None:
        mptest.eq(a["code"], code, repr(payload[:60]))
        mptest.eq(a["ok"], False)
    return a


