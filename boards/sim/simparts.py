# Faithful fakes of the machine parts the sim boards hand to the drivers: the same API as
# machine.Pin (value), machine.ADC (read_uv) and machine.Counter (value), driven by the
# simulated world through callbacks.


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
