# Boot safety (firmware/hal/guard.py, firmware/boot.py) against fakes of the ESP32 port's
# machine module (tests_host/mpy/fakes/machine.py): watchdog, reset cause, safe mode,
# crash-loop detection and the Ctrl-C hand-over.
import sys
import os
import random

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine          # noqa: E402  (the fake, first on the path)
import mptest           # noqa: E402
from hal import guard   # noqa: E402
import field_rig        # noqa: E402

ROOT = "boot_root"


def fresh(cause=machine.PWRON_RESET, keep_record=False):
    machine.reset_world(cause)
    if not keep_record:
        try:
            os.mkdir(ROOT)
        except OSError:
            pass
        for n in os.listdir(ROOT):
            os.remove(ROOT + "/" + n)


def boot(cause, now_s, button=None):
    machine.reset_world(cause)
    return guard.start(ROOT, now_s=now_s, button=button, hold_ms=100)


def test_watchdog_started_first_and_fed_only_by_loop():
    fresh()
    guard.start(ROOT, now_s=1000)
    wdt = machine._world["wdt"]
    mptest.true(wdt is not None, "WDT created by start()")
    mptest.eq(wdt.timeout, guard.WDT_TIMEOUT_MS)
    mptest.eq(wdt.feeds, 0, "nothing feeds before the app loop runs")
    app = field_rig.FakeApp()
    for i in range(5):
        guard.loop(app, 1000 + i)
    mptest.eq(wdt.feeds, 5)


def test_reset_cause_is_reported_once_as_boot_event():
    for cause, name in ((machine.WDT_RESET, "watchdog"), (machine.PWRON_RESET, "power_on"),
                        (machine.HARD_RESET, "hard"), (machine.DEEPSLEEP_RESET, "deepsleep"),
                        (machine.SOFT_RESET, "soft"), (99, "unknown")):
        fresh(cause)
        guard.start(ROOT, now_s=5000)
        app = field_rig.FakeApp()
        guard.loop(app, 5001)
        guard.loop(app, 5002)
        boots = [e for e in app.prepay.events if e["type"] == "boot"]
        mptest.eq(len(boots), 1)
        mptest.eq(boots[0]["cause"], name)
        mptest.eq(boots[0]["mode"], "normal")


def test_inert_without_start():
    # the unix-port entry never runs boot.py: loop() must do nothing at all
    guard._started = False
    app = field_rig.FakeApp()
    guard.loop(app, 1)
    mptest.eq(app.prepay.events, [])


def test_safe_mode_only_when_button_held():
    fresh()
    mptest.eq(boot(machine.PWRON_RESET, 100, button=lambda: True), "safe")
    mptest.eq(boot(machine.PWRON_RESET, 200, button=lambda: False), "normal")
    # a bouncing or glitching button (released in any sample) is not "held"
    for _ in range(30):
        seq = [True] * random.randint(0, 4) + [False]
        it = iter(seq + [True] * 10)
        mptest.eq(boot(machine.PWRON_RESET, 300, button=lambda: next(it)), "normal")


def test_safe_mode_wins_over_crash_loop():
    fresh()
    for i in range(guard.CRASH_RESETS):
        boot(machine.WDT_RESET, 1000 + 30 * i)
    mptest.eq(guard.MODE, "minimal")
    mptest.eq(boot(machine.WDT_RESET, 1200, button=lambda: True), "safe")


def test_crash_loop_after_n_resets_in_window():
    fresh()
    modes = [boot(machine.WDT_RESET, 1000 + 35 * i) for i in range(guard.CRASH_RESETS)]
    mptest.eq(modes, ["normal"] * (guard.CRASH_RESETS - 1) + ["minimal"])
    mptest.eq(guard.RESETS, guard.CRASH_RESETS)


def test_resets_spread_beyond_window_are_not_a_loop():
    fresh()
    for i in range(10):
        mptest.eq(boot(machine.WDT_RESET, 1000 + i * (guard.CRASH_WINDOW_S // 2 + 1)),
                  "normal")


def test_power_on_and_deepsleep_wakes_do_not_count():
    fresh()
    for i in range(20):
        c = machine.PWRON_RESET if i % 2 else machine.DEEPSLEEP_RESET
        mptest.eq(boot(c, 1000 + i), "normal")


def test_healthy_run_clears_the_count():
    fresh()
    app = field_rig.FakeApp()
    for round_ in range(4):
        t = 10000 * (round_ + 1)
        for i in range(guard.CRASH_RESETS - 1):
            mptest.eq(boot(machine.WDT_RESET, t + i), "normal")
        app.clock.mono = guard.HEALTHY_S + 5
        guard.loop(app, t + guard.HEALTHY_S + 5)
    mptest.eq(boot(machine.WDT_RESET, 99999), "normal")


def test_clock_set_forward_does_not_make_a_boot_healthy():
    # the healthy time is monotonic: a `time` op (or NTP after an unset RTC) moving the wall
    # clock by years does not mark a crash-looping boot as healthy
    fresh()
    app = field_rig.FakeApp()
    for i in range(guard.CRASH_RESETS - 1):
        mptest.eq(boot(machine.WDT_RESET, 1000 + i), "normal")
        app.clock.mono = 5
        guard.loop(app, 1000 + i + 10 ** 8)
    mptest.eq(boot(machine.WDT_RESET, 1000 + guard.CRASH_RESETS), "minimal")


def test_minimal_mode_keeps_actuators_safe_and_reports():
    fresh()
    for i in range(guard.CRASH_RESETS):
        boot(machine.WDT_RESET, 2000 + i)
    app = field_rig.FakeApp()
    guard.loop(app, 2010)
    mptest.eq(app.driver.safe_stops, [2010])
    mptest.true("crash_loop" in app.prepay.alarms)
    mptest.true(app.prepay.saves >= 1, "ledger saved")
    mptest.eq(app.prepay.balance_minor, 5000, "ledger untouched")
    # it latches across further resets, even after a long healthy minimal run
    guard.loop(app, 2010 + guard.HEALTHY_S * 3)
    mptest.eq(boot(machine.WDT_RESET, 2010 + guard.CRASH_WINDOW_S * 10), "minimal")
    # a clear (remote or console) unlatches and restarts into normal mode
    app2 = field_rig.FakeApp()
    guard.loop(app2, 9000)
    mptest.true("crash_loop" in app2.prepay.alarms)
    app2.prepay.alarm_clear("crash_loop", 9001)
    mptest.raises(machine.Reset, guard.loop, app2, 9002)
    mptest.eq(boot(machine.HARD_RESET, 9003), "normal")


def test_corrupt_record_is_ignored():
    # generated garbage in boot.json (a torn write, flash rot): boot goes on, normal mode
    random.seed(8)
    rnd = random
    for i in range(200):
        fresh()
        n = rnd.randint(0, 40)
        with open(ROOT + "/" + guard.RECORD, "wb") as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(n)))
        mptest.eq(boot(machine.WDT_RESET, 1000), "normal")
    for junk in ('{"boots": "x"}', '[1,2]', '{"boots": [1e9, "a", null]}', 'null',
                 '{"boots": [1,2,3], "latched": "yes"}'):
        fresh()
        with open(ROOT + "/" + guard.RECORD, "w") as f:
            f.write(junk)
        mptest.eq(boot(machine.WDT_RESET, 1000), "normal", junk)


def test_generated_reset_histories_match_model():
    # reference model: a boot is minimal iff latched, or the crash resets (not power-on,
    # not deep-sleep) since the last healthy run and within the window reach N
    random.seed(42)
    rnd = random
    causes = (machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET,
              machine.DEEPSLEEP_RESET, machine.SOFT_RESET)
    for trial in range(40):
        fresh()
        now = 100000
        model = []
        latched = False
        for step in range(25):
            now += rnd.choice((5, 30, 200, guard.CRASH_WINDOW_S + 1))
            c = rnd.choice(causes)
            model = [t for t in model if now - t < guard.CRASH_WINDOW_S]
            if c not in (machine.PWRON_RESET, machine.DEEPSLEEP_RESET):
                model.append(now)
            model = model[-guard.CRASH_RESETS:]
            latched = latched or len(model) >= guard.CRASH_RESETS
            mode = boot(c, now)
            mptest.eq(mode, "minimal" if latched else "normal", "trial %d step %d" % (trial,
                                                                               step))
            if not latched and rnd.random() < 0.3:
                app = field_rig.FakeApp()
                guard.loop(app, now)
                now += guard.HEALTHY_S
                app.clock.mono += guard.HEALTHY_S
                guard.loop(app, now)
                model = []


def test_ctrl_c_leaves_actuators_safe_and_ledger_saved_then_holds_watchdog():
    fresh()
    guard.start(ROOT, now_s=100)
    wdt = machine._world["wdt"]
    app = field_rig.FakeApp()
    guard.loop(app, 101)
    failed = guard.interrupted(app, 102)
    mptest.eq(failed, [])
    mptest.eq(app.driver.safe_stops, [102])
    mptest.eq(app.order[-3:], ["safe_stop", "emit:service", "save"])
    svc = [e for e in app.prepay.events if e["type"] == "service"]
    mptest.eq(svc[0]["action"], "interrupt")
    # the service timer feeds the watchdog for the window, then stops: the chip resets
    timer = machine._world["timers"][-1]
    before = wdt.feeds
    timer.fire(guard.SERVICE_WINDOW_S + 50)
    mptest.eq(wdt.feeds - before, guard.SERVICE_WINDOW_S)
    # the stopped loop's feed() no longer counts while the technician holds the REPL
    guard.feed()
    mptest.eq(wdt.feeds - before, guard.SERVICE_WINDOW_S)


def test_ctrl_c_gas_leak_check_closes_valve():
    # the gas driver's safe_stop closes the valve even mid leak check (drivers own this;
    # here the fake valve records it): the hand-over must call it before anything else
    fresh()
    guard.start(ROOT, now_s=100)
    app = field_rig.FakeApp(kind="gas")
    app.driver.valve = "opening"           # leak check running, valve open
    guard.interrupted(app, 150)
    mptest.eq(app.driver.valve, "closed")
    mptest.eq(app.order[0], "safe_stop")


def test_ctrl_c_survives_failures():
    fresh()
    guard.start(ROOT, now_s=100)
    app = field_rig.FakeApp()
    app.driver.fail = True
    app.prepay.fail_save = True
    failed = guard.interrupted(app, 110)
    mptest.eq(failed, ["safe_stop", "save"])
    mptest.true(any(e["type"] == "service" for e in app.prepay.events))


def test_boot_py_runs_and_reads_board_button():
    fresh(machine.WDT_RESET)
    machine.drive(0, 0)               # button on GPIO0 held low
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        import field_board_stub  # noqa: F401  (registers a `board` module with PINS)
        exec(open(HERE + "/../../firmware/boot.py").read(), {"__name__": "boot"})
    finally:
        os.chdir(old)
    mptest.eq(guard.MODE, "safe")
    mptest.eq(guard.CAUSE, "watchdog")


mptest.main(globals())
