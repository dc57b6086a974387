# The meter side of the whole-meter stateful test (tests_host/test_stateful_meter.py): one
# real meter (firmware/app.py's App: Store, Prepay, the kind's Driver, Commands, Outbox, the
# MQTT Link, the sim board and its clock) on a LittleFS flash image, under the real boot
# guard (hal/guard.py with the fake ESP32 `machine`), driven over stdin/stdout one JSON line
# per operation. Commands reach the app as signed frames through its real Link from a fake
# broker (tests_host/mpy/rigs/stateful_link.py), so the link's own exception handling and QoS 1
# redelivery are part of what is tested; acks are read where the broker receives them.
#
#   micropython stateful_rig.py <workdir>      (<workdir>/run.json says how to boot)
#
# Every answer is one line "@@ {json}": the acks and events of the operation, the state
# summary, and the violations this side can see at once (stateful_check.py). The process
# ends after a reset, a crash (an exception out of the app's loop) or a power cut, exactly
# where the device would stop; the host starts a new one on the same flash image.
import sys
import json
import gc

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine                         # noqa: E402  (the fake ESP32 machine module)
import stateful_flash                  # noqa: E402
import stateful_link                   # noqa: E402
from stateful_link import VTime        # noqa: E402

FLASH = "/flash"
RUN = None          # run.json
A = None            # the App
BROKER = stateful_link.Broker()
CTX = ["boot"]      # which boundary is running: boot, tick, cmd:<op>, sim, button, console:<fn>
EVTS = []           # [mono_s, ctx, event, gas ml, json] emitted during this operation
VIOL = []           # violations seen during this operation
GATE = [0]          # world time (phys_s) the running operation must not pass
TICKS = [0]         # metering and minimal-mode ticks run (the fail-safe check's "ticked")
DEV = None


def out(obj):
    # piece by piece: one json.dumps of a whole answer may not find a block that large in
    # the heap the meter has fragmented
    gc.collect()
    w = sys.stdout.write
    w("@@ {")
    sep = ""
    for k in obj:
        w(sep + json.dumps(k) + ": ")
        sep = ", "
        v = obj[k]
        if isinstance(v, list):
            w("[")
            for i in range(len(v)):
                w((", " if i else "") + json.dumps(v[i]))
            w("]")
        else:
            w(json.dumps(v))
    w("}\n")


def phys():
    return A.clock.mono_s()


def mono():
    """Seconds of world time since the test began, across every reboot."""
    return A.clock.mono_s() - RUN["phys0"] + RUN["mono"]


def viol(kind, msg):
    VIOL.append(kind + ": " + str(msg)[:300])


class _Rig:
    """This script's globals, as the module stateful_check.py reads them."""

    def __getattr__(self, name):
        return globals()[name]


# ---- boot --------------------------------------------------------------------------------
def boot():
    global A, DEV
    DEV = stateful_flash.mount(RUN["workdir"] + "/flash.img", FLASH)
    if DEV.fresh:
        with open(FLASH + "/config.json", "w") as f:
            json.dump(RUN["conf"], f)
    stateful_link.patch(RUN, BROKER)
    import app
    machine.reset_world(RUN["cause"])
    from hal import guard
    guard.start(FLASH, now_s=RUN["rtc"])
    A = app.App(FLASH)
    RUN["phys0"] = A.clock.mono_s()
    A.link.idle = idle
    real_due = A.clock.due_ms

    def due_ms(t_s):
        # never past the running operation's end: the host decides how long the world runs
        c = A.clock
        return 1 if c.mono_s() + t_s - c.now_s() > GATE[0] else real_due(t_s)
    A.clock.due_ms = due_ms
    # count the ticks where the app makes them: next_tick_s is derived from the wall clock
    # (app.py), so it moves when a `time` op or an RTC jump steps the clock, or as time
    # passes once a tick is overdue, with no tick run
    real_tick = A.tick

    def tick():
        TICKS[0] += 1
        real_tick()
    A.tick = tick
    import app_safety
    if not hasattr(app_safety, "_rig_minimal_tick"):
        app_safety._rig_minimal_tick = app_safety.minimal_tick

        def minimal_tick(app, now_s):
            TICKS[0] += 1
            app_safety._rig_minimal_tick(app, now_s)
        app_safety.minimal_tick = minimal_tick
    import stateful_check
    stateful_check.install(_Rig())
    for e in A.prepay.pending_events():         # emitted while the app was built
        EVTS.append([mono(), "boot", dict(e), None, json.dumps(e)])
    CTX[0] = "tick"


# ---- running the loop --------------------------------------------------------------------
def idle(ms):
    """The app waits (link.idle): virtual time passes. With the link down and nothing to
    wait for but the next tick, skip straight to it (a sleeping meter)."""
    link = A.link
    if link.state == 0:
        d = A.clock.due_ms(A.next_tick_s)
        if link.want:
            d = min(d, link._t_next - VTime.ms)
        ms = max(ms, d)
    VTime.ms += max(1, ms)


def link_busy():
    link = A.link
    up = link.up()
    if link.state != 0 and not up:
        return True                 # resolving, connecting, handshaking
    if up and (BROKER.pending() or A.session_ms is not None or
               (len(A.outbox) and A.inflight is None)):
        return True
    return link.state == 0 and link.want and BROKER.up and BROKER.pending()


def step():
    import stateful_check
    CTX[0] = "tick"
    n = TICKS[0]
    A.step()
    stateful_check.after_step(TICKS[0] != n)
    if A.stop_code is not None:          # the reboot op: App.run's exit path, then main's reset
        for _ in range(50):
            A.link.service()
            if not A.link.pending_tx():
                break
        CTX[0] = "shutdown"
        A.shutdown()
        raise machine.Reset("reboot op")


def run_until(target, done=None):
    GATE[0] = target
    clock = A.clock
    for _ in range(200000):
        if done is not None and done():
            return
        busy = link_busy()
        nxt = A.next_tick_s
        if not busy:
            if clock.mono_s() >= target and clock.now_s() < nxt:
                return
            if clock.mono_s() + max(0, nxt - clock.now_s()) > target:
                clock.advance(clock.now_s() + target - clock.mono_s())
                import stateful_check
                stateful_check.after_step(False)    # the world lived on: is it still safe?
                return
        step()
    viol("loop", "no progress after 200000 passes: link state %d want %s failures %d errors %d bad %d broker sock %r, outbox %d, "
         "in flight %r, broker queue %d, up %s, next tick %d, now %d, world %d, target %d" % (
             A.link.state, A.link.want, A.link.failures, A.link.errors, A.link.rx_bad, BROKER.sock, len(A.outbox), A.inflight, BROKER.pending(), BROKER.up,
             A.next_tick_s, clock.now_s(), clock.mono_s(), target))


# ---- operations --------------------------------------------------------------------------
def op_cmd(r):
    from binascii import unhexlify
    pid = BROKER.enqueue((A.topic + "cmd").encode(), unhexlify(r["hex"]))
    run_until(phys() + r.get("max_s", 10), lambda: not BROKER.pending(pid))


def op_sim(r):
    msg = r["msg"]
    payload = msg.encode() if isinstance(msg, str) else json.dumps(msg).encode()
    CTX[0] = "sim"
    try:
        A._on_message((A.topic + "sim").encode(), payload, False)
    except Exception as e:
        viol("escaped_sim", "%s %r" % (type(e).__name__, e))
        raise
    finally:
        CTX[0] = "tick"
    run_until(phys() + r.get("run_s", 1))


def op_tick(r):
    run_until(phys() + r["s"])


def op_jump(r):
    c = A.clock
    c.t = max(0, c.t + r["d"])       # the RTC jumps (both ways); the world does not
    c.hold = 0
    c._anchor()


def op_console(r):
    import service
    import stateful_check
    service.attach(A)
    fn = r["fn"]
    CTX[0] = "console:login"
    try:
        if not service._logged_in(A.clock.now_s()):
            service.login(r["code"])
    except ValueError as e:
        print("console: login refused: %s" % e)
    except Exception as e:
        viol("escaped_console", "login: %s %r" % (type(e).__name__, e))
    CTX[0] = "console:" + fn
    before = stateful_check.snapshot()
    res = None
    try:
        res = getattr(service, fn)(*r.get("args", []), **r.get("kw", {}))
    except (ValueError, service.Denied) as e:
        res = "error: %s" % e
        stateful_check.unchanged(before, "console " + fn)
    except Exception as e:               # the REPL shows a traceback: the meter runs on
        res = "error: %s %r" % (type(e).__name__, e)
        viol("escaped_console", "%s: %s %r" % (fn, type(e).__name__, e))
    finally:
        CTX[0] = "tick"
    return {"console": res if res is None or isinstance(res, (str, int, bool)) else str(res)}


def op_fault(r):
    DEV.fail(r["after"], r["count"])


def op_link(r):
    BROKER.set_up(r["up"])


OPS = {"cmd": op_cmd, "sim": op_sim, "tick": op_tick, "jump": op_jump, "console": op_console,
       "fault": op_fault, "link": op_link, "probe": lambda r: None}


def answer(extra, ram=True):
    import stateful_check
    acks, evt_pub = [], []
    for topic, payload, qos, retain in BROKER.published:
        if topic.endswith("/ack"):
            try:
                acks.append(json.loads(payload))
            except ValueError:
                acks.append({"unparsable": repr(payload)})
        elif topic.endswith("/evt"):
            evt_pub.append(payload.decode())
    BROKER.published = []
    st = stateful_check.summary(ram)       # first: its record checks add violations
    res = {"acks": acks, "pub": evt_pub, "evts": stateful_check.kept_events(), "viol": VIOL[:],
           "st": st, "vms": VTime.ms}
    res.update(extra)
    del EVTS[:]
    del VIOL[:]
    out(res)


def end(how, detail=""):
    """The device stops here: report and exit without any shutdown code. After a power cut
    nothing more is read from the flash (LittleFS was interrupted mid-operation)."""
    try:
        if how == "cut":
            raise RuntimeError("no summary after a power cut")
        answer({"end": how, "detail": detail}, ram=how != "crash")
    except BaseException as e:          # no summary: still say how it ended
        acks = []
        for topic, payload, qos, retain in BROKER.published:
            if topic.endswith("/ack"):
                acks.append(json.loads(payload))
        out({"end": how, "detail": detail if how == "cut" else detail + " / no summary: %r" % e,
             "acks": acks, "pub": [], "evts": [e[:4] for e in EVTS], "viol": VIOL, "st": None,
             "vms": VTime.ms})
    sys.exit(0)


def main():
    global RUN
    with open(sys.argv[1] + "/run.json") as f:
        RUN = json.load(f)
    RUN["workdir"] = sys.argv[1]
    try:
        boot()
    except stateful_flash.PowerCut:
        end("cut", "during boot")
    except machine.Reset as e:
        end("reset", str(e))
    except Exception as e:
        sys.print_exception(e)
        end("crash", "boot: %s %r" % (type(e).__name__, e))
    answer({"booted": True, "mode": A.minimal and "minimal" or "normal"})
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        r = json.loads(line)
        op = r["op"]
        if op == "shutdown":                 # a clean stop, as App.run ends after Ctrl-C
            CTX[0] = "shutdown"
            failed = A.shutdown()
            vm = getattr(A.board, "valve_model", None)
            if vm is not None and vm.close_pin.value() and not vm.open_pin.value():
                vm.pos = 0      # the shell powers the motor to the closed stop (docs/gas.md §8)
            end("shutdown", "steps that failed: %r" % (failed,) if failed else "")
        if op == "cut_now":
            end("cut", "between operations")
        if "cut_after" in r:
            DEV.cut(r["cut_after"])
        extra = None
        try:
            extra = OPS[op](r)
        except stateful_flash.PowerCut:
            end("cut", "at block write %d" % DEV.writes)
        except machine.Reset as e:
            end("reset", str(e))
        except Exception as e:
            sys.print_exception(e)
            end("crash", "%s: %s %r" % (CTX[0], type(e).__name__, e))
        if "cut_after" in r:                 # the cut did not come inside the operation
            end("cut", "after the operation")
        gc.collect()
        answer(extra or {})


main()
