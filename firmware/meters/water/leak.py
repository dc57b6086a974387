# leak_suspected: the Kamstrup flowIQ LEAK rule (Kamstrup flowIQ 2101/3100 data sheet; docs/water.md): the alarm stands when the
# last `leak_window_s` (24 h) held no continuous zero-flow period of `leak_zero_s` (1 h);
# it clears once such a zero-flow period is seen again. "Zero flow" is an interval whose
# mean flow is at or below `leak_zero_lph` (flowIQ: 0.1-2 % of Q3; default 0 = no pulse).
#
# Fed once per wake with the volume of the interval just ended and its length on the
# monotonic clock (a wall-clock step is no zero-flow hour and no day of leak), so a
# zero-flow period is resolved to the wake grid (15 min by default): the smallest leak it
# can see is about ml_per_pulse / (leak_zero_s - wake_s) per second, i.e. 0.13 L/h at 0.1
# L/pulse. The time since the last zero-flow period is kept as an elapsed count.


class Leak:
    NAME = "leak_suspected"

    def __init__(self, now_s, state=None):
        st = state or {}
        self.zero_run_s = st.get("z", 0)   # length of the current zero-flow run
        # seconds since the end of the latest qualifying zero-flow period; a new meter
        # starts with a full window
        so = st.get("so")
        if not isinstance(so, int):        # a record of firmware that kept the end's time
            so = max(0, now_s - st["ok"]) if isinstance(st.get("ok"), int) else 0
        self.since_ok_s = so
        self.active = st.get("a", False)
        self.alarm_s = st.get("h", 0)      # seconds in alarm, for the per-alarm hour counter
        self.low_mlph = st.get("lo", -1)   # lowest interval flow since the last zero period

    def to_dict(self):
        return {"z": self.zero_run_s, "so": self.since_ok_s, "a": self.active,
                "h": self.alarm_s, "lo": self.low_mlph}

    def update(self, dt, vol_ml, cfg):
        """One interval of dt monotonic seconds with vol_ml forward volume. Returns None, or
        ("raise", fields) / ("clear", fields) for the driver to pass to prepay."""
        if dt <= 0:
            return None
        if self.active:
            self.alarm_s += dt
        mlph = vol_ml * 3600 // dt
        if vol_ml * 3600 <= cfg["leak_zero_lph"] * 1000 * dt:
            self.zero_run_s += dt
        else:
            self.zero_run_s = 0
            if self.low_mlph < 0 or mlph < self.low_mlph:
                self.low_mlph = mlph
        self.since_ok_s += dt
        zero_s = cfg["leak_zero_s"]
        if self.zero_run_s >= zero_s:
            self.since_ok_s = 0
            self.low_mlph = -1
            if self.active:
                self.active = False
                return ("clear", {"hours": self.alarm_s // 3600})
            return None
        # the window [t1 - window, t1] holds the last zero period only if it ended within
        # window - zero_s of now
        if not self.active and self.since_ok_s > cfg["leak_window_s"] - zero_s:
            self.active = True
            return ("raise", {"min_lph": max(self.low_mlph, 0) // 1000,
                              "min_mlph": max(self.low_mlph, 0)})
        return None
