# Latching relay feedback on fake coil pins, protection state machines (overload,
# over/under-voltage, trip counter), config validation with generated bad input.
import random
import mptest
import meters.electricity.protection as protection
import meters.electricity.relay as relay


class Coil:
    def __init__(self, log, name):
        self.v = 0
        self.log = log
        self.name = name

    def value(self, v=None):
        if v is None:
            return self.v
        if v != self.v:
            self.log.append((self.name, v))
        self.v = v


def _relay(closed=None, **kw):
    log = []
    slept = []
    c = dict(relay.DEFAULTS)
    c.update(kw)
    r = relay.Relay(Coil(log, "set"), Coil(log, "reset"), slept.append, c, closed)
    return r, log, slept


def test_relay_pulses_once_per_change():
    r, log, slept = _relay()
    r.drive(True)
    mptest.eq(log, [("set", 1), ("set", 0)])
    mptest.eq(slept, [60])
    r.drive(True)
    mptest.eq(len(log), 2, "no pulse when already closed")
    r.drive(False)
    mptest.eq(log[2:], [("reset", 1), ("reset", 0)])
    mptest.true(r.dirty)
    r.drive(False, force=True)
    mptest.eq(r.pulses, 3)


def test_relay_feedback_fault_retry_backoff_and_recovery():
    r, log, slept = _relay(closed=False)
    t = 1000
    mptest.eq(r.feedback(5000, t), None)          # 1 s hot: not yet confirmed
    mptest.eq(r.feedback(5000, t + 1), "fault")    # 2 s: alarm + an immediate retry
    pulses = [r.pulses]
    retries = []
    for s in range(2, 2000):
        r.feedback(5000, t + s)
        if r.pulses != pulses[-1]:
            retries.append(s)
            pulses.append(r.pulses)
    gaps = [b - a for a, b in zip(retries, retries[1:])]
    mptest.true(gaps[0] == 20 and max(gaps) <= 600, "backoff %r" % gaps)
    mptest.true(all(b >= a for a, b in zip(gaps, gaps[1:])), "non-decreasing retry gaps")
    mptest.eq(r.feedback(0, t + 3000), "ok")
    mptest.eq(r.fault, False)
    mptest.eq(r.feedback(50, t + 3001), None, "below fault_ma")


def test_relay_no_fault_while_closed():
    r, log, slept = _relay(closed=True)
    for s in range(100):
        mptest.eq(r.feedback(60000, s), None)


def test_relay_validate_generated():
    random.seed(9)
    for k in relay.DEFAULTS:
        for v in (None, True, "x", 1.5, -5, 10 ** 9, []):
            mptest.raises(ValueError, relay.validate, {k: v})
    for _ in range(100):
        mptest.raises(ValueError, relay.validate, {"z%d" % random.getrandbits(12): 1})
    mptest.eq(relay.validate({"fault_alarm": "bypass"}), {"fault_alarm": "bypass"})


def test_overload_guard_restore_lockout():
    c = dict(protection.OVERLOAD_DEFAULTS)
    o = protection.Overload(c)
    t = 0
    for s in range(4):
        mptest.eq(o.tick(5000, t + s), None)
    mptest.eq(o.tick(5000, t + 4), "trip")        # 5 s above 4400 W
    mptest.eq(o.tick(0, t + 30), None)
    mptest.eq(o.tick(0, t + 64), "reclose")       # restore_s = 60
    # a dip resets the guard
    for s in range(100, 104):
        o.tick(5000, s)
    o.tick(100, 104)
    mptest.eq(o.tick(5000, 105), None)
    for s in range(106, 110):
        r = o.tick(5000, s)
    mptest.eq(r, "trip")
    o.tick(0, 170)
    for s in range(200, 205):
        r = o.tick(5000, s)
    mptest.eq(r, "lockout")                        # third trip within 24 h
    mptest.eq(o.tick(0, 100000), None, "locked: no automatic reclose")
    o.cleared()
    mptest.eq(o.tripped, False)


def test_overload_trips_forgotten_after_24h():
    o = protection.Overload(dict(protection.OVERLOAD_DEFAULTS))
    t = 0
    for day in range(5):
        for _ in range(2):
            for s in range(5):
                r = o.tick(9000, t + s)
            mptest.eq(r, "trip")
            t += 100
            mptest.eq(o.tick(0, t), "reclose")
        t += 86400


def test_voltage_open_and_reclose():
    v = protection.Voltage(dict(protection.VOLTAGE_DEFAULTS))
    for s in range(4):
        mptest.eq(v.tick(280000, s), None)
    mptest.eq(v.tick(280000, 4), ("open", "over_voltage"))
    for s in range(5, 34):
        mptest.eq(v.tick(230000, s), None)
    mptest.eq(v.tick(230000, 34), ("close", "over_voltage"))
    for s in range(40, 44):
        v.tick(150000, s)
    mptest.eq(v.tick(150000, 44), ("open", "under_voltage"))
    v.tick(230000, 45)
    v.tick(150000, 46)                             # relapse restarts the normal count
    for s in range(47, 76):
        mptest.eq(v.tick(230000, s), None)
    mptest.eq(v.tick(230000, 76), ("close", "under_voltage"))


def test_protection_validate_generated():
    for k in protection.OVERLOAD_DEFAULTS:
        for v in (None, True, "x", 1.5, -5, 10 ** 9):
            mptest.raises(ValueError, protection.validate_overload, {k: v})
    for k in protection.VOLTAGE_DEFAULTS:
        for v in (None, True, "x", 1.5, -5, 10 ** 9):
            mptest.raises(ValueError, protection.validate_voltage, {k: v})
    mptest.raises(ValueError, protection.validate_voltage, {"low_mv": 230000, "high_mv": 220000})
    mptest.raises(ValueError, protection.validate_overload, {"nope": 1})


mptest.main(globals())
