# Faithful fakes of the machine parts the sim boards hand to the drivers: the same API as
# machine.Pin (value), machine.ADC (read_uv) and machine.Counter (value), driven by the
# simulated world through callbacks.


class PhysClock:
    """The physical world's time: the wall time at start-up plus the monotonic seconds since
    (docs/architecture.md, "Clock contract"). A change of the meter's wall clock (a `time`
    command) moves no gas, water or energy and no valve, exactly as on a real meter."""

    def __init__(self, clock):
        self.clock = clock
        self.base_s = clock.now_s() - clock.mono_s()

    def now_s(self):
        return self.base_s + self.clock.mono_s()


class OutPin:
    """An output Pin; on_change() runs before the level changes, so the world is integrated
    up to now under the old drive first (a motor starting or stopping)."""

    def __init__(self, on_change=None):
        self._v = 0
        self._cb = on_change

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            if self._cb:
                self._cb()
            self._v = v
        return None


class InPin:
    def __init__(self, fn):
        self._fn = fn

    def value(self, v=None):
        return 1 if self._fn() else 0


class ADC:
    def __init__(self, fn):
        self._fn = fn

    def read_uv(self):
        return int(self._fn())


class Counter:
    def __init__(self, fn):
        self._fn = fn

    def value(self, v=None):
        return self._fn()


class ValveModel:
    """A motorised ball valve: travel_s from stop to stop, end-stop switches within the last
    2 % of travel; `stuck` freezes it (a seized valve, for fault tests). on_change runs before
    a motor pin changes (default: integrate the position)."""
    SPAN = 1000   # position units: 0 = closed, SPAN = open

    def __init__(self, clock, travel_s=6, on_change=None, pos=0):
        self.clock = clock if isinstance(clock, PhysClock) else PhysClock(clock)
        self.travel_s = travel_s
        self.pos = pos
        self.stuck = False
        self._t = self.clock.now_s()
        self.open_pin = OutPin(on_change or self.update)
        self.close_pin = OutPin(on_change or self.update)
        self.opened_stop = InPin(lambda: self.update() >= self.SPAN * 98 // 100)
        self.closed_stop = InPin(lambda: self.update() <= self.SPAN * 2 // 100)

    def update(self):
        now = self.clock.now_s()
        dt = now - self._t
        self._t = now
        if dt > 0 and not self.stuck:
            o, c = self.open_pin._v, self.close_pin._v
            step = dt * self.SPAN // self.travel_s
            if o and not c:
                self.pos = min(self.SPAN, self.pos + step)
            elif c and not o:
                self.pos = max(0, self.pos - step)
        return self.pos

    def open_fraction_pct(self):
        return self.update() * 100 // self.SPAN


def num(msg, k, lo, hi, intonly=False):
    """A numeric sim-topic field in [lo, hi] (an int if intonly); ValueError names the field."""
    v = msg[k]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (intonly and not isinstance(v, int)):
        raise ValueError("sim field %s must be %s" % (k, "an int" if intonly else "a number"))
    if v != v or v < lo or v > hi:
        raise ValueError("sim field %s out of range %s..%s" % (k, lo, hi))
    return v
