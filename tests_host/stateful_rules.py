"""The documented latch rules and the physical world, as the whole-meter stateful test's
model (tests_host/stateful_model.py) reads them.

Each latch clears by its own rule, and the boundary an alarm_clear event came from says
which rule was used: "cmd:clear" (remote clear), "console:clear" (technician), "button"
(the resident at the meter), "tick" (the meter by itself). Sources:
- docs/electricity.md §6-8: overload and malicious_load reclose by themselves `restore_s` /
  `reclose_s` after the trip unless locked out; remote clear or console any time. Over/under
  voltage clear by themselves after `normal_s` back in band; a remote clear is refused while
  the voltage is out of band.
- docs/gas.md §4: the resident-clearable shutoffs clear by the button (or remote); tamper and
  valve_fault only remotely; low_voltage only by itself, once the cell reads >= recover_mv
  for battery_confirm samples.
- docs/water.md §6: battery_park clears itself when the cell is back above battery_low_mv +
  100 mV; burst (closing) and magnetic_attack (closing) by a remote clear or the technician,
  magnetic_attack never while the field is present.
A safety timer is judged in world time (seconds the meter really lived), never by its clock."""

RESIDENT = ("over_flow", "flow_surge", "uncontrolled_flow", "long_use", "seismic",
            "leak_on_restore", "restart_closed")
REMOTE = ("cmd:clear", "console:clear")
MARGIN_MV = 2000            # the BL0942's voltage quantisation and the sim's rounding


def initial_world(kind):
    if kind == "electricity":
        return {"voltage_v": 230, "load_w": 0, "pf": 1.0}
    if kind == "gas":
        return {"flow_lph": 0, "battery_mv": 3600, "tamper": False, "vibration_gal": 0}
    return {"flow_lph": 0, "battery_mv": 3650, "magnet": False, "empty_pipe": False}


def in_band(world, thr):
    """True, False, or None when too close to a threshold to tell."""
    mv = world["voltage_v"] * 1000
    lo, hi = thr.get("low_mv", 180000), thr.get("high_mv", 265000)
    if lo + MARGIN_MV <= mv <= hi - MARGIN_MV:
        return True
    if mv < lo - MARGIN_MV or mv > hi + MARGIN_MV:
        return False
    return None


def _conditions(kind, world, thr):
    if kind == "electricity":
        return {"vin": in_band(world, thr)}
    if kind == "gas":
        return {"bat_ok": world["battery_mv"] >= thr.get("recover_mv", 3400)}
    return {"bat_ok": world["battery_mv"] >= thr.get("battery_low_mv", 3300) + 100}


def world_update(m, act, ans):
    """Apply the sim message the host sent, unless the meter rejected it (sim_rejected)."""
    msg = act.get("sim")
    if not isinstance(msg, dict):
        return
    if any(ev.get("type") == "sim_rejected" for _, ctx, ev, _ in ans.get("evts", ())):
        return
    for k, v in msg.items():
        if k in m.world:
            m.world[k] = v
    _since(m, m.st["mono"] if m.st else 0)


def _since(m, mono):
    thr = m.st["thr"] if m.st else {}
    for k, v in _conditions(m.kind, m.world, thr).items():
        if not v:
            m.since[k] = None if v is False else m.since.get(k)
        elif m.since.get(k) is None:
            m.since[k] = mono


def track(m, prev, st, act):
    m.st = st
    _since(m, prev["mono"] if prev else st["mono"])


def latch_clear_bad(m, name, ctx, mono):
    """Why clearing latch `name` from boundary `ctx` at world time `mono` breaks its rule,
    or None."""
    if ctx == "shutdown":
        return "a latch cleared while the meter stopped"
    thr = m.st["thr"] if m.st else {}
    w = m.world
    k = m.kind
    if k == "electricity":
        if name in ("overload", "malicious_load"):
            if ctx in REMOTE:
                return None
            if ctx != "tick":
                return "not a way to clear it"
            trip = m.trips.get(name)
            if trip is None:
                return None
            t0, action, tthr = trip
            if action == "lockout":
                return "a lockout reclosed by itself"
            need = tthr.get("restore_s" if name == "overload" else "reclose_s", 0)
            if mono - t0 < need:
                return "reclosed %d s of world time after the trip, the delay is %d s" % (
                    mono - t0, need)
            return None
        if name in ("over_voltage", "under_voltage"):
            if ctx in REMOTE:
                return None if in_band(w, thr) is not False else \
                    "remote clear accepted at %s V, out of band" % w["voltage_v"]
            if ctx != "tick":
                return "not a way to clear it"
            since = m.since.get("vin")
            if since is None:
                return "cleared itself at %s V" % w["voltage_v"] if in_band(w, thr) is False else None
            if mono - since < thr.get("normal_s", 30) - 1:
                return "cleared itself after %d s in band, normal_s %d" % (
                    mono - since, thr.get("normal_s", 30))
        return None
    if k == "gas":
        if name in RESIDENT:
            return None if ctx in REMOTE + ("button",) else "not a way to clear it"
        if name in ("tamper", "valve_fault"):
            return None if ctx == "cmd:clear" else "only a remote clear may clear it"
        if name == "low_voltage":
            ok = w["battery_mv"] >= thr.get("recover_mv", 3400)
            if ctx == "tick":
                since = m.since.get("bat_ok")
                if since is None or mono - since < thr.get("battery_confirm", 3) - 1:
                    return "cleared itself with the cell at %d mV" % w["battery_mv"]
                return None
            if ctx in REMOTE and ok:
                return None
            return "cleared by %s with the cell at %d mV" % (ctx, w["battery_mv"])
        return None
    if name == "battery_park":
        if ctx == "tick" and m.since.get("bat_ok") is not None:
            return None
        return "cleared by %s with the cell at %d mV" % (ctx, w["battery_mv"])
    if name == "burst":
        if ctx in REMOTE:
            return None
        return "a closing burst cleared by " + ctx if thr.get("burst_close") else None
    if name == "magnetic_attack":
        if ctx in REMOTE:
            return None if not w["magnet"] else "cleared while the magnet is present"
        return "cleared by " + ctx
    return None


def signature(kind, st):
    """A state's identity for the distinct-states count: supply, latches, alarms, the
    balance against the cut-off, the actuator, the leak-check phase, the boot mode, the
    link, the keypad lockout."""
    bal, cut = st["bal"], st["cfg"]["cutoff_minor"]
    bucket = "cut" if bal <= cut else ("low" if bal - cut < 1000 else "ok")
    if bal < 0:
        bucket += "-neg"
    act = st.get("relay") or st.get("valve")
    pg = st.get("paygo") or {}
    return (st["supply"], tuple(st["latches"]), tuple(st["alarms"]), bucket, act,
            st.get("check"), st["minimal"], st["link_up"], bool(pg.get("locked_s")))


def gas_event(self, ev, ctx, mono, ml, expect_on):
    """docs/gas.md §1: a leak check starts only from the button or an allowed selfcheck,
    passes only after check_s seconds of world time watching the open valve with no more
    gas really delivered (ml: the sim board's ground truth) than its budget, and supply `on`
    comes only right after a pass. Returns whether the next event may be that `on`.
    self: the model."""
    t = ev.get("type")
    if t == "leak_check":
        r = ev.get("result")
        if r == "started":
            if not ((ev.get("via") == "button" and ctx == "button") or
                    (ev.get("via") == "selfcheck" and ctx == "cmd:selfcheck")):
                self.bad("check_without_confirmation", "%s from %s" % (ev, ctx))
            self.check = {"mono": mono, "check_s": ev.get("check_s"), "open": None,
                          "thr": dict(self.st["thr"]) if self.st else {}}
        elif r == "pass":
            c = self.check
            self.check = None
            if c is None:
                self.bad("leak_check", "pass without a started check: %s" % ev)
                return True
            t0, ml0 = c["open"] or (c["mono"], ml)
            if mono - t0 < c["check_s"]:
                self.bad("leak_check_short", "passed after %d s of world time, check_s %d "
                         "(%s)" % (mono - t0, c["check_s"], ev))
            budget = c["thr"].get("leak_lph", 5) * 1000 * c["check_s"] // 3600
            if ml is not None and ml - ml0 > budget + 10:
                self.bad("leak_check_flow", "passed with %d mL really delivered, budget %d mL"
                         % (ml - ml0, budget))
            return True
        elif r in ("fail", "abort"):
            self.check = None
    elif t == "valve" and ev.get("position") == "open" and self.check and not self.check["open"]:
        self.check["open"] = (mono, ml)
    elif t == "supply" and ev.get("state") == "on" and not expect_on:
        self.bad("gas_on_without_check", "%s from %s" % (ev, ctx))
    return False
