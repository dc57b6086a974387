# Boot safety (docs/field-guide.md §4): hardware watchdog, reset cause, safe mode, crash-loop detection and
# the Ctrl-C hand-over to a technician. boot.py calls start(); the app calls loop(app, now_s)
# once per healthy loop iteration (it is the only thing that feeds the watchdog) and
# interrupted(app, now_s) when a KeyboardInterrupt reaches its loop.
# Inert until start() runs: on the unix port main.py is the entry and boot.py never runs,
# so sim meters and their tests are unaffected.
import json

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

# Watchdog: longer than any legitimate loop iteration. The link never blocks (docs/architecture.md), a
# metering tick is 1 s; 30 s also covers a slow LittleFS compaction. Tune in boards/*.
WDT_TIMEOUT_MS = const(30000)
# A boot that ran this long with healthy loops is not part of a crash loop (tve/mqboard's
# "mark the firmware valid after it has been healthy for a while", docs/ota.md).
HEALTHY_S = const(120)
# N resets within M minutes -> minimal mode (docs/field-guide.md §4). 3 in 10 min: a crash at start-up
# with a 30 s watchdog loops about every 35 s, so this trips within ~2 minutes.
CRASH_RESETS = const(3)
CRASH_WINDOW_S = const(600)
# After Ctrl-C the technician has the REPL for this long; then the watchdog restarts the
# firmware, so a meter left at the REPL returns to service by itself (fail safe).
SERVICE_WINDOW_S = const(1800)
SAFE_HOLD_MS = const(1000)       # button held this long at power-up -> safe mode
RECORD = "boot.json"

# reset causes that mean "the firmware did not survive" (machine.reset_cause constants)
CAUSES = {1: "power_on", 2: "hard", 3: "watchdog", 4: "deepsleep", 5: "soft"}
_NOT_CRASHES = ("power_on", "deepsleep")

MODE = "normal"          # "normal" | "safe" | "minimal"
CAUSE = None             # name of the reset cause, None before start()
RESETS = 0               # unhealthy resets counted in the window (this boot included)
_started = False
_wdt = None
_root = "."
_boot_s = None
_healthy = False
_healthy_at = [HEALTHY_S]  # mono_s at which a healthy run is recorded (later after a failed write)
_reported = False
_service_timer = None


def _machine():
    try:
        import machine
        return machine
    except ImportError:
        return None


def _path():
    return _root + "/" + RECORD


def _load():
    try:
        with open(_path()) as f:
            rec = json.load(f)
        if isinstance(rec, dict) and isinstance(rec.get("boots"), list):
            return rec
    except (OSError, ValueError):
        pass
    return {"boots": [], "latched": False}


def _save(rec):
    tmp = _path() + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    import os
    os.rename(tmp, _path())


def _held(button, hold_ms):
    # every 20 ms sample must read pressed: a bounce or a glitch is not a held button
    import time
    for _ in range(max(1, hold_ms // 20)):
        if not button():
            return False
        time.sleep_ms(20)
    return True


def start(root=".", now_s=None, button=None, hold_ms=SAFE_HOLD_MS, wdt_ms=WDT_TIMEOUT_MS):
    """Run once from boot.py. button: callable -> True while pressed (board's button)."""
    global MODE, CAUSE, RESETS, _started, _wdt, _root, _boot_s, _healthy, _reported
    global _service_timer
    m = _machine()
    _root = root
    _healthy = _reported = False
    _healthy_at[0] = HEALTHY_S
    _wdt = _service_timer = None
    if m is not None and hasattr(m, "WDT"):
        _wdt = m.WDT(timeout=wdt_ms)        # first: a hang anywhere below resets the chip
    if now_s is None:
        import time
        now_s = time.time()
    _boot_s = now_s
    rc = m.reset_cause() if m is not None and hasattr(m, "reset_cause") else None
    CAUSE = CAUSES.get(rc, "unknown")
    rec = _load()
    boots = [t for t in rec["boots"] if isinstance(t, int) and
             (t > now_s or now_s - t < CRASH_WINDOW_S)]   # a clock set back keeps entries
    if CAUSE not in _NOT_CRASHES:
        boots.append(now_s)
    boots = boots[-CRASH_RESETS:]
    latched = rec.get("latched") is True or len(boots) >= CRASH_RESETS
    try:
        _save({"boots": boots, "latched": latched})
    except OSError as e:            # flash full or failing: boot anyway, detection degraded
        print("boot: cannot record reset (%r)" % e)
    RESETS = len(boots)
    if button is not None and _held(button, hold_ms):
        MODE = "safe"
    elif latched:
        MODE = "minimal"
    else:
        MODE = "normal"
    _started = True
    return MODE


def feed():
    if _wdt is not None and _service_timer is None:
        _wdt.feed()


def loop(app, now_s):
    """Call once per loop iteration of the app, after the metering/safety tick succeeded."""
    global _healthy, _reported
    if not _started:
        return
    feed()
    if not _reported:
        _reported = True
        app.prepay.emit("boot", now_s, cause=CAUSE, mode=MODE, resets=RESETS)
        if MODE == "minimal":
            enter_minimal(app, now_s)
    if MODE == "minimal":
        if "crash_loop" not in app.prepay.alarms:     # cleared remotely or by the console
            try:
                clear_crash_loop()
            except OSError as e:    # not recorded: a restart would come back here, so the
                print("boot: cannot clear the crash loop (%r)" % e)   # alarm stands again
                app.prepay.alarm("crash_loop", now_s, resets=RESETS, cause=CAUSE)
                return
            _restart()
        return
    # healthy after HEALTHY_S of monotonic time since boot: setting the clock (the `time`
    # op, NTP after an unset RTC) must not make a crash-looping boot look healthy
    if not _healthy and app.clock.mono_s() >= _healthy_at[0]:
        rec = _load()
        if rec["boots"] and not rec.get("latched"):
            try:
                _save({"boots": [], "latched": False})
            except OSError as e:    # a failing flash never stops the loop: retried later
                print("boot: cannot record a healthy run (%r)" % e)
                _healthy_at[0] = app.clock.mono_s() + HEALTHY_S
                return
        _healthy = True


def enter_minimal(app, now_s):
    """Crash loop: no metering code runs. The driver's safe_stop leaves the actuators in
    their safety-correct state (gas: valve closed; a relay keeps its persisted state) and
    persists its state; the ledger is saved untouched; the fault is raised as an alarm so
    the link reports it."""
    app.driver.safe_stop(now_s)
    if "crash_loop" not in app.prepay.alarms:
        app.prepay.alarm("crash_loop", now_s, resets=RESETS, cause=CAUSE)
    try:
        app.prepay.save()
    except OSError as e:            # a failing flash is no reason to leave minimal mode
        print("boot: cannot save the crash_loop alarm (%r)" % e)


def clear_crash_loop():
    _save({"boots": [], "latched": False})


def _restart():
    m = _machine()
    if m is not None and hasattr(m, "reset"):
        m.reset()


def interrupted(app, now_s, by="repl"):
    """Ctrl-C from a technician: actuators safe first, then the ledger, then the REPL.
    Returns the list of steps that failed (each is also printed); never raises, because the
    technician must get the REPL whatever broke."""
    failed = []
    for name, fn in (("safe_stop", lambda: app.driver.safe_stop(now_s)),
                     ("event", lambda: app.prepay.emit("service", now_s, action="interrupt",
                                                        by=by)),
                     ("save", app.prepay.save)):
        try:
            fn()
        except Exception as e:       # report and go on: the REPL must come up
            failed.append(name)
            print("interrupt: %s failed: %r" % (name, e))
    hold_for_service()
    return failed


def hold_for_service(window_s=SERVICE_WINDOW_S):
    """Keep the watchdog fed from a timer for window_s, then stop: the chip resets into the
    firmware. The app's own feed() is ignored meanwhile (the loop is not running)."""
    global _service_timer
    if _wdt is None:
        return
    m = _machine()
    left = [window_s]

    def tick(t):
        if left[0] > 0:
            left[0] -= 1
            _wdt.feed()
    _wdt.feed()
    _service_timer = m.Timer(0)
    _service_timer.init(mode=m.Timer.PERIODIC, period=1000, callback=tick)


def end_service():
    global _service_timer
    if _service_timer is not None:
        _service_timer.deinit()
        _service_timer = None
