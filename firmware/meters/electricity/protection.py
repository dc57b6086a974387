# Electrical protection: over-power (load limiting) and over/under-voltage, plus the
# trip/auto-reclose/lockout counter shared with malicious-load identification.
# Sources (docs/electricity.md): STS (IEC 62055-41) "a power-limit breach disconnects for a few minutes,
# then reconnects automatically"; Chinese dormitory meters "over-power trips after about
# 5 s above the limit ... recloses after a delay (e.g. 1 min); after 3-5 trips in a day it
# locks until the management platform clears it"; SMETS2 load limiting (threshold, guard).
from core.check import int_in

OVERLOAD_DEFAULTS = {
    "limit_w": 4400,      # 20 A at 220 V: a dormitory / rental room's contracted demand
    "guard_s": 5,         # seconds continuously above limit_w before the trip
    "restore_s": 60,      # automatic reclose after this
    "lockout_trips": 3,   # trips within 24 h that lock out until a remote / console clear
}
VOLTAGE_DEFAULTS = {
    "high_mv": 265000,    # 230 V +15 %: beyond EN 50160's +10 %, harmful to appliances
    "low_mv": 180000,     # 230 V -22 %: motors stall and overheat below this
    "out_s": 5,           # seconds out of band before opening
    "normal_s": 30,       # seconds back in band before reclosing
}
_OL_RANGES = {"limit_w": (100, 100000), "guard_s": (1, 3600), "restore_s": (1, 86400),
              "lockout_trips": (1, 100)}
_V_RANGES = {"high_mv": (200000, 400000), "low_mv": (50000, 240000), "out_s": (1, 3600),
             "normal_s": (1, 86400)}
DAY_S = 86400


def _check(name, patch, ranges, extra=()):
    if not isinstance(patch, dict):
        raise ValueError("%s: not a dict" % name)
    for k, v in patch.items():
        if k in extra:
            continue
        if k not in ranges:
            raise ValueError("%s: unknown key %s" % (name, k))
        lo, hi = ranges[k]
        int_in(v, name + "." + k, lo, hi)
    return dict(patch)


def validate_overload(patch):
    return _check("overload", patch, _OL_RANGES)


def validate_voltage(patch, current=None):
    out = _check("voltage", patch, _V_RANGES)
    merged = dict(current or VOLTAGE_DEFAULTS)
    merged.update(out)
    if merged["low_mv"] >= merged["high_mv"]:
        raise ValueError("voltage: low_mv must be below high_mv")
    return out


class Recloser:
    """Counts trips in a rolling 24 h window; auto reclose after delay_s unless locked.
    Times are monotonic seconds (mono_s: a wall-clock change never shortens a wait or
    forgets a trip). Persisted as ages and a pending flag (to_dict), never as clock
    readings: after a reboot the trips count from the boot (the time the meter was off is
    not counted, so the 24 h window only grows) and a pending reclose waits its full delay
    again (docs/electricity.md)."""

    def __init__(self, state=None, mono_s=0, delay_s=60):
        st = state if isinstance(state, dict) else {}
        if "ages" in st:
            ages = [a for a in st["ages"] if isinstance(a, int) and 0 <= a < DAY_S]
            pending = st.get("pending") is True
        else:                            # a record of firmware that kept wall-clock times
            ages = [0 for t in st.get("trips", ()) if isinstance(t, int)]
            pending = st.get("reclose_at") is not None
        self.trips = [mono_s - a for a in ages]
        self.locked = st.get("locked") is True
        self.reclose_at = mono_s + delay_s if pending and not self.locked else None

    def to_dict(self, mono_s):
        return {"ages": [mono_s - t for t in self.trips if mono_s - t < DAY_S],
                "locked": self.locked, "pending": self.reclose_at is not None}

    def trip(self, now_s, delay_s, lockout_trips):
        self.trips = [t for t in self.trips if now_s - t < DAY_S]
        self.trips.append(now_s)
        if len(self.trips) >= lockout_trips:
            self.locked = True
            self.reclose_at = None
            return "lockout"
        self.reclose_at = now_s + delay_s
        return "trip"

    def due(self, now_s):
        if self.locked or self.reclose_at is None or now_s < self.reclose_at:
            return False
        self.reclose_at = None
        return True

    def latched(self, now_s, delay_s):
        """Its latch is on flash but this state was lost (a driver record that did not
        load): count it as a trip and restart the reclose window (fail safe: the supply
        stays open for a full delay, and repeated trips still lock out)."""
        if not self.locked and self.reclose_at is None:
            self.trips.append(now_s)
            self.reclose_at = now_s + delay_s

    def cleared(self):
        """A remote / console clear: unlock, forget today's trips."""
        self.locked = False
        self.reclose_at = None
        self.trips = []


class Overload:
    """Trips after guard_s ticks (one a second) above limit_w; times are monotonic."""

    def __init__(self, cfg, state=None, mono_s=0):
        self.cfg = cfg
        self.rec = Recloser(state, mono_s, cfg["restore_s"])
        self.tripped = self.rec.locked or self.rec.reclose_at is not None
        self._over_s = 0

    def tick(self, power_w, now_s):
        """Once per second (now_s: mono_s). Returns None or "trip", "lockout", "reclose"."""
        if self.tripped:
            if self.rec.due(now_s):
                self.tripped = False
                self._over_s = 0
                return "reclose"
            return None
        if power_w > self.cfg["limit_w"]:
            self._over_s += 1
            if self._over_s >= self.cfg["guard_s"]:
                self.tripped = True
                self._over_s = 0
                return self.rec.trip(now_s, self.cfg["restore_s"], self.cfg["lockout_trips"])
        else:
            self._over_s = 0
        return None

    def latched(self, now_s):
        self.rec.latched(now_s, self.cfg["restore_s"])
        self.tripped = True

    def cleared(self):
        self.rec.cleared()
        self.tripped = False
        self._over_s = 0


class Voltage:
    """Opens after out_s out of band, recloses after normal_s in band. The BL0942 voltage
    channel sits on the supply side of the relay, so it still measures while open."""

    def __init__(self, cfg, fault=None):
        self.cfg = cfg
        # None, "over_voltage" or "under_voltage"; at boot the latch on flash says which,
        # so the fault ends only after normal_s in band, as before the reboot
        self.fault = fault
        self._out_s = 0
        self._norm_s = 0
        self._kind = None

    def tick(self, voltage_mv, now_s):
        """Returns None, ("open", alarm) or ("close", alarm)."""
        c = self.cfg
        kind = None
        if voltage_mv > c["high_mv"]:
            kind = "over_voltage"
        elif voltage_mv < c["low_mv"]:
            kind = "under_voltage"
        if self.fault is None:
            if kind is None:
                self._out_s = 0
                return None
            self._out_s = self._out_s + 1 if kind == self._kind else 1
            self._kind = kind
            if self._out_s >= c["out_s"]:
                self.fault = kind
                self._out_s = 0
                self._norm_s = 0
                return ("open", kind)
            return None
        if kind is None:
            self._norm_s += 1
            if self._norm_s >= c["normal_s"]:
                was = self.fault
                self.fault = None
                self._kind = None
                return ("close", was)
        else:
            self._norm_s = 0
        return None
