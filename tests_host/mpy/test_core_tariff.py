# core/tariff.py on the unix port: exact splitting at switching instants, schedule
# selection, tz offset, tiered steps and reset day, pending activation, generated bad specs.
import os
import random
import mptest
from core import tariff as T, clock as C

SOAK = int(os.getenv("SOAK") or 1)   # scales the generated loops (soak runs)

D = C.days_from_civil(2026, 11, 30) * 86400      # a Monday, 00:00 UTC
H = 3600
V, P = 1, 1000000   # valley / peak prices chosen so a cost decodes into its two parts

TOU = {"tou": {"rates": {"valley": V, "peak": P},
               "weekday": [["00:00", "valley"], ["08:00", "peak"], ["20:00", "valley"]],
               "weekend": [["00:00", "valley"]],
               "holidays": ["2026-12-25"]}}


def parts(c):
    return (c % P, c // P)     # (valley use, peak use)


def test_flat():
    s = T.new_state({"price": 15000, "standing_minor_per_day": 25})
    mptest.eq(T.cost(s, D, D + 1, 7), 105000)
    mptest.eq(T.cost(s, D, D, 7), 105000)
    mptest.eq(T.cost(s, D, D + 10, 0), 0)
    mptest.eq(T.price_at(s, D), 15000)
    mptest.eq(T.standing_minor_per_day(s, D), 25)
    mptest.eq(T.describe(s, D), {"kind": "flat", "price_now": 15000, "standing_minor_per_day": 25})


def test_top_level_tz_offset():
    s = T.new_state({"price": 5, "tz_offset_s": 8 * H})
    mptest.eq(T.tz_offset_s(s), 8 * H)
    mptest.eq(T.tz_offset_s(T.new_state({"price": 5})), 0)
    n = T.validate({"tz_offset_s": -3600, "tiered": {"steps": [[None, 1]]}})
    mptest.eq(n["tiered"]["tz_offset_s"], -3600)
    mptest.eq(T.validate(n), n)
    mptest.raises(ValueError, T.validate, {"tz_offset_s": 3600, "tou": dict(TOU["tou"], tz_offset_s=0)})
    mptest.raises(ValueError, T.validate, {"tz_offset_s": 1, "price": 5})


def test_tick_ending_exactly_at_switch_vs_spanning():
    s = T.new_state(TOU)
    mptest.eq(parts(T.cost(s, D + 8 * H - 10, D + 8 * H, 10)), (10, 0))   # ends at 08:00
    mptest.eq(parts(T.cost(s, D + 8 * H, D + 8 * H + 10, 10)), (0, 10))   # starts at 08:00
    mptest.eq(parts(T.cost(s, D + 8 * H - 5, D + 8 * H + 5, 10)), (5, 5))  # spans it
    mptest.eq(parts(T.cost(s, D + 8 * H, D + 8 * H, 3)), (0, 3))          # instant at 08:00
    mptest.eq(parts(T.cost(s, D + 8 * H - 1, D + 8 * H - 1, 3)), (3, 0))
    # remainder rule: cumulative floor, so the later part takes the remainder
    mptest.eq(parts(T.cost(s, D + 8 * H - 1, D + 8 * H + 2, 4)), (1, 3))


def test_parts_sum_to_whole_random():
    random.seed(11)
    s = T.new_state(TOU)
    for _ in range(2000 * SOAK):
        t0 = D + random.randint(0, 14 * 86400)
        t1 = t0 + random.choice((0, 1, 7, 60, 3600, random.randint(0, 3 * 86400)))
        use = random.randint(0, 100000)
        v, p = parts(T.cost(s, t0, t1, use))
        mptest.eq(v + p, use, (t0, t1, use))


def test_day_split_proportional():
    s = T.new_state(TOU)
    # Monday 00:00 .. Tuesday 00:00: 12 h peak, 12 h valley
    mptest.eq(parts(T.cost(s, D, D + 86400, 2400)), (1200, 1200))
    # Saturday is all valley, Friday 2026-12-25 is a holiday: all valley
    sat = D + 5 * 86400
    mptest.eq(parts(T.cost(s, sat, sat + 86400, 2400)), (2400, 0))
    xmas = C.parse_date("2026-12-25") * 86400
    mptest.eq(C.weekday(xmas // 86400), 4)
    mptest.eq(parts(T.cost(s, xmas, xmas + 86400, 2400)), (2400, 0))
    mptest.eq(parts(T.cost(s, xmas - 86400, xmas, 2400)), (1200, 1200))
    # Friday into Saturday across 20:00 and midnight
    fri = D + 4 * 86400
    mptest.eq(parts(T.cost(s, fri + 19 * H, sat + 1 * H, 600)), (500, 100))


def test_tz_offset():
    spec = {"tou": dict(TOU["tou"], tz_offset_s=8 * H)}     # UTC+8
    s = T.new_state(spec)
    mptest.eq(T.tz_offset_s(s), 8 * H)
    # 08:00 local = 00:00 UTC on the same day
    mptest.eq(parts(T.cost(s, D - 10, D + 10, 20)), (10, 10))
    mptest.eq(T.price_at(s, D), P)
    mptest.eq(T.price_at(s, D - 1), V)
    # Sunday 23:59 UTC is Monday 07:59 local: weekday valley; Monday 00:00 UTC local 08:00
    spec2 = {"tou": dict(TOU["tou"], tz_offset_s=-5 * H)}   # UTC-5: Monday 00:00 UTC is Sunday 19:00
    s2 = T.new_state(spec2)
    mptest.eq(T.describe(s2, D)["band"], "valley")
    mptest.eq(T.price_at(s2, D + 13 * H), P)   # Monday 08:00 local


def test_twelve_switches():
    names = ("sharp", "peak", "flat", "valley")
    rates = {"sharp": 4, "peak": 3, "flat": 2, "valley": 1}
    sched = [["%02d:%02d" % (i * 2, 15 * (i % 4)), names[i % 4]] for i in range(12)]
    s = T.new_state({"tou": {"rates": rates, "weekday": sched}})
    total = 0
    for i in range(12):
        t = D + C.parse_hhmm(sched[i][0])
        mptest.eq(T.price_at(s, t), rates[names[i % 4]])
        if i:
            mptest.eq(T.price_at(s, t - 1), rates[names[(i - 1) % 4]])
    # one second of use at every second of the day == integral of the price
    exp = 0
    for i in range(12):
        a = C.parse_hhmm(sched[i][0])
        b = C.parse_hhmm(sched[i + 1][0]) if i < 11 else 86400
        exp += (b - a) * rates[names[i % 4]]
    mptest.eq(T.cost(s, D, D + 86400, 86400), exp)
    mptest.raises(ValueError, T.validate, {"tou": {"rates": rates, "weekday": sched + [["23:59", "flat"]]}})


TIER = {"tiered": {"steps": [[100, 10], [300, 20], [None, 40]], "period": "month", "reset_day": 15}}


def test_tiered_steps_and_reset_day():
    s = T.new_state(TIER)
    t = C.days_from_civil(2026, 11, 20) * 86400
    mptest.eq(T.price_at(s, t), 10)
    mptest.eq(T.cost(s, t, t + 10, 150), 100 * 10 + 50 * 20)
    mptest.eq(T.price_at(s, t + 10), 20)
    mptest.eq(T.cost(s, t + 10, t + 20, 200), 150 * 20 + 50 * 40)
    mptest.eq(T.describe(s, t + 20)["step"], 3)
    mptest.eq(T.cost(s, t + 20, t + 20, 1), 40)
    # 14 December is still this period; 15 December 00:00 starts a new one
    r = C.days_from_civil(2026, 12, 15) * 86400
    mptest.eq(T.cost(s, r - 10, r - 10, 1), 40)
    mptest.eq(T.price_at(s, r), 10)
    mptest.eq(T.describe(s, r - 1)["step"], 3)
    # an interval spanning the reset: half before at step 3, half after from step 1
    mptest.eq(T.cost(s, r - 5, r + 5, 10), 5 * 40 + 5 * 10)
    mptest.eq(s["cum"], 5)


def test_tiered_yearly_with_tz():
    spec = {"tiered": {"steps": [[1000, 1], [None, 2]], "period": "year", "reset_day": 1,
                       "reset_month": 1, "tz_offset_s": 8 * H}}
    s = T.new_state(spec)
    ny = C.days_from_civil(2027, 1, 1) * 86400 - 8 * H      # local midnight of 1 January
    mptest.eq(T.cost(s, ny - 86400 * 200, ny - 86400 * 200, 1500), 1000 + 500 * 2)
    mptest.eq(T.cost(s, ny - 1, ny - 1, 1), 2)
    mptest.eq(T.cost(s, ny, ny, 1), 1)          # new year, local time
    mptest.eq(s["cum"], 1)


def test_pending_activation_mid_interval():
    s = T.new_state({"price": 100})
    T.set_pending(s, {"price": 300}, D + 50)
    mptest.eq(T.describe(s, D)["pending"]["from"], D + 50)
    mptest.eq(T.price_at(s, D + 49), 100)
    mptest.eq(T.price_at(s, D + 50), 300)       # view only: no mutation
    mptest.true(s["pend"] is not None)
    mptest.eq(T.cost(s, D, D + 100, 10), 5 * 100 + 5 * 300)
    mptest.true(s["pend"] is None)
    mptest.eq(s["cur"], {"price": 300, "standing_minor_per_day": 0})
    # activation at exactly t0 prices the whole interval with the new tariff
    T.set_pending(s, {"price": 7}, D + 200)
    mptest.eq(T.cost(s, D + 150, D + 200, 10), 3000)
    mptest.eq(T.cost(s, D + 200, D + 210, 10), 70)
    # a pending TOU over a flat tariff, and the explicit activate()
    T.set_pending(s, TOU, D + 300)
    mptest.eq(T.activate(s, D + 299), False)
    mptest.eq(T.activate(s, D + 300), True)
    mptest.eq(T.describe(s, D + 300)["kind"], "tou")


def test_pending_tiered_keeps_period_use():
    s = T.new_state(TIER)
    t = C.days_from_civil(2026, 11, 20) * 86400
    T.cost(s, t, t, 250)
    new = {"tiered": dict(TIER["tiered"], steps=[[100, 11], [300, 21], [None, 41]])}
    T.set_pending(s, new, t + 10)
    mptest.eq(T.cost(s, t + 10, t + 10, 100), 50 * 21 + 50 * 41)
    T.set_pending(s, {"tiered": dict(new["tiered"], reset_day=1)}, t + 20)
    mptest.eq(T.cost(s, t + 20, t + 20, 1), 11)   # other period rules: count restarts


mptest.main(globals())
