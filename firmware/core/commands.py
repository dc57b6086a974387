# Protocol v1 command handling (docs/protocol.md, issue 3): frame check, field checks,
# seq / dup / replay, op dispatch to Prepay and the driver, ack building.
# A command's effect and its seq are persisted in ONE prepay.save(): prepay.cmd lives in the
# prepay record, so after a power cut either both happened or neither did.
import json
from link import frame

RECENT_N = 16              # accepted (id, seq) kept to answer MQTT redeliveries as dup
SEQ_MAX = (1 << 53) - 1    # largest integer every JSON implementation keeps exact
APP_KEYS = ("report_s",)  # config keys the shell owns (not core, not driver)
_ID_OK = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _valid_id(v):
    if not isinstance(v, str) or not 1 <= len(v) <= 40:
        return False
    for c in v.encode():
        if c not in _ID_OK:
            return False
    return True


def supply_state(prepay):
    s = prepay.supply
    return s if isinstance(s, str) else s.state


class Commands:
    """handle(payload, now_s, mono_ms) -> ack dict, or None when a bad_mac ack is rate-limited."""

    def __init__(self, meter_id, key, prepay, driver, clock, fw="?"):
        self.meter_id = meter_id
        self.key = key
        self.prepay = prepay
        self.driver = driver
        self.clock = clock
        self.fw = fw
        self.rejected = 0               # RAM only: a rejection changes no persisted state
        self.reboot_requested = False
        self.save_due = False           # a read-only op's seq: saved by the app right after the ack
        self._last_bad_mac_ms = None
        self.alarm_owners = {}          # alarm name -> owner with can_clear(name), e.g. the keypad

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
            body = frame.open_frame(self.key, payload)
        except ValueError as e:
            code = str(e)
            if code == "bad_mac":
                t = now_s * 1000 if mono_ms is None else mono_ms
                last = self._last_bad_mac_ms
                self.rejected += 1
                if last is not None and 0 <= t - last < 1000:
                    return None      # issue 3: at most one bad_mac ack per second
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
        if seq <= self.prepay.cmd.get("last_seq", 0):
            return self._reject(cid, "replay", now_s)
        exp = cmd.get("exp")
        if exp is not None and now_s > exp:
            return self._reject(cid, "expired", now_s)
        return self._dispatch(cid, seq, cmd["op"], cmd["args"], now_s)

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
        if not _valid_id(obj.get("id")):
            raise ValueError("id must be 1-40 chars of [A-Za-z0-9_.:-]")
        if not isinstance(obj.get("meter"), str):
            raise ValueError("meter must be a string")
        seq = obj.get("seq")
        if not _is_int(seq) or not 1 <= seq <= SEQ_MAX:
            raise ValueError("seq must be an integer >= 1")
        if not isinstance(obj.get("op"), str):
            raise ValueError("op must be a string")
        if not isinstance(obj.get("args"), dict):
            raise ValueError("args must be an object")
        if "exp" in obj and not _is_int(obj["exp"]):
            raise ValueError("exp must be an integer")
        return obj

    # ---- ops -------------------------------------------------------------------
    def _dispatch(self, cid, seq, op, args, now_s):
        fn = getattr(self, "_op_" + op, None) if op in _OPS else None
        extra = {}
        dup = False
        try:
            if fn is not None:
                r = fn(args, now_s)
                if r == "dup":
                    dup = True
                elif isinstance(r, dict):
                    extra = r
            else:
                code = self.driver.op(op, args, now_s)
                if code is None:
                    return self._reject(cid, "unknown_op", now_s)
                if code != "ok":
                    return self._reject(cid, code, now_s)
        except ValueError as e:
            return self._reject(cid, "bad_args", now_s, str(e))
        self._accept(cid, seq, dup, op in READ_ONLY)
        return self.ack(cid, "ok", dup=dup, now_s=now_s, **extra)

    def _accept(self, cid, seq, dup, read_only=False):
        c = self.prepay.cmd
        recent = list(c.get("recent", ()))
        recent.append([cid, seq, "ok"])
        c["recent"] = recent[-RECENT_N:]
        c["last_seq"] = seq
        if read_only:
            # nothing but the seq changed: the ack need not wait ~2 ms for the flash write
            # (docs/protocol.md §3); the caller saves right after publishing the ack
            self.save_due = True
        else:
            self.prepay.save()      # effect + seq in one atomic record write

    def _op_recharge(self, a, now_s):
        _only(a, ("txn", "amount"))
        txn = a.get("txn")
        amount = a.get("amount")
        if not _valid_id(txn):
            raise ValueError("txn must be 1-40 chars of [A-Za-z0-9_.:-]")
        if not _is_int(amount):
            raise ValueError("amount must be an integer (minor units)")
        if amount <= 0:
            raise ValueError("amount must be > 0")
        # the configured maximum (core config recharge_max_minor) is checked by prepay.recharge
        return None if self.prepay.recharge(txn, amount, now_s, via="remote") else "dup"

    def _op_supply(self, a, now_s):
        _only(a, ("state",))
        st = a.get("state")
        if st not in ("on", "off"):
            raise ValueError("state must be \"on\" or \"off\"")
        self.prepay.supply_command(st == "on", now_s)

    def _op_tariff(self, a, now_s):
        from_s = a.get("from")
        if from_s is not None and (not _is_int(from_s) or from_s < 0):
            raise ValueError("from must be unix seconds")
        spec = {}
        for k in a:
            if k != "from":
                spec[k] = a[k]
        if not spec:
            raise ValueError("empty tariff")
        self.prepay.set_tariff(spec, now_s, from_s)

    def _op_config(self, a, now_s):
        if not a:
            raise ValueError("empty config")
        dkeys = getattr(self.driver, "CONFIG_KEYS", ())
        core, drv, app = {}, {}, {}
        for k in a:
            if k in APP_KEYS:
                app[k] = a[k]
            elif k in dkeys:
                drv[k] = a[k]
            else:
                core[k] = a[k]      # prepay.configure rejects unknown keys
        _check_app(app)
        # validate everything before applying anything
        check = getattr(self.driver, "check_config", None)
        if drv and check is not None:
            check(drv, now_s)
        if core:
            self.prepay.configure(core, now_s)   # validates all keys, then applies (or nothing)
        if drv:
            self.driver.configure(drv, now_s)
        if app:
            merged = dict(self.prepay.cmd.get("app", {}))
            merged.update(app)
            self.prepay.cmd["app"] = merged     # saved with the seq in _accept

    def _op_clear(self, a, now_s):
        _only(a, ("alarm",))
        name = a.get("alarm")
        if not isinstance(name, str) or not name:
            raise ValueError("alarm must be a name")
        owner = self.alarm_owners.get(name)     # raised outside the driver (paygo lockout)
        if not (owner.can_clear(name) if owner else self.driver.can_clear(name, True)):
            raise ValueError("alarm cannot be cleared remotely")
        self.prepay.alarm_clear(name, now_s)     # ValueError("alarm not active")

    def _op_time(self, a, now_s):
        _only(a, ("now",))
        t = a.get("now")
        if not _is_int(t):
            raise ValueError("now must be integer unix seconds")
        self.clock.set_now(t)       # ValueError on an implausible jump

    def _op_status(self, a, now_s):
        st = self.prepay.status(now_s)
        out = dict(st) if isinstance(st, dict) else {}
        out["kind"] = self.driver.KIND
        out["fw"] = self.fw
        out["alarms"] = sorted(self.prepay.alarms)
        out.setdefault("tariff", None)
        out["clock_ok"] = bool(getattr(self.clock, "ok", False))
        out["rejected"] = self.rejected
        for k in ("id", "ok", "code", "seq", "balance", "supply"):
            out.pop(k, None)
        return out

    def _op_emergency(self, a, now_s):
        self.prepay.emergency(now_s)

    def _op_reboot(self, a, now_s):
        self.reboot_requested = True


READ_ONLY = ("status",)     # ops that change nothing but the seq
_OPS = ("recharge", "supply", "tariff", "config", "clear", "time", "status", "emergency", "reboot")


def _only(a, keys):
    for k in a:
        if k not in keys:
            raise ValueError("unknown arg " + k)


def _check_app(app):
    r = app.get("report_s")
    if r is not None and (not _is_int(r) or not 10 <= r <= 86400):
        raise ValueError("report_s must be 10..86400")
