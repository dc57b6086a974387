# One recharge limit: the command layer has no cap of its own; the real Prepay's
# recharge_max_minor (default 1 000 000, configurable up to 10^9 by the config op) decides,
# for every generated limit and amounts around it. A refused recharge leaves the flash
# byte-for-byte unchanged. Composed test (Prepay + Commands): run by
# tests_host/test_core_property_prepay.py at CORE_HEAP.
import os
import random

import mptest
from core.commands import Commands
from core.prepay import Prepay
from core.store import Store
from fakemeters.cmdfix import DIR, KEY, MID, NOW, body, flash_hash, rmtree, send
from fakemeters.fakeprepay import FakeClock, FakeDriver

SOAK = int(os.getenv("SOAK") or 1)


def _fresh(cfg=None):
    rmtree(DIR)
    st = Store(DIR)
    c = {"tariff": {"price": 150000}}
    if cfg:
        c.update(cfg)
    p = Prepay(st, "electricity", c, NOW)
    p.tick(NOW)
    p.save()
    return Commands(MID, KEY, p, FakeDriver(p, None, {}, st), FakeClock(NOW), fw="test")


def _recharge(c, seq, amount):
    h = flash_hash()
    bal = c.prepay.balance_minor
    a = send(c, body(seq, "recharge", {"txn": "t%d" % seq, "amount": amount}))
    if a["ok"]:
        mptest.eq(c.prepay.balance_minor, bal + amount)
        mptest.true(flash_hash() != h, "accepted but not saved")
    else:
        mptest.eq(a["code"], "bad_args")
        mptest.eq(c.prepay.balance_minor, bal)
        mptest.eq(flash_hash(), h, "flash changed by a refused recharge")
    return a


def test_default_limit_boundary():
    c = _fresh()
    mptest.eq(c.prepay.cfg["recharge_max_minor"], 1000000)
    mptest.eq(_recharge(c, 1, 1000000)["ok"], True)
    a = _recharge(c, 2, 1000001)
    mptest.eq(a["reason"], "amount above recharge_max_minor")
    mptest.eq(_recharge(c, 3, 1)["ok"], True)
    # the same limit for a local (token) recharge
    mptest.raises(ValueError, c.prepay.recharge, "k1", 1000001, NOW, "token")
    mptest.true(c.prepay.recharge("k2", 1000000, NOW, "token"))


def test_generated_limits_and_amounts():
    random.seed(5)
    c = _fresh()
    seq = 1
    for i in range(25 * SOAK):
        lim = random.choice([1, 2, 999, 10 ** 6, 10 ** 7, 10 ** 9, 1 + random.getrandbits(29)])
        a = send(c, body(seq, "config", {"recharge_max_minor": lim}))
        seq += 1
        mptest.eq(a["code"], "ok", a.get("reason"))
        mptest.eq(c.prepay.cfg["recharge_max_minor"], lim)
        for amt in (lim - 1, lim, lim + 1, 1 + random.getrandbits(30) % (2 * lim)):
            if amt < 1:
                continue
            if c.prepay.balance_minor + amt > 10 ** 10:
                c = _fresh({"recharge_max_minor": lim})  # stay below the balance cap
                seq = 1
            a = _recharge(c, seq, amt)
            seq += 1
            mptest.eq(a["ok"], amt <= lim, "limit %d amount %d" % (lim, amt))
    # above the policy's money bound the limit itself is refused (one limit, no hidden second)
    for bad in (10 ** 9 + 1, 10 ** 12, 0, -1, True, "5"):
        h = flash_hash()
        a = send(c, body(seq, "config", {"recharge_max_minor": bad}))
        seq += 1
        mptest.eq(a["code"], "bad_args", repr(bad))
        mptest.eq(flash_hash(), h)


def test_balance_cap():
    c = _fresh({"recharge_max_minor": 10 ** 9})
    seq = 1
    for i in range(10):
        mptest.eq(_recharge(c, seq, 10 ** 9)["ok"], True)
        seq += 1
    a = _recharge(c, seq, 10 ** 9)  # the balance would pass 10^10
    mptest.eq(a["reason"], "balance would exceed 10^10")
    c.prepay.tick(NOW + 1)  # the credit checks accept the capped balance
    mptest.eq(c.prepay.supply.state, "on")


mptest.main(globals())
