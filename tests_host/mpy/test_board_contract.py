# heap: 192k
# The board contract (docs/porting.md "The board contract"), checked for every directory in
# boards/ against the fakes of machine, network and esp32: the module functions the app
# calls (make, clock, network, reset_cause), the clock's methods, the network object's
# methods, the pin tables (ESP32), the modem wiring and the default interface, and that a
# bad "net" in config.json is refused with ValueError before anything starts.
# Heap 144k: four boards' sources and a sim meter compile into it (floor ~128k).
import sys
import os
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine          # noqa: E402  (the fake)
import network          # noqa: E402  (the fake)
import mptest           # noqa: E402
from hal import esp32   # noqa: E402

BOARDS = HERE + "/../../boards/"
KINDS = {"esp32_electricity": "electricity", "esp32_gas": "gas", "esp32_water": "water",
         "sim": "electricity"}
CLOCK = ("now_s", "mono_s", "ticks_ms", "due_ms", "advance", "set_now", "ok")
# what every Board object carries besides its kind's parts: the local button is read once a
# tick through take_press() by every driver (docs/porting.md)
BOARD = ("clock", "ticks_ms", "sleep_ms", "button", "take_press", "led", "reset_cause")
NET = ("service", "info", "take_time", "close", "up", "KIND", "ALWAYS_UP")


def names():
    out = []
    for n in os.listdir(BOARDS):
        try:
            if "board.py" in os.listdir(BOARDS + n):
                out.append(n)
        except OSError:             # a file (README.md)
            pass
    return sorted(out)


def load(name):
    machine.reset_world()
    network.reset_world()
    if name == "sim":
        try:
            import simclock     # noqa: F401  (the bundle's, compiled)
        except ImportError:
            sys.path.append(BOARDS + "sim")
    g = {"__name__": "board_" + name}
    exec(open(BOARDS + name + "/board.py").read(), g)
    return g


def conf(name, **kw):
    c = {"id": "x", "kind": KINDS[name], "board": name}
    c.update(kw)
    return c


def test_every_board_is_covered():
    mptest.eq(names(), sorted(KINDS), "a new board needs its kind here and a boot scenario")


def test_module_functions_and_clock():
    for name in names():
        g = load(name)
        for f in ("make", "clock", "network", "reset_cause"):
            mptest.true(callable(g.get(f)), "%s lacks %s()" % (name, f))
        c = g["clock"](conf(name), 1800000000)
        for m in CLOCK:
            mptest.true(hasattr(c, m), "%s clock lacks %s" % (name, m))
        mptest.true(c.now_s() >= 1800000000, "%s: the clock is floored" % name)
        mptest.true(isinstance(g["reset_cause"](), str))
        b = g["make"](KINDS[name], {}, c)
        mptest.true(b.clock is c or hasattr(b, "clock"), name)
        for m in BOARD:
            mptest.true(hasattr(b, m), "%s board lacks %s" % (name, m))
        mptest.eq(b.take_press(), False, "%s: no press before the button is pressed" % name)


def test_network_objects():
    wifi = {"wifi": {"ssid": "meters", "password": "secret-pass"}}
    for name in names():
        g = load(name)
        c = g["clock"](conf(name), 0)
        if name == "sim":
            n = g["network"](conf(name), c)
            mptest.eq((n.KIND, n.service(True)), ("host", True))
            mptest.raises(ValueError, g["network"], conf(name, net=wifi), c)
            continue
        for net, kind in ((wifi, "wifi"), ({"cellular": {"apn": "iot"}}, "cellular")):
            n = g["network"](conf(name, net=net), c)
            for m in NET:
                mptest.true(hasattr(n, m), "%s %s lacks %s" % (name, kind, m))
            mptest.eq(n.KIND, kind)
            mptest.eq(n.service(False), False, "not wanted: down")
            mptest.eq(n.info()["iface"], kind)
        d = g["NET_DEFAULT"]
        if d is None:
            mptest.raises(ValueError, g["network"], conf(name), c)
        else:
            mptest.eq(g["network"](conf(name), c).KIND, list(d)[0])
        for bad in ({"wifi": {}}, {"lora": {}}, {"wifi": wifi["wifi"], "cellular": {}}, "wifi", 5,
                    {"cellular": {"rat": "5g"}}):
            e = mptest.raises(ValueError, g["network"], conf(name, net=bad), c)
            mptest.true(str(e).startswith("invalid config.json: net"), str(e))


def test_pin_tables_include_the_modem():
    for name in names():
        if name == "sim":
            continue
        g = load(name)
        esp32.check_pins(g["PINS"], g["INPUTS"])
        m = g["MODEM"]
        for k in ("tx", "rx", "pwrkey", "status"):
            mptest.true(m[k] in g["PINS"].values(), "%s modem %s not in PINS" % (name, k))
        mptest.true(m["uart"] in (1, 2) and m["baud"] == 115200)
        mptest.true("modem_rx" in g["INPUTS"] and "modem_status" in g["INPUTS"])


def test_modem_pwrkey_is_released_at_start():
    # a pressed PWRKEY held from boot would power the module off after 1.2 s
    for name in ("esp32_gas", "esp32_water", "esp32_electricity"):
        g = load(name)
        c = g["clock"](conf(name), 0)
        g["network"](conf(name, net={"cellular": {"apn": "iot"}}), c)
        pk = g["MODEM"]["pwrkey"]
        mptest.eq(machine.pin(pk)["level"], 1 - g["MODEM"]["pwrkey_active"], name)


def test_water_deepsleep_arms_the_button_and_magnet_wakes():
    import esp32 as chip
    g = load("esp32_water")
    chip.reset_world()
    b = g["make"]("water", {}, g["clock"](conf("esp32_water"), 0))
    mptest.raises(machine.Reset, b.deepsleep, 60000)
    mptest.eq(machine._world["deepsleep_ms"], 60000)
    mptest.eq(chip.wake["ext0"], (g["PINS"]["button"], chip.WAKEUP_ALL_LOW))
    mptest.eq(chip.wake["ext1"], ((g["PINS"]["magnet"],), chip.WAKEUP_ALL_LOW))


def test_button_press_is_latched_between_ticks():
    # the gas driver polls take_press() once a tick: a short press between two ticks, or a
    # bouncing one, is one press (the restore procedure, docs/gas.md)
    for name in ("esp32_gas", "esp32_water", "esp32_electricity"):
        g = load(name)
        c = g["clock"](conf(name), 0)
        b = g["make"](KINDS[name], {}, c)
        n = g["PINS"]["button"]
        mptest.eq((b.take_press(), b.button.value()), (False, 0), name)
        for lvl in (0, 1, 0, 1, 0):             # contact bounce while pressing
            machine.drive(n, lvl)
        mptest.eq(b.button.value(), 1)
        machine.drive(n, None)                  # released before the tick
        mptest.eq((b.take_press(), b.take_press()), (True, False), name)


mptest.main(globals())
