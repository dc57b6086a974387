# Parts shared by the ESP32 board definitions (boards/esp32_*/board.py): the only module
# besides those boards and boot.py that imports `machine`. Drivers see Pin-like objects
# (value()), counters (value()), ADCs (read_uv()), a UART and a clock, exactly as on the
# sim board, so the same driver code runs on both.
import time
import machine

# GPIOs the ESP32 samples at reset (strapping pins): an input held there at power-up
# changes the boot mode (GPIO0 low = ROM download mode, so boot.py would never run).
STRAPPING = (0, 2, 5, 12, 15)
INPUT_ONLY = (34, 35, 36, 37, 38, 39)    # no output driver and no internal pull-ups
FLASH_PINS = (6, 7, 8, 9, 10, 11)        # wired to the module's SPI flash


class Clock:
    """UTC unix seconds from the RTC (set by the app's `time` op / the head-end)."""

    def now_s(self):
        return int(time.time())


def out(n):
    return machine.Pin(n, machine.Pin.OUT, value=0)


def inp(n, active_low=True):
    """A switch to ground with the internal pull-up (an external one on GPIO34-39):
    value() is 1 while the switch is closed."""
    pull = None if n in INPUT_ONLY else machine.Pin.PULL_UP
    p = machine.Pin(n, machine.Pin.IN, pull) if pull else machine.Pin(n, machine.Pin.IN)
    return machine.Signal(p, invert=active_low)


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
