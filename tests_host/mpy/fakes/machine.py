# Test-only fake of the ESP32 port's `machine` module: the subset the real boards and
# boot.py use, with the same names, constants and call signatures as MicroPython 1.29's
# esp32 port (docs: machine.Pin, machine.UART, machine.ADC, machine.Counter, machine.WDT,
# machine.Timer, machine.RTC, machine.reset_cause, machine.deepsleep; values and errors
# checked against ports/esp32/machine_uart.c and machine_rtc.c).
# Every object records what the firmware did to it, so tests can assert on the hardware
# boundary. `reset_world()` puts the fake back to a fresh power-on (RTC memory kept across
# the other reset causes, as RTC_NOINIT memory is on the chip).
# Peers: a test attaches a simulated device to a UART (`attach(uart_id, peer)`: the peer's
# rx(data, uart) gets every write, its poll(uart) runs before every read so it can answer
# by time) and watches output pins (`watch(gpio, fn)`: fn(level) on every write).

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

import time

_world = {}


RTC_USER_MEM_MAX = 2048     # MICROPY_HW_RTC_USER_MEM_MAX default (ports/esp32)


def reset_world(cause=PWRON_RESET):
    # RTC user memory is RTC_NOINIT: it survives every reset but a power-on
    mem = _world.get("rtc_mem", b"") if cause != PWRON_RESET else b""
    _world.clear()
    _world.update({"cause": cause, "pins": {}, "wdt": None, "timers": [], "resets": 0,
                   "deepsleep_ms": None, "uarts": {}, "adcs": {}, "counters": {},
                   "rtc_mem": mem, "rtc_offset_s": 0, "rtc_sets": [], "peers": {},
                   "watch": {}, "sense": {}, "every": []})


def attach(uart_id, peer):
    """Test side: a simulated device on UART `uart_id` (see the header)."""
    _world["peers"][uart_id] = peer
    u = _world["uarts"].get(uart_id)
    if u is not None:
        u.peer = peer


def watch(gpio, fn):
    """Test side: fn(level) after every write to output GPIO `gpio`."""
    _world["watch"].setdefault(gpio, []).append(fn)


def sense(key, fn):
    """Test side: fn() runs before the firmware reads input GPIO `key` (an int) or counter
    ("pcnt", unit): a simulated world brings the pin or the count up to date by time."""
    _world["sense"][key] = fn


def every(fn):
    """Test side: fn() runs whenever the firmware samples the hardware (a pin, an ADC, a
    counter or a UART read): a world event not tied to one input (a button press whose
    edge fires an IRQ) happens then."""
    _world["every"].append(fn)


def _tick_world():
    fs = _world["every"]
    if fs and not _world.get("in_every"):
        _world["in_every"] = True      # a hook that reads a pin must not re-enter itself
        try:
            for fn in fs:
                fn()
        finally:
            _world["in_every"] = False


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
            _tick_world()
            f = _world["sense"].get(self.id)
            if f is not None:
                f()
            if s["mode"] == Pin.OUT:
                return s["level"]
            if s["external"] is not None:
                return s["external"]
            return 1 if s["pull"] == Pin.PULL_UP else 0
        if s["mode"] != Pin.OUT and s["mode"] != Pin.OPEN_DRAIN:
            raise OSError("pin %s is not an output" % self.id)
        s["level"] = 1 if v else 0
        s["history"].append(s["level"])
        if len(s["history"]) > 200:          # a long run must not grow the fake without bound
            del s["history"][:100]
        for fn in _world["watch"].get(self.id, ()):
            fn(s["level"])

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING):
        self.s["irq"] = handler
        self.s["trigger"] = trigger


def pin(id):
    """Test side: the state of GPIO `id` (mode, pull, level, external, history)."""
    return Pin(id).s


def drive(id, level):
    """Test side: drive GPIO `id` from outside (a button, an end stop); None = release."""
    p = Pin(id)
    old = p.value()
    p.s["external"] = level
    new = p.value()
    edge = Pin.IRQ_FALLING if old and not new else Pin.IRQ_RISING if new and not old else 0
    if p.s["irq"] and edge & p.s.get("trigger", 3):
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
    """datetime() reads the host clock plus the offset the firmware set; time.time() of the
    unix port does not follow it (a limit of this fake, stated in docs/porting.md)."""

    def datetime(self, dt=None):
        if dt is None:
            t = int(time.time()) + _world["rtc_offset_s"]
            g = time.gmtime(t)
            return (g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0)
        if len(dt) != 8:
            raise ValueError("requested length 8 but object has length %d" % len(dt))
        # like machine_rtc.c: the weekday (index 3) is ignored
        t = time.mktime((dt[0], dt[1], dt[2], dt[4], dt[5], dt[6], 0, 0))
        _world["rtc_offset_s"] = t - int(time.time())
        _world["rtc_sets"].append(t)

    def init(self, dt):
        # init takes (year, month, day, hour, minute, second, subsecond, tzinfo)
        self.datetime((dt[0], dt[1], dt[2], 0, dt[3], dt[4], dt[5], 0))

    def memory(self, data=None):
        if data is None:
            return _world["rtc_mem"]
        if len(data) > RTC_USER_MEM_MAX:
            raise ValueError("buffer too long")
        _world["rtc_mem"] = bytes(data)


class ADC:
    ATTN_0DB = 0
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.atten = atten
        self.uv = 0
        _world["adcs"][pin.id if hasattr(pin, "id") else pin] = self

    def _sense(self):
        _tick_world()
        f = _world["sense"].get(("adc", self.pin.id if hasattr(self.pin, "id") else self.pin))
        if f is not None:
            f()

    def read_uv(self):
        self._sense()
        return self.uv

    def read_u16(self):
        self._sense()
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
        _tick_world()
        f = _world["sense"].get(("pcnt", self.id))
        if f is not None:
            f()
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


# UART lives in its own file: this module must still compile inside a 64 KiB test heap
from machine_uart import UART  # noqa: E402,F401
