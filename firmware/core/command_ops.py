# The ops of protocol v1's command layer (docs/protocol.md §5), as a mixin of
# core/commands.py's Commands: each validates its args (ValueError: bad_args, nothing
# changed) and then acts on the Prepay facade or the driver. Kept apart from the frame,
# seq and ack logic so that each module stays small.
from core.check import int_in, is_id

APP_KEYS = ("report_s",)   # config keys the shell owns (not core, not driver)
TOKEN_TXN = "tok-"         # txn prefix of offline-token credits (docs/protocol.md §5)
# the shell's own alarms: a remote or console `clear` may end them whatever the driver's
# rules (crash_loop: minimal mode's exit, hal/guard.py; tick_fault: app_safety.py).
# storage_fault is not among them: it clears by its condition only.
SHELL_CLEARABLE = ("crash_loop", "tick_fault")


def may_clear(driver, owners, name, remote):
    """The one clearing rule for `clear` (remote) and the console (local): the shell's own
    alarms, then an alarm's owner outside the driver (owners: name -> object with
    can_clear(name), e.g. the keypad's token_lockout), else the driver's safety rule."""
    if name in SHELL_CLEARABLE:
        return True
    owner = owners.get(name)
    return owner.can_clear(name) if owner is not None else driver.can_clear(name, remote)
# ops whose effect is in the prepay record: saved before the ack. The others change
# nothing there but the seq (status, time, reboot) or run a driver action that a reboot
# ends anyway (selfcheck): their seq is durable in the floor record before they run.
SAVED = ("recharge", "supply", "tariff", "config", "clear", "emergency")
OPS = ("recharge", "supply", "tariff", "config", "clear", "time", "status", "emergency", "reboot")


def _only(a, keys):
    for k in a:
        if k not in keys:
            raise ValueError("unknown arg " + k)


def check_app(app):
    r = app.get("report_s")
    if "report_s" in app:
        int_in(r, "report_s", 10, 86400)


class Ops:
    def _op_recharge(self, a, now_s):
        _only(a, ("txn", "amount"))
        txn = a.get("txn")
        amount = a.get("amount")
        if not is_id(txn):
            raise ValueError("txn must be 1-40 chars of [A-Za-z0-9_.:-]")
        if txn.startswith(TOKEN_TXN):
            # offline tokens credit under "tok-<count>" (paygo/entry.py): a remote txn there
            # would make that token credit nothing
            raise ValueError("txn prefix tok- is reserved for offline tokens")
        int_in(amount, "amount", 1)
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
        if from_s is not None:
            int_in(from_s, "from", 0)
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
        check_app(app)
        # validate everything before applying anything
        check = getattr(self.driver, "check_config", None)
        if drv and check is not None:
            check(drv, now_s)
        if core:
            self.prepay.configure(core, now_s)   # validates all keys, then applies (or nothing)
        if drv:
            # the driver writes its own record before returning (OSError: nothing changed)
            # and hands back how to undo it if the prepay save that follows fails
            self._undo = self.driver.configure(drv, now_s)
        if app:
            merged = dict(self.prepay.cmd.get("app", {}))
            merged.update(app)
            self.prepay.cmd["app"] = merged     # saved with the seq

    def _op_clear(self, a, now_s):
        _only(a, ("alarm",))
        name = a.get("alarm")
        if not isinstance(name, str) or not name:
            raise ValueError("alarm must be a name")
        if not may_clear(self.driver, self.alarm_owners, name, True):
            raise ValueError("alarm cannot be cleared remotely")
        self.prepay.alarm_clear(name, now_s)     # ValueError("alarm not active")

    def _op_time(self, a, now_s):
        _only(a, ("now",))
        t = a.get("now")
        int_in(t, "now")
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
