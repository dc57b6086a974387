# Gas safety detectors and the leak check in isolation (no core), at the 64 KiB heap.
import random
import mptest
from meters.gas.safety import validate, FlowSafety, BatteryGuard, DEFAULTS
from meters.gas.leak_check import LeakCheck

T = 1000000


def feed_flow(fs, t, lph, secs, step=1, gal=0):
    """Constant flow through a 10 mL pulse sensor, exact integer carry. -> (t, findings)"""
    out = []
    acc = 0
    for _ in range(secs // step):
        acc += lph * 1000 * step
        ml = (acc // 3600) // 10 * 10
        acc -= ml * 3600
        t += step
        out += fs.feed(t, ml, gal)
    return t, out


def names(found):
    return sorted(set(n for n, f in found))


def test_long_use_bands_at_below_above():
    s = validate({})
    # band 1 (<= 400 L/h): 720 min; band 2 (<= 1500): 240 min; above: 60 min
    for lph, limit_min in ((400, 720), (401, 240), (1500, 240), (1501, 60)):
        fs = FlowSafety(s, T)
        t, f = feed_flow(fs, T, lph, limit_min * 60 - 60, step=10)
        mptest.true("long_use" not in names(f), str((lph, "below", f)))
        t, f = feed_flow(fs, t, lph, 120, step=10)
        mptest.true("long_use" in names(f), str((lph, "above")))
        lim = [x for n, x in f if n == "long_use"][0]["limit_min"]
        mptest.eq(lim, limit_min, lph)


def test_long_use_gap_resets():
    s = validate({})
    fs = FlowSafety(s, T)
    t, f = feed_flow(fs, T, 2000, 3000)
    t, f = feed_flow(fs, t, 0, 61)       # a minute off
    t, f = feed_flow(fs, t, 2000, 3000)
    mptest.true("long_use" not in names(f))


def test_micro_leak_window_and_quiet_hour():
    s = validate({})
    fs = FlowSafety(s, T)
    t, f = feed_flow(fs, T, 1, 30 * 86400 - 120, step=60)
    mptest.true("micro_leak" not in names(f))
    t, f = feed_flow(fs, t, 1, 240, step=60)
    mptest.eq(names(f), ["micro_leak"])
    t, f = feed_flow(fs, t, 0, 3600, step=60)
    mptest.eq(names(f), ["micro_leak_clear"])
    # a quiet hour every 29 days keeps it silent
    fs = FlowSafety(s, T)
    t = T
    for _ in range(3):
        t, f = feed_flow(fs, t, 1, 29 * 86400, step=60)
        mptest.true("micro_leak" not in names(f))
        t, f = feed_flow(fs, t, 0, 3600, step=60)


def test_seismic_only_while_flowing():
    s = validate({})
    fs = FlowSafety(s, T)
    t, f = feed_flow(fs, T, 0, 10, gal=300)
    mptest.eq(names(f), ["seismic_record"])
    mptest.eq(len(f), 1)                 # once per episode
    t, f = feed_flow(fs, t, 500, 10, gal=199)
    mptest.eq(names(f), [])
    t, f = feed_flow(fs, t, 500, 2, gal=200)
    mptest.eq(names(f), ["seismic"])


def test_generated_flows_never_trip_below_and_always_above():
    # random steady flows well inside the limits (ramped in appliance-sized steps) never
    # trip; random flows above the household maximum always trip within 12 s
    random.seed(11)
    s = validate({})
    for _ in range(40):
        fs = FlowSafety(s, T)
        t = T
        lph = 0
        target = random.randint(0, 3900)
        while lph < target:
            lph = min(target, lph + random.randint(1, 1500))
            t, f = feed_flow(fs, t, lph, 20)
            mptest.eq(names(f), [], str((lph, target)))
        fs = FlowSafety(s, T)
        t, f = feed_flow(fs, T, 3000, 20)
        hi = random.randint(4100, 9000)
        t, f = feed_flow(fs, t, hi, 12)
        mptest.true("over_flow" in names(f) or "flow_surge" in names(f), str(hi))


def test_battery_guard_sequence_and_debounce():
    s = validate({})
    g = BatteryGuard(s)
    seq = []
    for mv in [3600] * 3 + [3299] * 2 + [3600] + [3299] * 3 + [3099] * 3 + [3350] * 5 + [3400] * 3:
        r = g.feed(mv)
        if r:
            seq.append(r)
    mptest.eq(seq, ["warn", "shut", "ok"])
    mptest.true(g.can_open())
    # a single dip (motor load) does nothing
    g = BatteryGuard(s)
    for mv in [3600, 3000, 3600, 3000, 3600]:
        mptest.eq(g.feed(mv), None)


def test_leak_check_budget_exact():
    s = validate({})
    for vol, want in ((250, "pass"), (251, "fail")):
        c = LeakCheck(s)
        c.start(T, "button")
        mptest.eq(c.feed(T + 1, 0, "opening"), None)
        mptest.eq(c.feed(T + 6, 0, "open"), None)
        r = None
        t = T + 6
        left = vol
        while r is None:
            t += 1
            ml = min(left, 2)
            left -= ml
            r = c.feed(t, ml, "open")
        mptest.eq(r[0], want, vol)
    c = LeakCheck(s)
    c.start(T, "button")
    mptest.eq(c.feed(T + 20, 0, "fault")[0], "abort")


def test_validate_generated_bad_configs():
    random.seed(5)
    keys = list(DEFAULTS) + ["bogus"]
    vals = (-5, 0, "3", None, 2.5, True, [], {}, [[1, 2]], 10 ** 9)
    n = 0
    for _ in range(600):
        k = random.choice(keys)
        v = random.choice(vals)
        try:
            validate({k: v})
        except ValueError as e:
            mptest.true(len(str(e)) > 10)
            n += 1
    mptest.true(n > 450, n)
    mptest.raises(ValueError, validate, [])
    mptest.raises(ValueError, validate, {"warn_mv": 3000})   # below shut_mv


mptest.main(globals())
