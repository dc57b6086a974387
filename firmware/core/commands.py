# Protocol v1 command handling (docs/protocol.md): frame check, field checks,
# seq / dup / replay, op dispatch to Prepay and the driver, ack building.
# A command's effect and its seq are persisted in ONE prepay.save(): prepay.cmd lives in the
# prepay record, so after a power cut either both happened or neither did. Before that, the
# seq is used up in the floor record (core/floor.py), whatever the command's outcome, so a
# command once answered is never applied later, even after the prepay record is rebuilt.
# Nothing escapes handle(): a command that fails inside is answered `internal`, one whose
# save fails `storage`, and either leaves RAM as it was before the command (snapshot).
import json
from core import frame
from core.check import int_in, is_id
from core.command_ops import Ops, OPS, SAVED, APP_KEYS, SHELL_CLEARABLE, TOKEN_TXN  # noqa: F401

RECENT_N = 16              # answered (id, seq) kept to answer MQTT redeliveries as dup
SEQ_MAX = (1 << 53) - 1    # largest integer every JSON implementation keeps exact


def supply_state(prepay):
    s = prepay.supply
    return s if isinstance(s, str) else s.state


class Commands(Ops):
    """handle(payload, now_s, mono_ms) -> ack dict, or None when a bad_mac ack is rate-limited.
    The ops themselves (`_op_<name>`) are in core/command_ops.py."""

    def __init__(self, meter_id, key, prepay, driver, clock, fw="?"):
        from core.floor import Floor
        self.floor = getattr(prepay, "floor", None) or Floor(prepay.store)
        self._undo = None
        self.meter_id = meter_id
        self.key = key
        self.prepay = prepay
        self.driver = driver
        self.clock = clock
        self.fw = fw
        self.rejected = 0               # RAM only: a rejection changes no persisted state
        self.reboot_requested = False
        self.ops = {}                   # add-on ops: name -> fn(args, now_s) (the app's `ota`)
        self._last_bad_mac_ms = None
        self.alarm_owners = {}          # alarm name -> owner with can_clear(name), e.g. the keypad
        self.held = False               # minimal mode (the app sets it): no driver op runs

    def setting(self, name, default):
        """An app-level setting (APP_KEYS) as last set by op config; kept in prepay.cmd["app"]."""
        return self.prepay.cmd.get("app", {}).get(name, default)

    # ---- ack -------------------------------------------------------------------
    def ack(self, cid, code, dup=False, now_s=0, **extra):
        p = self.prepay
        a = {"id": cid, "ok": code == "ok", "code": code,
             "seq": p.cmd.get("last_seq", 0), "balance": p.balance_minor,
             "supply": supply_state(p)}
        if dup:
            a["dup"] = True
        a.update(extra)
        return a

    def _reject(self, cid, code, now_s, reason=None):
        self.rejected += 1
        if reason:
            return self.ack(cid, code, now_s=now_s, reason=reason)
        return self.ack(cid, code, now_s=now_s)

    def too_large(self, now_s):
        """The link skipped a payload over frame.MAX_FRAME without reading it into RAM."""
        return self._reject(None, "too_large", now_s)

    # ---- entry point -----------------------------------------------------------
    def handle(self, payload, now_s, mono_ms=None):
        try:
            return self._handle(payload, now_s, mono_ms)
        except Exception as e:          # a bug below: contained, answered, nothing changed
            return self._reject(None, "internal", now_s, _why(e))

    def _handle(self, payload, now_s, mono_ms):
        try:
            body = frame.open_frame(self.key, payload)
        except ValueError as e:
            code = str(e)
            if code == "bad_mac":
                t = now_s * 1000 if mono_ms is None else mono_ms
                last = self._last_bad_mac_ms
                self.rejected += 1
                if last is not None and 0 <= t - last < 1000:
                    return None      # at most one bad_mac ack per second (docs/protocol.md §3)
                self._last_bad_mac_ms = t
                return self.ack(None, "bad_mac", now_s=now_s)
            return self._reject(None, code, now_s)
        try:
            cmd = self._parse(body)
        except ValueError as e:
            return self._reject(None, "malformed", now_s, str(e))
        cid = cmd["id"]
        if cmd["meter"] != self.meter_id:
            return self._reject(cid, "wrong_meter", now_s)
        seq = cmd["seq"]
        for r in self.prepay.cmd.get("recent", ()):
            if r[0] == cid and r[1] == seq:
                return self.ack(cid, r[2], dup=True, now_s=now_s)
        if seq <= self.floor_seq():
            return self._reject(cid, "replay", now_s)
        p = self.prepay
        snap = p.snapshot()
        try:
            self.floor.use_cmd(seq)     # used up from here on, whatever the outcome
        except OSError:                 # Store.failing names it: the app raises storage_fault
            return self._reject(cid, "storage", now_s)
        exp = cmd.get("exp")
        if exp is not None and now_s > exp:
            return self._done(cid, seq, "expired", now_s, snap)
        try:
            return self._dispatch(cid, seq, cmd["op"], cmd["args"], now_s, snap)
        except Exception as e:
            return self._done(cid, seq, "internal", now_s, snap, _why(e))

    def floor_seq(self):
        """The highest command seq used up: accepted (prepay record) or answered (floor)."""
        last = self.prepay.cmd.get("last_seq", 0)
        return self.floor.cmd if self.floor.cmd > last else last

    def _parse(self, body):
        if b"\n" in body:
            raise ValueError("raw newline in body")
        try:
            obj = json.loads(body.decode())
        except MemoryError:
            raise ValueError("body too deeply nested")
        except Exception:        # UnicodeError, ValueError: not UTF-8 JSON
            raise ValueError("body is not UTF-8 JSON")
        if not isinstance(obj, dict):
            raise ValueError("body is not a JSON object")
        if not is_id(obj.get("id")):
            raise ValueError("id must be 1-40 chars of [A-Za-z0-9_.:-]")
        if not isinstance(obj.get("meter"), str):
            raise ValueError("meter must be a string")
        seq = obj.get("seq")
        int_in(seq, "seq", 1, SEQ_MAX)
        if not isinstance(obj.get("op"), str):
            raise ValueError("op must be a string")
        if not isinstance(obj.get("args"), dict):
            raise ValueError("args must be an object")
        if "exp" in obj:
            int_in(obj["exp"], "exp")
        return obj

    # ---- ops -------------------------------------------------------------------
    def _dispatch(self, cid, seq, op, args, now_s, snap):
        fn = getattr(self, "_op_" + op, None) if op in OPS else self.ops.get(op)
        extra = {}
        dup = False
        self._undo = None
        try:
            if fn is not None:
                r = fn(args, now_s)
                if r == "dup":
                    dup = True
                elif isinstance(r, dict):
                    extra = r
            elif self.held:             # crash loop: actuators held safe (docs/field-guide.md)
                raise ValueError("minimal mode: %s is held" % op)
            else:
                code = self.driver.op(op, args, now_s)
                if code is None:
                    return self._done(cid, seq, "unknown_op", now_s, snap)
                if code != "ok":
                    return self._done(cid, seq, code, now_s, snap)
        except ValueError as e:
            return self._done(cid, seq, "bad_args", now_s, snap, str(e))
        except OSError as e:            # a driver's own record (config) could not be written
            return self._done(cid, seq, "storage", now_s, snap, _why(e))
        c = self.prepay.cmd
        c["recent"] = (c.get("recent", []) + [[cid, seq, "ok"]])[-RECENT_N:]
        c["last_seq"] = seq
        if op in SAVED:
            try:
                self.prepay.save()      # effect + seq in one atomic record write
            except OSError as e:
                return self._done(cid, seq, "storage", now_s, snap, _why(e))
        else:
            # nothing but the seq changed in the record, and the seq is already used up in
            # the floor record: the prepay record follows at the next tick
            self.prepay.save_soon()
        self._undo = None
        return self.ack(cid, "ok", dup=dup, now_s=now_s, **extra)

    def _done(self, cid, seq, code, now_s, snap, reason=None):
        """A command that used up its seq but was not applied: RAM back to the snapshot
        (events emitted on the way included), then remembered for a redelivery's dup."""
        undo, self._undo = getattr(self, "_undo", None), None
        if undo is not None:
            try:
                undo()                  # the driver's part of a config, back as it was
            except Exception:
                pass                    # its record is retried by the driver (storage_fault)
        self.prepay.rollback(snap)
        c = self.prepay.cmd
        c["recent"] = (c.get("recent", []) + [[cid, seq, code]])[-RECENT_N:]
        return self._reject(cid, code, now_s, reason)

def _why(e):
    return ("%s: %s" % (type(e).__name__, e))[:60]
