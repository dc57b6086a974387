# The app's boot-safety wiring (docs/field-guide.md "Boot modes") and its shutdown path,
# kept out of app.py so the loop stays readable.
#
# hal.guard is looked up in sys.modules, never imported: boot.py imports it on a device, and
# on the unix port (where boot.py never runs) it is absent, so all of this stays inert there.
#
# Shutdown must survive an interrupt at any instant. On the unix port a SIGINT raises
# KeyboardInterrupt asynchronously from the C signal handler (MICROPY_ASYNC_KBD_INTR): when it
# lands inside a garbage collection the GC's "collecting" flag is never cleared, and every
# later allocation fails with "MemoryError: memory allocation failed, heap is locked" (seen at
# shutdown in prepay.pending_events() and in the sim's ScriptedClock.__getattr__). A full
# gc.collect() ends with the flag cleared, so shutdown starts with one (measured: 6 of 100
# SIGINTs into an allocating loop left the heap locked; gc.collect() unlocked every one).
# On an ESP32 Ctrl-C is raised between bytecodes only, so this is just a cheap precaution.
import gc
import sys

MINIMAL_TICK_S = 1      # minimal mode: how often the valve's end stops are watched
# A tick_fault clears by itself after this many good ticks in a row (a transient: a heap
# momentarily too fragmented), or by a remote / console clear (docs/architecture.md).
TICK_OK_CLEAR = 60


def why(e):
    """`TypeError: ...`, short enough for an event field."""
    return ("%s: %s" % (type(e).__name__, e))[:60]


def tick_fault(app, part, e, now_s):
    """A tick part raised (a bug, or what no code path expected). The meter goes to its
    fail-safe state and keeps running: the driver's safe_stop (gas valve closed, the water
    valve's motor stopped, a latching relay held where it is, as at a restart) and the
    alarm tick_fault, naming the part and the exception. It latches the supply off on a
    meter that arms (gas: only the restoration procedure re-opens it)."""
    first = app.tick_ok or not app.tick_faults
    app.tick_ok = 0
    app.tick_faults += 1
    if first:
        print("tick: %s failed: %s" % (part, why(e)))
    try:
        if first:
            app.driver.safe_stop(now_s)     # once per run of failures: it writes flash
        watch_valve(app, now_s)             # every failing tick: the motor stops at its end
    except Exception as e2:
        print("tick: safe_stop failed: %s" % why(e2))
    try:
        app.prepay.alarm("tick_fault", now_s, latch=bool(getattr(app.driver, "ARMS", False)),
                         where=part, error=why(e))
    except Exception as e2:
        print("tick: alarm failed: %s" % why(e2))
    fd = getattr(app.driver, "fault_drive", None)   # the relay's tick-fault policy
    if fd is not None:
        try:
            fd(now_s)
        except Exception as e2:
            print("tick: fault_drive failed: %s" % why(e2))


def tick_good(app, now_s):
    app.tick_ok += 1
    p = app.prepay
    if app.tick_ok >= TICK_OK_CLEAR and ("tick_fault" in p.alarms or "tick_fault" in p.supply.latches):
        p.alarm_clear("tick_fault", now_s)


def storage_watch(app, now_s):
    """storage_fault stands while any write has failed and not since succeeded (Store
    .failing: the prepay record, the floor, the outbox, the event log, a driver's record);
    the writers keep their changes and retry, metering and safety go on from RAM."""
    p = app.prepay
    fail = app.store.failing
    # the records no other writer retries by itself (prepay, the event log, the outbox's
    # segment and the drivers' records are retried by their owners)
    for name, retry in (("floor", p.floor.rewrite), ("outbox", app.outbox.retry_save)):
        if name in fail:
            try:
                retry()
            except OSError:
                pass
    if fail and "storage_fault" not in p.alarms:
        names = sorted(fail)
        p.alarm("storage_fault", now_s, records=names[:4], errno=fail[names[0]])
    elif not fail and "storage_fault" in p.alarms:
        p.alarm_clear("storage_fault", now_s)


def guard():
    """The started boot guard (hal/guard.py), or None (unix port, or boot.py never ran)."""
    g = sys.modules.get("hal.guard")
    return g if g is not None and getattr(g, "_started", False) else None


def mode():
    g = guard()
    return g.MODE if g is not None else "normal"


def minimal_tick(app, now_s):
    """Crash-loop mode: no metering and no prepay.tick (the ledger stays untouched). The
    guard's first loop() call runs the driver's safe_stop (gas valve closed, relay held);
    what must keep running is the valve's end-stop watch, so a close started by safe_stop
    stops its motor at the end stop (or times out into valve_fault, docs/gas.md, docs/water.md),
    and the electricity relay follows the supply state as on a faulting tick (fault_drive:
    a supply off accepted in minimal mode opens it; docs/electricity.md "Tick faults")."""
    watch_valve(app, now_s)
    fd = getattr(app.driver, "fault_drive", None)
    if fd is not None:
        try:                    # the relay follows what needs no metering: a supply that is
            fd(now_s)           # not "on" (remote off, credit gone, a latch) opens it
        except Exception as e:
            print("minimal: fault_drive failed: %s" % e)
    app.drain(now_s)
    app.next_tick_s = now_s + MINIMAL_TICK_S
    app.publish_state(now_s)


def watch_valve(app, now_s):
    """The valve's end stops and travel time-out (monotonic), without the driver's tick."""
    v = getattr(app.driver, "valve", None)
    if v is not None:
        for e in v.poll(app.clock.mono_s()):
            if e.get("event") == "fault" and "valve_fault" not in app.prepay.alarms:
                app.prepay.alarm("valve_fault", now_s, reason=e.get("reason"))


def shutdown(app, interrupted=False):
    """Actuators safe first, then the ledger, then the rest. Each step is retried when a
    further interrupt (a second Ctrl-C or SIGINT) or a MemoryError hits it, so the ledger
    save is never skipped by an impatient technician. If the interrupt landed while the
    loop was changing the ledger (app.busy), the RAM copy may be half updated: it is NOT
    saved, and the meter restarts from its last save, exactly as after a power cut (every
    acknowledged change was saved before its ack, docs/architecture.md)."""
    torn = interrupted and app.busy
    g = guard() if interrupted else None
    now = [None]

    def clock():
        now[0] = app.clock.now_s()

    def drain():
        if not torn:
            app.drain(now[0])

    def service_event():
        if g is not None and not torn:       # a technician stopped a device (field guide)
            app.prepay.emit("service", now[0], action="interrupt", by="repl")
            app.drain(now[0])

    def ledger():
        if not torn:
            app.prepay.save()

    def log():
        if not torn:
            app.eventlog.maybe_save(now[0], force=True)

    def clock_floor():
        app.clock_floor.maybe_save(now[0], force=True)

    def offline():
        if app.link.up():
            app.link.publish_now(app.topic + "state", b'{"online": false}', qos=1, retain=True)

    def close():
        app.link.close(graceful=True)

    steps = (gc.collect, clock, lambda: app.driver.safe_stop(now[0]), drain, service_event,
             ledger, log, clock_floor, offline, close)
    failed = []
    i = tries = 0
    while i < len(steps):
        try:
            if tries:
                gc.collect()             # also clears a heap left locked by the interrupt
            if now[0] is None and i > 1:
                now[0] = app.next_tick_s     # the clock failed: the loop's last due time
            steps[i]()
            i += 1
            tries = 0
        except BaseException as e:       # KeyboardInterrupt, MemoryError, OSError, ...
            tries += 1
            if tries > 3:
                failed.append(i)
                print("shutdown: step %d failed: %r" % (i, e))
                i += 1
                tries = 0
    if torn:
        print("shutdown: interrupted mid-update; ledger left at its last save")
    app.shutdown_failed = failed
    return failed


def hold_for_service():
    g = guard()
    if g is not None:
        g.hold_for_service()
