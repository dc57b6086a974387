# Prepay's days: the standing charge for every local day exactly once (skipped days
# caught up, at most CATCHUP_DAYS at once, never again after a clock jump back) and the
# flat tariff's local midnight. Run by tests_host/test_core_property_prepay.py at
# CORE_HEAP (the composed core; see core_prepay_checks.py).
import mptest
from core import prepay as pp
from core.prepay import Prepay
from core.store import Store

T0 = 1700006400  # 2023-11-15 00:00:00 UTC
DAY = 86400
TAR = {"price": 150000, "standing_minor_per_day": 25}
_n = [0]


def _new():
    _n[0] += 1
    st = Store("pd_%d" % _n[0])
    p = Prepay(st, "electricity", {"tariff": TAR}, T0)
    p.tick(T0)
    return p


def _reboot(p, now):
    return Prepay(Store(p.store.root), "electricity", {"tariff": {"price": 1}}, now)


def _types(e):
    return [x["type"] for x in e]


def _ev(p, t):
    return [e for e in p.pending_events() if e["type"] == t]


def test_standing_for_every_skipped_day_once():
    # meter off (no tick) for days, then a reboot: every local day is charged once, the
    # missed days go into the history with their standing charge only
    p = _new()
    p.recharge("a", 100000, T0)
    p.consume(T0, T0 + 3600, 100)
    p.tick(T0 + 3600)
    p.save()
    mptest.eq(p.led.standing_minor, 25)
    for gap in (1, 2, 5, 9):
        base = p.st_day
        now = (base + gap) * DAY + 7  # tz 0: `gap` local days later
        q = _reboot(p, now)
        q.tick(now)
        mptest.eq(q.led.standing_minor, p.led.standing_minor + 25 * gap, "gap %d" % gap)
        mptest.eq(q.st_day, base + gap)
        cu = _ev(q, "standing_catchup")
        if gap > 1:
            mptest.eq(cu[-1]["days"], gap)
            mptest.eq(cu[-1]["amount"], 25 * gap)
            mptest.eq(cu[-1]["from"], pp.clock.iso_date(base + 1))
            mptest.eq(cu[-1]["to"], pp.clock.iso_date(base + gap))
            mptest.true("uncharged_days" not in cu[-1])
        for d in range(base + 1, base + gap):
            mptest.eq(q.hist.day(d), [d, 0, 0, 25])
        mptest.eq(q.today, [base + gap, 0, 0, 25])
        q.tick(now + 60)  # the same day again: nothing more
        q.tick(now - 2 * DAY)  # clock back two days: nothing again
        q.tick(now + 120)
        mptest.eq(q.led.standing_minor, p.led.standing_minor + 25 * gap)
        l = q.led
        mptest.eq(l.balance_minor, l.credits_minor - l.charges_minor - l.standing_minor - l.recovered_minor)
        q.save()
        p = q


def test_standing_catchup_cap_and_bogus_jump():
    # a forward jump of 400 days charges the latest 62 days at most; the rest is an
    # event for the head-end; a jump back then charges nothing again
    for jump_days, charged in ((61, 61), (62, 62), (63, 62), (400, 62)):
        p = _new()
        start = p.led.standing_minor
        now = T0 + jump_days * DAY + 30
        p.tick(now)
        mptest.eq(p.led.standing_minor - start, 25 * charged, "jump %d" % jump_days)
        cu = _ev(p, "standing_catchup")[-1]
        mptest.eq(cu["days"], charged)
        mptest.eq(cu["to"], pp.clock.iso_date(T0 // DAY + jump_days))
        if jump_days > pp.CATCHUP_DAYS:
            mptest.eq(cu["uncharged_days"], jump_days - charged)
            mptest.eq(cu["uncharged_from"], pp.clock.iso_date(T0 // DAY + 1))
            mptest.eq(cu["uncharged_to"], pp.clock.iso_date(T0 // DAY + jump_days - charged))
        else:
            mptest.true("uncharged_days" not in cu)
        p.tick(T0 + 3600)  # back to the real time
        p.tick(T0 + DAY + 5)
        mptest.eq(p.led.standing_minor - start, 25 * charged)


def test_catchup_days_use_the_tariff_in_force_at_their_midnight():
    p = _new()
    # pending from day +3 00:00: days +1 and +2 at 25, days +3.. at 40
    p.set_tariff({"price": 150000, "standing_minor_per_day": 40}, T0, T0 + 3 * DAY)
    p.tick(T0 + 5 * DAY + 9)
    mptest.eq(p.led.standing_minor, 25 + 25 * 2 + 40 * 3)
    mptest.eq(_types(p.pending_events())[-2:], ["standing_catchup", "tariff_active"])


def test_flat_tariff_rolls_over_at_local_midnight():
    # flat tariff at +08:00: local midnight is 16:00 UTC (docs/tariffs-and-credit.md)
    tz = 8 * 3600
    mid = T0 + DAY - tz  # 2023-11-16 00:00 local = 2023-11-15 16:00 UTC
    st = Store("pp_tz")
    p = Prepay(st, "electricity", {"tariff": {"price": 150000, "standing_minor_per_day": 30,
                                              "tz_offset_s": tz}}, mid - 7200)
    p.tick(mid - 7200)  # 2023-11-15 22:00 local
    p.recharge("a", 10000, mid - 7200)
    mptest.eq(p.led.standing_minor, 30)
    p.consume(mid - 7200, mid - 1, 200)
    p.tick(mid - 1)  # 23:59:59 local: still the same day
    mptest.eq(_ev(p, "daily"), [])
    mptest.eq(p.led.standing_minor, 30)
    p.tick(mid)  # 00:00:00 local
    d = _ev(p, "daily")
    mptest.eq(len(d), 1)
    mptest.eq(d[0]["day"], "2023-11-15")
    mptest.eq(d[0]["use"], 200)
    mptest.eq(d[0]["cost"], 30 + 30)
    mptest.eq(p.led.standing_minor, 60)
    mptest.eq(p.today[0], pp.clock.days_from_civil(2023, 11, 16))
    mptest.eq(p.hist.day(pp.clock.days_from_civil(2023, 11, 15))[1:], [200, 30000000, 30])
    p.tick(mid + DAY - 1)
    mptest.eq(p.led.standing_minor, 60)
    p.tick(mid + DAY)
    mptest.eq(p.led.standing_minor, 90)


mptest.main(globals())
