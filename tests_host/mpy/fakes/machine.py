# Test-only fake of the ESP32 port's `machine` module: the subset the real boards and
# boot.py use, with the same names, constants and call signatures as MicroPython 1.29's
# esp32 port (docs: machine.Pin, machine.UART, machine.ADC, machine.Counter, machine.WDT,
# machine.Timer, machine.RTC, machine.reset_cause, machine.deepsleep).
# Every object records what the firmware did to it, so tests can assert on the hardware
# boundary. `reset_world()` puts the fake back to a fresh power-on.

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_world = {}


def reset_world(cause=PWRON_RESET):
    _world.clear()
    _world.update({"cause": cause, "pins": {}, "wdt": None, "timers": [], "resets": 0,
                   "deepsleep_ms": None, "uarts": {}, "adcs": {}, "counters": {},
                   "rtc_mem": b""})


reset_world()


class Reset(Exception):
    """Raised by machine.reset()/deepsleep() so a test sees the chip restart."""


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    # Every Pin(n) object shares one state per GPIO number, as on the chip.
    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        s = _world["pins"].get(id)
        if s is None:
            s = {"mode": None, "pull": None, "level": 0, "external": None, "history": [],
                 "irq": None}
            _world["pins"][id] = s
        self.s = s
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self.s["mode"] = mode
        if pull != -1:
            self.s["pull"] = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        s = self.s
        if v is None:
            if s["mode"] == Pin.OUT:
                return s["level"]
            if s["external"] is not None:
                return s["external"]
            return 1 if s["pull"] == Pin.PULL_UP else 0
        if s["mode"] != Pin.OUT and s["mode"] != Pin.OPEN_DRAIN:
            raise OSError("pin %s is not an output" % self.id)
        s["level"] = 1 if v else 0
        s["history"].append(s["level"])

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        self.s["irq"] = handler


def pin(id):
    """Test side: the state of GPIO `id` (mode, pull, level, external, history)."""
    return Pin(id).s


def drive(id, level):
    """Test side: drive GPIO `id` from outside (a button, an end stop); None = release."""
    p = Pin(id)
    old = p.value()
    p.s["external"] = level
    if p.s["irq"] and level is not None and level != old:
        p.s["irq"](p)


class Signal:
    def __init__(self, pin, invert=False):
        self.pin = pin
        self.invert = invert

    def value(self, v=None):
        if v is None:
            return self.pin.value() ^ (1 if self.invert else 0)
        self.pin.value((1 if v else 0) ^ (1 if self.invert else 0))

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout")
        self.timeout = timeout
        self.feeds = 0
        _world["wdt"] = self

    def feed(self):
        self.feeds += 1


class Timer:
    PERIODIC = 1
    ONE_SHOT = 0

    def __init__(self, id=0, **kw):
        self.id = id
        self.callback = None
        self.period = None
        _world["timers"].append(self)
        if kw:
            self.init(**kw)

    def init(self, mode=1, period=-1, callback=None, freq=-1):
        self.mode = mode
        self.period = period
        self.callback = callback

    def deinit(self):
        self.callback = None

    # test side: advance by n periods
    def fire(self, n=1):
        for _ in range(n):
            if self.callback:
                self.callback(self)


class RTC:
    def memory(self, data=None):
        if data is None:
            return _world["rtc_mem"]
        _world["rtc_mem"] = bytes(data)


class UART:
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, tx=None, rx=None,
                 **kw):
        self.id = id
        self.baudrate = baudrate
        self.tx = tx
        self.rx = rx
        self.rxbuf = bytearray()
        self.written = bytearray()
        _world["uarts"][id] = self

    def any(self):
        return len(self.rxbuf)

    def read(self, n=-1):
        if not self.rxbuf:
            return None
        if n < 0:
            n = len(self.rxbuf)
        out = bytes(self.rxbuf[:n])
        self.rxbuf = self.rxbuf[n:]
        return out

    def write(self, buf):
        self.written += buf
        return len(buf)

    # test side
    def feed(self, data):
        self.rxbuf += data


class ADC:
    ATTN_0DB = 0
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.atten = atten
        self.uv = 0
        _world["adcs"][pin.id if hasattr(pin, "id") else pin] = self

    def read_uv(self):
        return self.uv

    def read_u16(self):
        return min(65535, self.uv * 65535 // 3300000)


class Counter:
    RISING = 1
    FALLING = 2

    def __init__(self, id, src=None, edge=1, **kw):
        self.id = id
        self.src = src
        self.edge = edge
        self.count = 0
        _world["counters"][id] = self

    def value(self, v=None):
        c = self.count
        if v is not None:
            self.count = v
        return c


def reset_cause():
    return _world["cause"]


def reset():
    _world["resets"] += 1
    raise Reset("reset")


def deepsleep(ms=0):
    _world["deepsleep_ms"] = ms
    raise Reset("deepsleep")


def unique_id():
    return b"\x24\x0a\xc4\x00\x00\x01"
