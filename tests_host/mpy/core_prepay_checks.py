# Prepay facade checks on the real port. Run by tests_host/test_core_prepay_checks.py
# (not named test_*: the composed core needs more than the suite's 64k heap from
# source; see docs/ledger.md "Memory"). Bad input is generated: every public mutator is
# fed random wrong types / values, and the persisted form must not change.
import binascii
import json
import os
import random

import mptest
from core import prepay as pp
from core.prepay import Prepay
from core.store import Store

T0 = 1700006400  # 2023-11-15 00:00:00 UTC
DAY = 86400
TAR = {"price": 150000, "standing_minor_per_day": 25}
_n = [0]


def _new(kind="electricity", cfg=None, arms=None, root=None):
    if root is None:
        _n[0] += 1
        root = "pp_%d" % _n[0]
    c = {"tariff": TAR}
    if cfg:
        c.update(cfg)
    st = Store(root)
    p = Prepay(st, kind, c, T0, arms=arms) if arms is not None else Prepay(st, kind, c, T0)
    p.tick(T0)
    return p


def _reboot(p, now, kind="electricity", arms=None):
    st = Store(p.store.root)
    q = Prepay(st, kind, {"tariff": {"price": 1}}, now, arms=arms) if arms is not None else \
        Prepay(st, kind, {"tariff": {"price": 1}}, now)
    return q


def _snap(p):
    return binascii.crc32(json.dumps(p.to_dict()))


def _types(e):
    return [x["type"] for x in e]


def test_fresh_meter_is_off_until_credit_then_on():
    p = _new()
    mptest.eq(p.supply.state, "off_credit")
    mptest.eq(p.balance_minor, -25)  # the first day's standing charge
    mptest.true(p.recharge("t1", 1000, T0 + 1))
    mptest.eq(p.recharge("t1", 1000, T0 + 2), False)
    mptest.eq(p.balance_minor, 975)
    mptest.eq(p.supply.state, "on")
    ev = p.pending_events()
    mptest.eq(_types(ev), ["supply", "recharge", "supply"])  # protocol v1 names from the core
    seqs = [e["seq"] for e in ev]
    mptest.eq(seqs, sorted(seqs))
    p.tick(T0 + 3)
    q = _reboot(p, T0 + 4)
    mptest.eq(q.balance_minor, 975)
    mptest.eq(q.recharge("t1", 1000, T0 + 5), False)  # exactly once across a reboot
    mptest.eq(q.supply.state, "on")
    mptest.eq([e["seq"] for e in q.pending_events()], seqs)
    q.events_delivered(seqs[-1])
    mptest.eq(q.pending_events(), [])
    e = q.emit("x", T0 + 6)
    mptest.eq(e["seq"], seqs[-1] + 1)


def test_charges_and_cut_off_at_zero():
    p = _new()
    p.recharge("a", 100, T0)
    t = T0
    while p.supply.state == "on":
        p.consume(t, t + 60, 100)  # 100 Wh per minute: 15 minor per minute
        t += 60
        p.tick(t)
        mptest.true(t < T0 + 3600, "never cut off")
    mptest.eq(p.supply.state, "off_credit")
    mptest.true(p.balance_minor <= 0)
    lv = [e.get("level") for e in p.pending_events() if e["type"] == "low_balance"]
    mptest.true("30" in lv and "10" in lv, str(lv))
    l = p.led
    mptest.eq(l.balance_minor, l.credits_minor - l.charges_minor - l.standing_minor - l.recovered_minor)


def test_daily_rollover_standing_once_and_clock_back():
    p = _new()
    p.recharge("a", 10000, T0)
    p.consume(T0, T0 + 3600, 1000)
    p.tick(T0 + 3600)
    p.tick(T0 + DAY + 5)  # local midnight passed (tz 0)
    ev = [e for e in p.pending_events() if e["type"] == "daily"]
    mptest.eq(len(ev), 1)
    mptest.eq(ev[0]["day"], "2023-11-15")
    mptest.eq(ev[0]["use"], 1000)
    mptest.eq(ev[0]["cost"], 150 + 25)
    mptest.eq(p.led.standing_minor, 50)
    p.tick(T0 + DAY - 100)  # clock jumps back over midnight: nothing charged again
    p.tick(T0 + DAY + 50)
    mptest.eq(p.led.standing_minor, 50)
    q = _reboot(p, T0 + DAY + 60)  # reboot on the same day: nothing charged again
    q.tick(T0 + DAY + 61)
    mptest.eq(q.led.standing_minor, 50)
    mptest.eq(len([e for e in q.pending_events() if e["type"] == "daily"]), 1)
    mptest.eq(q.hist.days[-1][:2], [ev[0]["ts"] // DAY - 1, 1000])


def test_batched_consumption_saves():
    p = _new()
    p.recharge("a", 100000, T0)
    p.tick(T0)
    w0 = p.store.writes
    t = T0
    for i in range(49):  # 49 Wh in 49 s: below the 50 Wh batch and the 900 s window
        p.consume(t, t + 1, 1)
        t += 1
        p.tick(t)
    mptest.eq(p.store.writes, w0)
    p.consume(t, t + 1, 1)
    p.tick(t + 1)
    mptest.eq(p.store.writes, w0 + 1)
    p.consume(t + 1, t + 2, 1)
    p.tick(t + 2)
    p.tick(t + 2 + 900)  # the time window flushes a small unsaved amount
    mptest.eq(p.store.writes, w0 + 2)


def test_remote_and_safety_latch_priority():
    p = _new()
    p.recharge("a", 1000, T0)
    p.supply_command(False, T0)
    mptest.eq(p.supply.state, "off_remote")
    p.alarm("tamper", T0, latch=True, detail="cover")
    mptest.eq(p.supply.state, "off_safety")
    p.supply_command(True, T0)
    mptest.eq(p.supply.state, "off_safety")  # a command never bypasses a latch
    mptest.eq(sorted(p.alarms), ["tamper"])
    p.alarm_clear("tamper", T0 + 1)
    mptest.eq(p.supply.state, "on")
    mptest.raises(ValueError, p.alarm_clear, "tamper", T0 + 2)
    # protocol v1 names from the core itself: raise "alarm", clear "alarm_clear"
    al = [(e["type"], e["name"], e["active"]) for e in p.pending_events() if "name" in e]
    mptest.eq(al, [("alarm", "tamper", True), ("alarm_clear", "tamper", False)])
    st = p.status(T0 + 2)
    for k in ("balance", "supply", "alarms", "tariff", "price_now", "register"):
        mptest.true(k in st, k)


def test_gas_arms_and_button_does_not_confirm():
    p = _new("gas", arms=True)
    p.recharge("a", 1000, T0)
    mptest.eq(p.supply.state, "armed")
    p.button(T0 + 1)
    mptest.eq(p.supply.state, "armed")
    p.confirm_restore(T0 + 2)
    mptest.eq(p.supply.state, "on")
    mptest.raises(ValueError, p.configure, {"arm_on_restore": False}, T0)
    e = _new("electricity", cfg={"arm_on_restore": True})
    e.recharge("a", 1000, T0)
    mptest.eq(e.supply.state, "armed")
    e.button(T0 + 1)
    mptest.eq(e.supply.state, "on")


def test_emergency_credit():
    p = _new(cfg={"emergency_minor": 500, "emergency_below_minor": 200})
    p.recharge("a", 1000, T0)
    e = mptest.raises(ValueError, p.emergency, T0)
    mptest.eq(str(e), "not_offered")
    t = T0
    while p.balance_minor > 150:
        p.consume(t, t + 60, 100)
        t += 60
        p.tick(t)
    p.emergency(t)
    mptest.eq(str(mptest.raises(ValueError, p.emergency, t)), "already_taken")
    while p.balance_minor > -100:
        p.consume(t, t + 60, 100)
        t += 60
        p.tick(t)
    mptest.eq(p.supply.state, "on")  # below zero on emergency credit


def test_corrupt_record_recovers_fail_safe():
    p = _new()
    p.recharge("a", 1000, T0)
    p.save()
    root = p.store.root
    for s in ("a", "b"):
        with open(root + "/prepay." + s, "wb") as f:
            f.write(os.urandom(64))
    q = Prepay(Store(root), "electricity", {"tariff": TAR}, T0 + 10)
    mptest.eq(q.supply.state, "off_credit")
    ev = q.pending_events()
    mptest.eq(ev[0]["type"], "store_recovery")
    mptest.true("prepay" in ev[0]["record"])
    # a CRC-valid but inconsistent record (balance off by one) is refused too
    d = p.to_dict()
    d["led"]["bal"] += 1
    st = Store(root)
    st.save("prepay", d)
    q = Prepay(Store(root), "electricity", {"tariff": TAR}, T0 + 10)
    mptest.eq(q.balance_minor, 0)
    mptest.true("invalid" in q.pending_events()[0]["reason"])


def _junk():
    return random.choice([None, True, False, 1.5, -1, 0, 10 ** 30, -(10 ** 30), "", "x", "1",
                          b"1", [], [1], {}, {"a": 1}, "a" * 50, "bad txn"])


def test_generated_bad_input_changes_nothing():
    random.seed(1234)
    p = _new(cfg={"recharge_max_minor": 5000})
    p.recharge("a", 1000, T0)
    p.save()
    before = _snap(p)
    n = 0
    calls = [
        lambda: p.recharge(_junk(), 100, T0),
        lambda: p.recharge("ok1", _junk(), T0),
        lambda: p.recharge("ok2", random.choice([0, -5, 5001, 10 ** 9, True, 2.0]), T0),
        lambda: p.recharge("ok3", 100, _junk()),
        lambda: p.recharge("ok4", 100, T0, via=_junk()),
        lambda: p.consume(_junk(), T0 + 1, 1),
        lambda: p.consume(T0, _junk(), 1),
        lambda: p.consume(T0 + 5, T0 + 1, 1),
        lambda: p.consume(T0, T0 + 1, _junk()),
        lambda: p.tick(_junk()),
        lambda: p.set_tariff(_junk(), T0),
        lambda: p.set_tariff({"price": _junk()}, T0),
        lambda: p.set_tariff({"price": 1, "standing_minor_per_day": _junk()}, T0),
        lambda: p.set_tariff({"price": 1, "tou": _junk()}, T0),
        lambda: p.set_tariff({"tou": {"rates": {"peak": 1}, "weekday": _junk()}}, T0),
        lambda: p.set_tariff(TAR, T0, _junk()),
        lambda: p.configure(_junk(), T0),
        lambda: p.configure({"batch_use": _junk()}, T0),
        lambda: p.configure({"recharge_max_minor": _junk()}, T0),
        lambda: p.configure({"arm_on_restore": _junk()}, T0),
        lambda: p.configure({"warn_pct": _junk(), "batch_s": 600}, T0),
        lambda: p.configure({"batch_s": 600, "nonsense": 1}, T0),
        lambda: p.configure({"cutoff_minor": 10, "friendly_floor_minor": 20}, T0),
        lambda: p.supply_command(_junk(), T0),
        lambda: p.alarm(_junk(), T0),
        lambda: p.alarm("x", T0, latch=_junk()),
        lambda: p.alarm_clear(_junk(), T0),
        lambda: p.emit(_junk(), T0),
        lambda: p.events_delivered(_junk()),
        lambda: p.emergency(_junk()),
        lambda: p.price_now(_junk()),
        lambda: p.status(_junk()),
    ]
    for i in range(1200):
        f = calls[i % len(calls)]
        try:
            f()
        except ValueError:
            n += 1
            mptest.true(_snap(p) == before, "call %d changed state" % (i % len(calls)))
            continue
        # the junk happened to be valid: take a new baseline from here (and let the
        # outbox take the events, as the app does, so the record stays its normal size)
        p.events_delivered(p.next_seq)
        before = _snap(p)
    mptest.true(n > 900, "only %d rejected" % n)
    mptest.raises(ValueError, Prepay, p.store, "steam", {"tariff": TAR}, T0)
    mptest.raises(ValueError, Prepay, Store("pp_none"), "gas", {}, T0)  # no tariff
    mptest.raises(ValueError, Prepay, Store("pp_none"), "gas", {"tariff": TAR, "batch_use": 0}, T0)


def test_pending_tariff_takes_over_inside_an_interval():
    p = _new()
    p.recharge("a", 100000, T0)
    p.tick(T0)
    p.set_tariff({"price": 300000, "standing_minor_per_day": 25}, T0, T0 + 600)
    mptest.eq(p.price_now(T0 + 599), 150000)
    mptest.eq(p.price_now(T0 + 600), 300000)
    ch0 = p.led.charges_minor
    p.consume(T0 + 300, T0 + 900, 600)  # half before the switch, half after
    mptest.eq(p.led.charges_minor - ch0, (300 * 150000 + 300 * 300000) // 1000000)
    mptest.true("tariff_active" in _types(p.pending_events()))
    st = p.status(T0 + 900)
    mptest.eq(st["price_now"], 300000)
    p.tick(T0 + 900)  # the activation is urgent: saved here
    q = _reboot(p, T0 + 901)
    mptest.eq(q.price_now(T0 + 901), 300000)


def test_tou_through_the_facade():
    tou = {"tou": {"rates": {"peak": 300000, "valley": 100000},
                   "weekday": [["00:00", "valley"], ["08:00", "peak"], ["20:00", "valley"]],
                   "weekend": [["00:00", "valley"]], "tz_offset_s": 0}}
    p = _new()
    p.recharge("a", 100000, T0)
    p.set_tariff(tou, T0)
    p.tick(T0)
    ch0 = p.led.charges_minor
    # 2023-11-15 is a Wednesday: 07:00-09:00 spans the 08:00 switch
    p.consume(T0 + 7 * 3600, T0 + 9 * 3600, 2000)
    mptest.eq(p.led.charges_minor - ch0, (1000 * 100000 + 1000 * 300000) // 1000000)
    mptest.eq(p.status(T0 + 9 * 3600)["tariff"]["band"], "peak")


class _FailingStore(Store):
    fail = False

    def save(self, name, obj):
        if self.fail:
            raise OSError(28)
        Store.save(self, name, obj)


def test_flash_error_keeps_metering_and_retries():
    st = _FailingStore("pp_fail")
    p = Prepay(st, "electricity", {"tariff": TAR}, T0)
    p.recharge("a", 1000, T0)
    p.tick(T0)
    st.fail = True
    t = T0
    for i in range(5):
        p.consume(t, t + 60, 60)  # 60 Wh > batch: wants a save every minute
        t += 60
        p.tick(t)
    mptest.eq(p.status(t)["save_errors"], 5)
    mptest.eq(_types(p.pending_events()).count("store_error"), 1)
    mptest.eq(p.register, 300)
    st.fail = False
    p.tick(t + 1)
    mptest.eq(p.save_errors, 0)
    mptest.eq(_reboot(p, t + 2).register, 300)


def test_configure_applies_and_persists():
    p = _new()
    p.configure({"batch_use": 10, "warn_pct": [50], "recharge_max_minor": 20}, T0)
    mptest.raises(ValueError, p.recharge, "big", 21, T0)
    p.tick(T0 + 1)
    q = _reboot(p, T0 + 2)
    mptest.eq(q.cfg["batch_use"], 10)
    mptest.eq(q.cfg["recharge_max_minor"], 20)
    mptest.eq(pp.DEFAULTS["batch_s"], 900)


mptest.main(globals())
