# Prepay restore from a CRC-valid but wrong record (a firmware bug, a bad provisioning
# image): generated mutations of every field of a real record must either be accepted
# whole or refused (store_recovery event, fresh fail-safe state), and the meter must keep
# working after either: no TypeError / KeyError / IndexError later in tick, consume,
# status, recharge or save. Also: a state change made inside the credit checks (emergency
# credit used up) is saved. Run by tests_host/test_core_property_prepay.py at CORE_HEAP.
import gc
import json
import os
import random

import mptest
from core.prepay import Prepay
from core.store import Store

T0 = 1700006400  # 2023-11-15 00:00:00 UTC
DAY = 86400
TAR = {"price": 150000, "standing_minor_per_day": 25}
SOAK = int(os.getenv("SOAK") or 1)
JUNK = (None, -1, 0, 1, "x", "", [], {}, [1, 2], [1, 2, 3, 4], [-1, 0, 0, 0], 2 ** 40,
        True, False, {"a": 1}, [[1]], -(2 ** 40))


def _base(root):
    st = Store(root)
    p = Prepay(st, "electricity", {"tariff": TAR, "emergency_minor": 500}, T0)
    p.tick(T0)
    p.recharge("a", 2000, T0 + 1)
    p.consume(T0 + 1, T0 + 3600, 900)
    p.alarm("tamper", T0 + 3600)
    p.tick(T0 + 3600)
    p.save()
    return p.to_dict()


def _paths(d, pre):
    # every (container, key) down to the leaves
    out = []
    if isinstance(d, dict):
        for k in d:
            out.append((d, k))
            out += _paths(d[k], pre + 1)
    elif isinstance(d, list):
        for i in range(len(d)):
            out.append((d, i))
            out += _paths(d[i], pre + 1)
    return out


def _exercise(p, now):
    p.tick(now)
    p.consume(now, now + 60, 30)
    p.tick(now + 60)
    p.status(now + 60)
    p.recharge("z%d" % now, 10, now + 61)
    p.tick(now + DAY)
    p.save()
    l = p.led
    mptest.eq(l.balance_minor, l.credits_minor - l.charges_minor - l.standing_minor - l.recovered_minor)


def test_generated_record_mutations_accepted_or_refused():
    random.seed(11)
    root = "rs_gen"
    good = json.dumps(_base(root))
    gc.collect()
    n_paths = len(_paths(json.loads(good), 0))
    refused = accepted = 0
    for i in range(150 * SOAK):
        d = json.loads(good)  # a fresh copy of the real record
        ps = _paths(d, 0)
        c, k = ps[random.randrange(len(ps))]
        if isinstance(c, dict) and random.randrange(4) == 0:
            del c[k]
        else:
            c[k] = JUNK[random.randrange(len(JUNK))]
        st = Store(root)
        st.save("prepay", d)
        d = c = ps = None
        gc.collect()
        p = Prepay(Store(root), "electricity", {"tariff": TAR}, T0 + 7200)
        if p.recovered:
            refused += 1
            mptest.eq(p.pending_events()[0]["type"], "store_recovery")
            mptest.true(p.supply.state != "on", "a rebuilt record starts without credit")
        else:
            accepted += 1
        _exercise(p, T0 + 7200)
        p = None
        gc.collect()
    print("record mutations: %d paths, %d refused, %d accepted (benign)" % (n_paths, refused, accepted))
    mptest.true(refused > 50 and accepted > 0)


def test_emergency_used_up_is_saved_at_once():
    st = Store("rs_ec")
    p = Prepay(st, "electricity", {"tariff": {"price": 1000000}, "emergency_minor": 100,
                                   "emergency_below_minor": 50, "batch_use": 100000,
                                   "warn_pct": [], "imminent_h": 0}, T0)  # no warning saves either
    p.tick(T0)
    p.recharge("a", 60, T0)
    p.tick(T0 + 1)
    p.save()
    p.consume(T0 + 1, T0 + 60, 30)  # 1 minor per Wh: balance 30
    p.tick(T0 + 60)
    p.emergency(T0 + 61)
    p.tick(T0 + 62)
    mptest.eq(p.supply.state, "on")
    p.supply_command(False, T0 + 63)  # remote off: the credit change below moves no state
    p.tick(T0 + 63)
    w = st.writes
    p.consume(T0 + 63, T0 + 120, 140)  # balance -110: the emergency credit (100) is used up
    p.tick(T0 + 120)
    mptest.eq(p.cr["ec_out"], True)
    mptest.eq(p.supply.state, "off_remote")
    mptest.true(st.writes > w, "ec_out not saved")
    # power cut now (no further save): the reboot still knows the emergency credit is spent
    q = Prepay(Store("rs_ec"), "electricity", {"tariff": {"price": 1}}, T0 + 121)
    mptest.eq(q.cr["ec_out"], True)
    q.supply_command(True, T0 + 121)
    q.tick(T0 + 122)
    mptest.eq(q.supply.state, "off_credit")

mptest.main(globals())
