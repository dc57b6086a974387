# Gas meter scenarios in simulated time: Store + Prepay + SimBoard + Driver in one process.
# Run by tests_host/test_gas_scenarios.py (the full stack needs more than a 64 KiB heap when
# loaded from source on the unix port: see docs/gas.md "Memory").
import mptest
import gas_rig
import gas_hazards
from gas_hazards import _on


def alarm_names(r):
    return sorted(r.p.alarms)


def test_safety_table():
    bad = []
    for e in gas_hazards.TABLE:
        ok, took, detail = gas_hazards.run(e)
        if not ok:
            bad.append((e[0], detail))
    mptest.eq(bad, [])


def test_fresh_meter_starts_armed_closed():
    r = gas_rig.Rig(armed_on=False)
    mptest.eq(r.state, "armed")
    r.step(600)
    mptest.true(r.physically_closed())
    r.close()


def test_recharge_after_out_stays_closed_until_button_then_clean_check():
    r = gas_hazards.credit_runs_out()
    r.step(10)
    mptest.eq(r.state, "off_credit")
    r.sim(flow_lph=0)                 # resident turns the burner off
    r.p.recharge("t1", 5000, r.now)
    r.step(1200)
    mptest.eq(r.state, "armed")
    mptest.true(r.physically_closed())
    r.events()
    r.press()
    took = r.run_until(lambda: r.state == "on", 400)
    mptest.true(took is not None and 180 <= took <= 200, took)
    ev = r.events("leak_check")
    mptest.eq([e["result"] for e in ev], ["started", "pass"])
    mptest.eq(r.valve, "open")
    r.close()


def test_button_with_burner_open_fails_and_closes():
    r = gas_hazards.leak_on_restore()
    r.run_until(lambda: r.physically_closed() and "leak_on_restore" in r.p.alarms, 40)
    mptest.eq(r.state, "off_safety")
    ev = [e for e in r.events("leak_check") if e["result"] == "fail"]
    mptest.eq(len(ev), 1)
    # the resident turns the burner off and repeats the procedure: clean check -> on
    r.sim(flow_lph=0)
    r.press()
    mptest.true(r.run_until(lambda: r.state == "on", 400) is not None)
    mptest.true("leak_on_restore" not in r.p.alarms)
    r.close()


def test_leak_threshold_at_below_above():
    # default 5 L/h over 180 s: budget 250 mL (strictly more fails)
    for lph, want in ((4.5, "pass"), (5, "pass"), (5.6, "fail"), (0, "pass"), (40, "fail")):
        r = gas_rig.Rig(armed_on=False)
        r.sim(flow_lph=lph)
        r.press()
        r.run_until(lambda: not r.d.check.active and r.now - gas_rig.T0 > 5, 400)
        res = [e["result"] for e in r.events("leak_check")]
        mptest.eq(res[-1], want, "at %s L/h" % lph)
        mptest.eq(r.state, "on" if want == "pass" else "off_safety")
        r.close()


def test_selfcheck_both_ways_and_refused():
    r = gas_rig.Rig(armed_on=False)
    mptest.eq(r.d.op("selfcheck", {}, r.now), "ok")
    mptest.true(r.run_until(lambda: r.state == "on", 400) is not None)
    # not armed now
    e = mptest.raises(ValueError, r.d.op, "selfcheck", {}, r.now)
    mptest.eq(str(e), "not_armed")
    r.close()
    r = gas_rig.Rig(armed_on=False)
    r.sim(flow_lph=100)
    mptest.eq(r.d.op("selfcheck", None, r.now), "ok")
    r.run_until(lambda: "leak_on_restore" in r.p.alarms and r.physically_closed(), 60)
    mptest.eq(r.state, "off_safety")
    mptest.eq(r.events("leak_check")[-1]["via"], "selfcheck")
    mptest.raises(ValueError, r.d.op, "selfcheck", {}, r.now)     # off_safety: not armed
    mptest.eq(r.d.op("other", {}, r.now), None)
    r.close()
    r = gas_rig.Rig(armed_on=False, gas={"selfcheck": False})
    e = mptest.raises(ValueError, r.d.op, "selfcheck", {}, r.now)
    mptest.true("disabled" in str(e))
    e = mptest.raises(ValueError, r.d.op, "selfcheck", {"x": 1}, r.now)
    r.step(300)
    mptest.true(r.physically_closed())
    r.close()


def _trip(flows, alarm, secs_each=30, settle=True, **kw):
    r = _on(**kw) if settle else gas_rig.Rig(**kw)
    for f in flows:
        r.sim(flow_lph=f)
        r.step(secs_each)
    hit = alarm in r.p.alarms
    r.close()
    return hit


def test_over_flow_threshold():
    mptest.eq(_trip((3000, 3920), "over_flow"), False)
    mptest.eq(_trip((3000, 4000), "over_flow"), False)
    mptest.eq(_trip((3000, 4080), "over_flow"), True)


def test_flow_surge_threshold():
    mptest.eq(_trip((3332,), "flow_surge"), False)
    mptest.eq(_trip((3400,), "flow_surge"), False)
    mptest.eq(_trip((3468,), "flow_surge"), True)
    # the same total reached in appliance-sized steps is not a surge
    mptest.eq(_trip((1700, 3468), "flow_surge"), False)


def test_uncontrolled_flow_threshold_and_window():
    mptest.eq(_trip((980,), "uncontrolled_flow", settle=False), False)
    mptest.eq(_trip((1000,), "uncontrolled_flow", settle=False), False)
    mptest.eq(_trip((1020,), "uncontrolled_flow", settle=False), True)
    mptest.eq(_trip((1020,), "uncontrolled_flow", settle=True), False)   # after 5 min: normal use


def test_long_use_threshold():
    for secs, want in ((3590, False), (3600 + 2, True)):
        r = _on()
        r.sim(flow_lph=2000)
        r.step(secs)
        mptest.eq("long_use" in r.p.alarms, want, secs)
        r.close()
    # a person adjusting the appliance restarts the clock
    r = _on()
    r.sim(flow_lph=2000)
    r.step(3000)
    r.sim(flow_lph=1700)
    r.step(1200)
    mptest.true("long_use" not in r.p.alarms)
    r.close()


def test_seismic_threshold_and_without_flow():
    for gal, want in ((196, False), (200, True), (204, True)):
        r = _on()
        r.sim(flow_lph=300)
        r.step(10)
        r.sim(vibration_gal=gal)
        r.step(10)
        mptest.eq("seismic" in r.p.alarms, want, gal)
        mptest.eq(r.physically_closed(), want)
        r.close()
    r = _on()
    r.sim(vibration_gal=400)      # no gas flowing: recorded, valve stays open
    r.step(30)
    mptest.true("seismic" not in r.p.alarms)
    mptest.eq(r.valve, "open")
    ev = r.events("seismic")
    mptest.eq(len(ev), 1)
    mptest.eq(ev[0]["flowing"], False)
    r.close()


def test_low_voltage_sequence():
    r = _on()
    r.sim(flow_lph=100, battery_mv=3300)
    r.step(10)
    mptest.eq(alarm_names(r), [])
    r.sim(battery_mv=3234)
    r.step(10)
    mptest.eq(alarm_names(r), ["low_voltage_warn"])
    mptest.eq(r.state, "on")
    r.sim(battery_mv=3100)
    r.step(10)
    mptest.eq(r.state, "on")
    r.sim(battery_mv=3038)
    r.step(15)
    mptest.eq(r.state, "off_safety")
    mptest.true(r.physically_closed())
    # cannot re-open until the cell recovers: button refused, remote clear refused
    r.sim(battery_mv=3399)
    r.step(10)
    r.press()
    r.step(30)
    mptest.true(r.physically_closed())
    mptest.eq(r.d.can_clear("low_voltage", True), False)
    r.sim(battery_mv=3600)          # new cell
    r.step(10)
    mptest.eq(r.state, "armed")
    mptest.true(r.physically_closed())
    r.sim(flow_lph=0)
    r.press()
    mptest.true(r.run_until(lambda: r.state == "on", 400) is not None)
    r.close()


def test_battery_dips_do_not_flap_the_valve():
    r = _on()
    r.sim(flow_lph=100)
    pos = r.board.valve_model.pos
    for _ in range(20):
        r.sim(battery_mv=3000)     # a 2-sample dip under motor/radio load
        r.step(2)
        r.sim(battery_mv=3600)
        r.step(3)
        mptest.eq(r.board.valve_model.pos, pos)
        mptest.eq(r.board.valve_close.value(), 0)
    mptest.eq((r.state, alarm_names(r)), ("on", []))
    r.close()


def test_tamper_needs_remote_clear():
    r = gas_hazards.tamper()
    r.step(10)
    r.sim(tamper=False)
    r.press()
    r.step(30)
    mptest.eq(r.state, "off_safety")
    mptest.eq(r.d.can_clear("tamper", False), False)
    mptest.eq(r.d.can_clear("tamper", True), True)
    r.p.alarm_clear("tamper", r.now)
    r.step(30)
    mptest.eq(r.state, "armed")
    mptest.true(r.physically_closed())
    r.close()


def test_reboot_during_check_comes_back_closed_and_reports():
    r = gas_hazards.reboot_during_check()
    r.step(10)
    mptest.true(r.physically_closed())
    ev = r.events("leak_check")
    mptest.true(any(e["result"] == "abort" and e.get("reason") == "reboot" for e in ev))
    r.step(600)
    mptest.eq(r.state, "armed")
    mptest.true(r.physically_closed())
    r.close()


def test_reboot_while_on_keeps_open_but_shutdown_needs_restore():
    r = _on()
    r.reboot()                       # power blip: valve open, supply on -> unchanged
    r.step(10)
    mptest.eq((r.state, r.valve), ("on", "open"))
    r.d.safe_stop(r.now)             # shutdown closes the valve
    r.clock.t += 10                  # down: the motor keeps running to the closed stop
    r.reboot()
    r.step(10)
    mptest.eq(r.state, "off_safety")
    mptest.true("restart_closed" in r.p.alarms)
    mptest.true(r.physically_closed())
    r.press()
    mptest.true(r.run_until(lambda: r.state == "on", 400) is not None)
    r.close()


def test_remote_supply_on_never_opens():
    r = gas_hazards.remote_on_after_off()
    r.step(900)
    mptest.eq(r.state, "armed")
    mptest.true(r.physically_closed())
    r.close()


def test_micro_leak_warning_not_shutoff():
    g = {"micro_leak_days": 1}
    r = _on(gas=g)
    r.sim(flow_lph=2)              # a pulse every 18 s: never an hour quiet
    # the clock runs from the last quiet hour: boot (T0) here, no quiet hour since
    r.step(gas_rig.T0 + 86400 - 2 - r.now)
    mptest.true("micro_leak" not in r.p.alarms)
    r.step(4)
    mptest.true("micro_leak" in r.p.alarms)
    mptest.eq(r.state, "on")
    mptest.eq(r.valve, "open")
    r.sim(flow_lph=0)
    r.step(3601)
    mptest.true("micro_leak" not in r.p.alarms)
    r.close()


def test_billing_carries_sub_litre_remainder():
    r = _on()
    b0 = r.p.balance_minor
    r.sim(flow_lph=1)              # 1 L/h for 10 h = 10 L exactly
    r.step(36000)
    mptest.eq(b0 - r.p.balance_minor, 20)
    r.close()


def test_emergency_credit_button_is_confirmation():
    r = gas_hazards.credit_runs_out()
    r.step(10)
    r.sim(flow_lph=0)
    mptest.eq(r.state, "off_credit")
    r.press()
    mptest.true(r.run_until(lambda: r.state == "on", 400) is not None)
    mptest.true(any(e["type"] == "emergency" for e in r.events()))
    r.close()


def test_generated_sim_and_config_rejected_unchanged():
    import random
    random.seed(66)
    r = gas_rig.Rig(armed_on=False)
    keys = ("flow_lph", "vibration_gal", "battery_mv", "tamper", "button", "bogus")
    vals = (-1, 1e9, "1", None, [], {}, True, 3.5, 99999, "press", "x", float("nan"))
    before = (r.board.demand_lph, r.board.vibration_gal, r.board.battery_mv, r.board.cover_open)
    rejected = 0
    for _ in range(400):
        msg = {}
        for _ in range(random.randint(1, 3)):
            msg[random.choice(keys)] = random.choice(vals)
        good = True
        for k, v in msg.items():
            if k == "bogus" or (k == "tamper" and not isinstance(v, bool)) \
                    or (k == "button" and v != "press") \
                    or (k in ("flow_lph", "vibration_gal") and (isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v < 0 or v > (100000 if k == "flow_lph" else 5000))) \
                    or (k == "battery_mv" and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 5000)):
                good = False
        if good:
            continue
        mptest.raises(ValueError, r.d.sim, msg)
        rejected += 1
        mptest.eq((r.board.demand_lph, r.board.vibration_gal, r.board.battery_mv, r.board.cover_open), before)
    mptest.true(rejected > 200)
    # driver config: generated bad patches raise and change nothing
    s0 = dict(r.d.s)
    bads = ({"gas": {"check_s": 0}}, {"gas": {"leak_lph": "5"}}, {"gas": {"selfcheck": 1}},
            {"gas": {"nope": 1}}, {"gas": {"shut_mv": 3500}}, {"gas": []},
            {"gas": {"long_use": [[400, 720], [300, 60], [0, 30]]}},
            {"gas": {"long_use": [[400, 720]]}}, {"gas": {"long_use": []}},
            {"gas": {"seismic_gal": True}}, {"other": 1})
    for _ in range(200):
        p = random.choice(bads)
        try:
            r.d.configure(p, r.now)
            raise mptest.Fail("accepted %r" % p)
        except ValueError:
            pass
        mptest.eq(r.d.s, s0)
    r.d.configure({"gas": {"check_s": 60}}, r.now)
    mptest.eq(r.d.s["check_s"], 60)
    r.close()


mptest.main(globals())
