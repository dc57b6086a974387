# heap: 192k
# Electricity protection across clock changes and reboots (docs/electricity.md): the trip,
# reclose and lockout timers run on the monotonic clock; a latch clears after a reboot by
# exactly its own rule; a remote clear racing the auto reclose never crashes the tick.
# Whole driver + real Prepay + sim board part, in simulated time.
import os

import mptest
from elec_rig import Rig


def _rig(cfg=None):
    c = {"malicious_load": {"mode": "off"}}
    if cfg:
        c.update(cfg)
    r = Rig(balance_minor=1000000, cfg=c)
    r.board.sim({"load_w": 200, "pf": 0.9, "voltage_v": 230})
    r.step(3)
    return r


def _trip_overload(r):
    r.board.sim({"load_w": 5000, "pf": 0.9})
    mptest.true(r.run_until(lambda: not r.closed(), 20) is not None, "no overload trip")
    r.board.sim({"load_w": 100})


def test_remote_clear_just_before_reclose_never_crashes():
    # the clear lands at every second around the reclose time (restore_s 60)
    for wait in range(56, 63):
        r = _rig()
        _trip_overload(r)
        r.step(wait)
        if "overload" in r.prepay.alarms:
            mptest.true(r.drv.can_clear("overload", True))
            r.prepay.alarm_clear("overload", r.now)      # what a remote `clear` does
        r.step(10)                      # the saved reclose time passes: no ValueError
        mptest.true(r.closed())
        mptest.true("overload" not in r.prepay.alarms)
        r.reboot()
        r.step(70)                      # nor after a reboot
        mptest.true(r.closed())


def test_overload_reclose_waits_on_monotonic_time():
    r = _rig()
    _trip_overload(r)
    r.clock.jump(r.clock.t + 3600)       # the `time` op: not an hour of waiting
    r.step(5)
    mptest.true(not r.closed(), "reclosed early after a clock step")
    n = r.run_until(lambda: r.closed(), 120)
    mptest.true(n is not None and 50 <= n <= 62, "reclose after %r s" % n)


def test_lockout_window_not_skipped_by_clock_steps():
    r = _rig()
    for trip in range(3):
        _trip_overload(r)
        if trip < 2:
            mptest.true(r.run_until(lambda: r.closed(), 120) is not None)
            r.clock.jump(r.clock.t + 86400)   # a day later on the wall clock only
    ev = r.events("alarm", name="overload", active=True)[-1]
    mptest.eq(ev["action"], "lockout")
    r.step(600)
    mptest.true(not r.closed(), "locked out")


def test_voltage_latch_after_reboot_clears_by_its_rule():
    r = _rig()
    r.board.sim({"voltage_v": 280})
    mptest.true(r.run_until(lambda: not r.closed(), 20) is not None)
    mptest.true("over_voltage" in r.prepay.supply.latches)
    r.reboot()                          # still 280 V
    r.step(3)
    mptest.true(not r.drv.can_clear("over_voltage", True), "remote clear while still 280 V")
    r.step(60)
    mptest.true("over_voltage" in r.prepay.supply.latches)
    r.board.sim({"voltage_v": 230})
    n = r.run_until(lambda: "over_voltage" not in r.prepay.supply.latches, 120)
    mptest.true(n is not None and n <= 32, "latch cleared after %r s at 230 V" % n)
    mptest.true(r.run_until(lambda: r.closed(), 5) is not None)


def test_overload_latch_without_detector_state_recloses_after_reboot():
    # the driver record (recloser state) is lost, the latch is on flash: the reclose window
    # restarts at boot instead of the latch standing for good
    r = _rig()
    _trip_overload(r)
    r.prepay.save()
    for n in os.listdir(r.root):
        if n.startswith("elec."):
            os.remove(r.root + "/" + n)
    r.reboot()
    n = r.run_until(lambda: "overload" not in r.prepay.supply.latches, 200)
    mptest.true(n is not None and n <= 62, "overload latch stands after %r s" % n)
    mptest.true(r.run_until(lambda: r.closed(), 5) is not None)


def test_pending_reclose_restarts_its_window_after_reboot():
    r = _rig()
    _trip_overload(r)
    r.step(50)
    r.reboot()
    r.step(20)                          # 70 s since the trip: the window restarted at boot
    mptest.true(not r.closed(), "reclosed on a timer from before the reboot")
    mptest.true(r.run_until(lambda: r.closed(), 60) is not None)


def test_refused_stored_override_is_dropped_not_a_crash():
    # a runtime override this firmware refuses (written by another firmware) must not stop
    # the meter from starting: it is dropped with an event, config.json's values apply
    r = _rig()
    from core.store import Store
    st = Store(r.root)
    d = st.load("elec") or {}
    d["cfg"] = {"relay": {"pulse_ms": 99999}, "voltage": "x"}
    st.save("elec", d)
    r.reboot()
    mptest.eq(r.drv.rcfg["pulse_ms"], 60)
    mptest.true(r.events("config_dropped"), "no config_dropped event")
    r.step(3)
    mptest.eq((Store(r.root).load("elec") or {}).get("cfg"), {}, "the bad override stays on flash")


mptest.main(globals())
