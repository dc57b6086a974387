# The water meter's wake and session policy, and its RTC-memory state.
#
# The meter deep-sleeps between wakes. A timer wake every `wake_s` bills the pulses counted
# meanwhile and runs the detectors; the ULP also wakes it after `wake_pulses` pulses, the
# magnet input and the button wake it at once (ext0/ext1). A radio session is rare: the daily
# report, at once for an alarm / a low-balance warning / a supply change / the button, and
# every `credit_poll_s` while the valve is closed for credit, so a recharge queued at the
# broker takes effect within that time.
#
# Driver state that changes every wake lives in RTC slow memory (kept in deep sleep, lost
# at a power cut, no flash wear); see docs/water.md for what goes to flash and when.
import binascii
import json

RTC_MAGIC = b"WTR1"


RETRY_MAX_S = 6 * 3600     # a failed session is retried after session_retry_s, doubling to this


def urgent(e):
    """Events that need a radio session at once (the rest ride on the next one): a raised
    alarm, a low-balance warning, a store recovery, the supply going off by itself.
    A supply change made by a session's own commands (remote, a recharge's "on") is not."""
    t = e["type"]
    if t == "alarm":
        return e.get("active") is True
    if t == "supply":
        return e.get("state") not in ("on", "off_remote")
    return t in ("low_balance", "store_recovery")


class Sessions:
    """When a radio session is due. A session is over only when the app says how it went
    (ended): one that could not deliver (no broker, the outbox not drained) keeps its reason
    and is retried with backoff until one succeeds, so an alarm raised during an outage is
    not left for the next daily session."""

    def __init__(self, now_s, state=None, drv=None):
        st = state or {}
        drv = drv or {}
        # what the driver has seen of the events, the alarm set and the supply state
        self.seen_seq = drv.get("seq", 0)
        self.last_supply = drv.get("sup")
        self.last_alarms = drv.get("al", [])
        self.last_s = st.get("ls", now_s)      # end of the last successful session
        self.want = st.get("w")                # reason for an at-once session, or None
        self.count = st.get("n", 0)            # sessions since boot of the record
        self.retry_s = st.get("rt")            # a failed session is tried again at, or None
        self.backoff_s = st.get("bo", 0)       # the next retry's delay (0: the first)
        self.failed = st.get("nf", 0)          # failed sessions (counter)
        self.reason = None                     # of the session under way

    def to_dict(self):
        return {"ls": self.last_s, "w": self.want, "n": self.count, "rt": self.retry_s,
                "bo": self.backoff_s, "nf": self.failed}

    def check(self, p, now_s, cfg):
        """Asked before the app drains the events (so the new ones are still pending in
        prepay p): the reason a session starts now, or None."""
        reason = None
        for e in p.pending_events():
            if e["seq"] > self.seen_seq:
                self.seen_seq = e["seq"]
                if urgent(e):
                    reason = reason or e["type"]
        # the same seen from the state, for events drained before this call (a command
        # handled during a session drains its events at once)
        al = sorted(p.alarms)
        if al != self.last_alarms:
            if [a for a in al if a not in self.last_alarms]:
                reason = reason or "alarm"
            self.last_alarms = al
        sup = p.supply.state
        if sup != self.last_supply:
            self.last_supply = sup
            if sup not in ("on", "off_remote"):
                reason = reason or "supply"
        if reason:
            self.request(reason)
        reason = self.due(now_s, cfg, sup == "off_credit")
        if reason is not None:
            self.reason = reason
            self.count += 1
        return reason

    def request(self, reason, at_once=False):
        if self.want is None:
            self.want = reason
        if at_once:
            self.retry_s = None         # the resident pressed the button: try now

    def due(self, now_s, cfg, credit_closed):
        """The reason a session is due now, or None."""
        if self.retry_s is not None:
            return self.want if now_s >= self.retry_s else None
        if self.want is not None:
            return self.want
        if credit_closed and now_s - self.last_s >= cfg["credit_poll_s"]:
            return "credit"
        # any session carries the telemetry and the pending events, so the daily report
        # is due a report interval after the last session of any kind
        if now_s - self.last_s >= cfg["session_report_s"]:
            return "daily"
        return None

    def ended(self, now_s, ok, cfg):
        """ok: the broker was reached and the outbox drained."""
        if ok:
            self.last_s = now_s
            self.want = self.retry_s = None
            self.backoff_s = 0
        else:
            self.failed += 1
            self.want = self.want or self.reason or "retry"
            d = self.backoff_s or cfg["session_retry_s"]
            self.retry_s = now_s + d
            self.backoff_s = min(d * 2, RETRY_MAX_S)
        self.reason = None

    def timer_s(self, now_s, cfg, credit_closed):
        """Seconds to the next timer wake: the wake grid, or sooner for a session."""
        s = cfg["wake_s"]
        if self.retry_s is not None:
            return min(s, max(1, self.retry_s - now_s))
        s = min(s, max(1, self.last_s + cfg["session_report_s"] - now_s))
        if credit_closed:
            s = min(s, max(1, self.last_s + cfg["credit_poll_s"] - now_s))
        return s


def wake_pulses(cfg, ml_per_pulse):
    """Pulses after which the ULP wakes the CPU: 20 L by default (the core's consumption
    batch), so the ledger and the credit cut-off never lag the register by more."""
    n = cfg["wake_pulses"]
    if n:
        return n
    return max(1, 20000 // ml_per_pulse)


def rtc_save(rtc, obj):
    body = json.dumps(obj).encode()
    crc = binascii.crc32(body) & 0xFFFFFFFF
    rtc.memory(RTC_MAGIC + crc.to_bytes(4, "big") + body)
    return len(body) + 8


def rtc_load(rtc):
    """The state kept in RTC memory, or None if it is absent or corrupt (power-on reset)."""
    try:
        raw = bytes(rtc.memory())
    except Exception:
        return None
    if len(raw) < 9 or raw[:4] != RTC_MAGIC:
        return None
    body = raw[8:]
    if (binascii.crc32(body) & 0xFFFFFFFF) != int.from_bytes(raw[4:8], "big"):
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
