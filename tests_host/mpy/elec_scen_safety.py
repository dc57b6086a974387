# Electricity safety scenarios in simulated time on the real core: every malicious-load
# and protection path (trip, auto reconnect, lockout, remote / console clear), relay
# feedback faults, and that a safety trip never waits.
# Run by tests_host/test_elec_scenarios.py.
import mptest
import elec_rig
import loadsig
from elec_rig import Rig


def _rig(cfg=None, load=200):
    r = Rig(balance_minor=1000000, cfg=cfg)
    r.board.sim({"load_w": load, "pf": 0.8, "voltage_v": 230})
    r.step(3)
    return r


def _heater(r, seed=1, after_s=0):
    a = loadsig.Appliance("heater", seed, (r.now + after_s) * 1000)
    r.world.appliances = [a]
    return a


def _remote_clear(r, name):
    # what the command layer does for a remote "clear" op
    mptest.true(r.drv.can_clear(name, True))
    r.prepay.alarm_clear(name, r.now)


def test_malicious_trip_reclose_lockout_and_remote_clear():
    r = _rig()
    for trip in range(1, 4):
        _heater(r, seed=trip)
        n = r.run_until(lambda: not r.closed(), 10)
        mptest.true(n is not None and n <= 3, "trip %d after %r s" % (trip, n))
        mptest.eq(r.state(), "off_safety")
        ev = r.events("alarm", name="malicious_load", active=True)[-1]
        mptest.true(ev["latch"] and ev["step_w"] > 1000 and ev["pf_milli"] >= 950, ev)
        if trip < 3:
            mptest.eq(ev["action"], "trip")
            r.world.appliances = []           # resident unplugs it
            n = r.run_until(lambda: r.closed(), 120)
            mptest.true(n is not None and 55 <= n <= 62, "reclose after %r s" % n)
            mptest.eq(r.state(), "on")
    mptest.eq(ev["action"], "lockout")
    r.world.appliances = []
    r.step(3 * 3600)
    mptest.true(not r.closed(), "locked out: no automatic reconnect")
    mptest.true(r.drv.ml.locked)
    _remote_clear(r, "malicious_load")
    r.step()
    mptest.true(r.closed())
    mptest.true(not r.drv.ml.locked and r.drv.ml.trips == [])


def test_reclose_onto_a_heater_left_on_trips_again():
    r = _rig()
    _heater(r)
    r.run_until(lambda: not r.closed(), 10)
    n = r.run_until(lambda: r.closed(), 120)
    mptest.true(n is not None)
    n = r.run_until(lambda: not r.closed(), 10)
    mptest.true(n is not None and n <= 3, "re-trip after reclose: %r s" % n)
    mptest.eq(len(r.drv.ml.trips), 2)


def test_lockout_survives_reboot():
    r = _rig(cfg={"malicious_load": {"lockout_trips": 1}})
    _heater(r)
    r.run_until(lambda: not r.closed(), 10)
    mptest.true(r.drv.ml.locked)
    r.world.appliances = []
    r.reboot()
    r.step(200)
    mptest.true(not r.closed() and r.drv.ml.locked)
    _remote_clear(r, "malicious_load")
    r.step()
    mptest.true(r.closed())


def test_malicious_alarm_mode_keeps_supply():
    r = _rig(cfg={"malicious_load": {"mode": "alarm"}})
    _heater(r)
    r.step(5)
    mptest.true(r.closed())
    mptest.eq(r.state(), "on")
    ev = r.events("alarm", name="malicious_load")
    mptest.true(ev and ev[0]["latch"] is False)


def test_malicious_off_mode_and_non_resistive_no_trip():
    r = _rig(cfg={"malicious_load": {"mode": "off"}})
    _heater(r)
    r.step(10)
    mptest.true(r.closed())
    r2 = _rig()
    r2.world.appliances = [loadsig.Appliance("microwave", 2, r2.now * 1000),
                           loadsig.Appliance("fridge", 2, r2.now * 1000)]
    r2.step(300)
    mptest.true(r2.closed())
    mptest.eq(r2.events("alarm"), [])


def test_configure_malicious_at_runtime():
    r = _rig()
    mptest.raises(ValueError, r.drv.configure, {"malicious_load": {"pf_milli": 2000}}, r.now)
    mptest.raises(ValueError, r.drv.configure, {"nope": {}}, r.now)
    mptest.eq(r.drv.mcfg["pf_milli"], 950, "unchanged after a rejected patch")
    r.drv.configure({"malicious_load": {"allowed_bands_w": [[500, 2500]]}}, r.now)
    _heater(r)
    r.step(10)
    mptest.true(r.closed(), "heater inside an allowed band")
    r.reboot()
    mptest.eq(r.drv.mcfg["allowed_bands_w"], [[500, 2500]], "runtime config survives reboot")


def test_overload_trip_restore_and_lockout():
    r = _rig(cfg={"malicious_load": {"mode": "off"}})
    for trip in range(1, 4):
        r.board.sim({"load_w": 5000, "pf": 0.9})
        n = r.run_until(lambda: not r.closed(), 20)
        mptest.true(n is not None and 4 <= n <= 6, "overload trip after %r s" % n)
        ev = r.events("alarm", name="overload", active=True)[-1]
        mptest.eq(ev["action"], "trip" if trip < 3 else "lockout")
        if trip < 3:
            n = r.run_until(lambda: r.closed(), 120)
            mptest.true(n is not None and 58 <= n <= 62, "restore after %r s" % n)
    r.board.sim({"load_w": 100})
    r.step(7200)
    mptest.true(not r.closed())
    mptest.true(r.drv.can_clear("overload", False), "technician console can clear")
    r.prepay.alarm_clear("overload", r.now)
    r.step()
    mptest.true(r.closed())
    r.step(600)
    mptest.true(r.closed(), "100 W stays on")


def test_over_and_under_voltage():
    r = _rig()
    for v, name in ((280, "over_voltage"), (150, "under_voltage")):
        r.board.sim({"voltage_v": v})
        n = r.run_until(lambda: not r.closed(), 20)
        mptest.true(n is not None and 4 <= n <= 6, "%s open after %r s" % (name, n))
        mptest.true(name in r.prepay.alarms)
        mptest.true(not r.drv.can_clear(name, True), "cannot clear while out of band")
        r.step(60)
        mptest.true(not r.closed())
        r.board.sim({"voltage_v": 230})
        n = r.run_until(lambda: r.closed(), 60)
        mptest.true(n is not None and 29 <= n <= 32, "%s reclose after %r s" % (name, n))
        mptest.true(name not in r.prepay.alarms)


def test_safety_trip_never_waits_for_high_current():
    # 40 A load: a credit cut-off would wait, an overload trip does not
    r = _rig(cfg={"malicious_load": {"mode": "off"}, "overload": {"limit_w": 8000, "guard_s": 2}})
    r.board.sim({"load_w": 9200, "pf": 1.0})
    n = r.run_until(lambda: not r.closed(), 10)
    mptest.true(n is not None and n <= 3, "opened after %r s" % n)
    mptest.eq(r.events("cutoff_deferred"), [])


def test_welded_relay_fault_retries_and_recovery():
    r = _rig(load=1000)
    r.world.welded = True
    r.prepay.supply_command(False, r.now)
    n = r.run_until(lambda: "relay_fault" in r.prepay.alarms, 10)
    mptest.true(n is not None and n <= 4, "relay_fault after %r s" % n)
    p0 = r.drv.relay.pulses
    r.step(300)
    retries = r.drv.relay.pulses - p0
    mptest.true(3 <= retries <= 6, "bounded retries in 5 min: %d" % retries)
    mptest.true(not r.drv.can_clear("relay_fault", True), "remote cannot clear a welded relay")
    r.world.welded = False                # a retry pulse frees it
    r.step(700)
    mptest.true("relay_fault" not in r.prepay.alarms)
    mptest.true(not r.closed())


def test_bypass_alarm_name_configurable():
    r = _rig(cfg={"relay": {"fault_alarm": "bypass"}}, load=500)
    r.world.welded = True
    r.prepay.supply_command(False, r.now)
    r.step(5)
    mptest.true("bypass" in r.prepay.alarms)


def test_ic_silent_raises_metering_fault_and_clears():
    r = _rig()
    uart = r.board.meter_uart
    uart.poll_ms = 0                      # the board timer stops asking: no frames arrive
    r.drv.poll_ms = 250
    r.step(6)
    mptest.true("metering_fault" in r.prepay.alarms)
    uart.poll_ms = 250
    r.step(2)
    mptest.true("metering_fault" not in r.prepay.alarms)
    mptest.true(r.closed(), "a metering fault alone does not cut supply")


def test_corrupted_frames_counted_metering_continues():
    r = _rig(load=1000)
    r.board.meter_uart.corrupt_next = 20
    r.board.meter_uart.junk = b"\x55\x00\x13"
    r.step(10)
    c = r.drv.ic.counters()
    mptest.true(c["bad"] >= 20, c)
    mptest.true(r.drv.telemetry(r.now)["power_w"] == 1000)


mptest.main(globals())
