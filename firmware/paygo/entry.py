# Token entry: a keypad string in, a credit (exactly once) and a result out.
#
# The anti-replay state lives in prepay.ext["paygo"], persisted by prepay.save()
# in the same atomic record as the balance, so a token's credit and its spent-count
# mark land together or not at all (architecture.md, core/prepay.py).
#
# Lockout (wrong codes only; authentic-but-spent or unsupported codes never count):
#   the first LOCK_FREE wrong codes in a row are free (STS IEC 62055-41 allows 3
#   bad entries), then each further wrong code locks entry for 1 min, doubling up to
#   512 min (OpenPAYGO Token's recommendation, docs/offline-topup.md). It survives
#   reboots. Only a code that credits money, or a remote / technician `clear` of the
#   LOCK_ALARM raised when the first lock starts, ends it: a code that credits nothing
#   (a counter sync, a value-0 code) does not, or two wrong codes and an old SYNC code
#   would repeat for ever. A SYNC code is accepted once (token.count_ok's sync_once).
#   The lock is an anti-guessing timer, so it runs on the monotonic clock (mono_s): a step
#   of the wall clock (network time, the `time` op) is no time the guesser waited. It is
#   persisted as the seconds left ("lock_left_s", refreshed whenever it is read, saved with
#   the prepay record), never as a clock reading: after a reboot the rest of it runs again
#   from the boot (the time the meter was off does not count). "lock_until_s" (wall) is
#   still written for an older bundle put back by a rollback, which reads only that.
import time
from core.check import int_in
from paygo import token, siphash

LOCK_FREE = 2
LOCK_BASE_S = 60
LOCK_MAX_S = 512 * 60
LOCK_ALARM = "token_lockout"
_HEX = "0123456789abcdefABCDEF"


def parse_cfg(cfg):
    """config.json "paygo": {"key": 32 hex, "start": starting code, "unit": minor
    units per token value unit}. Returns (key bytes, start, unit)."""
    pg = cfg.get("paygo") if isinstance(cfg, dict) else None
    if not isinstance(pg, dict):
        raise ValueError("paygo config missing")
    key = pg.get("key")
    if not isinstance(key, str) or len(key) != 32 or any(c not in _HEX for c in key):
        raise ValueError("paygo key must be 32 hex characters")
    key_b = bytes(int(key[i:i + 2], 16) for i in range(0, 32, 2))
    start = pg.get("start")
    if start is None:
        start = token.starting_code(key_b)  # the spec's default when none is provisioned
    start = int_in(start, "paygo start", 0, 999999999)
    unit = int_in(pg.get("unit", 1), "paygo unit", 1, 10 ** 9)
    return key_b, start, unit


def lock_s(fails):
    """Lockout after `fails` wrong codes in a row: 0, then 60 s doubling to 512 min."""
    n = fails - LOCK_FREE
    if n <= 0:
        return 0
    if n > 10:
        return LOCK_MAX_S
    return min(LOCK_BASE_S << (n - 1), LOCK_MAX_S)


def _check_state(st):
    if not isinstance(st, dict):
        raise ValueError("paygo state invalid")
    for k in ("last", "fails", "lock_until_s"):
        int_in(st.get(k), "paygo state " + k, 0 if k != "lock_until_s" else -(1 << 62), 1 << 62)
    if "lock_left_s" in st:
        int_in(st["lock_left_s"], "paygo state lock_left_s", 0, LOCK_MAX_S)
    used = st.get("used")
    if not isinstance(used, list) or len(used) > token.OLDER:
        raise ValueError("paygo state used invalid")
    for c in used:
        int_in(c, "paygo state used count", 0, st["last"])


class TokenEntry:
    def __init__(self, prepay, cfg, led=None, mono_s=None):
        # mono_s: the board clock's monotonic seconds (the app passes clock.mono_s); without
        # it (a bare unit under test) the lock counts on the now_s each call is given
        key, self.start, self.unit = parse_cfg(cfg)
        self.mono_s = mono_s
        self._lock_end = None           # the lock's end in monotonic seconds, once known
        self._k0, self._k1 = siphash.key_words(key)
        self.prepay = prepay
        self.led = led
        self._blink = None
        st = prepay.ext.get("paygo")
        if st is None:
            # count 0 is the starting code itself, never issued: spend it up front
            st = {"last": 0, "used": [0], "fails": 0, "lock_until_s": 0}
            prepay.ext["paygo"] = st
        _check_state(st)
        self.st = st

    # -- the lockout alarm: raised when a lock starts, cleared with it
    def _remote_clear(self):
        # the alarm was cleared by the `clear` op or the console while we held it raised:
        # that is the remote clear, it ends the lockout
        st = self.st
        if st.get("la") and LOCK_ALARM not in self.prepay.alarms:
            st["fails"] = 0
            self._unlock()
            st["la"] = 0

    def _unlock(self):
        self.st["lock_until_s"] = 0
        self.st["lock_left_s"] = 0
        self._lock_end = None

    def _base_s(self, now_s):
        """Now on the lock's time base; the first call places the persisted lock on it."""
        t = self.mono_s() if self.mono_s is not None else now_s
        if self._lock_end is None:
            st = self.st
            left = st.get("lock_left_s")
            if left is None:            # a record of a bundle that kept the wall-clock end
                left = st["lock_until_s"] - now_s
            self._lock_end = t + max(0, min(left, LOCK_MAX_S))
        return t

    def _lock_alarm(self, now_s, on):
        st = self.st
        if on and not st.get("la"):
            st["la"] = 1
            self.prepay.alarm(LOCK_ALARM, now_s, fails=st["fails"])
        elif not on and st.get("la"):
            st["la"] = 0
            if LOCK_ALARM in self.prepay.alarms:
                self.prepay.alarm_clear(LOCK_ALARM, now_s)

    def can_clear(self, alarm):
        """The driver contract's rule for our alarm: a remote or local clear is allowed."""
        return alarm == LOCK_ALARM

    # -- views
    def locked_s(self, now_s):
        self._remote_clear()    # idempotent: the record holds both the alarm set and st
        t = self._base_s(now_s)
        left = self._lock_end - t
        if left > LOCK_MAX_S:
            # the time base went backwards (no monotonic clock given): never beyond the cap
            self._lock_end = t + LOCK_MAX_S
            left = LOCK_MAX_S
        if left < 0:
            left = 0
        self.st["lock_left_s"] = left   # what the next prepay save keeps for a reboot
        return left

    def status(self, now_s):
        return {"count": self.st["last"], "fails": self.st["fails"],
                "locked_s": self.locked_s(now_s)}

    # -- entry
    def enter(self, digits, now_s):
        """Returns {"result": "accepted"|"already_used"|"invalid"|"locked", ...} and
        emits the same as a "token" event. Never raises on bad digits."""
        res = self._enter(digits, now_s)
        save = res.pop("_save", False)
        self.prepay.emit("token", now_s, **res)
        if save:
            self.prepay.save()  # event, credit and spent count in one atomic record
        self._show(res["result"])
        return res

    def _enter(self, digits, now_s):
        left = self.locked_s(now_s)
        if left:
            return {"result": "locked", "locked_s": left}
        if isinstance(digits, str) and len(digits) in (15, 20):
            restricted = True
        else:
            restricted = False
        try:
            code, ext = token.parse(digits, restricted)
        except ValueError as e:
            # malformed entries can never credit, so they do not feed the lockout
            return {"result": "invalid", "reason": "format: %s" % e, "locked_s": 0}
        st = self.st
        kind, value, count = token.decode(code, ext, self._k0, self._k1, self.start,
                                          st["last"], st["used"], sync_once=True)
        if kind == token.INVALID:
            st["fails"] += 1
            left = lock_s(st["fails"])
            if left:
                self._lock_end = self._base_s(now_s) + left
                st["lock_left_s"] = left
                st["lock_until_s"] = now_s + left
                self._lock_alarm(now_s, True)
            return {"result": "invalid", "reason": "no_match", "locked_s": left,
                    "_save": True}
        if kind == token.USED:
            return {"result": "already_used"}
        if kind in (token.SET, token.DISABLE):
            # a prepaid meter keeps money in its ledger: a code that sets or
            # removes the credit is refused (docs/offline-topup.md), and not spent
            return {"result": "invalid", "reason": kind + "_unsupported", "count": count}
        amount = value * self.unit if kind == token.ADD else 0
        if amount:
            txn = "tok-%d" % count
            try:
                fresh = self.prepay.recharge(txn, amount, now_s, via="token")
            except ValueError as e:
                return {"result": "invalid", "reason": str(e), "count": count}
            if not fresh:
                # the ledger has this txn already: spend the count, credit nothing
                amount = 0
        st["last"], st["used"] = token.mark_used(st["last"], st["used"], count, kind)
        if amount:
            # only money ends a lockout: a sync or a value-0 code credits nothing
            st["fails"] = 0
            self._unlock()
            self._lock_alarm(now_s, False)
        res = {"result": "accepted", "amount": amount, "count": count,
               "balance": self.prepay.balance_minor, "_save": True}
        if kind == token.SYNC:
            res["sync"] = True
        return res

    # -- local indicator: (on_ms, off_ms) repeated; driven by tick(t_ms)
    PATTERNS = {"accepted": (2000, 0, 1), "already_used": (200, 200, 2),
                "invalid": (100, 100, 5), "locked": (600, 300, 3)}

    def _show(self, result):
        if self.led is not None:
            self._blink = [self.PATTERNS[result], None]

    def blinking(self):
        """True while an LED pattern runs: the loop must call tick() every few ms."""
        return self._blink is not None

    def tick(self, t_ms):
        """Drive the LED; call from the app/keypad loop. Non-blocking."""
        b = self._blink
        if b is None:
            return
        on_ms, off_ms, reps = b[0]
        if b[1] is None:
            b[1] = t_ms
        phase = time.ticks_diff(t_ms, b[1])     # ticks_ms wraps (2**30 ms on an ESP32)
        period = on_ms + off_ms
        if phase >= period * reps:
            self.led.value(0)
            self._blink = None
            return
        self.led.value(1 if phase % period < on_ms else 0)
