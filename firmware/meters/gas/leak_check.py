# The restoration leak check (Japanese microcomputer gas meter, docs/gas.md §2): after the
# resident's "appliances off" confirmation the valve opens and the meter watches the flow for
# check_s (default 180 s, Tokyo Gas uses 3 min). Any flow above leak_lph on average over the
# check closes the valve again. The volume budget is exact integer arithmetic:
#     fail  <=>  vol_ml * 3600 > leak_lph * 1000 * check_s
# and the check fails as soon as the budget is exceeded (a burner left open fails in seconds).
# Times are monotonic seconds (the board clock's mono_s): a change of the wall clock during
# the check neither shortens nor ends it (docs/gas.md). A reboot aborts a running check.

IDLE = None
OPENING = "opening"
WATCHING = "watching"


class LeakCheck:
    def __init__(self, s):
        self.s = s
        self.phase = IDLE
        self.via = None
        self.t0_s = None
        self.watch_s = None
        self.vol_ml = 0

    @property
    def active(self):
        return self.phase is not IDLE

    def start(self, mono_s, via):
        self.phase = OPENING
        self.via = via
        self.t0_s = mono_s
        self.watch_s = None
        self.vol_ml = 0

    def stop(self):
        self.phase = IDLE

    def budget_exceeded(self):
        return self.vol_ml * 3600 > self.s["leak_lph"] * 1000 * self.s["check_s"]

    def feed(self, mono_s, ml, valve_position):
        """-> None while running, else (result, fields) with result "pass"/"fail"/"abort"."""
        if self.phase is IDLE:
            return None
        self.vol_ml += ml
        f = {"via": self.via, "vol_ml": self.vol_ml, "elapsed_s": mono_s - self.t0_s}
        if self.budget_exceeded():
            self.phase = IDLE
            return ("fail", f)
        if self.phase == OPENING:
            if valve_position == "open":
                self.phase = WATCHING
                self.watch_s = mono_s
            elif valve_position == "fault":
                self.phase = IDLE
                f["reason"] = "valve_fault"
                return ("abort", f)
            return None
        if mono_s - self.watch_s >= self.s["check_s"]:
            self.phase = IDLE
            return ("pass", f)
        return None
