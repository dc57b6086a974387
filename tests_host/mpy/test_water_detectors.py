# Water detectors in isolation (no core): leak against a brute-force reference of the
# flowIQ rule over generated flow histories, the run alarms, the magnet, the RTC codec.
import random
import mptest
import meters.water.config as water_cfg
from meters.water.leak import Leak
from meters.water.flow import Run, high_flow
from meters.water.magnetic import Magnetic
from meters.water.sleep import Sessions, rtc_load, rtc_save, wake_pulses

CFG = water_cfg.validate({})
T0 = 1767225600


def _ref_active(runs, t1, zero_s, window_s):
    """flowIQ LEAK by brute force: the alarm stands at t1 unless [t1 - window, t1] holds a
    continuous zero-flow stretch of zero_s (a new meter starts as if one ended at T0)."""
    lo = t1 - window_s
    if T0 - zero_s >= lo:
        return False
    for a, b in runs:
        if b > t1:
            b = t1
        if b - max(a, lo) >= zero_s:
            return False
    return True


def test_leak_matches_reference_on_generated_histories():
    random.seed(5)
    rnd = random
    for trial in range(60):
        cfg = dict(CFG)
        cfg["leak_zero_s"] = rnd.choice((1800, 3600, 7200))
        cfg["leak_window_s"] = rnd.choice((43200, 86400, 172800))
        cfg["leak_zero_lph"] = rnd.choice((0, 0, 1, 5))
        lk = Leak(T0)
        t = T0
        runs = []          # zero-flow stretches [a, b]
        p_zero = rnd.choice((0.3, 0.7, 0.95))
        for i in range(300):
            dt = rnd.choice((60, 300, 900, 900, 900, 1800))
            if rnd.random() < p_zero:
                vol = 0 if rnd.random() < 0.7 else cfg["leak_zero_lph"] * 1000 * dt // 3600
            else:
                vol = cfg["leak_zero_lph"] * 1000 * dt // 3600 + rnd.randint(1, 50000)
            zero = vol * 3600 <= cfg["leak_zero_lph"] * 1000 * dt
            if zero:
                if runs and runs[-1][1] == t:
                    runs[-1][1] = t + dt
                else:
                    runs.append([t, t + dt])
            lk.update(dt, vol, cfg)
            t += dt
            while len(runs) > 1 and runs[0][1] < t - cfg["leak_window_s"]:
                runs.pop(0)              # keep the heap small: older runs cannot count
            want = _ref_active(runs, t, cfg["leak_zero_s"], cfg["leak_window_s"])
            mptest.eq(lk.active, want, "trial %d step %d t=%d" % (trial, i, t - T0))


def _day(lk, cfg, t, hours):
    """Feed one day of 15-min intervals; hours[h] = litres per hour in hour h."""
    out = []
    for h in range(24):
        for q in range(4):
            r = lk.update(900, hours[h] * 1000 // 4, cfg)
            if r:
                out.append((t, r[0]))
            t += 900
    return t, out


def test_leak_dripping_tap_raised_within_window_and_cleared_by_zero_hour():
    lk = Leak(T0)
    t = T0
    drip = [2] * 24                       # 2 L/h around the clock
    t, out = _day(lk, CFG, t, drip)
    t, out2 = _day(lk, CFG, t, drip)
    out += out2
    mptest.eq([x[1] for x in out], ["raise"])
    mptest.true(out[0][0] - T0 <= 86400, "raised within the first window")
    t, out = _day(lk, CFG, t, [0, 0] + [2] * 22)   # tap fixed for two hours at night
    mptest.eq([x[1] for x in out], ["clear"])
    mptest.true(lk.alarm_s >= 3600, "hour counter ran")


def test_leak_never_on_household_days():
    random.seed(9)
    rnd = random
    lk = Leak(T0)
    t = T0
    for d in range(30):
        hours = [0] * 24
        for h in (6, 7, 8, 12, 13, 18, 19, 20, 21, 22):   # awake hours, random use
            hours[h] = rnd.randint(0, 120)
        t, out = _day(lk, CFG, t, hours)
        mptest.eq(out, [], "day %d" % d)


def test_burst_run_and_sticky():
    b = Run("burst")
    mptest.true(high_flow(250 * 1000 * 900 // 3600, 900, 250))
    mptest.true(not high_flow(250 * 1000 * 900 // 3600 - 1, 900, 250))
    mptest.eq(b.step(True, 900, 1800), None)
    mptest.eq(b.step(True, 900, 1800), "raise")
    mptest.eq(b.step(True, 900, 1800), None)
    mptest.eq(b.step(False, 900, 1800), "clear")
    s = Run("burst")
    s.step(True, 1800, 1800, sticky=True)
    mptest.true(s.active)
    mptest.eq(s.step(False, 900, 1800, sticky=True), None)
    mptest.true(s.active, "sticky burst waits for a remote clear")
    s.reset()
    mptest.true(not s.active)
    r = Run("reverse_flow")
    mptest.eq(r.step(True, 900, 900, strict=True), None)   # not *more than* 15 min yet
    mptest.eq(r.step(True, 60, 900, strict=True), "raise")
    mptest.eq(Run("x", Run("x", r.to_dict()).to_dict()).to_dict(), r.to_dict())


def test_magnet_start_duration_count_latched():
    m = Magnetic()
    mptest.eq(m.sample(0, T0), None)
    x = m.sample(1, T0 + 10, 10)
    mptest.eq(x[0], "raise")
    mptest.eq(m.sample(1, T0 + 20, 10), None)
    mptest.true(not m.can_clear(), "no clear while the field is there")
    x = m.sample(0, T0 + 130, 110)
    mptest.eq(x, ("end", {"start": T0 + 10, "duration_s": 120, "count": 1}))
    mptest.true(m.latched and m.can_clear())
    m.clear()
    mptest.eq(m.sample(1, T0 + 200, 70)[1]["count"], 2)
    mptest.eq(Magnetic(m.to_dict()).to_dict(), m.to_dict())


def test_magnet_duration_is_monotonic_whatever_the_wall_clock_does():
    # 120 monotonic seconds of field; the wall clock jumps a day forward, then back
    for wall in ((T0, T0 + 86400, T0 + 86400 - 50000), (T0, T0 - 3000, T0 + 10 ** 6)):
        m = Magnetic()
        m.sample(1, wall[0], 5)
        mptest.eq(m.sample(1, wall[1], 60), None)
        m = Magnetic(m.to_dict())            # a deep-sleep wake in between (RTC memory)
        x = m.sample(0, wall[2], 60)
        mptest.eq(x[1]["duration_s"], 120, wall)
        mptest.eq(m.total_s, 120)
    # an interval of unknown length (the first after a power-on) counts nothing
    m = Magnetic()
    m.sample(1, T0, 0)
    mptest.eq(m.sample(0, T0 + 10 ** 5, 0)[1]["duration_s"], 0)
    # an older record without the run counter loads as 0 s so far
    mptest.eq(Magnetic({"p": True, "s": T0, "n": 1, "l": True}).run_s, 0)


class _RTC:
    def __init__(self):
        self.m = b""

    def memory(self, d=None):
        if d is None:
            return self.m
        self.m = bytes(d)


def test_rtc_codec_roundtrip_and_rejects_corruption():
    rtc = _RTC()
    obj = {"a": 1, "b": [1, 2, 3], "c": "x"}
    rtc_save(rtc, obj)
    mptest.eq(rtc_load(rtc), obj)
    good = rtc.m
    random.seed(3)
    rnd = random
    for i in range(300):
        b = bytearray(good)
        k = rnd.randint(0, 2)
        if k == 0:
            b[rnd.randint(0, len(b) - 1)] ^= 1 << rnd.randint(0, 7)
        elif k == 1:
            b = b[:rnd.randint(0, len(b) - 1)]
        else:
            b = bytearray(rnd.getrandbits(8) for _ in range(rnd.randint(0, 40)))
        rtc.m = bytes(b)
        mptest.eq(rtc_load(rtc), None, "mutation %d" % i)


def test_sessions_policy():
    s = Sessions(T0)
    mptest.eq(s.due(T0 + 100, CFG, False), None)
    mptest.eq(s.due(T0 + 86400, CFG, False), "daily")
    mptest.eq(s.due(T0 + 900, CFG, True), "credit")
    mptest.eq(s.timer_s(T0 + 100, CFG, True), 800)
    s.request("alarm")
    mptest.eq(s.due(T0 + 1, CFG, False), "alarm")
    s.reason = "alarm"
    s.ended(T0 + 1, True, CFG)
    mptest.eq(s.due(T0 + 2, CFG, False), None)
    # a failed session keeps its reason and is retried with a doubling backoff
    s.request("alarm")
    s.reason = "alarm"
    s.ended(T0 + 10, False, CFG)
    mptest.eq(s.due(T0 + 69, CFG, False), None)
    mptest.eq(s.timer_s(T0 + 10, CFG, False), 60)
    mptest.eq(s.due(T0 + 70, CFG, False), "alarm")
    s.ended(T0 + 70, False, CFG)
    mptest.eq(s.retry_s, T0 + 190)
    s.request("button", at_once=True)
    mptest.eq(s.due(T0 + 71, CFG, False), "alarm")
    s.ended(T0 + 71, True, CFG)
    mptest.eq((s.want, s.retry_s, s.backoff_s, s.failed), (None, None, 0, 2))
    st = Sessions(T0, s.to_dict())          # RTC round trip
    mptest.eq(st.to_dict(), s.to_dict())
    mptest.eq(wake_pulses(CFG, 100), 200)
    mptest.eq(wake_pulses(dict(CFG, wake_pulses=7), 100), 7)


def test_config_generated_bad_values_rejected_base_unchanged():
    random.seed(11)
    rnd = random
    base = water_cfg.validate({})
    snap = dict(base)
    bad_vals = (None, True, 1.5, "1", [], {}, -1, 10 ** 12, "25:00", "open ")
    n = 0
    for i in range(400):
        k = rnd.choice(water_cfg.CONFIG_KEYS + ("nope", "tariff"))
        v = rnd.choice(bad_vals)
        try:
            water_cfg.validate({k: v}, base)
        except ValueError as e:
            mptest.true(len(str(e)) > 5)
            n += 1
        mptest.eq(base, snap)
    mptest.true(n > 300, "most generated values are bad: %d" % n)
    mptest.raises(ValueError, water_cfg.validate, {"battery_park_mv": 3400})
    mptest.raises(ValueError, water_cfg.validate, {"leak_zero_s": 86400})
    mptest.raises(ValueError, water_cfg.validate, [])
    mptest.eq(water_cfg.validate({"valve_exercise_at": "23:59"})["valve_exercise_at"], "23:59")


def test_valve_exercise_schedule_and_cycle():
    from meters.water.exercise import Exercise
    cfg = dict(CFG, valve_exercise_days=30, valve_exercise_at="03:00")
    ex = Exercise(cfg, 3600, T0)                 # local = UTC+1: 03:00 local = 02:00 UTC
    mptest.eq(ex.next_s, T0 + 2 * 3600 + 29 * 86400)
    t = ex.next_s
    mptest.eq(ex.step(cfg, t, True, "open", True, True), (True, False))   # flowing: skipped
    mptest.eq(ex.next_s, t + 86400)
    t = ex.next_s
    mptest.eq(ex.step(cfg, t, True, "open", False, True), (False, False))
    mptest.eq(ex.step(cfg, t + 6, True, "closed", False, True), (True, False))
    mptest.eq(ex.step(cfg, t + 12, True, "open", False, True), (True, True))
    mptest.eq(ex.next_s, t + 30 * 86400)
    mptest.eq(ex.phase, None)
    ex.run_now(t + 100)
    mptest.eq(ex.step(cfg, t + 100, True, "open", False, False), (True, False))  # low battery
    mptest.eq(ex.phase, None)
    ex.run_now(t + 200)
    ex.step(cfg, t + 200, True, "open", False, True)
    ex.step(cfg, t + 206, True, "closed", False, True)
    mptest.eq(ex.step(cfg, t + 207, False, "closed", False, True), (False, False))  # supply off
    mptest.eq(ex.phase, None)
    mptest.eq(Exercise(cfg, 0, T0, ex.to_dict()).to_dict(), ex.to_dict())
    off = dict(cfg, valve_exercise_days=0)
    mptest.eq(Exercise(off, 0, T0).next_s, 0)


mptest.main(globals())
