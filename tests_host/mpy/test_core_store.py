# core/store.py on the real port: A/B slots, newest-valid load, and documented
# recovery from generated corruption (byte flips, truncations, garbage, deletions).
import gc
import json
import os
import random

import mptest
from core import slot_writer
from core.store import Store

SOAK = int(os.getenv("SOAK") or 1)

ROOT = "st_test"


def _fresh(name):
    d = ROOT + "_" + name
    try:
        for f in os.listdir(d):
            os.remove(d + "/" + f)
    except OSError:
        pass
    return Store(d)


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _put(path, b):
    with open(path, "wb") as f:
        f.write(b)


def test_roundtrip_and_alternating_slots():
    s = _fresh("rt")
    mptest.eq(s.load("rec"), None)
    for i in range(6):
        s.save("rec", {"i": i, "s": "x" * i})
        mptest.eq(s.load("rec"), {"i": i, "s": "x" * i})
    # both slots exist and hold consecutive versions
    a = _bytes(s.root + "/rec.a")
    b = _bytes(s.root + "/rec.b")
    mptest.true(a.startswith(b"PMR1 ") and b.startswith(b"PMR1 "))
    mptest.eq(s.writes, 6)
    mptest.true(s.bytes_written > 6 * 10)
    # a new Store instance (reboot) sees the newest and continues alternating
    s2 = Store(s.root)
    mptest.eq(s2.load("rec")["i"], 5)
    s2.save("rec", {"i": 6})
    mptest.eq(Store(s.root).load("rec"), {"i": 6})
    # the other slot still holds i=5: the newest good copy was never overwritten
    s3 = Store(s.root)
    mptest.eq(sorted([s3._check_slot("rec", "a")[0], s3._check_slot("rec", "b")[0]]), [5, 6])


def test_empty_record_roundtrips():
    # an empty object is a record like any other: saved as "{}", never as a lone "}" that
    # load() would reject in favour of the older slot
    s = _fresh("empty")
    s.save("r", {"a": 1})
    s.save("r", {})
    mptest.eq(Store(s.root).load("r"), {})
    mptest.eq(_bytes(s._path("r", s._seq["r"][1]))[31:], b"{}")


def test_save_never_touches_newest_slot():
    s = _fresh("nt")
    s.save("r", {"v": 1})
    s.save("r", {"v": 2})
    newest = "b"
    good = _bytes(s.root + "/r." + newest)
    # Simulate a crash in the middle of the next save: the target slot is partially written
    body = b'{"v":3}'
    _put(s.root + "/r.a", b"PMR1 3 7 00000000\n" + body[:3])
    mptest.eq(_bytes(s.root + "/r." + newest), good)
    mptest.eq(Store(s.root).load("r"), {"v": 2})


def test_generated_corruption_recovers_to_other_slot_or_none():
    random.seed(7)
    s = _fresh("cor")
    n_other = n_none = 0
    for trial in range(300):
        s.save("r", {"trial": trial, "pad": "p" * (trial % 17)})
        s.save("r", {"trial": trial + 1000, "pad": "q" * (trial % 13)})
        # newest is trial+1000 in some slot; corrupt it (and sometimes the other slot too)
        st = Store(s.root)
        st.load("r")
        seq, slot = st._seq["r"]
        both = trial % 5 == 0
        for sl in ((slot, "b" if slot == "a" else "a") if both else (slot,)):
            p = s.root + "/r." + sl
            data = bytearray(_bytes(p))
            how = trial % 4
            if how == 0:  # flip 1..3 random bytes
                for _ in range(1 + random.getrandbits(2) % 3):
                    i = random.getrandbits(16) % len(data)
                    data[i] ^= 1 + random.getrandbits(7)
            elif how == 1:  # truncate
                data = data[: random.getrandbits(16) % len(data)]
            elif how == 2:  # garbage of random length
                data = bytearray(os.urandom(random.getrandbits(8)))
            else:  # appended junk
                data += b"x"
            _put(p, data)
        st2 = Store(s.root)
        got = st2.load("r")
        if got is None:
            mptest.true(both, "lost a record although one slot was intact")
            mptest.true(st2.reasons.get("r"), "no reason given")
            n_none += 1
        elif got["trial"] == trial + 1000:
            raise mptest.Fail("corrupted slot accepted (how=%d)" % how)
        else:
            mptest.eq(got["trial"], trial)
            mptest.true(st2.reasons.get("r"), "no reason given")
            n_other += 1
        # whatever happened, the store keeps working: next save is loadable
        st2.save("r", {"trial": -1})
        mptest.eq(Store(s.root).load("r"), {"trial": -1})
    mptest.true(n_other > 150 and n_none > 20, "%d %d" % (n_other, n_none))


def test_valid_crc_but_not_object_or_bad_header_fields():
    s = _fresh("hdr")
    import binascii
    for body in (b"[1,2]", b"12", b'"s"', b"{bad json", b"null"):
        pre = b"PMR1 %010d %05d " % (1, len(body))
        crc = binascii.crc32(pre, binascii.crc32(body)) & 0xFFFFFFFF
        _put(s.root + "/x.a", pre + b"%08x\n" % crc + body)
        st = Store(s.root)
        mptest.eq(st.load("x"), None)
        mptest.true(st.reasons["x"])
    for hdr in (b"PMR1 -1 2 0\n", b"PMR1 1 999999999 0\n", b"PMR1 x 2 0\n", b"PMR2 1 2 0\n",
                b"PMR1 1 2\n", b"\n", b"PMR1 1 2 zz\n", b"PMR1" + b" " * 100):
        _put(s.root + "/x.a", hdr + b"{}")
        st = Store(s.root)
        mptest.eq(st.load("x"), None)


def test_bad_arguments():
    s = _fresh("args")
    for bad in (None, "", "a/b", "../x", "x" * 40, 3, b"x", "a.b"):
        mptest.raises(ValueError, s.save, bad, {})
        mptest.raises(ValueError, s.load, bad)
    for bad in (None, [], "x", 3, 1.5):
        mptest.raises(ValueError, s.save, "ok", bad)
    mptest.raises(ValueError, s.save, "big", {"x": ["y" * 1000] * 17})  # 17 KB body, 1 KB of RAM
    mptest.eq(s.load("big"), None)
    mptest.raises(ValueError, Store, "")
    mptest.raises(ValueError, Store, None)


def _gen_value(rnd, depth):
    r = rnd.randrange(9 if depth < 3 else 5)
    if r == 0:
        return mptest.randint(-10 ** 12, 10 ** 12 - 1)
    if r == 1:
        return None if rnd.randrange(2) else rnd.randrange(2) == 1
    if r in (2, 3):
        # ASCII, escapes and multi-byte UTF-8 (a str's len() counts characters, not bytes)
        return "".join(rnd.choice("ab\"\\\n\u00e9\u20ac\U0001f600z_:") for _ in range(rnd.randrange(20)))
    if r == 4:
        return rnd.randrange(1000)
    if r in (5, 6):
        return [_gen_value(rnd, depth + 1) for _ in range(rnd.choice([0, 1, 7, 8, 9, 16, 17, 30] if depth < 2 else [0, 2, 9]))]
    return dict(("k%d\u00e9" % i, _gen_value(rnd, depth + 1)) for i in range(rnd.choice([0, 2, 9, 12] if depth < 2 else [0, 3])))


def _check_body_is_compact_json(s, name, obj):
    # the slot body is byte for byte what json.dumps gives, so length and CRC cover it
    seq, why = s._check_slot(name, s._seq[name][1])
    mptest.true(why is None, why)
    gc.collect()
    want = memoryview(json.dumps(obj, separators=(",", ":")))  # its UTF-8 bytes, no copy
    buf = bytearray(256)
    at = 0
    with open(s._path(name, s._seq[name][1]), "rb") as f:
        f.seek(31)
        while True:
            k = f.readinto(buf)
            if not k:
                break
            mptest.true(bytes(buf[:k]) == bytes(want[at:at + k]), "body differs near byte %d" % at)
            at += k
    mptest.eq(at, len(want))


def test_generated_records_roundtrip_byte_exact():
    # the piecewise writer (dict key by key, long lists in slices, 1 KiB buffer) against
    # json.dumps over generated records, also with the token-streaming fallback forced
    s = _fresh("gen")
    random.seed(7)
    rnd = random
    n = 60 * SOAK
    for i in range(n):
        obj = {}
        for j in range(rnd.randrange(1, 10)):
            v = _gen_value(rnd, 1)
            if len(json.dumps(v)) < 400:  # keeps the generated record within the test heap
                obj["f%d" % j] = v
            v = None
            gc.collect()
        if i % 3 == 0:
            real = slot_writer._dumps
            slot_writer._dumps = lambda v: None  # as if every json.dumps hit a MemoryError
            try:
                s.save("gen", obj)
            finally:
                slot_writer._dumps = real
        else:
            s.save("gen", obj)
        mptest.eq(Store(s.root).load("gen"), obj)
        _check_body_is_compact_json(s, "gen", obj)
        gc.collect()


mptest.main(globals())
