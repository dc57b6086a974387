# TEST-ONLY: the cases of tests_host/mpy/test_link_reject.py, kept in a module so that the
# firmware modules are compiled first, into an unfragmented 64 KiB heap. Each case is
# checked as it is built, so no list of frames is held in the heap.
import json
import mptest
from core import frame
from fakemeters.cmdfix import KEY, NOW, fresh, body, send, unchanged

_T = [NOW]
_S = [4]          # the next unused seq


def setup():
    c = fresh()
    send(c, body(3, "recharge", {"txn": "t0", "amount": 100}))
    return c


def check(c, p, code):
    _T[0] += 2       # 2 s apart: bad_mac acks are never rate-limited here
    unchanged(c, p, code, now=_T[0])


def done(c):
    mptest.eq(c.prepay.cmd["last_seq"], 3)
    mptest.eq(c.prepay.balance_minor, 100)


def test_bad_mac_forms():
    c = setup()
    good = body(4, "recharge", {"txn": "t1", "amount": 5})
    mac = frame.mac_hex(KEY, good)
    flip = b"1" if mac[-1:] == b"0" else b"0"
    check(c, good + b"\n" + mac[:-1] + flip, "bad_mac")      # forged
    check(c, good + b"\n" + mac[:40], "bad_mac")              # truncated MAC
    check(c, good + b"\n" + mac.upper(), "bad_mac")           # MAC must be lowercase hex
    check(c, frame.sign(bytes(32), good), "bad_mac")          # wrong key
    check(c, good, "bad_mac")                                 # no MAC at all
    check(c, good[:-3] + b"\n" + mac, "bad_mac")              # truncated body
    check(c, good + b"\n" + mac + b"\n", "bad_mac")           # split at the LAST newline
    done(c)


def test_malformed_bodies():
    c = setup()
    for b in (b"not json", b"[1,2]", b'"str"', b"null", b"", b'{"id":"\xff\xfe","meter":"e-0001"}',
              b'{"id":"a",\n"meter":"e-0001","seq":9,"op":"status","args":{}}', b"[" * 600):
        check(c, frame.sign(KEY, b), "malformed")
    good = body(4, "recharge", {"txn": "t1", "amount": 5})
    for k in ("id", "meter", "seq", "op", "args"):
        d = json.loads(good)
        d.pop(k)
        check(c, frame.sign(KEY, json.dumps(d).encode()), "malformed")
    for k, v in (("id", 5), ("id", ""), ("id", "a b"), ("id", "x" * 41), ("seq", "4"), ("seq", 0),
                 ("seq", -1), ("seq", 4.0), ("seq", True), ("seq", 2 ** 60), ("op", 1), ("args", []),
                 ("args", None), ("exp", "soon"), ("meter", 7)):
        d = json.loads(good)
        d[k] = v
        check(c, frame.sign(KEY, json.dumps(d).encode()), "malformed")
    done(c)


def test_envelope_codes():
    c = setup()
    check(c, frame.sign(KEY, body(5, "status", {}, meter="e-0002")), "wrong_meter")
    check(c, frame.sign(KEY, body(3, "status", {}, cid="zz")), "replay")
    check(c, frame.sign(KEY, body(1, "status", {})), "replay")
    check(c, frame.sign(KEY, body(5, "status", {}, exp=NOW - 1)), "expired")
    # an answered seq is used up whatever the answer (docs/protocol.md §3)
    check(c, frame.sign(KEY, body(5, "status", {}, cid="c5b")), "replay")
    check(c, frame.sign(KEY, body(6, "fly", {})), "unknown_op")
    done(c)


def test_bad_args_recharge():
    c = setup()
    for args in ({"txn": "t9"}, {"amount": 5}, {"txn": "t9", "amount": 0}, {"txn": "t9", "amount": -5},
                 {"txn": "t9", "amount": 10 ** 30}, {"txn": "t9", "amount": 5.5}, {"txn": "t9", "amount": "5"},
                 {"txn": "t9", "amount": True}, {"txn": 9, "amount": 5}, {"txn": "", "amount": 5},
                 {"txn": "t9", "amount": 5, "x": 1}, {"txn": "t9", "amount": 1000001}):
        _S[0] += 1        # a fresh seq each: an answered seq is used up
        check(c, frame.sign(KEY, body(_S[0], "recharge", args)), "bad_args")
    done(c)


def test_bad_args_other_ops():
    c = setup()
    for op, args in (("supply", {"state": "maybe"}), ("supply", {}), ("tariff", {"price": -1}),
                     ("tariff", {}), ("tariff", {"price": 5, "from": "now"}), ("config", {}),
                     ("config", {"nope": 1}), ("config", {"warn_pct": 20, "max_w": 1}),
                     ("config", {"warn_pct": 200, "max_w": 3000}), ("config", {"report_s": 1}),
                     ("clear", {"alarm": "ghost"}), ("clear", {}), ("time", {"now": 5}),
                     ("time", {"now": "x"}), ("emergency", {})):
        _S[0] += 1
        check(c, frame.sign(KEY, body(_S[0], op, args)), "bad_args")
    c.prepay.alarm("tamper", NOW, latch=True)
    c.prepay.save()
    check(c, frame.sign(KEY, body(_S[0] + 1, "clear", {"alarm": "latch:tamper"})), "bad_args")
    mptest.eq(c.driver.max_w, 5000)     # config validated all keys before applying any
    done(c)


def test_too_large():
    c = fresh()
    unchanged(c, lambda: frame.sign(KEY, b"x" * 2100), "too_large")
    a = c.too_large(NOW)      # what the link calls when it skipped an oversized payload unread
    mptest.eq((a["code"], a["id"], a["ok"]), ("too_large", None, False))
