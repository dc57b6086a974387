# Parts shared by the ESP32 board definitions (boards/esp32_*/board.py): the only module
# besides those boards and boot.py that imports `machine`. Drivers see Pin-like objects
# (value()), counters (value()), ADCs (read_uv()), a UART and a clock, exactly as on the
# sim board, so the same driver code runs on both. clock() and network() are what every
# board module hands the app (docs/porting.md "The board contract").
import machine

# GPIOs the ESP32 samples at reset (strapping pins): an input held there at power-up
# changes the boot mode (GPIO0 low = ROM download mode, so boot.py would never run).
STRAPPING = (0, 2, 5, 12, 15)
INPUT_ONLY = (34, 35, 36, 37, 38, 39)    # no output driver and no internal pull-ups
FLASH_PINS = (6, 7, 8, 9, 10, 11)        # wired to the module's SPI flash


_mem = []


def rtc_memory():
    """The one RtcMemory of the chip: the clock's slot and the driver's view share it."""
    if not _mem:
        from hal.rtc_clock import RtcMemory
        _mem.append(RtcMemory(machine.RTC()))
    return _mem[0]


def clock(floor_s=0):
    """The board clock (hal/rtc_clock.py): the RTC floored by the last saved time."""
    from hal.rtc_clock import RtcClock
    return RtcClock(floor_s, rtc_memory(), machine.RTC())


def network(conf, clk, net_default, modem=None):
    """The interface config.json's "net" asks for (net/netconf.py), or the board's default.
    modem: the board's MODEM table (uart, baud, tx, rx, pwrkey, pwrkey_active, status)."""
    from net import netconf
    kind, o = netconf.parse(conf.get("net"), net_default)
    import network as nw
    if kind == "wifi":
        from net.wifi import Wifi
        try:
            import ntptime
        except ImportError:
            ntptime = None
        return Wifi(nw, o, clk.ticks_ms, backoff_max_ms=conf.get("backoff_max_s", 60) * 1000,
                    ntptime=ntptime, epoch_s=clk.epoch_s)
    if kind == "cellular":
        if modem is None:
            raise ValueError("invalid config.json: net: this board has no cellular modem")
        from net.cellular import Cellular
        uart = machine.UART(modem["uart"], baudrate=modem["baud"], tx=modem["tx"],
                            rx=modem["rx"], rxbuf=1024, timeout=0)
        active = modem.get("pwrkey_active", 1)
        key = machine.Signal(machine.Pin(modem["pwrkey"], machine.Pin.OUT, value=1 - active),
                             invert=not active)
        st = modem.get("status")
        status = machine.Signal(machine.Pin(st, machine.Pin.IN)) if st is not None else None
        return Cellular(nw, uart, key, o, clk.ticks_ms, status=status)
    raise ValueError("invalid config.json: net: an ESP32 board has no host network")


def out(n):
    return machine.Pin(n, machine.Pin.OUT, value=0)


def inp(n, active_low=True):
    """A switch to ground with the internal pull-up (an external one on GPIO34-39):
    value() is 1 while the switch is closed."""
    pull = None if n in INPUT_ONLY else machine.Pin.PULL_UP
    p = machine.Pin(n, machine.Pin.IN, pull) if pull else machine.Pin(n, machine.Pin.IN)
    return machine.Signal(p, invert=active_low)


class Button:
    """A push button to GND with the pull-up: value() is 1 while pressed, and take_press()
    is True once per press however short, latched by a falling-edge IRQ between two polls
    (a driver polls once a tick). Contact bounce latches the same one press."""

    def __init__(self, n):
        pin = machine.Pin(n, machine.Pin.IN, machine.Pin.PULL_UP)
        self._sig = machine.Signal(pin, invert=True)
        self._pressed = False
        pin.irq(handler=self._edge, trigger=machine.Pin.IRQ_FALLING)

    def _edge(self, pin):
        self._pressed = True

    def value(self):
        return self._sig.value()

    def take_press(self):
        p = self._pressed
        self._pressed = False
        return p


def counter(unit, n):
    """Hardware pulse counter (PCNT) on rising edges: value() is the running count."""
    return machine.Counter(unit, machine.Pin(n, machine.Pin.IN, machine.Pin.PULL_UP),
                           edge=machine.Counter.RISING)


def adc(n):
    return machine.ADC(machine.Pin(n), atten=machine.ADC.ATTN_11DB)   # 0..~3.1 V range


RESET_CAUSES = {1: "power_on", 2: "hard", 3: "watchdog", 4: "deepsleep", 5: "soft"}


def reset_cause():
    return RESET_CAUSES.get(machine.reset_cause(), "unknown")


def check_pins(pins, inputs=()):
    """A board's PINS table must not reuse a GPIO, touch the flash, drive an input-only
    pin, or put a boot-time input on a strapping pin. Raises ValueError naming the pin."""
    seen = {}
    for name, n in pins.items():
        if isinstance(n, tuple):
            continue
        if n in seen:
            raise ValueError("GPIO%d used by %s and %s" % (n, seen[n], name))
        seen[n] = name
        if n in FLASH_PINS:
            raise ValueError("GPIO%d (%s) belongs to the SPI flash" % (n, name))
        if n in INPUT_ONLY and name not in inputs:
            raise ValueError("GPIO%d (%s) is input-only" % (n, name))
        if n in STRAPPING and name in inputs:
            raise ValueError("GPIO%d (%s) is a strapping pin: an input held at reset "
                             "changes the boot mode" % (n, name))
