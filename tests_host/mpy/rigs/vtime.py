# Virtual time for firmware tests: the parts of the `time` module the board clock, the
# network supervisors and the fakes read (ticks_ms, ticks_diff, ticks_add, sleep_ms, time,
# gmtime), advanced only by the test (or by sleep_ms, so code that blocks moves it). With
# epoch=2000 it behaves like the ESP32 port's time module (docs/library/time.rst).
import time as _t

EPOCH_2000_S = 946684800
PERIOD = 1 << 30            # ticks_ms wraps like the ESP32's (MICROPY_PY_TIME_TICKS_PERIOD)


class VirtualTime:
    def __init__(self, unix_s=1800000000, epoch=1970, ms=0):
        self.ms = ms % PERIOD       # ticks
        self.wall_ms = unix_s * 1000
        self.epoch = epoch
        self.slept_ms = 0

    def advance(self, ms):
        self.ms = (self.ms + ms) % PERIOD
        self.wall_ms += ms

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        d = (a - b) % PERIOD
        return d - PERIOD if d >= PERIOD // 2 else d

    def ticks_add(self, a, d):
        return (a + d) % PERIOD

    def sleep_ms(self, ms):
        self.slept_ms += ms
        self.advance(ms)

    def _off(self):
        return EPOCH_2000_S if self.epoch == 2000 else 0

    def time(self):
        return self.wall_ms // 1000 - self._off()

    def set_time(self, port_s):
        """What machine.RTC().datetime(...) does to the port's time() (RTC set)."""
        self.wall_ms = (port_s + self._off()) * 1000 + self.wall_ms % 1000

    def gmtime(self, s=None):
        if s is None:
            s = self.time()
        return _t.gmtime(s + self._off())


class FakeRTC:
    """machine.RTC for a VirtualTime: datetime(...) sets the virtual wall clock."""

    def __init__(self, vt):
        self.vt = vt
        self.sets = []
        self.mem = b""

    def datetime(self, dt=None):
        if dt is None:
            g = self.vt.gmtime()
            return (g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0)
        s = _t.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0)) - self.vt._off()
        self.sets.append(s)
        self.vt.set_time(s)

    def memory(self, data=None):
        if data is None:
            return self.mem
        if len(data) > 2048:
            raise ValueError("buffer too long")
        self.mem = bytes(data)
