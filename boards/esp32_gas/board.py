# ESP32-WROOM-32 battery gas meter with a motorised shut-off valve, a seismic (vibration)
# sensor and a cover tamper switch (boards/README.md). Parts as docs/gas.md expects them.
# The board contract (docs/porting.md): make, clock, network, reset_cause, PINS, INPUTS.
from hal import esp32

KIND = "gas"
PINS = {
    "valve_open": 25,
    "valve_close": 26,
    "valve_opened": 32,
    "valve_closed": 33,
    "flow": 18,             # flow sensor pulses (PCNT unit 0)
    "vibration": 39,        # seismic sensor analogue output, ADC1_CH3
    "battery": 36,          # ADC1_CH0 on a 1:1 divider
    "tamper": 14,           # cover switch, closed = cover open
    "button": 27,           # reset/restore button (leak check on restore)
    "led": 4,               # the lamp that blinks during the leak check
    "modem_tx": 17,         # UART1 TX -> SIM7080G RXD
    "modem_rx": 16,         # UART1 RX <- SIM7080G TXD
    "modem_pwrkey": 23,     # NPN to the module's PWRKEY: high presses the key
    "modem_status": 34,     # the module's STATUS output, high while it runs
}
INPUTS = ("valve_opened", "valve_closed", "flow", "vibration", "battery", "tamper", "button",
          "modem_rx", "modem_status")
PULSE_ML = 10               # flow sensor resolution
VIB_UV_PER_GAL = 1000       # sensor scale: 1 mV per gal (200 gal = 0.2 V)
BATTERY_DIV = 2
MODEM = {"uart": 1, "baud": 115200, "tx": PINS["modem_tx"], "rx": PINS["modem_rx"],
         "pwrkey": PINS["modem_pwrkey"], "pwrkey_active": 1, "status": PINS["modem_status"]}
# A gas meter sits where Wi-Fi rarely reaches: NB-IoT by default, always reachable (no PSM:
# a remote shut-off must not wait for the next periodic update).
NET_DEFAULT = {"cellular": {"rat": "nbiot", "psm": False}}
reset_cause = esp32.reset_cause


def clock(conf, floor_s=0):
    return esp32.clock(floor_s)


def network(conf, clk):
    return esp32.network(conf, clk, NET_DEFAULT, MODEM)


class Board:
    def __init__(self, cfg, clock):
        esp32.check_pins(PINS, INPUTS)
        self.clock = clock
        self.pulse_ml = cfg.get("pulse_ml", PULSE_ML)
        self.vib_uv_per_gal = VIB_UV_PER_GAL
        self.battery_div = BATTERY_DIV
        self.has_tamper = True
        self.valve_open = esp32.out(PINS["valve_open"])
        self.valve_close = esp32.out(PINS["valve_close"])
        self.valve_opened = esp32.inp(PINS["valve_opened"])
        self.valve_closed = esp32.inp(PINS["valve_closed"])
        self.flow = esp32.counter(0, PINS["flow"])
        self.vibration = esp32.adc(PINS["vibration"])
        self.battery = esp32.adc(PINS["battery"])
        self.tamper = esp32.inp(PINS["tamper"])
        self.button = esp32.Button(PINS["button"])
        self.take_press = self.button.take_press      # a press since the last tick
        self.led = esp32.out(PINS["led"])
        self.reset_cause = esp32.reset_cause

    def ticks_ms(self):
        return self.clock.ticks_ms()

    def sleep_ms(self, ms):
        self.clock.sleep_ms(ms)


def make(kind, cfg, clock=None):
    if kind != KIND:
        raise ValueError("board esp32_gas carries a gas meter, not %r" % kind)
    return Board(cfg or {}, clock or esp32.clock(0))
