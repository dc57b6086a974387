# The app's side of over-the-air updates (docs/ota.md): the signed `ota` command, the chunk
# transfer on <root>/<id>/ota/get and ota/data, the step the loop calls once per pass, and
# the session hint for a meter that is not always online. app.py calls attach() and step();
# everything else is wired here so the shell stays small. The transfer machinery
# (ota/update.py) is imported only while an update is in flight.
import json
import os
import sys

from core.check import bool_, int_in, is_id
from ota import slots

RECORD = "ota"
ACTIVE = ("manifest", "wipe", "fetch", "verify", "ready")
PROBATION = ("switch", "trial", "rollback", "fw_trial", "fw_rollback")
SESSION_CHUNKS = 64             # chunks a sleeping meter pulls per radio session (64 KiB)
MANIFEST_MAX = 131072


def _bad(msg):
    raise ValueError("invalid config.json: ota " + msg)


def keys_of(c):
    from ota import rsa
    pub = c.get("pub")
    pubs = pub if isinstance(pub, list) else [pub]
    if not 1 <= len(pubs) <= 2:
        _bad("pub must be one key or a list of two (rotation)")
    try:
        return [rsa.parse_pub(p) for p in pubs]
    except ValueError as e:
        _bad(str(e))


def attach(app):
    """-> Ota, or None when config.json has no "ota" object (updates off).
    ValueError("invalid config.json: ota ...") on a bad one."""
    c = app.conf.get("ota")
    if c is None:
        return None
    if not isinstance(c, dict):
        _bad("must be an object")
    for k in c:
        if k not in ("pub", "session_chunks"):
            _bad("has unknown key " + k)
    n = c.get("session_chunks", SESSION_CHUNKS)
    try:
        int_in(n, "session_chunks", 1, 4096)
    except ValueError as e:
        _bad(str(e))
    return Ota(app, keys_of(c), n)


class Ota:
    def __init__(self, app, keys, session_chunks):
        self.app = app
        self.keys = keys
        self.flash = app.flash
        self.store = app.store
        self.session_chunks = session_chunks
        self.budget = None if app.always_online else 0
        self.rec = self.store.load(RECORD) or {"v": 1}
        self.upd = None
        self.reboot_code = getattr(sys.modules.get("app"), "REBOOT", 3)   # app.REBOOT
        self.get_topic = app.topic + "ota/get"
        self.data_topic = app.topic + "ota/data"
        link = app.link
        link.subscribe_on_connect(self.data_topic, 0)
        prev_msg, prev_conn = link.on_message, link.on_connect

        def on_message(topic, payload, retained):
            t = topic.decode() if isinstance(topic, bytes) else topic
            if t == self.data_topic:
                self.on_data(payload)
            else:
                prev_msg(topic, payload, retained)

        def on_connect(lk):
            if not app.always_online:
                self.budget = self.session_chunks      # a new radio session
            if self.upd is not None:
                self.upd.req = None                    # ask again at once
            prev_conn(lk)
        link.on_message = on_message
        link.on_connect = on_connect
        app.commands.ops["ota"] = self.op
        sys.modules.pop("ota.formats", None)        # ran once, before the records loaded
        self.trial = None                           # ota/trial.py, loaded only when needed
        if self.rec.get("st") in PROBATION or slots.pointer(self.store)["trial"]:
            try:
                self._trial().on_boot(app.clock.now_s())
            except Exception as e:
                # a full or failing flash (or a bug) while finishing a switch, commit or
                # rollback must not keep the meter from starting: the pointer and the loader
                # already chose a complete bundle, and the next boot finishes the job
                sys.print_exception(e)

    def _trial(self):
        if self.trial is None:
            from ota.trial import Trial
            self.trial = Trial(self)
        return self.trial

    # ---- the context ota/update.py works in ------------------------------------------
    def save(self):
        self.store.save(RECORD, self.rec)

    def emit(self, status, now_s=None, **fields):
        a = self.app
        now = a.clock.now_s() if now_s is None else now_s
        ev = {"update": self.rec.get("u"), "status": status}
        for k in fields:
            if fields[k] is not None:
                ev[k] = fields[k]
        e = a.prepay.emit("ota", now, **ev)
        a.prepay.save()                 # numbered and on flash before anything relies on it
        a.drain(now)
        return e

    def send(self, req):
        return self.app.link.publish_now(self.get_topic, json.dumps(req).encode(), qos=0) is not None

    def may_pull(self):
        return self.app.link.up() and (self.budget is None or self.budget > 0)

    def spent(self):
        if self.budget is not None and self.budget > 0:
            self.budget -= 1

    def meter(self, kind):
        from ota.formats import FORMATS
        fl = self.rec.get("floor") or {}
        if kind == "firmware":
            ver = self.rec.get("fwv") or "0.0.0"
        else:
            ver = self.app.commands.fw             # app.FW of the running bundle
        return {"board": self.app.conf.get("board", "sim"), "kind": self.app.kind,
                "version": ver, "floor": fl.get(kind), "formats": FORMATS}

    def free(self):
        s = os.statvfs(self.flash)
        return s[1] * s[4], s[1] * s[2]

    def block_size(self):
        return os.statvfs(self.flash)[1] or 4096

    def partition(self, label):
        import esp32
        P = esp32.Partition
        return P(label) if label else P(P.RUNNING).get_next_update()

    # ---- the `ota` command (docs/protocol.md §5) -------------------------------------
    def op(self, a, now_s):
        if self.rec.get("st") in PROBATION or (self.trial and self.trial.active):
            raise ValueError("busy: a bundle is on probation")
        r = self.rec
        if "cancel" in a:
            if len(a) != 1:
                raise ValueError("cancel takes no other args")
            if a["cancel"] != r.get("u") or r.get("st") not in ACTIVE:
                raise ValueError("no such update in flight")
            self._updater().end("cancelled", "operator")
            self.upd = None
            return {"update": a["cancel"]}
        for k in a:
            if k not in ("update", "size", "sig", "apply", "downgrade"):
                raise ValueError("unknown arg " + k)
        u = a.get("update")
        if not is_id(u):
            raise ValueError("update must be 1-40 chars of [A-Za-z0-9_.:-]")
        size = a.get("size")
        int_in(size, "size", 64, MANIFEST_MAX)
        sig = a.get("sig")
        if not isinstance(sig, str) or len(sig) != 344:
            raise ValueError("sig must be the base64 of a 256-byte signature")
        apply = a.get("apply", "now")
        if apply not in ("now", "closed"):
            raise ValueError("apply must be now or closed")
        down = a.get("downgrade", False)
        bool_(down, "downgrade")
        if u == r.get("u") and r.get("st") in ACTIVE:
            return {"update": u, "stage": r["st"]}      # a repeat: carry on where it is
        last = r.get("last") or {}
        if last.get("u") == u and last.get("status") in ("committed", "rolled_back"):
            raise ValueError("update %s already %s" % (u, last["status"]))
        if r.get("st") in ACTIVE:
            self._updater().end("cancelled", "replaced")
        p = slots.pointer(self.store)
        slot = slots.target(p)
        for k in ("st", "u"):
            r.pop(k, None)
        r.update({"u": u, "st": "manifest", "sig": sig, "msize": size, "apply": apply,
                  "down": down, "slot": slot})
        try:
            os.remove(slots.path(self.flash, "incoming"))
        except OSError:
            pass
        self.save()
        self.upd = None
        return {"update": u, "stage": "manifest"}

    # ---- transfer -------------------------------------------------------------------
    def _updater(self):
        if self.upd is None:
            from ota.update import Update
            self.upd = Update(self, self.rec)
        return self.upd

    def on_data(self, payload):
        if self.rec.get("st") not in ACTIVE or payload is None:
            return
        i = payload.find(b"\n")
        if i < 0 or i > 256:
            return
        try:
            h = json.loads(payload[:i])
        except ValueError:
            return
        if not isinstance(h, dict):
            return
        try:
            u = self._updater()
            try:
                u.on_data(h, memoryview(payload)[i + 1:], self.app.clock.ticks_ms())
            except (OSError, ValueError) as e:
                u.end("failed", "storage_error %s" % (e.args[0] if e.args else ""))
        except Exception as e:          # nothing escapes into the link or the metering loop
            self._contain(e)
        if self.rec.get("st") not in ACTIVE:
            self.upd = None

    def busy(self):
        """A sleeping meter keeps its radio session open while this is True."""
        if self.trial is not None and self.trial.wants_link():
            return True
        return self.rec.get("st") in ("manifest", "fetch") and self.may_pull()

    # ---- once per loop pass -----------------------------------------------------------
    def step(self, now_s):
        try:
            self._step(now_s)
        except Exception as e:          # an update must never stop the metering loop
            self._contain(e, now_s)

    def _contain(self, e, now_s=None):
        """A fault in the update path: report it, end the transfer (or, on probation, go
        back to the good bundle); metering carries on either way."""
        sys.print_exception(e)
        why = "internal %s" % type(e).__name__
        try:
            if self.trial is not None and self.trial.active:
                self.trial.rollback(now_s or self.app.clock.now_s(), "crash")
            elif self.rec.get("st") in ACTIVE:
                self.upd = None
                self._updater().end("failed", why)
        except Exception as e2:         # even the report failed: forget the transfer in RAM
            sys.print_exception(e2)
        self.upd = None

    def _step(self, now_s):
        if self.trial is not None:
            self.trial.step(now_s)
        if self.rec.get("st") not in ACTIVE:
            return
        u = self._updater()
        r = u.step(self.app.clock.ticks_ms())
        if r == "idle":
            self.upd = None
        elif r == "ready" and self._may_switch():
            self.upd = None
            self._trial().switch(now_s)

    def _may_switch(self):
        # apply "closed": wait until the supply is off and a valve is at its closed end stop
        # (a gas leak check opens it while armed), so the reboot interrupts nobody
        if self.rec.get("apply") == "closed":
            from core.commands import supply_state
            v = getattr(self.app.driver, "valve", None)
            return (supply_state(self.app.prepay) != "on" and
                    (v is None or getattr(v, "position", "closed") == "closed"))
        return True
