# magnetic_attack: an external magnet stalls or fools the pulse sensor to steal water.
# The board's magnet input (a digital hall switch or a reed contact, 1 = field present)
# also wakes the CPU from deep sleep (ext0), so the alarm is raised at once, not at the
# next timer wake. The alarm stays latched after the field goes until a remote `clear`
# or the technician console clears it; the field's start, duration and count are kept.
# The start is a wall-clock timestamp (for the head-end); the duration is monotonic: the sum
# of the driver's monotonic tick intervals during which the field stood, so a `time` op or an
# RTC step, either way, neither inflates nor shortens it (an interval of unknown length, the
# first after a power-on, counts 0, as for the flow detectors: docs/water.md).
from core.check import is_int


class Magnetic:
    NAME = "magnetic_attack"

    def __init__(self, state=None):
        st = state or {}
        self.present = st.get("p", False)  # field seen at the last sample
        self.start_s = st.get("s", 0)      # start of the current / last attack
        self.last_s = st.get("d", 0)       # duration of the last finished attack
        self.total_s = st.get("t", 0)      # accumulated attack seconds
        self.count = st.get("n", 0)        # attacks seen
        self.latched = st.get("l", False)
        r = st.get("r", 0)
        self.run_s = r if is_int(r) and r >= 0 else 0   # monotonic s of this attack

    def to_dict(self):
        return {"p": self.present, "s": self.start_s, "d": self.last_s,
                "t": self.total_s, "n": self.count, "l": self.latched, "r": self.run_s}

    def sample(self, present, now_s, dt_s=0):
        """dt_s: monotonic seconds since the last sample (0 when unknown).
        Returns None, ("raise", fields) at an attack's start, ("end", fields) at its end."""
        present = bool(present)
        if self.present and dt_s > 0:
            self.run_s += dt_s           # the field stood at the last sample: count the interval
        if present and not self.present:
            self.present = True
            self.start_s = now_s
            self.run_s = 0
            self.count += 1
            self.latched = True
            return ("raise", {"start": now_s, "count": self.count})
        if self.present and not present:
            self.present = False
            self.last_s = self.run_s
            self.total_s += self.last_s
            return ("end", {"start": self.start_s, "duration_s": self.last_s,
                            "count": self.count})
        return None

    def can_clear(self):
        # never clear while the field is still there
        return not self.present

    def clear(self):
        self.latched = False
