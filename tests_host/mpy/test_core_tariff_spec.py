# core/tariff.py on the unix port: generated bad specs, bad cost arguments, corrupt state.
import os
import random
import mptest
from core import tariff as T, clock as C

SOAK = int(os.getenv("SOAK") or 1)   # scales the generated loops (soak runs)

D = C.days_from_civil(2026, 11, 30) * 86400      # a Monday, 00:00 UTC
TOU = {"tou": {"rates": {"valley": 1, "peak": 1000000},
               "weekday": [["00:00", "valley"], ["08:00", "peak"], ["20:00", "valley"]],
               "weekend": [["00:00", "valley"]],
               "holidays": ["2026-12-25"]}}
TIER = {"tiered": {"steps": [[100, 10], [300, 20], [None, 40]], "period": "month", "reset_day": 15}}


def _mut(x):
    r = random.randint(0, 9)
    if r == 0:
        return None
    if r == 1:
        return -1
    if r == 2:
        return "x"
    if r == 3:
        return 1 << random.randint(31, 70)
    if r == 4:
        return [] if type(x) is not list else x[:-1]
    if r == 5:
        return {}
    if r == 6:
        return 1.5
    if r == 7 and type(x) is list:
        return x + x[-1:]
    if r == 8:
        return True
    return x


def mutate(spec):
    # copy with one random mutation somewhere in the tree
    if type(spec) is dict:
        out = {}
        keys = list(spec.keys())
        pick = random.choice(keys + ["zz"]) if keys else "zz"
        for k in keys:
            out[k] = mutate(spec[k]) if k == pick else spec[k]
        if pick == "zz":
            out["zz"] = 1
        return out
    if type(spec) is list and spec and random.randint(0, 1):
        i = random.randint(0, len(spec) - 1)
        return spec[:i] + [mutate(spec[i])] + spec[i + 1:]
    return _mut(spec)


def test_generated_bad_specs_rejected_cleanly():
    random.seed(12)
    base = [TOU, TIER, {"price": 5, "standing_minor_per_day": 3},
            {"tou": dict(TOU["tou"], tz_offset_s=3600)}]
    rejected = accepted = 0
    s = T.new_state({"price": 9})
    for i in range(1500 * SOAK):
        spec = base[i % len(base)]
        for _ in range(random.randint(1, 3)):
            spec = mutate(spec)
        before = repr(s)
        try:
            n = T.validate(spec)
        except ValueError as e:
            rejected += 1
            mptest.true(len(str(e)) > 5)
            mptest.raises(ValueError, T.set_pending, s, spec, D)
            mptest.eq(repr(s), before)
            continue
        accepted += 1
        mptest.eq(T.validate(n), n)       # idempotent
        st = T.new_state(n)
        T.cost(st, D, D + 86400, 1000)
    mptest.true(rejected > 900, "rejected %d accepted %d" % (rejected, accepted))


def test_bad_specs_named():
    bad = [
        None, [], {}, {"price": -1}, {"price": 1.5}, {"price": True}, {"price": 1, "tou": {}},
        {"price": 1, "standing_minor_per_day": -1}, {"price": 1, "junk": 1},
        {"tou": {"rates": {}, "weekday": [["00:00", "x"]]}},
        {"tou": {"rates": {"lunch": 1}, "weekday": [["00:00", "lunch"]]}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:01", "peak"]]}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:00", "peak"], ["00:00", "peak"]]}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:00", "peak"], ["25:00", "peak"]]}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:00", "valley"]]}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:00", "peak"]], "holidays": ["2026-02-30"]}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:00", "peak"]], "tz_offset_s": 100000}},
        {"tou": {"rates": {"peak": 1}, "weekday": [["00:00", "peak"]], "tz_offset_s": 30}},
        {"tiered": {"steps": []}}, {"tiered": {"steps": [[100, 1]]}},
        {"tiered": {"steps": [[100, 1], [50, 2], [None, 3]]}},
        {"tiered": {"steps": [[100, 1]] * 5 + [[None, 1]]}},
        {"tiered": {"steps": [[None, 1]], "reset_day": 29}},
        {"tiered": {"steps": [[None, 1]], "period": "week"}},
    ]
    for b in bad:
        mptest.raises(ValueError, T.validate, b)


def test_bad_cost_args():
    random.seed(13)
    s = T.new_state(TOU)
    before = repr(s)
    for x in (None, -1, 1.5, "1", True, [], 1 << 80):
        mptest.raises(ValueError, T.cost, s, x, D, 1)
        mptest.raises(ValueError, T.cost, s, D, x, 1)
        mptest.raises(ValueError, T.cost, s, D, D, x)
    for _ in range(300):
        t1 = D + random.randint(0, 1000)
        mptest.raises(ValueError, T.cost, s, t1 + random.randint(1, 1000), t1, 1)
    mptest.eq(repr(s), before)


def test_check_state():
    s = T.new_state(TIER)
    T.set_pending(s, TOU, D)
    mptest.eq(T.check_state(s), s)
    random.seed(14)
    n = 0
    for _ in range(400):
        m = mutate(s)
        try:
            T.check_state(m)
        except ValueError:
            n += 1
    mptest.true(n > 200, "rejected %d" % n)



def test_every_public_function_refuses_bad_scalars():
    random.seed(15)
    bads = (None, -1, 1.5, "7", True, [], {}, 1 << 62, -(1 << 40))
    for spec in (TOU, TIER, {"price": 3}):
        s = T.new_state(spec)
        T.set_pending(s, {"price": 4}, D + 99)
        before = repr(s)
        calls = (
            (T.cost, [s, D, D + 10, 5], (1, 2, 3)),
            (T.set_pending, [s, {"price": 1}, D], (2,)),
            (T.activate, [s, D], (1,)),
            (T.price_at, [s, D], (1,)),
            (T.standing_minor_per_day, [s, D], (1,)),
            (T.describe, [s, D], (1,)),
        )
        for _ in range(200):
            fn, args, slots = random.choice(calls)
            a = list(args)
            a[random.choice(slots)] = random.choice(bads)
            if fn is T.describe and a[1] is None:
                continue    # describe(state, None) means "the latest priced instant"
            mptest.raises(ValueError, fn, *a)
            mptest.eq(repr(s), before)


mptest.main(globals())
