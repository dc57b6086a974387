# TEST-ONLY: the cases of tests_host/mpy/test_link_commands.py, kept in a module so that the
# firmware modules are compiled first, into an unfragmented 64 KiB heap.
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


def test_hmac_rfc4231_case2():
    # RFC 4231 test case 2: key "Jefe"
    m = frame.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    mptest.eq(hexlify(m), b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_hmac_long_key_rfc4231_case6():
    m = frame.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    mptest.eq(hexlify(m), b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_every_op_ok():
    c = fresh()
    a = send(c, body(1, "recharge", {"txn": "t1", "amount": 500}))
    mptest.eq((a["ok"], a["code"], a["seq"], a["balance"], a["supply"], a["id"]), (True, "ok", 1, 500, "on", "c1"))
    a = send(c, body(2, "supply", {"state": "off"}))
    mptest.eq(a["supply"], "off_remote")
    a = send(c, body(3, "supply", {"state": "on"}))
    mptest.eq(a["supply"], "on")
    mptest.eq(send(c, body(4, "tariff", {"price": 250000, "from": NOW + 10}))["code"], "ok")
    mptest.eq(c.prepay.price, 250000)
    mptest.eq(send(c, body(5, "config", {"warn_pct": 20, "max_w": 3000, "report_s": 30}))["code"], "ok")
    mptest.eq((c.prepay.conf["warn_pct"], c.driver.max_w, c.setting("report_s", 60)), (20, 3000, 30))
    c.prepay.alarm("tamper", NOW)
    mptest.eq(send(c, body(6, "clear", {"alarm": "tamper"}))["code"], "ok")
    mptest.eq(c.prepay.alarms, {})
    mptest.eq(send(c, body(7, "time", {"now": NOW + 100}))["code"], "ok")
    mptest.eq(c.clock.now_s(), NOW + 100)
    a = send(c, body(8, "status", {}))
    for k in ("kind", "fw", "alarms", "tariff", "clock_ok"):
        mptest.true(k in a, k)
    mptest.eq((a["kind"], a["clock_ok"], a["alarms"], a["seq"]), ("electricity", True, [], 8))
    mptest.eq(send(c, body(9, "reboot", {}))["code"], "ok")
    mptest.true(c.reboot_requested)
    mptest.eq(send(c, body(10, "selfcheck", {}))["code"], "ok")   # driver op
    # emergency: the fake does not offer it -> bad_args with the reason, nothing changed
    a = unchanged(c, frame.sign(KEY, body(11, "emergency", {})), "bad_args")
    mptest.eq(a["reason"], "not_offered")


def test_seq_survives_reboot():
    c = fresh()
    send(c, body(5, "recharge", {"txn": "t1", "amount": 10}))
    p2 = FakePrepay(Store(DIR), "electricity", {}, NOW)
    c2 = Commands(MID, KEY, p2, FakeDriver(p2, None, {}, None), FakeClock(), fw="t")
    mptest.eq(p2.balance_minor, 10)
    unchanged(c2, frame.sign(KEY, body(4, "status", {})), "replay")
    a = send(c2, body(5, "recharge", {"txn": "t1", "amount": 10}))   # redelivery after reboot
    mptest.eq((a["code"], a.get("dup"), a["balance"]), ("ok", True, 10))


def test_dup_and_replay():
    c = fresh()
    f = frame.sign(KEY, body(1, "recharge", {"txn": "t1", "amount": 100}))
    mptest.eq(c.handle(f, NOW)["balance"], 100)
    h = flash_hash()
    a = c.handle(f, NOW)
    mptest.eq((a["ok"], a["code"], a.get("dup"), a["balance"], a["id"]), (True, "ok", True, 100, "c1"))
    mptest.eq(flash_hash(), h)
    unchanged(c, frame.sign(KEY, body(1, "recharge", {"txn": "t2", "amount": 5}, cid="other")), "replay")
    # a new command reusing a credited txn: ok + dup, credits nothing, seq advances
    a = send(c, body(2, "recharge", {"txn": "t1", "amount": 100}))
    mptest.eq((a["code"], a.get("dup"), a["balance"], a["seq"]), ("ok", True, 100, 2))
    a = send(c, body(2, "recharge", {"txn": "t1", "amount": 100}))
    mptest.eq((a.get("dup"), a["balance"]), (True, 100))


def test_bad_mac_rate_limited():
    c = fresh()
    bad = body(1, "status", {}) + b"\n" + b"0" * 64
    got = [c.handle(bad, NOW, ms) for ms in range(0, 3000, 100)]
    acks = [a for a in got if a is not None]
    mptest.eq(len(acks), 3)
    mptest.eq(acks[0]["id"], None)


