# The technician console's privileged actions (service.py imports this on first use, after
# login): each validates every part before applying any and runs through atomic(), so a
# failure inside, or a save that cannot be written, changes nothing (docs/field-guide.md).
# service.py checks the login and hands each action the running app `a`, the time `now`
# and its `audit(action, now, **fields)`.
import service


def atomic(a, act, refusal_saved=False):
    """Run a console action of the running app `a` so that nothing escapes half done: any
    failure inside (a failed save included) puts the ledger back as it was (and the driver
    part, through its undo) and answers a specific ValueError ("storage: ..." or
    "internal: ...").
    refusal_saved: a ValueError is a refusal already audited on flash (login), kept as is."""
    p = a.prepay
    snap = p.snapshot() if hasattr(p, "snapshot") else None
    done = []
    try:
        r = act(done)
        _act_now(a)
        return r
    except service.Denied:
        raise
    except Exception as e:
        if refusal_saved and isinstance(e, ValueError):
            raise
        for u in done:
            try:
                u()
            except Exception:
                pass                    # the driver retries its own record
        if snap is not None:
            p.rollback(snap)
        if isinstance(e, ValueError):
            raise
        why = ("%s: %s" % (type(e).__name__, e))[:60]
        raise ValueError(("storage: nothing changed (%s)" if isinstance(e, OSError)
                          else "internal: nothing changed (%s)") % why)


def _act_now(a):
    # the loop acts on a console change at its next pass, as after a remote command (a water
    # valve follows a supply change at once, docs/water.md), not at the next timer wake
    c = getattr(a, "clock", None)
    if getattr(a, "next_tick_s", None) is not None and c is not None:
        a.next_tick_s = min(a.next_tick_s, c.now_s() + 1)


def redacted(cfg):
    # never show a secret on the console (the paygo key, credentials)
    out = {}
    for k in cfg:
        v = cfg[k]
        if k in ("key", "password"):
            v = "<set>"
        elif isinstance(v, dict):
            v = redacted(v)
        out[k] = v
    return out


def calibrate(a, now, audit, k):
    def act(done):
        res = a.driver.op("calibrate", k, now)
        if res is None:
            raise ValueError("this meter has no metering IC to calibrate")
        audit("calibrate", now, keys=sorted(k), result=res)
        return res
    return atomic(a, act)


def config(a, now, audit, patch):
    from core.command_ops import APP_KEYS, check_app
    keys = getattr(a.driver, "CONFIG_KEYS", ())
    mine = dict((k, v) for k, v in patch.items() if k in keys)
    app = dict((k, v) for k, v in patch.items() if k in APP_KEYS)    # the shell's (report_s)
    core = dict((k, v) for k, v in patch.items() if k not in keys and k not in APP_KEYS)
    check_app(app)
    check = getattr(a.driver, "check_config", None)
    if mine and check is not None:
        check(mine, now)                     # every part validated before any is applied

    def act(done):
        if core:
            a.prepay.configure(core, now)    # validates all its keys, then applies
        if app:
            merged = dict(a.prepay.cmd.get("app", {}))
            merged.update(app)
            a.prepay.cmd["app"] = merged     # saved with the audit, as the config op does
        if mine and hasattr(a.driver, "configure"):
            undo = a.driver.configure(mine, now)   # writes its record first
            if undo is not None:
                done.append(undo)
        audit("config", now, keys=sorted(patch))
    atomic(a, act)


def clear(a, now, audit, alarm):
    from core.command_ops import may_clear
    owners = getattr(getattr(a, "commands", None), "alarm_owners", {})
    if not may_clear(a.driver, owners, alarm, False):
        raise ValueError("%s cannot be cleared here (safety rule)" % alarm)

    def act(done):
        a.prepay.alarm_clear(alarm, now)     # ValueError if not active
        audit("clear", now, alarm=alarm)
        if alarm == "crash_loop":            # minimal mode's exit (docs/field-guide.md)
            from hal import guard
            guard.clear_crash_loop()
    atomic(a, act)


def supply(a, now, audit, action):
    if action not in ("on", "off", "button"):
        raise ValueError("supply action must be 'on', 'off' or 'button'")

    if action == "button" and getattr(a, "minimal", False):
        raise ValueError("minimal mode: the button is held (clear crash_loop first)")

    def act(done):
        if action == "button":
            a.driver.button(now)
        else:
            a.prepay.supply_command(action == "on", now)
        audit("supply", now, action2=action, state=a.prepay.supply.state)
        return a.prepay.supply.state
    return atomic(a, act)
