# The gas meter's hazard table: every hazardous scenario, the safe state it must reach and
# the deadline in simulated seconds. Run by tests_host/mpy/gas_scenarios.py (must all pass)
# and printed by tools/bench_gas.py with the measured reaction times.
import gas_rig

SETTLE_S = 301     # past the uncontrolled-flow window after the rig's initial restore


def _on(**kw):
    r = gas_rig.Rig(**kw)
    r.step(SETTLE_S)
    r.events()
    return r


def closed_with(alarm, state="off_safety"):
    def ok(r):
        return r.physically_closed() and r.state == state and (alarm is None or alarm in r.p.alarms)
    return ok


def stays_closed(r):
    return r.physically_closed() and r.state != "on"


# --- setups: return the rig with the hazard started (time of the hazard = r.now after) ---
def over_flow():
    r = _on()
    r.sim(flow_lph=3000)
    r.step(30)
    r.sim(flow_lph=4200)
    return r


def flow_surge():
    r = _on()
    r.sim(flow_lph=3600)      # a hose off: a rise bigger than the largest appliance
    return r


def uncontrolled_flow():
    r = gas_rig.Rig()         # just restored: inside the first 5 min
    r.sim(flow_lph=1200)
    return r


def long_use():
    r = _on()
    r.sim(flow_lph=2000)      # band > 1500 L/h: 60 min limit
    return r


def seismic():
    r = _on()
    r.sim(flow_lph=300)
    r.step(10)
    r.sim(vibration_gal=250)
    return r


def leak_on_restore():
    r = gas_rig.Rig(armed_on=False)
    r.sim(flow_lph=150)       # a burner left open
    r.press()
    return r


def low_voltage():
    r = _on()
    r.sim(flow_lph=200, battery_mv=3000)
    return r


def tamper():
    r = _on()
    r.sim(tamper=True)
    return r


def valve_stuck_opening():
    r = gas_rig.Rig(armed_on=False)
    r.board.valve_model.stuck = True
    r.press()
    return r


def credit_runs_out():
    r = _on(balance=400)      # 2 minor/L: ~200 L left
    r.sim(flow_lph=2000)
    r.run_until(lambda: r.p.balance_minor <= 0, 3600)
    return r


def remote_off():
    r = _on()
    r.sim(flow_lph=200)
    r.p.supply_command(False, r.now)
    return r


def reboot_during_check():
    r = gas_rig.Rig(armed_on=False)
    r.press()
    r.step(60)                # valve open, check running
    r.reboot()
    return r


def remote_on_after_off():
    r = _on()
    r.p.supply_command(False, r.now)
    r.step(20)
    r.p.supply_command(True, r.now)
    return r


def recharge_after_out():
    r = credit_runs_out()
    r.step(20)
    r.p.recharge("topup", 5000, r.now)
    return r


def bad_selfcheck_when_on():
    r = _on()
    r.p.supply_command(False, r.now)
    r.step(20)
    try:
        r.d.op("selfcheck", {}, r.now)
    except ValueError:
        pass
    return r


# name, setup, safe-state predicate, deadline_s, "reach" (reach by the deadline) or
# "hold" (must hold for every tick up to the deadline)
TABLE = (
    ("over_flow", over_flow, closed_with("over_flow"), 20, "reach"),
    ("flow_surge", flow_surge, closed_with("flow_surge"), 15, "reach"),
    ("uncontrolled_flow", uncontrolled_flow, closed_with("uncontrolled_flow"), 15, "reach"),
    ("long_use", long_use, closed_with("long_use"), 3600 + 15, "reach"),
    ("seismic", seismic, closed_with("seismic"), 10, "reach"),
    ("leak_on_restore", leak_on_restore, closed_with("leak_on_restore"), 25, "reach"),
    ("low_voltage", low_voltage, closed_with("low_voltage"), 15, "reach"),
    ("tamper", tamper, closed_with("tamper"), 10, "reach"),
    ("valve_stuck", valve_stuck_opening, lambda r: "valve_fault" in r.p.alarms
     and r.state == "off_safety" and r.board.flowing_lph() == 0, 30, "reach"),
    ("credit_out", credit_runs_out, closed_with(None, "off_credit"), 10, "reach"),
    ("remote_off", remote_off, closed_with(None, "off_remote"), 10, "reach"),
    ("reboot_in_check", reboot_during_check, lambda r: r.physically_closed() and r.state == "armed", 10, "reach"),
    ("remote_on_no_open", remote_on_after_off, stays_closed, 900, "hold"),
    ("recharge_no_open", recharge_after_out, stays_closed, 900, "hold"),
    ("selfcheck_refused", bad_selfcheck_when_on, stays_closed, 300, "hold"),
)


def run(entry):
    """-> (passed, reaction_s or None, detail)"""
    name, setup, ok, deadline_s, mode = entry
    r = setup()
    try:
        if mode == "hold":
            t0 = r.now
            for _ in range(deadline_s):
                if not ok(r):
                    return False, None, "broke at +%d s (state %s, valve %s)" % (
                        r.now - t0, r.state, r.valve)
                r.step()
            return ok(r), None, "held %d s" % deadline_s
        took = r.run_until(lambda: ok(r), deadline_s)
        if took is None:
            return False, None, "not safe after %d s: state %s valve %s alarms %s" % (
                deadline_s, r.state, r.valve, sorted(r.p.alarms))
        return True, took, "state %s" % r.state
    finally:
        r.close()
