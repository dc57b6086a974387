# TEST-ONLY clock for the scenario rigs, following the clock contract of
# docs/architecture.md: now_s() is the wall clock, mono_s() the monotonic one.
# Assigning a later `t` (clock.t += 1) lets that much time pass on both; jump(t_s) moves
# the wall clock only, as a `time` command or an RTC step does, and never mono_s().


class RigClock:
    def __init__(self, t_s):
        self._t = t_s
        self.mono = 0

    @property
    def t(self):
        return self._t

    @t.setter
    def t(self, t_s):
        if t_s > self._t:
            self.mono += t_s - self._t
        self._t = t_s

    def now_s(self):
        return self._t

    def mono_s(self):
        return self.mono

    def jump(self, t_s):
        self._t = t_s
