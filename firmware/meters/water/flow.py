# The water meter's run-time alarms: burst, reverse_flow and dry. Each is a condition that
# must hold continuously for a configured time (sources in config.py / docs/water.md):
#   burst        mean flow >= burst_lph for burst_s (Kamstrup BURST: 5/10/20 % of Q3, 30 min)
#   reverse_flow reverse pulses in consecutive wakes for more than reverse_s (Sensus iPERL: 15 min)
#   dry          the empty-pipe input asserted for dry_s (iPERL: empty pipe after 1 min)
# A run is resolved to the wake grid; the driver shortens wakes while water flows.


class Run:
    def __init__(self, name, state=None):
        st = state or {}
        self.name = name
        self.run_s = st.get("r", 0)
        self.active = st.get("a", False)
        self.alarm_s = st.get("h", 0)     # seconds in alarm (hour counter)
        self.count = st.get("n", 0)       # times raised

    def to_dict(self):
        return {"r": self.run_s, "a": self.active, "h": self.alarm_s, "n": self.count}

    def step(self, cond, dt, need_s, strict=False, sticky=False):
        """Advance by dt seconds with the condition cond. Returns "raise", "clear" or None.
        strict: the run must exceed need_s (">"), else reach it (">="). sticky: never
        clears by itself (a latched alarm waits for a remote or technician clear)."""
        if dt <= 0:
            return None
        if self.active:
            self.alarm_s += dt
        if cond:
            self.run_s += dt
            if not self.active and (self.run_s > need_s if strict else self.run_s >= need_s):
                self.active = True
                self.count += 1
                return "raise"
            return None
        self.run_s = 0
        if self.active and not sticky:
            self.active = False
            return "clear"
        return None

    def reset(self):
        # an external clear of a sticky alarm
        self.active = False
        self.run_s = 0


def high_flow(vol_ml, dt, lph):
    # mean flow of the interval >= lph, in integers
    return vol_ml * 3600 >= lph * 1000 * dt
