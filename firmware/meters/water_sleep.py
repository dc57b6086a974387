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


class Sessions:
    def __init__(self, now_s, state=None):
        st = state or {}
        self.last_s = st.get("ls", now_s)      # end of the last session of any kind
        self.want = st.get("w")                # reason for an at-once session, or None
        self.count = st.get("n", 0)            # sessions since boot of the record

    def to_dict(self):
        return {"ls": self.last_s, "w": self.want, "n": self.count}

    def request(self, reason):
        if self.want is None:
            self.want = reason

    def due(self, now_s, cfg, credit_closed):
        """The reason a session is due now, or None."""
        if self.want is not None:
            return self.want
        if credit_closed and now_s - self.last_s >= cfg["credit_poll_s"]:
            return "credit"
        # any session carries the telemetry and the pending events, so the daily report
        # is due a report interval after the last session of any kind
        if now_s - self.last_s >= cfg["session_report_s"]:
            return "daily"
        return None

    def done(self, now_s, reason):
        self.last_s = now_s
        self.want = None
        self.count += 1

    def timer_s(self, now_s, cfg, credit_closed):
        """Seconds to the next timer wake: the wake grid, or sooner for a session."""
        s = cfg["wake_s"]
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
