# heap: 192k
# Config changes and the persisted prepay record stay compatible (docs/ledger.md, "Config
# changes"): every config patch that passes validation leaves a state that saves and loads
# back, and the state that depends on config (the warning levels fired, the debt-recovery
# cap period) is migrated when the config changes. Regression tests for the defects where a
# valid config change wiped the record at the next boot, crashed a recharge, or froze debt
# recovery for good; then the same property over generated config sequences.
import gc
import json
import os
import random

import mptest
from core.prepay import Prepay
from core.store import Store

T0 = 1767225600          # 2026-01-01 00:00 UTC
DAY = 86400
TAR = {"price": 1000000}  # 1 minor unit per Wh
_n = [0]


def _root():
    _n[0] += 1
    d = "cc_%d" % _n[0]
    try:
        os.mkdir(d)
    except OSError:
        for f in os.listdir(d):
            os.remove(d + "/" + f)
    return d


def _boot(root, now=T0):
    return Prepay(Store(root), "electricity", {"tariff": TAR}, now)


def _same_after_reboot(p, root, now):
    p.save()
    gc.collect()
    before = json.dumps(p.to_dict())
    q = _boot(root, now)
    mptest.eq(q.recovered, None, "record refused after a valid config change")
    mptest.true(json.loads(json.dumps(q.to_dict())) == json.loads(before), "loads back different")
    return q


def test_warn_pct_change_below_levels_keeps_record():
    # fired = [30, 10, 0]; then four new levels, one tick, save, reboot: the record must load
    root = _root()
    p = _boot(root)
    p.recharge("r1", 1000, T0)
    p.configure({"debt_minor": 50}, T0)
    p.consume(T0, T0 + 3600, 950)          # balance 50: below 10 % and imminent
    p.tick(T0 + 3600)
    mptest.true(len(p.cr["fired"]) >= 3, p.cr["fired"])
    p.configure({"warn_pct": [40, 25, 15, 5]}, T0 + 3601)
    p.tick(T0 + 3602)
    q = _same_after_reboot(p, root, T0 + 3603)
    mptest.eq(q.balance_minor, 50)
    mptest.true(q.led.seen("r1"))
    mptest.eq(q.cmd, p.cmd)


def test_record_with_overlong_fired_from_old_firmware_loads():
    # a record written by the firmware that let `fired` grow past 5 entries is migrated
    # on load (levels no longer configured are dropped), never refused and rebuilt
    root = _root()
    p = _boot(root)
    p.recharge("r1", 1000, T0)
    p.cmd["last_seq"] = 77
    p.save()
    d = p.to_dict()
    d["cfg"]["warn_pct"] = [40, 25, 15, 5]
    d["cr"]["fired"] = [30, 10, 0, 40, 25, 15, 5]
    Store(root).save("prepay", d)
    q = _boot(root, T0 + 10)
    mptest.eq(q.recovered, None)
    mptest.eq(q.balance_minor, 1000)
    mptest.eq(q.cmd["last_seq"], 77)
    mptest.eq(sorted(q.cr["fired"]), [0, 5, 15, 25, 40])


def test_lowering_debt_cap_inside_a_period_recovers_nothing_more():
    root = _root()
    p = _boot(root)
    p.configure({"debt_minor": 10000, "debt_pct": 50, "debt_cap_minor": 1000,
                 "debt_cap_period": "week"}, T0)
    p.recharge("r1", 1000, T0 + 10)        # 500 recovered, cap_used 500
    mptest.eq(p.cr["cap_used"], 500)
    p.configure({"debt_cap_minor": 100}, T0 + 20)
    bal, debt = p.balance_minor, p.cr["debt"]
    mptest.true(p.recharge("r2", 1000, T0 + 30))   # no AssertionError, nothing negative
    mptest.eq(p.cr["debt"], debt)                  # the lowered cap is spent already
    mptest.eq(p.balance_minor, bal + 1000)
    led = p.led
    mptest.eq(led.balance_minor, led.credits_minor - led.charges_minor - led.standing_minor
              - led.recovered_minor)
    _same_after_reboot(p, root, T0 + 40)


def test_debt_cap_period_day_to_month_keeps_recovering():
    root = _root()
    p = _boot(root)
    p.configure({"debt_minor": 100000, "debt_pct": 50, "debt_cap_minor": 100,
                 "debt_cap_period": "day"}, T0)
    p.recharge("r1", 1000, T0 + 10)
    mptest.eq(p.led.recovered_minor, 100)
    p.configure({"debt_cap_period": "month"}, T0 + 20)
    # the same month: the cap is spent
    p.recharge("r2", 1000, T0 + 2 * DAY)
    mptest.eq(p.led.recovered_minor, 100)
    # the next month (30-day periods): recovery resumes
    p.recharge("r3", 1000, T0 + 31 * DAY)
    mptest.eq(p.led.recovered_minor, 200)
    # and back to days: the next day recovers again
    p.configure({"debt_cap_period": "day"}, T0 + 31 * DAY + 1)
    p.recharge("r4", 1000, T0 + 32 * DAY)
    mptest.eq(p.led.recovered_minor, 300)
    _same_after_reboot(p, root, T0 + 32 * DAY + 5)


def test_frozen_cap_period_in_an_old_record_recovers():
    # a record from the firmware that kept the day index after a switch to months
    root = _root()
    p = _boot(root)
    p.configure({"debt_minor": 100000, "debt_pct": 50, "debt_cap_minor": 100,
                 "debt_cap_period": "month"}, T0)
    p.save()
    d = p.to_dict()
    d["cr"]["cap_p"] = T0 // DAY          # a day index, ~30x the month index
    d["cr"]["cap_used"] = 100
    Store(root).save("prepay", d)
    q = _boot(root, T0 + 40 * DAY)
    q.recharge("r1", 1000, T0 + 40 * DAY)
    mptest.eq(q.led.recovered_minor, 100)


# ---- generated: config sequences interleaved with use, recharges, ticks, reboots ----
_PATCHES = (
    {"warn_pct": [40, 25, 15, 5]}, {"warn_pct": [30, 10]}, {"warn_pct": []}, {"warn_pct": [90]},
    {"warn_pct": [99, 98, 97, 96]}, {"imminent_h": 0}, {"imminent_h": 300},
    {"debt_minor": 5000}, {"debt_minor": 0}, {"debt_pct": 100}, {"debt_pct": 7},
    {"debt_cap_minor": 0}, {"debt_cap_minor": 1}, {"debt_cap_minor": 300},
    {"debt_cap_period": "day"}, {"debt_cap_period": "week"}, {"debt_cap_period": "month"},
    {"emergency_minor": 0}, {"emergency_minor": 500}, {"cutoff_minor": 0},
    {"cutoff_minor": -200, "friendly_floor_minor": -300}, {"emergency_below_minor": 1000},
    {"recharge_max_minor": 1}, {"recharge_max_minor": 1000000}, {"batch_use": 1},
    {"arm_on_restore": True}, {"arm_on_restore": False},
    {"friendly": {"windows": [["18:00", "08:00"]], "weekends": True}},
)


_TARIFFS = (
    {"price": 25000}, {"price": 0, "standing_minor_per_day": 30},
    {"tou": {"rates": {"peak": 300000, "valley": 100000},
             "weekday": [["00:00", "valley"], ["08:00", "peak"], ["20:00", "valley"]],
             "weekend": [["00:00", "valley"]], "tz_offset_s": 3600}},
    {"tiered": {"steps": [[200, 10000], [400, 15000], [None, 30000]], "period": "month",
                "reset_day": 3, "tz_offset_s": -18000}},
    {"tiered": {"steps": [[1000, 5000], [None, 9000]], "period": "year", "reset_day": 1,
                "reset_month": 4}},
)


def test_generated_config_sequences_save_and_load():
    random.seed(12)
    n = int(os.getenv("SOAK") or 1) * 40
    # step kinds, weighted: config patches and use dominate (recharges re-arm the levels)
    kinds = "ccccuuuurrebbbtt"
    for trial in range(n):
        root = _root()
        p = _boot(root)
        p.recharge("t%d" % trial, random.choice((900, 5000, 20000)), T0)
        now = T0
        for step in range(30):
            now += random.choice((1, 60, 3600, DAY, 7 * DAY))
            k = random.choice(kinds)
            try:
                if k == "c":
                    p.configure(random.choice(_PATCHES), now)
                elif k == "r":
                    p.recharge("t%d_%d" % (trial, step), random.choice((1, 50, 900, 5000)), now)
                elif k == "u":
                    p.consume(now - 1, now, random.choice((0, 10, 400, 3000)))
                elif k == "t":          # tariffs too: now or pending, any kind after any
                    p.set_tariff(random.choice(_TARIFFS), now,
                                 random.choice((None, now + 60, now + DAY)))
                elif k == "e":
                    try:
                        p.emergency(now)
                    except ValueError:
                        pass
                p.tick(now)
            except ValueError as e:
                # only the documented refusals of valid calls
                mptest.true(str(e) in ("amount above recharge_max_minor",
                                       "balance would exceed 10^10",
                                       "friendly_floor_minor: above cutoff_minor",
                                       "emergency_below_minor: below cutoff_minor (never offered)"),
                            str(e))
            p.events_delivered(p.next_seq)    # the app hands them to the outbox every tick
            if k == "b":
                p = _same_after_reboot(p, root, now)
            led = p.led
            mptest.eq(led.balance_minor, led.credits_minor - led.charges_minor
                      - led.standing_minor - led.recovered_minor)
        gc.collect()


mptest.main(globals())
