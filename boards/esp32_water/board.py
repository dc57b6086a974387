# ESP32-WROOM-32 battery water meter with a motorised ball valve (boards/README.md).
# Parts as docs/water.md expects them. Wake sources for deep sleep are the button and the
# forward pulse input (both RTC GPIOs).
import time
import machine
from hal import esp32

KIND = "water"
PINS = {
    "valve_open": 25,       # H-bridge IN1: motor towards open
    "valve_close": 26,      # H-bridge IN2: motor towards closed
    "valve_opened": 32,     # end stop, switch to GND at fully open
    "valve_closed": 33,     # end stop, switch to GND at fully closed
    "pulses_fwd": 18,       # reed/hall pulse, forward flow (PCNT unit 0)
    "pulses_rev": 19,       # second sensor, reverse flow (PCNT unit 1)
    "magnet": 35,           # hall switch for magnetic tamper (external 100k pull-up)
    "empty_pipe": 14,       # electrode probe, closed = no water
    "battery": 36,          # ADC1_CH0 on a 1:1 divider (battery_div = 2)
    "button": 27,
    "led": 4,
}
INPUTS = ("valve_opened", "valve_closed", "pulses_fwd", "pulses_rev", "magnet",
          "empty_pipe", "battery", "button")
ML_PER_PULSE = 100          # 10 pulses per litre register
BATTERY_DIV = 2


class Board:
    def __init__(self, cfg, clock):
        esp32.check_pins(PINS, INPUTS)
        self.clock = clock
        self.ml_per_pulse = cfg.get("ml_per_pulse", ML_PER_PULSE)
        self.battery_div = BATTERY_DIV
        self.valve_open = esp32.out(PINS["valve_open"])
        self.valve_close = esp32.out(PINS["valve_close"])
        self.valve_opened = esp32.inp(PINS["valve_opened"])
        self.valve_closed = esp32.inp(PINS["valve_closed"])
        self.pulses_fwd = esp32.counter(0, PINS["pulses_fwd"])
        self.pulses_rev = esp32.counter(1, PINS["pulses_rev"])
        self.magnet = esp32.inp(PINS["magnet"])
        self.empty_pipe = esp32.inp(PINS["empty_pipe"])
        self.battery = esp32.adc(PINS["battery"])
        self.button = esp32.inp(PINS["button"])
        self.led = esp32.out(PINS["led"])
        self.rtc = machine.RTC()            # RTC slow memory survives deep sleep
        self.reset_cause = esp32.reset_cause

    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def deepsleep(self, ms):
        machine.deepsleep(ms)


def make(kind, cfg, clock=None):
    if kind != KIND:
        raise ValueError("board esp32_water carries a water meter, not %r" % kind)
    return Board(cfg or {}, clock or esp32.Clock())
