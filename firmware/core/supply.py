# The supply state machine shared by every meter: may the relay / valve be open?
#
# The state is derived from three causes, in priority order (docs/tariffs-and-credit.md
# has the full transition table):
#   1. safety latches (driver alarms: tamper, leak, overload, ...)   -> off_safety
#   2. a remote off command                                           -> off_remote
#   3. no credit                                                      -> off_credit
# With no cause left the supply is `armed` if it still waits for a local confirmation,
# else `on`. A meter that arms (gas always; GB SMETS2: "gas can only be re-enabled
# at the meter") waits for confirm() each time a cause goes away; one that does not
# reconnects directly. Only `on` lets the actuator open. A supply command never bypasses a
# latch: remote(True) only withdraws the remote cause.

from core.check import bool_, check_now

STATES = ("on", "off_credit", "off_remote", "off_safety", "armed")
REASON_MAX = 32


def _check_reason(reason):
    if type(reason) is not str or not 0 < len(reason) <= REASON_MAX:
        raise ValueError("reason: want a string of 1..%d chars" % REASON_MAX)


class Supply:
    def __init__(self, arms, state=None):
        bool_(arms, "arms")
        self.arms = arms
        if state is None:
            # A meter that arms starts armed: nothing opens before a local confirmation.
            self.latches = {}
            self.remote_off = False
            self.credit_ok = True
            self.confirm_due = arms
            self.since_s = 0
        else:
            self._load(state)
        self.state = self._derive()

    def _load(self, d):
        if type(d) is not dict:
            raise ValueError("supply state: not an object")
        for k in d:
            if k not in ("state", "latches", "remote_off", "credit_ok", "confirm_due", "since_s"):
                raise ValueError("supply state: unknown key %r" % (k,))
        lat = d.get("latches", {})
        if type(lat) is not dict:
            raise ValueError("supply state.latches: not an object")
        for r in lat:
            _check_reason(r)
            check_now(lat[r])
        for k in ("remote_off", "credit_ok", "confirm_due"):
            bool_(d.get(k), "supply state." + k)
        check_now(d.get("since_s"))
        self.latches = dict(lat)
        self.remote_off = d["remote_off"]
        self.credit_ok = d["credit_ok"]
        self.confirm_due = d["confirm_due"]
        self.since_s = d["since_s"]
        st = d.get("state")
        if st is not None and (type(st) is not str or st not in STATES):
            raise ValueError("supply state.state: unknown")
        if st is not None and st != self._derive():
            raise ValueError("supply state: state does not match its causes")

    def _derive(self):
        if self.latches:
            return "off_safety"
        if self.remote_off:
            return "off_remote"
        if not self.credit_ok:
            return "off_credit"
        return "armed" if self.confirm_due else "on"

    def _step(self, now_s, reason):
        new = self._derive()
        if new == self.state:
            return []
        # Leaving an off state with nothing left to hold it: an arming meter must be
        # confirmed locally before `on`.
        if new == "on" and self.state != "armed" and self.arms:
            self.confirm_due = True
            new = "armed"
            if new == self.state:
                return []
        self.state = new
        self.since_s = now_s
        return [(new, reason)]

    @property
    def latched(self):
        return bool(self.latches)

    @property
    def may_open(self):
        return self.state == "on"

    def set_credit(self, ok, now_s):
        bool_(ok, "ok")
        check_now(now_s)
        self.credit_ok = ok
        return self._step(now_s, "credit")

    def remote(self, on, now_s):
        bool_(on, "on")
        check_now(now_s)
        self.remote_off = not on
        return self._step(now_s, "remote")

    def latch(self, reason, now_s):
        _check_reason(reason)
        check_now(now_s)
        if reason not in self.latches:
            self.latches[reason] = now_s
        return self._step(now_s, "safety:" + reason)

    def clear(self, reason, now_s):
        # Clearing a latch that is not set is a no-op (drivers clear alarms idempotently).
        _check_reason(reason)
        check_now(now_s)
        self.latches.pop(reason, None)
        return self._step(now_s, "safety:" + reason)

    def confirm(self, now_s):
        check_now(now_s)
        if self.state != "armed":
            raise ValueError("not_armed")
        self.confirm_due = False
        return self._step(now_s, "confirm")

    def to_dict(self):
        return {"state": self.state, "latches": dict(self.latches), "remote_off": self.remote_off,
                "credit_ok": self.credit_ok, "confirm_due": self.confirm_due, "since_s": self.since_s}
