# heap: 192k
# Water detectors and the valve across wall-clock changes (docs/water.md): the leak, burst,
# reverse-flow and dry windows and the valve's travel time-out run on the monotonic clock,
# so a clock step either way neither clears an alarm nor raises one, nor skips a window.
import mptest
from water_rig import Rig

H = 3600
D = 86400


def test_clock_forward_does_not_clear_leak_suspected():
    r = Rig()
    r.sim({"flow_lph": 1.5})               # a dripping tap, never a zero-flow hour
    mptest.true(r.run_until(lambda: "leak_suspected" in r.p.alarms, 2 * D) is not None)
    r.clock.jump(r.clock.t + 2 * H)       # the `time` op: two hours on the wall clock only
    r.run(2 * H)
    mptest.true("leak_suspected" in r.p.alarms, "a clock step counted as a zero-flow hour")
    r.sim({"flow_lph": 0})                # the tap is fixed: clears by its rule
    mptest.true(r.run_until(lambda: "leak_suspected" not in r.p.alarms, 3 * H) is not None)


def test_clock_forward_does_not_raise_leak_or_burst():
    r = Rig()
    r.sim({"flow_lph": 200})              # a long shower: 200 L/h, below burst_lph
    r.run(10 * 60)
    r.clock.jump(r.clock.t + 23 * H)
    r.run(20 * 60)
    mptest.true("leak_suspected" not in r.p.alarms, "leak from a clock step")
    mptest.true("burst" not in r.p.alarms, "burst from a clock step")


def test_clock_back_does_not_lengthen_reverse_flow():
    r = Rig()
    r.sim({"flow_lph": -200})             # backflow
    r.run(600)
    r.clock.jump(r.clock.t - 300)
    t0 = r.clock.mono
    mptest.true(r.run_until(lambda: "reverse_flow" in r.p.alarms, 2 * H) is not None)
    mptest.true(r.clock.mono - t0 <= 15 * 60, "reverse_flow late: %d s" % (r.clock.mono - t0))


def test_valve_travel_timeout_on_monotonic_time():
    r = Rig(balance=200)
    r.board.valve_model.stuck = True
    r.sim({"flow_lph": 300})              # the credit runs out: the valve must close
    mptest.true(r.run_until(lambda: r.d.valve.position == "closing", 2 * H) is not None)
    r.clock.jump(r.clock.t + H)
    r.wake()
    mptest.true("valve_fault" not in r.p.alarms, "a travel of an hour from a clock step")
    mptest.true(r.run_until(lambda: "valve_fault" in r.p.alarms, 120) is not None)


mptest.main(globals())
