# heap: 192k
# (composed: the real Prepay, imported from the .mpy bundle; floor 161k)
# Token entry on the unix port: TokenEntry over the prepay facade (real core.prepay
# when it fits the heap, else the stand-in in test_paygo_feed.py): config checks,
# garbage and format errors, the lockout schedule, reboot, corrupt state, LED.
# Reference-library tokens are fed by tests_host/test_paygo_interop.py.
import os
import random
import mptest

from paygo import token, entry
from test_paygo_feed import FakePrepay, boot, cfg, tmpdir, KEY

# ---------------------------------------------------------------- plain tests
def test_bad_config_rejected():
    from core.store import Store
    p = FakePrepay(Store(tmpdir("cfg")), "electricity", {}, 0)
    for bad in ({}, {"paygo": 1}, {"paygo": {"key": "zz" * 16}}, {"paygo": {"key": KEY[:30]}},
                {"paygo": {"key": KEY, "unit": 0}}, {"paygo": {"key": KEY, "unit": 1.5}},
                {"paygo": {"key": KEY, "start": -1}}, {"paygo": {"key": KEY, "start": 10 ** 9}},
                {"paygo": {"key": KEY, "unit": True}}):
        mptest.raises(ValueError, entry.TokenEntry, p, bad)
    mptest.eq(p.ext, {}, "state untouched by a bad config")


def test_default_starting_code_is_key_hash():
    k, start, unit = entry.parse_cfg(cfg())
    mptest.eq(start, token.starting_code(k))
    mptest.eq(unit, 100)


def test_format_errors_are_invalid_without_lockout():
    p, e = boot(tmpdir("fmt"), cfg())
    rnd = random.Random(7) if hasattr(random, "Random") else None
    random.seed(7)
    for i in range(300):
        n = random.choice((0, 1, 8, 10, 11, 13, 16, 21, 30))
        s = "".join(chr(48 + random.getrandbits(4) % 10) for _ in range(n))
        r = e.enter(s, 1000 + i)
        mptest.eq(r["result"], "invalid")
        mptest.true(r["reason"].startswith("format"), r["reason"])
    # non-digits in a 9/12 entry, digits outside 1-4 in a 15/20 entry
    for s in ("12345678a", "12345 789", "-12345678", "123456789012"[:11] + "x",
              "123412341234125", "11112222333344445555"[:19] + "0"):
        r = e.enter(s, 2000)
        mptest.eq(r["result"], "invalid", s)
    mptest.eq(e.enter(None, 2000)["result"], "invalid")
    mptest.eq(e.st["fails"], 0)
    mptest.eq(p.balance_minor, 0)


def test_garbage_never_credits_and_locks_out():
    p, e = boot(tmpdir("garb"), cfg())
    random.seed(11)
    now = 10000
    n = int(os.getenv("SOAK") or 1) * 400
    locked = 0
    for i in range(n):
        ln = random.choice((9, 12, 15, 20))
        if ln in (15, 20):
            s = "".join(chr(49 + random.getrandbits(2)) for _ in range(ln))
        else:
            s = "".join(chr(48 + random.getrandbits(4) % 10) for _ in range(ln))
        # jump past any lockout so every entry reaches the decoder
        now += e.locked_s(now) + 1
        r = e.enter(s, now)
        mptest.true(r["result"] in ("invalid", "already_used"), r)
        if r.get("locked_s"):
            locked += 1
    mptest.eq(p.balance_minor, 0, "garbage credited")
    mptest.eq(e.st["last"], 0)
    mptest.true(locked > n // 2, "lockout engaged")


def test_lockout_schedule_and_cap():
    p, e = boot(tmpdir("lock"), cfg())
    now = 50000
    want = []
    got = []
    for i in range(1, 16):
        r = e.enter("000000000", now)  # a well-formed wrong code (no chain match)
        mptest.eq(r["result"], "invalid")
        got.append(r["locked_s"])
        want.append(entry.lock_s(i))
        # inside the lock: refused without decoding, remaining time reported
        if r["locked_s"]:
            r2 = e.enter("000000000", now + r["locked_s"] - 1)
            mptest.eq(r2, {"result": "locked", "locked_s": 1})
        now += r["locked_s"]
    mptest.eq(got, want)
    mptest.eq(got[:4], [0, 0, 60, 120])
    mptest.eq(max(got), 512 * 60)
    mptest.eq(e.st["fails"], 15)


def test_lockout_survives_reboot_and_clock_jump_back_is_capped():
    d = tmpdir("lockrb")
    p, e = boot(d, cfg())
    now = 70000
    for i in range(6):
        now += e.locked_s(now)
        e.enter("000000000", now)
    left = e.locked_s(now)
    mptest.eq(left, entry.lock_s(6))
    p2, e2 = boot(d, cfg())
    mptest.eq(e2.locked_s(now), left, "lockout survives a reboot")
    mptest.eq(e2.enter("123456789", now + 1)["result"], "locked")
    # RTC came back at 0: the wait is capped at 512 min, never years
    mptest.eq(e2.locked_s(5), 512 * 60)


def test_lockout_runs_on_the_monotonic_clock_across_clock_steps_and_reboots():
    # generated wall-clock steps either way (network time, the `time` op, an RTC lost at a
    # power cut) and reboots mid-lock: the lock ends when, and only when, its full length of
    # monotonic time has passed since the wrong code (the time the meter was off not counted)
    from core.store import Store
    random.seed(31)
    for trial in range(20):
        d = tmpdir("lockmono%d" % trial)
        mono = [0]
        p, e = boot(d, cfg())
        e = entry.TokenEntry(p, cfg(), mono_s=lambda: mono[0])
        wall = 1800000000
        for _ in range(3):
            r = e.enter("000000000", wall)
        want = entry.lock_s(3)
        mptest.eq(r["locked_s"], want)
        waited = 0
        while True:
            k = random.choice(("wait", "step", "reboot"))
            if k == "wait":
                s = random.randint(1, 40)
                mono[0] += s
                wall += s
                waited += s
            elif k == "step":
                wall += random.choice((-86400 * 3, -300, 900, 86400, 40 * 86400))
            else:
                p.save()                 # a batch save holds the remaining seconds
                mono[0] = random.randint(0, 10)   # a new boot: mono counts from there
                p = type(p)(Store(d), "electricity", cfg(), wall)
                e = entry.TokenEntry(p, cfg(), mono_s=lambda: mono[0])
            left = e.locked_s(wall)
            mptest.true(left <= entry.LOCK_MAX_S)
            if waited < want:
                mptest.true(left >= want - waited, "%d s left after %d s of %d (%s)"
                            % (left, waited, want, k))
                mptest.eq(e.enter("123456789", wall)["result"], "locked")
            if left == 0:
                break
        # a save during the lock then a reboot never resumed less than what was left
        mptest.true(waited >= want, "ended after %d s of a %d s lock" % (waited, want))


def test_lockout_of_an_older_record_carries_over():
    # a record written by a bundle that kept the lock's wall-clock end (lock_until_s only)
    from core.store import Store
    d = tmpdir("lockold")
    p, e = boot(d, cfg())
    p.ext["paygo"] = {"last": 0, "used": [0], "fails": 5, "lock_until_s": 1000 + 240}
    p.save()
    p2 = type(p)(Store(d), "electricity", cfg(), 1000)
    mono = [7]
    e2 = entry.TokenEntry(p2, cfg(), mono_s=lambda: mono[0])
    mptest.eq(e2.locked_s(1000), 240)
    mptest.eq(e2.locked_s(1000 + 86400), 240, "then counted on the monotonic clock")
    mono[0] += 240
    mptest.eq(e2.locked_s(1000), 0)


def test_corrupt_state_refused():
    from core.store import Store
    for bad in ({"last": -1, "used": [], "fails": 0, "lock_until_s": 0},
                {"last": 4, "used": [9], "fails": 0, "lock_until_s": 0},
                {"last": 4, "used": "x", "fails": 0, "lock_until_s": 0},
                {"last": 4, "used": [], "fails": 0},
                [1, 2]):
        p = FakePrepay(Store(tmpdir("bad")), "electricity", {}, 0)
        p.ext["paygo"] = bad
        mptest.raises(ValueError, entry.TokenEntry, p, cfg())


def test_led_patterns():
    class Led:
        def __init__(self):
            self.v = 0
            self.trace = []

        def value(self, v=None):
            if v is None:
                return self.v
            if v != self.v:
                self.trace.append(v)
            self.v = v

    from core.store import Store
    led = Led()
    p = FakePrepay(Store(tmpdir("led")), "electricity", {}, 0)
    e = entry.TokenEntry(p, cfg(), led)
    e.enter("000000000", 100)  # invalid: 5 fast blinks
    for t in range(0, 2000, 10):
        e.tick(t)
    mptest.eq(led.trace, [1, 0] * 5)
    mptest.eq(led.v, 0)


def test_led_pattern_ends_across_the_ticks_wrap():
    # ticks_ms wraps (every 2**30 ms, 12.4 days, on an ESP32): a blink begun just before the
    # wrap still ends after its pattern, not a wrap period later
    import time

    class Led:
        def __init__(self):
            self.trace = []

        def value(self, v):
            if not self.trace or self.trace[-1] != v:
                self.trace.append(v)

    from core.store import Store
    led = Led()
    p = FakePrepay(Store(tmpdir("ledwrap")), "electricity", {}, 0)
    e = entry.TokenEntry(p, cfg(), led)
    e.enter("000000000", 100)  # invalid: 5 blinks of 100 ms on, 100 ms off
    start = time.ticks_add(0, -500)
    for k in range(0, 3000, 10):
        e.tick(time.ticks_add(start, k))
    mptest.eq(led.trace, [1, 0] * 5)
    mptest.eq(e._blink, None)


mptest.main(globals())
