# heap: 192k
# Gas safety across clock changes, reboots and refusals (docs/gas.md): every safety window
# runs on the monotonic clock, so a wall-clock change either way by any amount never
# shortens or skips one; a latch clears after a reboot by exactly its own rule; a refused
# remote selfcheck changes nothing. Whole driver + real Prepay + sim board.
import mptest
from gas_rig import Rig

HOUR = 3600


def _armed_with_hob_open():
    r = Rig()                       # on, valve open
    r.p.supply_command(False, r.now)
    r.step(10)
    r.p.supply_command(True, r.now)
    r.step(10)
    mptest.eq(r.state, "armed")
    mptest.eq(r.valve, "closed")
    r.sim(flow_lph=60)              # a hob left open: 60 L/h, far over leak_lph
    r.events()
    return r


def _watching(r):
    r.press()
    mptest.true(r.run_until(lambda: r.d.check.phase == "watching", 60) is not None)


def test_clock_forward_during_leak_check_never_passes_it():
    for jump in (181, HOUR, 30 * 86400):
        r = _armed_with_hob_open()
        _watching(r)
        r.clock.jump(r.clock.t + jump)       # the `time` op, or an RTC step
        r.step(3)
        ev = r.events("leak_check")
        mptest.true(not [e for e in ev if e["result"] == "pass"], "passed after +%d s" % jump)
        r.run_until(lambda: not r.d.check.active, 400)
        mptest.true(r.state != "on", "supply on with the hob open after +%d s" % jump)
        mptest.true("leak_on_restore" in r.p.alarms)
        mptest.true(r.run_until(lambda: r.physically_closed(), 30) is not None)
        r.close()


def test_clock_back_during_leak_check_does_not_lengthen_or_break_it():
    r = Rig(armed_on=False)
    r.press()
    mptest.true(r.run_until(lambda: r.d.check.phase == "watching", 60) is not None)
    r.clock.jump(r.clock.t - 299)
    took = r.run_until(lambda: not r.d.check.active, 400)
    mptest.true(took is not None and took <= r.d.s["check_s"] + 2, took)
    mptest.eq(r.state, "on")
    r.close()


def test_clock_changes_do_not_skip_flow_windows():
    # long_use: the 60-min band for a large steady flow, across a clock step back and forth
    r = Rig()
    r.step(400)                          # past the uncontrolled-flow watch after the re-open
    r.sim(flow_lph=2000)
    r.step(30 * 60)
    r.clock.jump(r.clock.t - 86400)      # back a day: the run must not restart
    took = r.run_until(lambda: "long_use" in r.p.alarms, 40 * 60)
    mptest.true(took is not None and took <= 31 * 60, took)
    r.close()
    r = Rig()
    r.step(400)
    r.sim(flow_lph=2000)
    r.step(60)
    r.clock.jump(r.clock.t + 2 * HOUR)    # forward: no instant long_use
    r.step(2)
    mptest.true("long_use" not in r.p.alarms)
    r.close()


def test_valve_travel_timeout_on_monotonic_time():
    r = Rig(armed_on=False)
    r.board.valve_model.stuck = True
    r.press()
    r.step(2)
    r.clock.jump(r.clock.t + HOUR)        # not a travel of an hour
    r.step(1)
    mptest.true("valve_fault" not in r.p.alarms, "fault from a clock step")
    took = r.run_until(lambda: "valve_fault" in r.p.alarms, 60)
    mptest.true(took is not None and took <= r.d.s["valve_timeout_s"], took)
    r.close()


def test_low_voltage_clears_after_battery_swap_reboot():
    r = Rig()
    r.sim(battery_mv=3000)
    r.run_until(lambda: "low_voltage" in r.p.supply.latches, 20)
    mptest.eq(r.state, "off_safety")
    r.p.save()
    # the cell is swapped: a good cell and a reboot
    r.sim(battery_mv=3600)
    r.reboot()
    took = r.run_until(lambda: "low_voltage" not in r.p.supply.latches, 30)
    mptest.true(took is not None, "low_voltage latch stays for good after a swap")
    mptest.eq(r.state, "armed")
    mptest.true("low_voltage" not in r.p.alarms)
    r.step(30)
    mptest.eq(r.valve, "closed")           # re-opens only through the restoration procedure
    r.close()


def test_low_voltage_stays_after_reboot_on_a_weak_cell():
    r = Rig()
    r.sim(battery_mv=3000)
    r.run_until(lambda: "low_voltage" in r.p.supply.latches, 20)
    r.p.save()
    r.sim(battery_mv=3300)                 # above shut_mv, below recover_mv
    r.reboot()
    r.step(30)
    mptest.true("low_voltage" in r.p.supply.latches, "cleared without a recovered cell")
    mptest.true(not r.d.can_clear("low_voltage", True), "remote clear on a weak cell")
    r.close()


def test_refused_selfcheck_changes_nothing():
    r = Rig()
    r.p.supply_command(False, r.now)
    r.step(5)
    r.p.supply_command(True, r.now)
    r.step(5)
    mptest.eq(r.state, "armed")
    r.sim(battery_mv=3000)                 # the debounced level still ok, the reading low
    r.step(1)
    r.events()
    seq = r.p.next_seq
    try:
        r.d.op("selfcheck", {}, r.now)
        raise mptest.Fail("selfcheck accepted on a low reading")
    except ValueError:
        pass
    mptest.eq(r.p.next_seq, seq, "a refused selfcheck emitted an event")
    mptest.eq(r.p.pending_events(), [])
    r.close()


def test_micro_leak_clock_survives_wall_clock_steps():
    # the micro-leak window counts never-quiet time on the monotonic clock: a forward step
    # of the wall clock neither raises it nor counts as a quiet period, and the elapsed
    # time survives a reboot (saved every save_s)
    r = Rig(gas={"micro_leak_days": 2, "quiet_s": 600, "save_s": 60})
    r.sim(flow_lph=2)
    r.step(660)
    r.clock.jump(r.clock.t + 3 * 86400)
    r.step(5)
    mptest.true("micro_leak" not in r.p.alarms, "raised by a clock step")
    mptest.true(r.d.safety.unquiet_s >= 660, "the micro-leak clock restarted")
    r.p.save()
    r.reboot()
    mptest.true(r.d.safety.unquiet_s >= 600, "the micro-leak clock lost at a reboot")
    r.close()


def test_refused_stored_override_is_dropped_not_a_crash():
    r = Rig()
    from core.store import Store
    st = Store(r.root)
    d = st.load("gas")
    d["cfg"] = {"check_s": -5, "nope": 1}
    st.save("gas", d)
    r.reboot()
    mptest.eq(r.d.s["check_s"], 180)
    mptest.true([e for e in r.p.pending_events() if e["type"] == "config_dropped"])
    r.close()


mptest.main(globals())
