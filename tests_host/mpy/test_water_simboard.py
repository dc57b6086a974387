# The simulated water board: exact flow integration into the pulse counters, the valve
# stopping the flow, reverse flow, the ULP pulse wake, power cuts, sim-field validation.
import random
import mptest
from rigclock import RigClock
from sim_water import SimBoard

T0 = 1767225600


class Clock(RigClock):
    def __init__(self):
        RigClock.__init__(self, T0)


def _board():
    c = Clock()
    return SimBoard({}, c), c


def test_flow_integrates_exactly_over_sleep():
    b, c = _board()
    b.sim({"flow_lph": 360})          # 0.1 L/s = one 100 mL pulse per second
    c.t += 3600
    mptest.eq(b.pulses_fwd.value(), 3600)
    b.sim({"flow_lph": 0.5})          # a drip: 0.5 L/h
    c.t += 7200
    mptest.eq(b.pulses_fwd.value(), 3610)
    mptest.eq(b.pulses_rev.value(), 0)


def test_reverse_flow_counts_on_its_own_register():
    b, c = _board()
    b.sim({"flow_lph": -36})
    c.t += 1000
    mptest.eq(b.pulses_rev.value(), 100)
    mptest.eq(b.pulses_fwd.value(), 0)


def test_no_flow_through_a_closed_valve():
    b, c = _board()
    b.sim({"flow_lph": 360})
    b.valve_close.value(1)
    c.t += 10                          # 6 s travel: closed after 6 s
    b.valve_close.value(0)
    mptest.eq(b.valve_closed.value(), 1)
    n = b.pulses_fwd.value()
    mptest.true(0 < n < 60, "some flow while closing: %d" % n)
    c.t += 86400
    mptest.eq(b.pulses_fwd.value(), n)
    mptest.eq(b.flowing_lph(), 0)


def test_sleep_plan_wakes_on_the_pulse_threshold():
    random.seed(4)
    for i in range(100):
        b, c = _board()
        lph = random.randint(1, 3000)
        b.sim({"flow_lph": lph})
        c.t += random.randint(0, 500)
        n0 = b.pulses_fwd.value()
        want = random.randint(1, 300)
        s = b.sleep_plan(900, want)
        mptest.true(1 <= s <= 900)
        c.t += s - 1
        before = b.pulses_fwd.value() - n0
        c.t += 1
        n1 = b.pulses_fwd.value() - n0
        if s < 900:
            mptest.true(n1 >= want, "woke early without the pulses")
            mptest.true(before < want or s == 1, "woke late")
        else:
            mptest.true(before < want, "slept through the threshold")
    b, c = _board()
    mptest.eq(b.sleep_plan(900, 200), 900)   # no flow: the timer
    mptest.eq(b.reset_cause(), "deepsleep")


def test_power_cycle_loses_counters_and_rtc():
    b, c = _board()
    b.sim({"flow_lph": 360})
    c.t += 100
    b.rtc.memory(b"xyz")
    b.sleep_plan(900, 0)
    b.power_cycle()
    mptest.eq(b.pulses_fwd.value(), 0)
    mptest.eq(b.rtc.memory(), b"")
    mptest.eq(b.reset_cause(), "power_on")
    mptest.raises(ValueError, b.rtc.memory, b"x" * 2049)


def test_battery_magnet_button():
    b, c = _board()
    b.sim({"battery_mv": 3100, "magnet": True})
    mptest.eq(b.battery.read_uv() * b.battery_div // 1000, 3100)
    mptest.eq(b.magnet.value(), 1)
    b.sim({"button": "press"})
    mptest.true(b.take_press())
    mptest.true(not b.take_press())


def test_generated_bad_sim_messages_change_nothing():
    random.seed(8)
    b, c = _board()
    b.sim({"flow_lph": 100, "battery_mv": 3500})
    bad_vals = (None, "1", [], {}, float("nan"), float("inf"), -1e9, 1e9, True, 3.5, "press ")
    keys = ("flow_lph", "magnet", "battery_mv", "button", "empty_pipe", "flow", "Magnet", "")
    n = 0
    for i in range(500):
        msg = {}
        for j in range(random.randint(1, 3)):
            msg[random.choice(keys)] = random.choice(bad_vals)
        if random.random() < 0.3:
            msg["flow_lph"] = 50            # a good field beside a bad one is not applied
        snap = (b.demand_mlph, b.battery_mv, b.field, b.dry, b.button_pressed)
        try:
            b.sim(msg)
        except ValueError as e:
            n += 1
            mptest.true(str(e).startswith("sim field") or str(e).startswith("unknown sim"), str(e))
            mptest.eq((b.demand_mlph, b.battery_mv, b.field, b.dry, b.button_pressed), snap)
    mptest.true(n > 400, "generated bad messages: %d" % n)
    mptest.raises(ValueError, b.sim, [1])
    mptest.raises(ValueError, b.sim, "x")


mptest.main(globals())
