# The shared motorised valve driver (firmware/meters/valve.py) against the sim valve model
# (boards/sim/simparts.py ValveModel: travel time, end stops, a seizable shaft).
from rigclock import RigClock
import mptest
from meters.valve import Valve
from simparts import ValveModel


class Clock(RigClock):
    def __init__(self, t=1000):
        RigClock.__init__(self, t)


class Pin:
    def __init__(self, v=0):
        self.v = v

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


def rig(travel_s=6, timeout_s=10, state=None, pos=0):
    c = Clock()
    m = ValveModel(c, travel_s)
    m.pos = pos
    v = Valve(m.open_pin, m.close_pin, m.opened_stop, m.closed_stop, timeout_s, state)
    return c, m, v


def run(c, v, secs):
    out = []
    for _ in range(secs):
        c.t += 1
        out += v.poll(c.t)
    return out


def test_open_then_close_reaches_stops():
    c, m, v = rig()
    mptest.eq(v.position, "closed")
    mptest.true(v.command(True, c.t))
    mptest.eq(v.position, "opening")
    ev = run(c, v, 8)
    mptest.eq(v.position, "open")
    mptest.eq([e["event"] for e in ev], ["reached"])
    mptest.true(ev[0]["travel_s"] in (5, 6), ev)
    mptest.eq((m.open_pin.value(), m.close_pin.value()), (0, 0), "motor off at the stop")
    v.command(False, c.t)
    run(c, v, 8)
    mptest.eq(v.position, "closed")
    mptest.eq(m.pos, 0)


def test_never_both_coils():
    c, m, v = rig()
    seen = []
    orig = m.open_pin.value

    def watch(x=None):
        r = orig(x)
        seen.append((m.open_pin._v, m.close_pin._v))
        return r
    m.open_pin.value = watch
    for i in range(40):
        v.command(i % 3 != 0, c.t)
        run(c, v, 1 + i % 4)
        mptest.true((m.open_pin._v, m.close_pin._v) != (1, 1))
    mptest.true(all(s != (1, 1) for s in seen))


def test_timeout_is_fault_and_open_refused():
    c, m, v = rig(timeout_s=10)
    m.stuck = True
    v.command(True, c.t)
    ev = run(c, v, 9)
    mptest.eq(ev, [])
    ev = run(c, v, 1)
    mptest.eq(ev, [{"event": "fault", "reason": "timeout", "target": "open"}])
    mptest.true(v.fault)
    mptest.eq(v.position, "fault")
    mptest.eq((m.open_pin.value(), m.close_pin.value()), (0, 0))
    mptest.eq(v.command(True, c.t), False)
    mptest.eq(m.open_pin.value(), 0)
    # a close is still attempted; once the shaft frees, reaching closed clears the fault
    m.stuck = False
    mptest.true(v.command(False, c.t))
    run(c, v, 7)
    mptest.eq(v.position, "closed")
    mptest.eq(v.fault, False)


def test_both_stops_is_fault():
    c = Clock()
    v = Valve(Pin(), Pin(), Pin(1), Pin(1), 10)
    mptest.true(v.fault)
    mptest.eq(v.fault_reason, "both_stops")
    mptest.eq(v.command(True, c.t), False)


def test_reboot_mid_travel_drives_closed():
    c, m, v = rig(pos=500, state={"position": "opening", "fault": False})
    mptest.eq(v.position, "closing")
    mptest.eq(m.close_pin.value(), 1)
    ev = run(c, v, 6)
    mptest.eq(v.position, "closed")
    mptest.eq(ev[-1]["event"], "reached")


def test_restore_open_with_fault_drives_closed():
    c, m, v = rig(pos=1000, state={"position": "fault", "fault": True, "fault_reason": "timeout"})
    mptest.eq(v.position, "closing")
    mptest.true(v.fault)
    run(c, v, 8)
    mptest.eq(v.position, "closed")


def test_restore_follows_end_stops_not_saved_position():
    c, m, v = rig(pos=0, state={"position": "open", "fault": False})
    mptest.eq(v.position, "closed")
    c, m, v = rig(pos=1000, state={"position": "closed", "fault": False})
    mptest.eq(v.position, "open")


def test_drift_from_closed_is_redriven():
    c, m, v = rig()
    m.pos = 300          # forced off its seat while idle
    ev = v.poll(c.t)
    mptest.eq(ev, [{"event": "drift", "position": "closed"}])
    run(c, v, 4)
    mptest.eq(v.position, "closed")


def test_to_dict_roundtrip_random():
    import random
    random.seed(6)
    for i in range(200):
        c, m, v = rig(timeout_s=random.randint(1, 12), pos=random.choice((0, 1000, 0)))
        m.stuck = random.random() < 0.2
        for _ in range(random.randint(0, 30)):
            if random.random() < 0.3:
                v.command(random.random() < 0.5, c.t)
            c.t += random.randint(0, 3)
            v.poll(c.t)
            mptest.true(v.position in ("open", "closed", "opening", "closing", "fault"))
            mptest.true((m.open_pin._v, m.close_pin._v) != (1, 1))
            if v.position in ("open", "closed", "fault"):
                mptest.eq((m.open_pin._v, m.close_pin._v), (0, 0))
        d = v.to_dict()
        v2 = Valve(m.open_pin, m.close_pin, m.opened_stop, m.closed_stop, 10, d)
        # fault survives a reboot; an unseated valve restarts closing
        mptest.eq(v2.fault, v.fault)
        if v2.position not in ("open", "closed"):
            mptest.eq(v2.position, "closing")


def test_bad_timeout():
    for bad in (0, -1, "5", 2.5, None):
        mptest.raises(ValueError, Valve, Pin(), Pin(), Pin(), Pin(1), bad)


mptest.main(globals())
