# Technician console: `import service` at the meter's REPL (docs/field-guide.md).
# Open to anyone at the port (read-only): help() status() events(n) history() selftest()
#   token("digits") (the same entry a consumer makes at the keypad)
# Privileged (after login): selftest(exercise=True) calibrate(**k) config(**patch)
#   clear(alarm) supply("on"|"off"|"button") resume()
# login() takes either the meter's service PIN (salted hash in service.json, set by
# tools/provision_device.py) or a service code from the head-end:
#   "<expiry_s>-<tech>-<16 hex>" = HMAC-SHA256(meter key, "service|<id>|<expiry_s>|<tech>")
# truncated to 8 bytes. The code is the preferred way: it names the technician for the
# audit, expires by itself (at most CODE_MAX_S ahead) and needs no secret shared between
# meters. The PIN is the fallback for a site without coverage. Every privileged action and
# every failed login is emitted as a `service` event (then saved), so the head-end sees it.
import json
import sys
import time

W = 80                       # an 80-column terminal

class Denied(Exception):
    pass


_app = None
_session = None              # (who, until_s)


def attach(app):
    """Use this app object (tests); by default the running firmware's app.APP."""
    global _app
    _app = app


def _a():
    if _app is not None:
        return _app
    import app
    if getattr(app, "APP", None) is None:
        raise RuntimeError("the firmware is not running (safe mode?): resume() starts it")
    return app.APP


def _now():
    a = _a()
    return a.clock.now_s() if getattr(a, "clock", None) else int(time.time())


def _root():
    a = _a()
    r = getattr(a, "flash", None) or getattr(getattr(a, "store", None), "root", None)
    return r or "."


def _line(s):
    print(s if len(s) <= W else s[:W - 3] + "...")


def _kv(d, indent=""):
    for k in sorted(d):
        _line("%s%-16s %s" % (indent, k, json.dumps(d[k])))


def _read_json(name):
    try:
        with open(_root() + "/" + name) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---- open functions ------------------------------------------------------------------
def help():
    print(__doc__ if __doc__ else "see docs/field-guide.md")
    for n in ("status()", "events(n=10)", "history()", "selftest(exercise=False)",
              "token('digits')", "login('pin' or 'code')", "logout()", "calibrate(**k)",
              "config(**patch)", "clear('alarm')", "supply('on'|'off'|'button')",
              "resume()"):
        _line("  " + n)


def status():
    a = _a()
    now = _now()
    st = dict(a.prepay.status(now))
    st["now_s"] = now
    g = sys.modules.get("hal.guard")       # loaded by boot.py on a board, absent on unix
    if g is not None:
        st["mode"] = g.MODE
        st["reset"] = g.CAUSE
    st["kind"] = getattr(a.driver, "KIND", "?")
    st["login"] = _session[0] if _logged_in(now) else None
    _kv(st)


def events(n=10):
    a = _a()
    log = getattr(a, "eventlog", None)
    evs = list(log.tail(n)) if log is not None else []
    last = evs[-1]["seq"] if evs else -1
    # events the stopped loop has not drained into the log yet (e.g. this session's)
    evs = (evs + [e for e in a.prepay.pending_events() if e["seq"] > last])[-n:]
    for e in evs:
        # the field that says what happened first, so it survives the 80-column cut
        ks = sorted(k for k in e if k not in ("seq", "ts", "type", "action", "name"))
        ks = [k for k in ("action", "name") if k in e] + ks
        rest = " ".join("%s=%s" % (k, json.dumps(e[k])) for k in ks)
        _line("%6d %10d %-12s %s" % (e["seq"], e["ts"], e["type"], rest))
    return len(evs)


def history():
    a = _a()
    h = getattr(a.prepay, "hist", None) or getattr(a.prepay, "history", None)
    v = h.view(31) if h is not None else {"days": [], "months": []}
    _line("%-10s %12s %12s" % ("day", "use", "cost_minor"))
    for r in v["days"]:
        _line("%-10s %12d %12d" % tuple(r))
    _line("%-10s %12s %12s" % ("month", "use", "cost_minor"))
    for r in v["months"]:
        _line("%-10s %12d %12d" % tuple(r))


def _read_part(p):
    for m in ("read_uv", "value", "any"):
        f = getattr(p, m, None)
        if f is not None:
            try:
                return m, f()
            except Exception as e:
                return m, "error %r" % e
    return None


def selftest(exercise=False):
    """Read every sensor the board exposes; with exercise=True (privileged) also run the
    driver's own actuator test, which the driver refuses where safety rules forbid it."""
    a = _a()
    now = _now()
    ok = True
    for name in sorted(dir(a.board)):
        if name.startswith("_") or name in ("clock", "sim", "cfg"):
            continue
        r = _read_part(getattr(a.board, name))
        if r is not None:
            ok = ok and not (isinstance(r[1], str) and r[1].startswith("error"))
            _line("  %-16s %-8s %s" % (name, r[0], r[1]))
    if exercise:
        _need("selftest")

        def act(done):
            if getattr(a, "minimal", False):        # crash loop: actuators held safe
                raise ValueError("minimal mode: the actuator test is held")
            res = None
            for op in ("selftest", "selfcheck"):
                res = a.driver.op(op, {}, now)
                if res is not None:
                    break
            _audit("selftest", now, result=res)
            return res
        import service_admin
        res = service_admin.atomic(a, act)
        _line("  actuator test: %s" % (res if res is not None else "not offered by driver"))
        ok = ok and res in ("ok", None)
    _line("selftest: %s" % ("ok" if ok else "FAULT"))
    return ok


def token(digits):
    a = _a()
    if hasattr(a, "token") and getattr(a, "entry", None) is not None:
        res = a.token(digits, _now())        # the app's boundary: nothing escapes
    else:
        from paygo.entry import TokenEntry
        te = getattr(a, "entry", None) or TokenEntry(a.prepay, getattr(a, "cfg", {}) or {})
        import service_admin
        res = service_admin.atomic(a, lambda done: te.enter(digits, _now()))
    _kv(res)
    return res["result"]


# ---- authentication (service_auth.py, imported on first login to spare the heap) ------
def _logged_in(now):
    return _session is not None and now < _session[1]


def login(secret):
    """PIN (digits) or service code; a bad one counts toward the lockout (ValueError)."""
    global _session
    import service_auth
    import service_admin
    now = _now()
    c = getattr(_a(), "clock", None)
    mono = c.mono_s() if c is not None and hasattr(c, "mono_s") else None

    def act(done):
        global _session
        s = service_auth.login(secret, now, _root(), _audit, mono)   # a bad one: audited, ValueError
        _session = s                     # the audit names who logged in
        try:
            _audit("login", now)
        except BaseException:
            _session = None
            raise
        return s
    # a flash that cannot be written: ValueError("storage: ..."), no session, ledger as it was
    service_admin.atomic(_a(), act, refusal_saved=True)
    _line("logged in as %s until %d" % _session)
    return True


def logout():
    global _session
    _session = None


def _need(action):
    if not _logged_in(_now()):
        raise Denied("%s needs login('<PIN>') or login('<service code>')" % action)


def _audit(action, now, **fields):
    p = _a().prepay
    p.emit("service", now, action=action, by=_session[0] if _session else None, **fields)
    p.save()


# ---- privileged functions (service_admin.py, imported on first use to spare the heap) --
def calibrate(**k):
    _need("calibrate")
    import service_admin
    return service_admin.calibrate(_a(), _now(), _audit, k)


def config(**patch):
    a = _a()
    if not patch:
        import service_admin
        _kv(service_admin.redacted(getattr(a, "cfg", None) or {}))
        return
    _need("config")
    import service_admin
    return service_admin.config(a, _now(), _audit, patch)


def clear(alarm):
    _need("clear")
    import service_admin
    return service_admin.clear(_a(), _now(), _audit, alarm)


def supply(action):
    """on/off as a remote command would (a safety latch is never bypassed); button = the
    local confirmation a resident gives at the meter (gas: runs its leak check first)."""
    _need("supply")
    import service_admin
    return service_admin.supply(_a(), _now(), _audit, action)


def resume():
    """Leave the console: the firmware restarts (ESP32: machine.reset; unix port: exit).
    Open to all: returning a meter to service is always safe. Also starts a firmware that
    never ran (safe mode, or no config at the last start)."""
    try:
        now = _now()
        import service_admin                 # a failed audit: ValueError("storage: ..."), no restart
        service_admin.atomic(_a(), lambda done: _audit("resume", now))
        flash = _root()
    except RuntimeError:                     # no running app: nothing to audit yet
        flash = "."
    logout()
    g = sys.modules.get("hal.guard")
    if g is not None:
        g.end_service()
    try:
        import machine
        reset = getattr(machine, "reset", None)
    except ImportError:
        reset = None
    if reset is not None:
        reset()                              # a board: restart through boot.py
    # unix port: end the process as a reset would; its supervisor (the service loop of a
    # host install, or the test's shell loop) starts main.py again from flash.
    print("resume: restarting the firmware from %s" % flash)
    raise SystemExit(0)
