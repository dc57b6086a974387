# Boot-guard wiring end to end (run by tests_host/test_app_boot_wiring.py at the composed
# app's heap; not a test_*.py because the 64k per-module suite cannot hold the whole app):
# the real App (gas meter, sim board, link refused) under the real hal/guard.py, with the
# fake ESP32 `machine` module (tests_host/mpy/fakes) standing in for the WDT, Timer and
# reset cause. Checks: the app's own loop feeds the watchdog, only after a healthy pass; a
# crash loop boots into minimal mode that runs no metering and closes an open gas valve;
# safe mode does not build the app; Ctrl-C stops safely and hands the watchdog to the timer.
import sys
import os
import json

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine          # noqa: E402  (the fake)
import mptest           # noqa: E402
from hal import guard   # noqa: E402  (now in sys.modules, as boot.py leaves it on a device)
import app              # noqa: E402
import main             # noqa: E402

FLASH = "bootwire"
START_S = 1800000000


def fresh(cause):
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    for n in os.listdir(FLASH):
        os.remove(FLASH + "/" + n)
    conf = {"id": "bw-1", "kind": "gas", "key": "ab" * 32, "broker": "mqtt://127.0.0.1:9",
            "board": "sim", "sim_speed": 1000000, "sim_start": START_S, "backoff_max_s": 1}
    with open(FLASH + "/config.json", "w") as f:
        json.dump(conf, f)
    machine.reset_world(cause)


def build():
    a = app.App(FLASH)
    ticks = []
    real = a.driver.tick

    def tick(now_s):
        ticks.append(now_s)
        real(now_s)
    a.driver.tick = tick
    stops = []
    real_stop = a.driver.safe_stop

    def safe_stop(now_s):
        stops.append(now_s)
        real_stop(now_s)
    a.driver.safe_stop = safe_stop
    types = []
    real_emit = a.prepay.emit

    def emit(type, now_s, **kw):
        types.append(type)
        return real_emit(type, now_s, **kw)
    a.prepay.emit = emit
    return a, ticks, stops, types


def test_safe_mode_does_not_build_the_app():
    fresh(machine.PWRON_RESET)
    mptest.eq(guard.start(FLASH, now_s=START_S, button=lambda: True, hold_ms=40), "safe")
    app.APP = None
    mptest.eq(main.main(["main.py", FLASH]), 0)
    mptest.eq(app.APP, None, "no App was built in safe mode")
    mptest.true(machine._world["timers"], "the service timer holds the watchdog")
    guard.end_service()


def test_loop_feeds_watchdog_only_after_healthy_passes():
    fresh(machine.WDT_RESET)
    mptest.eq(guard.start(FLASH, now_s=START_S), "normal")
    wdt = machine._world["wdt"]
    a, ticks, stops, types = build()
    mptest.eq(wdt.feeds, 0, "building the app feeds nothing")
    for _ in range(30):
        a.step()
    mptest.eq(wdt.feeds, 30, "one feed per loop pass")
    mptest.true(len(ticks) >= 10, "the meter ticked")
    mptest.eq(types.count("boot"), 1, "reset cause reported once")
    # a tick that raises (a bug) is contained: the meter goes to its fail-safe state with
    # tick_fault and the loop goes on (a crash loop is for what cannot be caught)
    a.driver.tick = lambda now_s: 1 // 0
    a.next_tick_s = 0
    a.step()
    mptest.true("tick_fault" in a.prepay.alarms, "tick_fault raised")
    mptest.eq(a.prepay.supply.state, "off_safety", "gas latched off")
    mptest.eq(wdt.feeds, 31, "the loop goes on")
    a.shutdown()


def test_crash_loop_minimal_mode_closes_gas_and_meters_nothing():
    fresh(machine.WDT_RESET)
    for i in range(guard.CRASH_RESETS):
        machine.reset_world(machine.WDT_RESET)
        mode = guard.start(FLASH, now_s=START_S + 40 * i)
    mptest.eq(mode, "minimal")
    wdt = machine._world["wdt"]
    a, ticks, stops, types = build()
    mptest.true(a.minimal)
    # the crash hit with the valve open (e.g. mid-supply): drive it open on the sim board
    now = a.clock.now_s()
    a.driver.valve.command(True, now)
    for k in range(1, 12):
        a.clock.advance(now + k)
        a.driver.valve.poll(now + k)
    mptest.eq(a.driver.valve.position, "open")
    mptest.true(a.board.valve_model.pos > 0)
    bal = a.prepay.balance_minor
    for _ in range(40):
        a.step()
    mptest.eq(ticks, [], "no metering tick in minimal mode")
    mptest.eq(len(stops), 1, "safe_stop once, on the first loop pass")
    mptest.eq(a.driver.valve.position, "closed")
    mptest.eq(a.board.valve_model.pos, 0, "the valve is physically closed")
    mptest.eq((a.board.valve_model.open_pin._v, a.board.valve_model.close_pin._v), (0, 0),
              "motor stopped at the end stop")
    mptest.true("crash_loop" in a.prepay.alarms, "fault raised for the link")
    mptest.true("alarm" in types and "boot" in types)
    mptest.eq(a.prepay.balance_minor, bal, "ledger untouched")
    mptest.eq(wdt.feeds, 40, "minimal mode keeps feeding from its loop")
    mptest.true(len(a.outbox) >= 2, "boot and alarm queued for the head-end")
    # the head-end clears the alarm: the guard restarts the chip into normal mode
    a.prepay.alarm_clear("crash_loop", a.clock.now_s())
    mptest.raises(machine.Reset, a.step)
    a.shutdown()
    mptest.eq(guard.start(FLASH, now_s=START_S + 200), "normal")


def test_crash_loop_ends_by_a_remote_clear_command():
    # minimal mode's documented exit: the head-end's `clear` of crash_loop, whatever the
    # driver's own clear rules (no driver owns this alarm)
    fresh(machine.WDT_RESET)
    for i in range(guard.CRASH_RESETS):
        machine.reset_world(machine.WDT_RESET)
        mode = guard.start(FLASH, now_s=START_S + 40 * i)
    mptest.eq(mode, "minimal")
    a, ticks, stops, types = build()
    for _ in range(3):
        a.step()
    mptest.true("crash_loop" in a.prepay.alarms)
    from core import frame
    body = json.dumps({"id": "c1", "meter": "bw-1", "seq": 1, "op": "clear",
                       "args": {"alarm": "crash_loop"}}).encode()
    acks = []
    a.link.publish_now = lambda topic, payload, qos=0, retain=False: acks.append(json.loads(payload))
    a._on_message((a.topic + "cmd").encode(), frame.sign(bytes.fromhex("ab" * 32), body), False)
    mptest.eq(acks[-1]["code"], "ok")
    mptest.raises(machine.Reset, a.step)
    a.shutdown()
    mptest.eq(guard.start(FLASH, now_s=START_S + 200), "normal")


def test_guard_writes_that_fail_never_stop_the_loop():
    # the boot record cannot be written (a worn flash): clearing crash_loop leaves minimal
    # mode standing, alarm raised again, no restart and no exception out of the loop
    fresh(machine.WDT_RESET)
    for i in range(guard.CRASH_RESETS):
        machine.reset_world(machine.WDT_RESET)
        mode = guard.start(FLASH, now_s=START_S + 40 * i)
    mptest.eq(mode, "minimal")
    a, ticks, stops, types = build()
    for _ in range(3):
        a.step()
    real = guard._save

    def failing(rec):
        raise OSError(5)
    guard._save = failing
    try:
        a.prepay.alarm_clear("crash_loop", a.clock.now_s())
        a.step()                                   # no machine.Reset, no OSError
        mptest.true("crash_loop" in a.prepay.alarms, "the clear did not take: alarm again")
    finally:
        guard._save = real
    a.prepay.alarm_clear("crash_loop", a.clock.now_s())
    mptest.raises(machine.Reset, a.step)          # the flash is back: the exit works
    a.shutdown()


def test_minimal_mode_holds_the_gas_valve_closed_whatever_asks():
    # a crash loop holds the actuators safe: the button (sim topic), a signed selfcheck
    # and the console's button each answer an error, and no leak check drives the valve open
    fresh(machine.WDT_RESET)
    for i in range(guard.CRASH_RESETS):
        machine.reset_world(machine.WDT_RESET)
        mode = guard.start(FLASH, now_s=START_S + 40 * i)
    mptest.eq(mode, "minimal")
    a, ticks, stops, types = build()
    for _ in range(3):
        a.step()
    now = a.clock.now_s()
    a.prepay.recharge("m1", 5000, now)
    a.prepay.supply_command(True, now)
    mptest.eq(a.prepay.supply.state, "armed", "a confirmation would start the leak check")
    n = len(types)
    a._on_message((a.topic + "sim").encode(), b'{"button": "press"}', False)
    mptest.eq(types[n:], ["sim_rejected"], "the press is answered, not acted on")
    from core import frame
    body = json.dumps({"id": "c1", "meter": "bw-1", "seq": 1, "op": "selfcheck",
                       "args": {}}).encode()
    acks = []
    a.link.publish_now = lambda topic, payload, qos=0, retain=False: acks.append(json.loads(payload))
    a._on_message((a.topic + "cmd").encode(), frame.sign(bytes.fromhex("ab" * 32), body), False)
    mptest.eq((acks[-1]["code"], acks[-1].get("reason")), ("bad_args", "minimal mode: selfcheck is held"))
    import service
    import service_admin
    service.attach(a)
    service._session = ("pin", a.clock.now_s() + 900)          # after login (field guide)
    service.print = lambda *x: None
    mptest.raises(ValueError, service.supply, "button")
    mptest.raises(ValueError, service.selftest, True)            # the gas selfcheck
    service._session = None
    service.attach(None)
    for _ in range(20):
        a.step()
    mptest.true(not a.driver.check.active, "no leak check")
    mptest.eq(a.driver.valve.position, "closed")
    mptest.eq(a.board.valve_model.pos, 0, "the valve never moved")
    mptest.eq(ticks, [])
    a.shutdown()


def _interrupt_at(a, where):
    if where == "idle":
        def idle(ms):
            raise KeyboardInterrupt
        a.link.idle = idle
        a.clock.due_ms = lambda t: 5      # never step the clock: reach the idle
    else:
        def tick(now_s):
            raise KeyboardInterrupt
        a.driver.tick = tick


def test_ctrl_c_in_idle_saves_ledger_and_holds_watchdog():
    fresh(machine.PWRON_RESET)
    guard.start(FLASH, now_s=START_S)
    wdt = machine._world["wdt"]
    a, ticks, stops, types = build()
    a.step()
    w0 = a.store.writes
    _interrupt_at(a, "idle")
    mptest.eq(a.run(), 0)
    mptest.eq(len(stops), 1, "actuators safe first")
    mptest.true("service" in types, "the interrupt is logged as a service event")
    mptest.true(a.store.writes > w0, "ledger (and clock) saved")
    from core.store import Store
    st = Store(FLASH)
    mptest.true(st.load("prepay") is not None, "the saved ledger loads")
    mptest.eq(st.load("clock")["t"], a.clock.now_s(), "clock floor saved at the stop")
    timer = machine._world["timers"][-1]
    before = wdt.feeds
    timer.fire(5)
    mptest.eq(wdt.feeds - before, 5, "the service timer feeds the watchdog")
    guard.feed()
    mptest.eq(wdt.feeds - before, 5, "the stopped loop no longer feeds")
    guard.end_service()


def test_ctrl_c_mid_tick_does_not_persist_a_half_update():
    fresh(machine.PWRON_RESET)
    guard.start(FLASH, now_s=START_S)
    a, ticks, stops, types = build()
    a.step()
    a.prepay.save()
    saved = open(FLASH + "/prepay.a").read() + open(FLASH + "/prepay.b").read() \
        if "prepay.b" in os.listdir(FLASH) else open(FLASH + "/prepay.a").read()
    a.next_tick_s = 0
    _interrupt_at(a, "tick")
    mptest.eq(a.run(), 0)
    mptest.eq(len(stops), 1, "actuators still made safe")
    after = open(FLASH + "/prepay.a").read() + open(FLASH + "/prepay.b").read() \
        if "prepay.b" in os.listdir(FLASH) else open(FLASH + "/prepay.a").read()
    mptest.eq(after, saved, "the ledger on flash is the last save, not the torn RAM")
    guard.end_service()


mptest.main(globals())
