# ESP32-WROOM-32 single-phase prepaid electricity meter (boards/README.md has the wiring).
# Parts as docs/electricity.md expects them; the driver is unchanged from the sim board.
# The board contract (docs/porting.md): make, clock, network, reset_cause, PINS, INPUTS.
import machine
from hal import esp32

KIND = "electricity"
PINS = {
    "relay_set": 25,        # latching relay, SET coil driver (closes the contacts)
    "relay_reset": 26,      # latching relay, RESET coil driver (opens the contacts)
    "meter_tx": 17,         # UART2 TX -> BL0942 RX (4800 8N1)
    "meter_rx": 16,         # UART2 RX <- BL0942 TX
    "button": 27,           # front button to GND (safe mode when held at power-up)
    "led": 2,               # status LED (on-module)
    "modem_tx": 21,         # UART1 TX -> SIM7080G RXD (optional cellular module)
    "modem_rx": 22,         # UART1 RX <- SIM7080G TXD
    "modem_pwrkey": 23,     # NPN to the module's PWRKEY: high presses the key
    "modem_status": 34,     # the module's STATUS output, high while it runs
}
INPUTS = ("meter_rx", "button", "modem_rx", "modem_status")
METER_UART = 2
METER_BAUD = 4800           # BL0942 datasheet: UART 4800 bps, 8N1
MODEM = {"uart": 1, "baud": 115200, "tx": PINS["modem_tx"], "rx": PINS["modem_rx"],
         "pwrkey": PINS["modem_pwrkey"], "pwrkey_active": 1, "status": PINS["modem_status"]}
# Mains-powered, indoors: Wi-Fi or cellular, chosen at install (config.json "net"); there
# is no default, so a meter never comes up on a network nobody configured.
NET_DEFAULT = None
reset_cause = esp32.reset_cause


def clock(conf, floor_s=0):
    return esp32.clock(floor_s)


def network(conf, clk):
    return esp32.network(conf, clk, NET_DEFAULT, MODEM)


class Board:
    def __init__(self, cfg, clock):
        esp32.check_pins(PINS, INPUTS)
        self.clock = clock
        self.relay_set = esp32.out(PINS["relay_set"])
        self.relay_reset = esp32.out(PINS["relay_reset"])
        self.meter_uart = machine.UART(METER_UART, baudrate=METER_BAUD, bits=8, parity=None,
                                       stop=1, tx=PINS["meter_tx"], rx=PINS["meter_rx"])
        self.button = esp32.Button(PINS["button"])
        self.take_press = self.button.take_press      # a press since the last tick
        self.led = esp32.out(PINS["led"])
        self.reset_cause = esp32.reset_cause

    # coil pulses are timed in real milliseconds, by the board clock
    def ticks_ms(self):
        return self.clock.ticks_ms()

    def sleep_ms(self, ms):
        self.clock.sleep_ms(ms)


def make(kind, cfg, clock=None):
    if kind != KIND:
        raise ValueError("board esp32_electricity carries an electricity meter, not %r" % kind)
    return Board(cfg or {}, clock or esp32.clock(0))
