# ESP32-WROOM-32 battery water meter with a motorised ball valve (boards/README.md).
# Parts as docs/water.md expects them. Wake sources for deep sleep are the button and the
# forward pulse input (both RTC GPIOs).
# The board contract (docs/porting.md): make, clock, network, reset_cause, PINS, INPUTS.
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
    "modem_tx": 17,         # UART1 TX -> SIM7080G RXD
    "modem_rx": 16,         # UART1 RX <- SIM7080G TXD
    "modem_pwrkey": 23,     # NPN to the module's PWRKEY: high presses the key
    "modem_status": 34,     # the module's STATUS output, high while it runs
}
INPUTS = ("valve_opened", "valve_closed", "pulses_fwd", "pulses_rev", "magnet",
          "empty_pipe", "battery", "button", "modem_rx", "modem_status")
ML_PER_PULSE = 100          # 10 pulses per litre register
POLL_S = 5                  # awake: the pulse counter is looked at this often (sleep_plan)
BATTERY_DIV = 2
MODEM = {"uart": 1, "baud": 115200, "tx": PINS["modem_tx"], "rx": PINS["modem_rx"],
         "pwrkey": PINS["modem_pwrkey"], "pwrkey_active": 1, "status": PINS["modem_status"]}
# A meter in a pit: NB-IoT with power saving (the modem sleeps between sessions, docs/water.md)
NET_DEFAULT = {"cellular": {"rat": "nbiot", "psm": True}}
reset_cause = esp32.reset_cause


def clock(conf, floor_s=0):
    return esp32.clock(floor_s)


def network(conf, clk):
    return esp32.network(conf, clk, NET_DEFAULT, MODEM)


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
        self.button = esp32.Button(PINS["button"])
        self.take_press = self.button.take_press      # a press since the last tick
        self.led = esp32.out(PINS["led"])
        # RTC slow memory survives deep sleep; the clock keeps its slot at the start of it
        self.rtc = esp32.rtc_memory().driver_view()
        self.reset_cause = esp32.reset_cause
        self._plan = None

    def ticks_ms(self):
        return self.clock.ticks_ms()

    def sleep_ms(self, ms):
        self.clock.sleep_ms(ms)

    def sleep_plan(self, timer_s, wake_pulses):
        """Seconds to the next wake. The app keeps this CPU awake (it does not deep-sleep
        yet), so there is no ULP to wake it after wake_pulses: the board stands in for it by
        looking at the pulse counter every POLL_S, sooner when the flow measured over the
        last wake would reach wake_pulses first. Billing and the credit cut-off then lag the
        register by at most POLL_S of flow (docs/water.md)."""
        now = self.clock.ticks_ms()
        n = self.pulses_fwd.value()
        last = self._plan
        self._plan = (now, n)
        t = min(timer_s, POLL_S)
        if last is None or wake_pulses <= 0:
            return t
        import time
        dt = time.ticks_diff(now, last[0])
        dn = n - last[1]
        if dt > 0 and dn > 0:
            t = min(t, wake_pulses * dt // (dn * 1000))
        return max(1, t)

    def deepsleep(self, ms):
        # wake early on the button (ext0) or the magnet (ext1): both switches pull their
        # RTC GPIO low when closed (esp32.wake_on_ext0 / wake_on_ext1, docs/library/esp32.rst)
        import esp32 as chip
        chip.wake_on_ext0(machine.Pin(PINS["button"]), chip.WAKEUP_ALL_LOW)
        chip.wake_on_ext1((machine.Pin(PINS["magnet"]),), chip.WAKEUP_ALL_LOW)
        machine.deepsleep(ms)


def make(kind, cfg, clock=None):
    if kind != KIND:
        raise ValueError("board esp32_water carries a water meter, not %r" % kind)
    return Board(cfg or {}, clock or esp32.clock(0))
