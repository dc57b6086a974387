# Electricity scenarios in simulated time on the real core: draining to zero, warnings,
# cut-off latency, reconnect after recharge, peak/valley boundary, remote supply, the
# high-current credit delay, reboot with the relay open, button, telemetry, sim fields.
# Run by tests_host/test_elec_scenarios.py (needs more than 64 KiB: see docs/electricity.md).
import random
import mptest
import elec_rig
from elec_rig import Rig

NO_OVERLOAD = {"overload": {"limit_w": 20000}}


def _drain_rig(balance=10, load=3000, cfg=None):
    r = Rig(balance_minor=balance, cfg=cfg)
    r.board.sim({"load_w": load, "pf": 1.0, "voltage_v": 230})
    r.step(2)
    return r


def test_drain_to_zero_warnings_and_cutoff_within_1s():
    r = _drain_rig()
    mptest.eq(r.state(), "on")
    mptest.true(r.closed())
    t_zero = None
    t_open = None
    for _ in range(2000):
        r.step()
        if t_zero is None and r.prepay.balance_minor <= 0:
            t_zero = r.now - 1          # the tick that charged it
        if t_open is None and not r.closed():
            t_open = r.now - 1
            break
    mptest.true(t_zero is not None and t_open is not None)
    mptest.true(t_open - t_zero <= 1, "cut-off latency %d s" % (t_open - t_zero))
    mptest.eq(r.state(), "off_credit")
    levels = [e["level"] for e in r.events("low_balance")]
    for lv in ("30", "10", "imminent"):
        mptest.true(any(str(x) == lv for x in levels), "warning %s in %r" % (lv, levels))
    # measured power is zero once open; nothing more is billed
    bal = r.prepay.balance_minor
    reg = r.drv.ext["register_wh"]
    r.step(120)
    mptest.eq(r.drv.telemetry(r.now)["power_w"], 0)
    mptest.eq(r.drv.ext["register_wh"], reg)
    mptest.eq(r.prepay.balance_minor, bal)


def test_reconnect_after_recharge_within_one_tick():
    r = _drain_rig()
    r.run_until(lambda: not r.closed(), 2000)
    r.prepay.recharge("t1", 5000, r.now)
    mptest.eq(r.state(), "on")
    r.step()
    mptest.true(r.closed(), "relay closed on the next tick")


def test_remote_supply_acts_within_one_tick():
    r = _drain_rig(balance=100000, load=500)
    r.prepay.supply_command(False, r.now)
    r.step()
    mptest.true(not r.closed())
    r.prepay.supply_command(True, r.now)
    r.step()
    mptest.true(r.closed())


def test_energy_exact_against_world():
    r = _drain_rig(balance=100000, load=1234)
    r.step(3 * 3600)
    truth = r.world.energy_wh
    reg = r.drv.ext["register_wh"] + r.drv.ext["carry_uwh"] / 1e6
    # CF pulse quantum (0.195 Wh) is the only difference allowed
    mptest.true(abs(truth - reg) < 0.5, "metered %s Wh vs delivered %s Wh" % (reg, truth))
    mptest.eq(r.prepay.register, r.drv.ext["register_wh"])


def test_peak_valley_boundary_split():
    peak, valley = 40000, 10000
    tou = {"tou": {"rates": {"peak": peak, "valley": valley},
                   "weekday": [["00:00", "valley"], ["08:00", "peak"], ["22:00", "valley"]]}}
    # 21:50 on a Thursday
    r = Rig(cfg={"tariff": tou}, balance_minor=100000, now_s=elec_rig.T0 + 21 * 3600 + 50 * 60)
    r.board.sim({"load_w": 3600, "pf": 1.0, "voltage_v": 230})
    r.step(1)
    mptest.eq(r.drv.telemetry(r.now)["price_micro"], peak)
    b0 = r.prepay.balance_minor
    e0 = r.world.energy_wh
    r.run_until(lambda: r.now >= elec_rig.T0 + 22 * 3600, 1000)
    e1 = r.world.energy_wh
    r.step(600)
    mptest.eq(r.drv.telemetry(r.now)["price_micro"], valley)
    e2 = r.world.energy_wh
    cost = b0 - r.prepay.balance_minor
    want = ((e1 - e0) * peak + (e2 - e1) * valley) / 1e6
    mptest.true(abs(cost - want) <= 1, "cost %d vs %s" % (cost, want))
    # rate telemetry: 3600 W at the valley price
    mptest.eq(r.drv.telemetry(r.now)["cost_minor_per_h"], 3600 * valley // 1000000)


def test_credit_cutoff_waits_for_high_current_then_opens():
    r = _drain_rig(balance=3, load=9000, cfg=NO_OVERLOAD)           # 39 A > credit_wait_ma 32 A
    r.run_until(lambda: r.state() == "off_credit", 3000)
    t0 = r.now
    mptest.true(r.closed(), "deferred while the current is high")
    n = r.run_until(lambda: not r.closed(), 100)
    mptest.true(n is not None and 29 <= n <= 31, "opened after %r s" % n)
    mptest.true(r.events("cutoff_deferred"))
    # and if the current falls earlier, it opens at once
    r2 = _drain_rig(balance=3, load=9000, cfg=NO_OVERLOAD)
    r2.run_until(lambda: r2.state() == "off_credit", 3000)
    r2.step(3)
    r2.board.sim({"load_w": 1000})
    n = r2.run_until(lambda: not r2.closed(), 100)
    mptest.true(n is not None and n <= 2, "opened %r s after the current fell" % n)


def test_reboot_with_relay_open():
    r = _drain_rig()
    r.run_until(lambda: not r.closed(), 2000)
    pulses = r.drv.relay.pulses
    r.reboot()
    mptest.eq(r.drv.relay.closed, False)
    r.step(5)
    mptest.true(not r.closed(), "stays open after reboot")
    mptest.eq(r.state(), "off_credit")
    r.prepay.recharge("after-boot", 5000, r.now)
    r.step()
    mptest.true(r.closed())


def test_first_boot_unknown_position_is_driven():
    r = Rig(balance_minor=0)
    r.world.closed = True                            # factory position unknown / closed
    r.step()
    mptest.true(not r.closed(), "no credit: first tick opens")
    mptest.eq(r.state(), "off_credit")


def test_button_confirms_armed_and_takes_emergency():
    r = Rig(cfg={"arm_on_restore": True}, balance_minor=0)
    r.step()
    r.prepay.recharge("t", 5000, r.now)
    mptest.eq(r.state(), "armed")
    r.step()
    mptest.true(not r.closed())
    r.drv.sim({"button": "press"})
    mptest.eq(r.state(), "on")
    r.step()
    mptest.true(r.closed())
    r2 = Rig(balance_minor=100)                      # below emergency_below_minor (200)
    r2.step()
    mptest.eq(r2.drv.button(r2.now), "emergency")
    mptest.true(r2.events("emergency"))


def test_sim_fields_generated_bad_input():
    r = Rig(balance_minor=1000)
    r.board.sim({"load_w": 100, "pf": 0.9, "voltage_v": 230})
    random.seed(4)
    bad_vals = [None, True, "1", [], {}, -1, 1e9, float("nan"), float("inf")]
    keys = ["load_w", "pf", "voltage_v", "volts", "button", ""]
    n = 0
    for _ in range(300):
        msg = {}
        for _ in range(1 + random.getrandbits(2)):
            k = keys[random.getrandbits(8) % len(keys)]
            msg[k] = bad_vals[random.getrandbits(8) % len(bad_vals)]
        if msg.get("pf") == -1:
            pass
        before = (r.world.load_w, r.world.pf, r.world.voltage_v)
        try:
            r.drv.sim(msg)
        except ValueError:
            n += 1
        else:
            raise mptest.Fail("accepted %r" % (msg,))
        mptest.eq((r.world.load_w, r.world.pf, r.world.voltage_v), before)
    mptest.true(n == 300)
    mptest.raises(ValueError, r.drv.sim, {})
    mptest.raises(ValueError, r.drv.sim, [1])
    mptest.raises(ValueError, r.drv.sim, {"pf": 0})


def test_telemetry_fields():
    r = _drain_rig(balance=100000, load=2300)
    r.board.sim({"pf": 0.5})
    r.step(2)
    t = r.drv.telemetry(r.now)
    for k in ("voltage_mv", "current_ma", "power_w", "pf_milli", "price_micro",
              "cost_minor_per_h", "register_wh", "relay"):
        mptest.true(k in t, k)
    mptest.true(abs(t["pf_milli"] - 500) <= 2, t)
    mptest.true(abs(t["current_ma"] - 20000) <= 20, t)
    mptest.eq(t["cost_minor_per_h"], t["power_w"] * elec_rig.PRICE // 1000000)


mptest.main(globals())
