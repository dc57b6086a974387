# Magnetic latching relay: separate set (close) and reset (open) coils, one pulse moves
# the contacts, which then hold with no coil power. The position is not readable, so the
# commanded position is persisted (written BEFORE the pulse, so a power cut mid-pulse
# comes back re-driving the same command) and the measured current is the feedback:
# current above a small threshold while open = welded contact (or a bypass behind the
# shunt), alarm + bounded-rate retries of the open pulse.
from core.check import int_in

DEFAULTS = {
    "pulse_ms": 60,           # typical 50-100 ms for 60 A latching relays (e.g. Hongfa HF3F-L)
    "fault_ma": 200,          # current that must not flow while open (noise floor << 200 mA)
    "fault_confirm_s": 2,     # consecutive seconds above fault_ma before the alarm
    "retry_s": 10,            # first retry interval of the open pulse, doubling...
    "retry_max_s": 600,       # ...up to this, so a welded relay is not cooked by its coil
    "fault_alarm": "relay_fault",   # or "bypass" where the installer knows it is wired so
    "credit_wait_ma": 32000,  # a credit cut-off waits while the current is above this...
    "credit_wait_max_s": 30,  # ...for at most this long (spares the contacts); safety never waits
    "tick_fault": "hold",     # a faulting tick holds a closed relay, or "open"s it (docs/electricity.md)
}
_RANGES = {
    "pulse_ms": (10, 500), "fault_ma": (20, 5000), "fault_confirm_s": (1, 60),
    "retry_s": (1, 3600), "retry_max_s": (1, 86400), "credit_wait_ma": (1000, 200000),
    "credit_wait_max_s": (0, 600),
}


def validate(patch):
    if not isinstance(patch, dict):
        raise ValueError("relay: not a dict")
    out = {}
    for k, v in patch.items():
        if k == "fault_alarm":
            if v not in ("relay_fault", "bypass"):
                raise ValueError("relay: fault_alarm must be relay_fault or bypass")
        elif k == "tick_fault":
            if v not in ("hold", "open"):
                raise ValueError("relay: tick_fault must be hold or open")
        elif k in _RANGES:
            lo, hi = _RANGES[k]
            int_in(v, "relay." + k, lo, hi)
        else:
            raise ValueError("relay: unknown key %s" % k)
        out[k] = v
    return out


class Relay:
    def __init__(self, set_pin, reset_pin, sleep_ms, cfg, closed=None):
        self.set_pin = set_pin
        self.reset_pin = reset_pin
        self.sleep_ms = sleep_ms
        self.cfg = cfg
        set_pin.value(0)
        reset_pin.value(0)
        self.closed = closed        # None: unknown (first boot), True/False: last commanded
        self.pulses = 0
        self.dirty = False          # position changed: the driver persists it
        self._hot_s = 0             # seconds with current while open
        self.fault = False
        self._next_retry_s = None
        self._retry_gap_s = cfg["retry_s"]

    def _pulse(self, pin):
        other = self.reset_pin if pin is self.set_pin else self.set_pin
        other.value(0)              # never both coils at once
        pin.value(1)
        try:
            self.sleep_ms(self.cfg["pulse_ms"])
        finally:
            pin.value(0)
        self.pulses += 1

    def drive(self, closed, force=False):
        """Move to `closed`. No pulse when already there unless forced (boot, retry)."""
        if self.closed == closed and not force:
            return False
        if self.closed != closed:
            self.closed = closed
            self.dirty = True       # caller persists before the next tick
            self._hot_s = 0
            self._retry_gap_s = self.cfg["retry_s"]
            self._next_retry_s = None
        self._pulse(self.set_pin if closed else self.reset_pin)
        return True

    def feedback(self, current_ma, now_s):
        """Once per tick after drive(). Returns "fault", "ok" (fault gone) or None."""
        if self.closed is not False:
            if self.fault:
                self.fault = False
                return "ok"
            return None
        if current_ma > self.cfg["fault_ma"]:
            self._hot_s += 1
        else:
            self._hot_s = 0
            if self.fault:
                self.fault = False
                self._next_retry_s = None
                self._retry_gap_s = self.cfg["retry_s"]
                return "ok"
            return None
        if self._hot_s < self.cfg["fault_confirm_s"]:
            return None
        if not self.fault:
            self.fault = True
            self._next_retry_s = now_s + self._retry_gap_s
            self._pulse(self.reset_pin)
            return "fault"
        if now_s >= self._next_retry_s:
            self._pulse(self.reset_pin)
            self._retry_gap_s = min(self._retry_gap_s * 2, self.cfg["retry_max_s"])
            self._next_retry_s = now_s + self._retry_gap_s
        return None
