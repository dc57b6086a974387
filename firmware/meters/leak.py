# leak_suspected: the Kamstrup flowIQ LEAK rule (domain.md): the alarm stands when the
# last `leak_window_s` (24 h) held no continuous zero-flow period of `leak_zero_s` (1 h);
# it clears once such a zero-flow period is seen again. "Zero flow" is an interval whose
# mean flow is at or below `leak_zero_lph` (flowIQ: 0.1-2 % of Q3; default 0 = no pulse).
#
# Fed once per wake with the volume of the interval just ended, so a zero-flow period is
# resolved to the wake grid (15 min by default): the smallest leak it can see is about
# ml_per_pulse / (leak_zero_s - wake_s) per second, i.e. 0.13 L/h at 0.1 L/pulse.


class Leak:
    NAME = "leak_suspected"

    def __init__(self, now_s, state=None):
        st = state or {}
        self.zero_run_s = st.get("z", 0)   # length of the current zero-flow run
        # end of the latest qualifying zero-flow period; a new meter starts with a full window
        self.ok_s = st.get("ok", now_s)
        self.active = st.get("a", False)
        self.alarm_s = st.get("h", 0)      # seconds in alarm, for the per-alarm hour counter
        self.low_mlph = st.get("lo", -1)   # lowest interval flow since ok_s (the leak's floor)

    def to_dict(self):
        return {"z": self.zero_run_s, "ok": self.ok_s, "a": self.active,
                "h": self.alarm_s, "lo": self.low_mlph}

    def update(self, t0_s, t1_s, vol_ml, cfg):
        """One interval [t0_s, t1_s) with vol_ml forward volume. Returns None, or
        ("raise", fields) / ("clear", fields) for the driver to pass to prepay."""
        dt = t1_s - t0_s
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
        zero_s = cfg["leak_zero_s"]
        if self.zero_run_s >= zero_s:
            self.ok_s = t1_s
            self.low_mlph = -1
            if self.active:
                self.active = False
                return ("clear", {"hours": self.alarm_s // 3600})
            return None
        # the window [t1 - window, t1] holds the zero period ending at ok_s only if it
        # started inside the window: ok_s - zero_s >= t1 - window
        if not self.active and t1_s - self.ok_s > cfg["leak_window_s"] - zero_s:
            self.active = True
            return ("raise", {"min_lph": max(self.low_mlph, 0) // 1000,
                              "min_mlph": max(self.low_mlph, 0)})
        return None
