# core/credit.py on the unix port: friendly windows (midnight, weekend, holiday, tz) against
# an independent model, cut-off floors, generated bad config / arguments / saved state.
import os
import random
import mptest
from core import credit as K, clock as C

SOAK = int(os.getenv("SOAK") or 1)   # scales the generated loops (soak runs)

MON = C.days_from_civil(2026, 11, 30) * 86400     # Monday 00:00 UTC
H = 3600


def fresh(patch=None):
    cfg = K.merged({})
    if patch:
        cfg.update(K.validate_config(patch, cfg))
    return K.new_state(), cfg


def friendly_model(f, now_s):
    # independent: local civil date and minute-of-day via divmod, windows as minute sets
    loc = now_s + f["tz"]
    day = loc // 86400
    mins = loc % 86400 // 60
    if f["we"] and (day + 3) % 7 in (5, 6):
        return True
    if day in f["hol"]:
        return True
    for a, b in f["win"]:
        am, bm = a // 60, b // 60
        inside = (am <= mins < bm) if am < bm else (mins >= am or mins < bm)
        if inside:
            return True
    return False


def test_friendly_smets2_example():
    # Mon-Sat 18:00-11:00 + weekends and bank holidays until 11:00 next working day
    st, cfg = fresh({"friendly": {"windows": [["18:00", "11:00"]], "weekends": True,
                                  "holidays": ["2026-12-25"]}})
    mptest.true(not K.in_friendly(cfg, MON + 11 * H))
    mptest.true(K.in_friendly(cfg, MON + 11 * H - 1))
    mptest.true(K.in_friendly(cfg, MON + 18 * H))
    mptest.true(K.in_friendly(cfg, MON + 23 * H + 59 * 60))
    mptest.true(K.in_friendly(cfg, MON + 86400 + 2 * H))      # Tuesday 02:00 (crossed midnight)
    mptest.true(not K.in_friendly(cfg, MON + 86400 + 14 * H))
    sat = MON + 5 * 86400
    mptest.true(K.in_friendly(cfg, sat + 14 * H))
    mptest.true(K.in_friendly(cfg, sat + 86400 + 14 * H))     # Sunday
    mptest.true(K.in_friendly(cfg, sat + 2 * 86400 + 10 * H))  # Monday 10:00
    mptest.true(not K.in_friendly(cfg, sat + 2 * 86400 + 12 * H))
    xmas = C.parse_date("2026-12-25") * 86400
    mptest.true(K.in_friendly(cfg, xmas + 14 * H))
    mptest.true(not K.in_friendly(cfg, xmas - 86400 + 14 * H))


def test_friendly_random_against_model():
    random.seed(22)
    for _ in range(60 * SOAK):
        wins = []
        for _ in range(random.randint(0, 3)):
            a = random.randint(0, 95) * 900
            b = random.randint(1, 96) * 900
            if a != b and not (a == 0 and b == 86400):
                wins.append([C.fmt_hhmm(a), "24:00" if b == 86400 else C.fmt_hhmm(b)])
        hol = [C.iso_date(C.days_from_civil(2026, 12, 1) + random.randint(0, 30))
               for _ in range(random.randint(0, 3))]
        tz = random.randint(-48, 48) * 900
        we = random.random() < 0.5
        st, cfg = fresh({"friendly": {"windows": wins, "weekends": we, "holidays": hol,
                                      "tz_offset_s": tz}})
        f = cfg["friendly"]
        m = {"tz": tz, "we": we, "hol": f["holidays"], "win": f["windows"]}
        for _ in range(100):
            t = C.days_from_civil(2026, 12, 1) * 86400 + random.randint(0, 31 * 86400)
            mptest.eq(K.in_friendly(cfg, t), friendly_model(m, t), (wins, tz, t))


def test_credit_ok_cutoff_and_friendly_floor():
    st, cfg = fresh({"friendly": {"windows": [["20:00", "08:00"]]}, "friendly_floor_minor": -500})
    day = MON + 12 * H
    night = MON + 22 * H
    mptest.true(K.credit_ok(st, cfg, 1, day))
    mptest.true(not K.credit_ok(st, cfg, 0, day))           # at the cutoff: off (fail safe)
    mptest.true(K.credit_ok(st, cfg, 0, night))
    mptest.true(K.credit_ok(st, cfg, -499, night))
    mptest.true(not K.credit_ok(st, cfg, -500, night))
    mptest.true(not K.credit_ok(st, cfg, -499, MON + 86400 + 8 * H))   # window over
    st, cfg = fresh({"cutoff_minor": 100})
    mptest.true(not K.credit_ok(st, cfg, 100, day))
    mptest.true(K.credit_ok(st, cfg, 101, day))


def _mut(x):
    return random.choice((None, -1, -10 ** 12, 10 ** 12, "x", 1.5, True, [], {}, [1, 2, 3, 4, 5],
                          ["25:00", "01:00"], {"windows": 1}, "2026-02-30", 100))


def test_generated_bad_config():
    random.seed(24)
    keys = list(K.DEFAULTS)
    rej = 0
    for i in range(1500 * SOAK):
        k = keys[i % len(keys)] if i % 10 else "nope%d" % i
        v = _mut(K.DEFAULTS.get(k))
        if k == "friendly" and random.randint(0, 1):
            v = {"windows": [[_mut(0), "08:00"]], "holidays": [_mut(0)]}
        try:
            out = K.validate_config({k: v})
        except ValueError as e:
            rej += 1
            mptest.true(len(str(e)) > 5)
            continue
        mptest.eq(K.validate_config(out), out)
    mptest.true(rej > 1000, "rejected %d" % rej)
    for bad in ({"warn_pct": [10, 30]}, {"warn_pct": [0]}, {"warn_pct": [30, 30]},
                {"friendly_floor_minor": 5}, {"emergency_below_minor": -1},
                {"friendly": {"windows": [["08:00", "08:00"]]}},
                {"friendly": {"windows": [["00:00", "24:00"]]}}, {"debt_cap_period": "year"},
                {"friendly": {"tz_offset_s": 7}}, "warn_pct", None):
        mptest.raises(ValueError, K.validate_config, bad)
    mptest.raises(ValueError, K.validate_config, {"cutoff_minor": 300}, K.DEFAULTS)


def test_bad_args_leave_state_unchanged():
    random.seed(25)
    st, cfg = fresh()
    K.on_recharge(st, cfg, 0, 500, MON)
    before = repr(st)
    bads = (None, "1", 1.5, True, [], 10 ** 15, -10 ** 15)
    for x in bads:
        mptest.raises(ValueError, K.on_recharge, st, cfg, x, 10, MON)
        mptest.raises(ValueError, K.on_recharge, st, cfg, 0, x, MON)
        if x is not None:   # now_s=None means "the latest time seen"
            mptest.raises(ValueError, K.on_recharge, st, cfg, 0, 10, x)
        mptest.raises(ValueError, K.note_cost, st, x, 1)
        mptest.raises(ValueError, K.note_cost, st, MON, x)
        mptest.raises(ValueError, K.warnings_due, st, cfg, x, MON)
        mptest.raises(ValueError, K.credit_ok, st, cfg, x, MON)
        mptest.raises(ValueError, K.set_reference, st, x)
    for _ in range(300):
        mptest.raises(ValueError, K.on_recharge, st, cfg, 0, -random.randint(1, 1 << 30), MON)
        mptest.raises(ValueError, K.note_cost, st, MON, -random.randint(1, 1 << 30))
    mptest.eq(repr(st), before)


def test_check_state():
    st, cfg = fresh()
    K.note_cost(st, MON, 5)
    mptest.eq(K.check_state(st), st)
    random.seed(26)
    rej = 0
    for _ in range(300):
        d = dict(st)
        k = random.choice(list(d) + ["junk"])
        d[k] = _mut(d.get(k))
        try:
            K.check_state(d)
        except ValueError:
            rej += 1
    mptest.true(rej > 200, "rejected %d" % rej)



def test_every_public_function_refuses_bad_scalars():
    random.seed(28)
    bads = (None, 1.5, "7", True, [], {}, 1 << 62, -(1 << 40))
    st, cfg = fresh()
    K.on_recharge(st, cfg, 0, 500, MON)
    K.note_cost(st, MON, 3)
    before = repr(st)
    calls = (
        (K.on_recharge, [st, cfg, 0, 10, MON], (2, 3, 4)),
        (K.note_cost, [st, MON, 1], (1, 2)),
        (K.rate_per_day, [st, MON], (1,)),
        (K.warnings_due, [st, cfg, 100, MON], (2, 3)),
        (K.credit_ok, [st, cfg, 100, MON], (2, 3)),
        (K.in_friendly, [cfg, MON], (1,)),
        (K.emergency_offered, [st, cfg, 100], (2,)),
        (K.take_emergency, [st, cfg, MON, 100], (2, 3)),
        (K.set_reference, [st, 100], (1,)),
        (K.set_debt, [st, 100], (1,)),
        (K.describe, [st, cfg, 100], (2,)),
    )
    for _ in range(400):
        fn, args, slots = random.choice(calls)
        a = list(args)
        i = random.choice(slots)
        a[i] = random.choice(bads)
        if a[i] is None and (fn, i) in ((K.on_recharge, 4), (K.take_emergency, 3)):
            continue    # optional arguments: None means "use the latest seen"
        mptest.raises(ValueError, fn, *a)
        mptest.eq(repr(st), before)


mptest.main(globals())
