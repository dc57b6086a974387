# heap: 72k
# The ESP32 board definitions (boards/esp32_*/board.py) built against fakes of the ESP32
# port's machine module: every part the drivers read exists and behaves like the sim
# board's (docs/electricity.md, water.md, gas.md), and the pin tables are sound.
# Heap 72k: each board's source compiles into it (floor 56-64k since the boards carry their
# modem tables and the clock/network functions).
import sys
import random

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine          # noqa: E402  (the fake)
import mptest           # noqa: E402
from hal import esp32   # noqa: E402

BOARDS = HERE + "/../../boards/"
# the board attributes each driver uses (grep board./self.b. in firmware/meters/)
NEEDS = {
    "electricity": ("clock", "relay_set", "relay_reset", "meter_uart", "button", "led",
                    "ticks_ms", "sleep_ms"),
    "water": ("clock", "ml_per_pulse", "pulses_fwd", "pulses_rev", "valve_open",
              "valve_close", "valve_opened", "valve_closed", "rtc", "reset_cause", "magnet",
              "empty_pipe", "battery", "battery_div", "button", "led", "sleep_ms"),
    "gas": ("clock", "pulse_ml", "flow", "valve_open", "valve_close", "valve_opened",
            "valve_closed", "vibration", "vib_uv_per_gal", "battery", "battery_div",
            "tamper", "has_tamper", "button", "led"),
}


class Clock:
    def now_s(self):
        return 1_800_000_000


def load(kind):
    machine.reset_world()
    name = "board_esp32_" + kind
    if name in sys.modules:
        del sys.modules[name]
    g = {"__name__": name}
    exec(open(BOARDS + "esp32_" + kind + "/board.py").read(), g)
    return g


def test_every_board_has_what_its_driver_reads():
    for kind, needs in NEEDS.items():
        g = load(kind)
        b = g["make"](kind, {}, Clock())
        for n in needs:
            mptest.true(hasattr(b, n), "%s board lacks %s" % (kind, n))
        mptest.eq(b.button.value(), 0, "button released (pull-up, active low)")
        machine.drive(g["PINS"]["button"], 0)
        mptest.eq(b.button.value(), 1, "button pressed")
        mptest.eq(b.led.value(), 0)


def test_wrong_kind_refused():
    for kind in NEEDS:
        g = load(kind)
        for other in NEEDS:
            if other != kind:
                mptest.raises(ValueError, g["make"], other, {}, Clock())


def test_valve_end_stops_and_counters():
    for kind in ("water", "gas"):
        g = load(kind)
        b = g["make"](kind, {}, Clock())
        p = g["PINS"]
        mptest.eq(b.valve_closed.value(), 0)
        machine.drive(p["valve_closed"], 0)            # switch to GND made
        mptest.eq(b.valve_closed.value(), 1)
        b.valve_open.value(1)
        mptest.eq(machine.pin(p["valve_open"])["level"], 1)
        c = b.pulses_fwd if kind == "water" else b.flow
        machine._world["counters"][0].count = 37
        mptest.eq(c.value(), 37)
        b.battery.uv = 1_800_000
        mptest.eq(b.battery.read_uv() * b.battery_div // 1000, 3600)


def test_electricity_uart_is_bl0942_framing():
    g = load("electricity")
    b = g["make"]("electricity", {}, Clock())
    u = machine._world["uarts"][2]
    mptest.eq(u.baudrate, 4800)
    mptest.eq((u.tx, u.rx), (17, 16))
    u.feed(b"\x55\x01")
    mptest.eq(b.meter_uart.read(), b"\x55\x01")


def test_pin_tables_are_sound_and_checker_catches_mistakes():
    for kind in NEEDS:
        g = load(kind)
        esp32.check_pins(g["PINS"], g["INPUTS"])
        mptest.true(g["PINS"]["button"] not in esp32.STRAPPING, "button on a strapping pin")
    # generated tables: any duplicate, flash pin, output on an input-only pin, or input on
    # a strapping pin is refused with a reason naming the GPIO
    random.seed(3)
    for i in range(300):
        pins = {}
        inputs = []
        for j in range(random.getrandbits(3) + 2):
            n = random.getrandbits(6) % 40
            pins["p%d" % j] = n
            if random.getrandbits(1):
                inputs.append("p%d" % j)
        vals = list(pins.values())
        bad = len(set(vals)) != len(vals)
        for name, n in pins.items():
            bad = bad or n in esp32.FLASH_PINS
            bad = bad or (n in esp32.INPUT_ONLY and name not in inputs)
            bad = bad or (n in esp32.STRAPPING and name in inputs)
        try:
            esp32.check_pins(pins, inputs)
            ok = True
        except ValueError as e:
            ok = False
            mptest.true("GPIO" in str(e))
        mptest.eq(ok, not bad, repr(pins) + repr(inputs))


mptest.main(globals())
