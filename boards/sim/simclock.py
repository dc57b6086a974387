# The sim board's stepped clock: simulated time advances only in steps the app asks for
# (advance), paced so that sim_speed simulated seconds pass per real second; when the app
# is behind (a slow tick, a long catch-up) it runs flat out instead of sleeping.
# The clock never goes backwards: a `time` command may move it forward freely (within
# MAX_JUMP_S once synced) or back by at most MAX_BACK_S, which is absorbed by holding the
# clock still until the simulated time catches up (docs/protocol.md, op time). The one
# exception is a signed `time` op (set_now's signed=True) further back to no earlier than
# signed_s, the last signed time: it rewinds the wall clock (undoing unauthenticated time).
#
# Two time scales (docs/architecture.md, "Clock contract"): now_s() is the wall clock for
# billing and the calendar, moved by set_now; mono_s() counts the simulated seconds that
# advance() lets pass, and nothing else: set_now never moves it, and it never goes back.
# Every safety timer runs on mono_s(), so a clock change cannot shorten or skip one.
import time

MIN_PLAUSIBLE_S = 1704067200      # 2024-01-01: earlier is an unset RTC, never a real time
MAX_PLAUSIBLE_S = 4102444800      # 2100-01-01
MAX_JUMP_S = 86400                # once synced, a correction beyond a day is implausible
MAX_BACK_S = 300


class SimClock:
    def __init__(self, speed=1, start_s=None, synced=True):
        if not isinstance(speed, int) or isinstance(speed, bool) or not 1 <= speed <= 1000000:
            raise ValueError("sim_speed must be an int 1..1000000")
        self.speed = speed
        self.t = int(time.time()) if start_s is None else start_s
        self.hold = 0                 # seconds still to absorb after a backward correction
        self.ok = synced              # clock_ok: the host's wall clock counts as NTP-synced
        self.mono = 0                 # simulated seconds elapsed since this boot
        self.signed_s = 0             # the last signed time (the app restores it at boot)
        self._anchor()

    def _anchor(self):
        self._t0 = self.t
        self._ms0 = time.ticks_ms()

    def now_s(self):
        return self.t

    def mono_s(self):
        return self.mono

    def ticks_ms(self):
        return time.ticks_ms()

    def due_ms(self, t_s):
        """Real milliseconds until sim time t_s is due (<= 0: due now, or we are behind)."""
        real = (t_s - self._t0) * 1000 // self.speed
        return real - time.ticks_diff(time.ticks_ms(), self._ms0)

    def advance(self, t_s):
        if t_s <= self.t:
            return
        self.mono += t_s - self.t     # held seconds pass too: only the wall clock stands still
        if self.hold:
            k = min(self.hold, t_s - self.t)
            self.hold -= k
            self._t0 += k           # the held seconds are not paced twice
            t_s -= k
            if t_s <= self.t:
                return
        self.t = t_s
        if self.due_ms(t_s) < -1000:      # far behind: re-anchor, do not sprint forever
            self._anchor()

    def set_now(self, t_s, signed=True):
        if not isinstance(t_s, int) or isinstance(t_s, bool):
            raise ValueError("now must be integer unix seconds")
        if not MIN_PLAUSIBLE_S <= t_s < MAX_PLAUSIBLE_S:
            raise ValueError("implausible time (outside 2024..2100)")
        d = t_s - self.t
        if self.ok and d > MAX_JUMP_S:
            raise ValueError("implausible jump forward of %d s" % d)
        if d < -MAX_BACK_S and not (signed and t_s >= self.signed_s):
            raise ValueError("implausible jump back of %d s" % -d)
        if t_s >= self.t or d < -MAX_BACK_S:
            self.t = t_s                 # forward, or a signed rewind: no hold
            self.hold = 0
            self._anchor()
        else:
            self.hold = self.t - t_s
        self.ok = True
        if signed:
            self.signed_s = t_s
