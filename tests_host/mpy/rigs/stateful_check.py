# The checks of the whole-meter stateful test that need the meter's RAM (stateful_rig.py
# calls them; the host keeps the model of what must hold over time, test_stateful_meter.py):
#   - hooks: every event with the world time and the boundary it came from, the button as
#     its own boundary, and every command through the link with its ack;
#   - a rejected command or console action changes nothing (record, driver state, events);
#   - an exception out of the app's command handler (the link would swallow some of them);
#   - after every loop pass: the actuators follow the supply state (fail safe);
#   - after every operation: the ledger identity, and the record (RAM and flash) loads back.
import json

R = None                       # the rig module
KEPT = set()                   # events handed to the outbox in this operation (their JSON)
SAW_RECORD = [False]
_bad_since = [None]
SPAN = 1000                    # simparts.ValveModel.SPAN


def install(rig):
    global R
    R = rig
    SAW_RECORD[0] = rig.RUN.get("had_record", False)
    a = rig.A
    p = a.prepay
    real_emit = p.emit

    def emit(type, now_s, **fields):
        ev = real_emit(type, now_s, **fields)
        R.EVTS.append([R.mono(), R.CTX[0], dict(ev), _tag(), json.dumps(ev)])
        if ev["seq"] <= R.A.outbox.last_seq:
            # the outbox already holds this seq: it will drop this event (and so would the
            # head-end's dedupe), docs/protocol.md: an event's seq is never reused
            R.viol("event_seq_reused", "%s got seq %d, the outbox already holds up to %d" % (
                type, ev["seq"], R.A.outbox.last_seq))
        return ev
    p.emit = emit
    d = a.driver
    real_button = d.button

    def button(now_s):
        was = R.CTX[0]
        R.CTX[0] = "button"
        try:
            return real_button(now_s)
        finally:
            R.CTX[0] = was
    d.button = button
    real_on_message = a.link.on_message

    def on_message(topic, payload, retained):
        if not bytes(topic).endswith(b"/cmd"):
            return real_on_message(topic, payload, retained)
        R.CTX[0] = "cmd:" + _opname(payload)
        try:
            before = snapshot()
        except Exception as e:          # the rig's own bug: say so, never break the link
            R.viol("rig_error", "snapshot: %s %r" % (type(e).__name__, e))
            before = None
        n0 = len(R.BROKER.published)
        try:
            real_on_message(topic, payload, retained)
        except Exception as e:
            R.viol("handler_raised", "%s %s %r" % (R.CTX[0], type(e).__name__, e))
            raise
        finally:
            R.CTX[0] = "tick"
        for t, body, q, ret in R.BROKER.published[n0:]:
            if t.endswith("/ack"):
                try:
                    ok = json.loads(body).get("ok")
                except ValueError:
                    ok = None
                if ok is False:
                    unchanged(before, "rejected command %s" % body[:120])
    a.link.on_message = on_message
    ob = a.outbox
    real_append = ob.append

    def append(ev):
        KEPT.add(json.dumps(ev))
        return real_append(ev)
    ob.append = append


def kept_events():
    """The events emitted in this operation that the meter kept: handed to the outbox or still
    pending in the record. An event emitted by a change the firmware then rolled back (a
    save that failed) never leaves the meter, and its seq is numbered again."""
    pend = set(json.dumps(e) for e in R.A.prepay.pending_events())
    out = [e for e in R.EVTS if e[4] in KEPT or e[4] in pend]
    KEPT.clear()
    return [e[:4] for e in out]


def _tag():
    # gas: the volume the sim board has really delivered (the leak check's ground truth)
    b = R.A.board
    return b._ml_x3600 // 3600 if hasattr(b, "_ml_x3600") else None


def _opname(payload):
    try:
        body = bytes(payload)
        i = body.rfind(b"\n")
        op = json.loads(body[:i] if i >= 0 else body).get("op")
        return op if isinstance(op, str) else "?"
    except Exception:
        return "?"


# ---- a rejection changes nothing -------------------------------------------------------------
def _driver_state():
    d = R.A.driver
    k = d.KIND
    if k == "electricity":
        m = d.b.clock.mono_s()
        return {"over": d.over, "ml": d.ml.to_dict(m), "ol": d.overload.rec.to_dict(m),
                "cfg": [d.rcfg, d.mcfg, d.ocfg, d.vcfg]}
    if k == "gas":
        return {"over": d.over, "s": d.s, "check": d.check.phase, "valve": d.valve.to_dict()}
    st = d._state()
    for x in ("fs", "sess", "seq", "al", "sup"):
        st.pop(x, None)
    st["cfg"] = d.cfg
    return st


def snapshot():
    rec = R.A.prepay.to_dict()
    rec = dict(rec)
    for k in ("cmd", "pend"):      # the seq of a rejected command may be recorded (replay floor)
        rec.pop(k, None)
    return json.dumps({"rec": rec, "drv": _driver_state()})


def unchanged(before, what):
    if before is None:
        return
    after = snapshot()
    if after == before:
        return
    b, a = json.loads(before), json.loads(after)
    if a == b:
        return
    diff = []
    for part in ("rec", "drv"):
        for k in a[part]:
            if a[part][k] != b[part].get(k):
                diff.append("%s.%s" % (part, k))
    R.viol("reject_changed", "%s changed %s" % (what, ",".join(diff)))


# ---- fail safe after every loop pass ----------------------------------------------------------
def after_step(ticked):
    """ticked: a metering (or minimal-mode) tick ran in this pass; the actuators follow the
    supply state from the tick after it changed (docs/electricity.md §5, docs/gas.md §1)."""
    a = R.A
    st = a.prepay.supply.state
    k = a.driver.KIND
    bad = None
    if k == "gas":
        vm = a.board.valve_model
        check = a.driver.check.active
        ok_open = not a.minimal and (st == "on" or (st == "armed" and check))
        if ticked and vm.open_pin.value() and not ok_open:
            R.viol("gas_valve_driven_open", "supply %s check %s minimal %s" %
                   (st, a.driver.check.phase, a.minimal))
        if vm.pos > SPAN * 2 // 100 and not ok_open:
            bad = ("gas valve %d/1000 open (driver: %s, check %s) in %s%s" % (
                vm.pos, a.driver.valve.position, a.driver.check.phase, st,
                " minimal mode" if a.minimal else ""), 10)
    elif k == "electricity":
        w = a.board.world
        if w.closed and st in ("off_safety", "off_remote"):
            bad = ("relay closed in " + st, 3)
        elif w.closed and st == "off_credit":
            bad = ("relay closed in off_credit", a.driver.rcfg["credit_wait_max_s"] + 3)
    else:
        vm = a.board.valve_model
        if vm.pos > SPAN * 2 // 100 and st != "on" and not a.driver.valve.fault and not (
                a.driver.batt == 2 and a.driver.cfg["valve_safe"] == "open"):
            bad = ("water valve not closed in " + st, 30)
    now = R.phys()
    if bad is None:
        _bad_since[0] = None
    elif _bad_since[0] is None:
        _bad_since[0] = [now, False]
    elif not _bad_since[0][1] and now - _bad_since[0][0] > bad[1]:
        _bad_since[0][1] = True
        R.viol("actuator_not_safe", "%s for %d s" % (bad[0], now - _bad_since[0][0]))


# ---- after every operation ---------------------------------------------------------------------
class MemStore:
    """A scratch store in RAM, seeded with records (the reload checks write nothing)."""

    def __init__(self, recs):
        self.recs = recs
        self.reasons = {}

    def load(self, name):
        return self.recs.get(name)

    def save(self, name, obj):
        self.recs[name] = json.loads(json.dumps(obj))


def _reload(rec, what):
    from core.prepay import Prepay
    a = R.A
    p = a.prepay
    try:
        from core.store import Store
        floor = Store(R.FLASH).load("floor")       # the replay floors live on their own record
        p2 = Prepay(MemStore({"prepay": rec, "floor": floor}), p.kind, a.cfg, a.clock.now_s(),
                    arms=True if p._forced_arms else None, seq_floor=a.outbox.last_seq)
    except Exception as e:
        R.viol("record_refused", "%s: %s %r" % (what, type(e).__name__, e))
        return None
    if p2.recovered:
        R.viol("record_refused", "%s: %s" % (what, p2.recovered))
        return None
    return p2


def check_record(ram=True):
    """ram: also check the RAM record (not after a crash: the device lost its RAM there)."""
    p = R.A.prepay
    led = p.led
    if ram and (not led.consistent() or not 0 <= led.rem_micro < 1000000):
        R.viol("ledger", "balance %d != credits %d - charges %d - standing %d - recovered %d"
               " (rem %d)" % (led.balance_minor, led.credits_minor, led.charges_minor,
                             led.standing_minor, led.recovered_minor, led.rem_micro))
    text = json.dumps(p.to_dict())
    p2 = _reload(json.loads(text), "RAM record saved now") if ram else None
    if p2 is not None:
        ref = json.loads(text)
        got = p2.to_dict()
        if got != ref:
            diff = [k for k in ref if got.get(k) != ref[k]]
            R.viol("record_roundtrip", "RAM record reloads different in " + ",".join(diff))
    from core.store import Store
    flash_latches = None
    try:
        d = Store(R.FLASH).load("prepay")
    except Exception as e:
        d = None
        R.viol("record_refused", "flash load: %s %r" % (type(e).__name__, e))
    if d is None:
        if SAW_RECORD[0]:
            R.viol("record_refused", "no valid prepay record on flash")
    else:
        SAW_RECORD[0] = True
        sup = d.get("sup")
        flash_latches = sorted(sup.get("latches", {})) if isinstance(sup, dict) else None
        _reload(d, "flash record")
    return flash_latches


def summary(ram=True):
    a = R.A
    p = a.prepay
    led = p.led
    cr = p.cr
    st = {"t": a.clock.now_s(), "mono": R.mono(),
          "clock_ok": bool(getattr(a.clock, "ok", False)), "minimal": a.minimal,
          "supply": p.supply.state, "latches": sorted(p.supply.latches),
          "alarms": sorted(p.alarms), "bal": led.balance_minor, "credits": led.credits_minor,
          "charges": led.charges_minor, "standing": led.standing_minor,
          "recovered": led.recovered_minor, "debt": cr["debt"], "ec": cr["ec"],
          "fired": list(cr["fired"]), "last_seq": p.cmd.get("last_seq", 0),
          "txns": list(led.txns), "next_seq": p.next_seq, "outbox": len(a.outbox),
          "link_up": a.link.up(), "cfg": {"cutoff_minor": p.cfg.get("cutoff_minor", 0),
                                          "recharge_max_minor": p.cfg["recharge_max_minor"],
                                          "debt_minor": p.cfg.get("debt_minor", 0),
                                          "debt_pct": p.cfg.get("debt_pct", 0),
                                          "debt_cap_minor": p.cfg.get("debt_cap_minor", 0),
                                          "debt_cap_period": p.cfg.get("debt_cap_period")},
          "writes": R.DEV.writes, "faults": R.DEV.faults}
    te = a.token_entry
    if te is not None:
        st["paygo"] = {"last": te.st["last"], "fails": te.st["fails"],
                       "locked_s": te.locked_s(a.clock.now_s())}
    d = a.driver
    if d.KIND == "electricity":
        w = a.board.world
        st["relay"] = "closed" if w.closed else "open"
        st["phys"] = {"relay_closed": w.closed}
        st["volt_fault"] = d.volt.fault
        st["thr"] = {"normal_s": d.vcfg["normal_s"], "high_mv": d.vcfg["high_mv"],
                     "low_mv": d.vcfg["low_mv"], "restore_s": d.ocfg["restore_s"],
                     "reclose_s": d.mcfg["reclose_s"]}
    elif d.KIND == "gas":
        st["valve"] = d.valve.position
        st["phys"] = {"valve_pos": a.board.valve_model.pos}
        st["check"] = d.check.phase
        st["bat"] = d.bat.level
        st["delivered_ml"] = a.board._ml_x3600 // 3600
        st["thr"] = {"check_s": d.s["check_s"], "leak_lph": d.s["leak_lph"],
                     "recover_mv": d.s["recover_mv"], "battery_confirm": d.s["battery_confirm"],
                     "selfcheck": d.s["selfcheck"]}
    else:
        st["valve"] = d.valve.position
        st["phys"] = {"valve_pos": a.board.valve_model.pos}
        st["batt"] = d.batt
        st["thr"] = {"battery_low_mv": d.cfg["battery_low_mv"], "burst_close": d.cfg["burst_close"],
                     "magnet_close": d.cfg["magnet_close"], "valve_safe": d.cfg["valve_safe"]}
    st["flash_latches"] = check_record(ram)
    return st
