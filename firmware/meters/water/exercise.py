# Valve exercise: a short close and re-open every `valve_exercise_days` at
# `valve_exercise_at` local time keeps a ball valve from seizing in hard water. It is skipped
# (and tried again the next day) while water flows, while the valve is not open for supply,
# or once the battery is low; a supply change during the exercise ends it where the supply
# wants the valve.
from meters.water.config import parse_hhmm

DAY = 86400


class Exercise:
    def __init__(self, cfg, tz_s, now_s, state=None):
        st = state or {}
        self.tz_s = tz_s
        self.phase = st.get("p")            # None | "closing" | "opening"
        self.next_s = st.get("n") or self.schedule(cfg, now_s)

    def to_dict(self):
        return {"p": self.phase, "n": self.next_s}

    def _next_at(self, cfg, now_s):
        # the next valve_exercise_at (local) strictly after now_s
        at = parse_hhmm(cfg["valve_exercise_at"])
        loc = now_s + self.tz_s
        t = loc - loc % DAY + at - self.tz_s
        while t <= now_s:
            t += DAY
        return t

    def schedule(self, cfg, now_s):
        days = cfg["valve_exercise_days"]
        self.next_s = self._next_at(cfg, now_s) + (days - 1) * DAY if days else 0
        return self.next_s

    def run_now(self, now_s):
        self.next_s = now_s

    def step(self, cfg, now_s, want, position, flowing, battery_ok):
        """-> (want_open, done): the valve target while exercising, and True once a full
        close/open cycle completed (the driver emits `valve_exercise`)."""
        if self.phase is None and self.next_s and now_s >= self.next_s and cfg["valve_exercise_days"]:
            if want and position == "open" and not flowing and battery_ok:
                self.phase = "closing"
            else:
                self.next_s = self._next_at(cfg, now_s)      # skipped: try the next day
        if self.phase == "closing":
            if position == "closed":
                self.phase = "opening"
            else:
                return False, False
        if self.phase == "opening":
            if not want:
                self.phase = None        # the supply went off meanwhile: stay closed
            elif position == "open":
                self.phase = None
                self.schedule(cfg, now_s)
                return want, True
        return want, False

    def abort(self):
        self.phase = None
