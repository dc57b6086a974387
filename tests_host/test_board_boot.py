"""Every board boots (docs/porting.md "The boot test"). For each directory in boards/ the
bundle is built with tools/build_firmware.py, copied to a flash directory with a
config.json, and run as the board runs it: tests_host/mpy/esp32_emu.py executes boot.py
(watchdog, reset cause, boot mode) then main.py on the unix port, with the fakes of
machine, network, esp32 and ntptime on MICROPYPATH and the parts of the board simulated
around them (tests_host/mpy/fakes/esp32_world.py: BL0942, relay, valve, flow sensor,
SIM7080G modem, Wi-Fi access point). Against a local mosquitto the meter must:
come online, answer a signed `status`, bill pulses from its counter or metering IC, act on
a signed `supply` command at its relay or valve pins, act on a press of its local button
(the fake button's falling edge, as a resident presses it), and stop safely on SIGINT.
A board without a scenario here fails: a new board is checked before a field install is."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MICROPYTHON, ROOT, have

sys.path.insert(0, str(ROOT / "tools"))
import build_firmware  # noqa: E402
from brokers import Broker  # noqa: E402
from headend import HeadEnd  # noqa: E402

pytestmark = pytest.mark.broker
FAKES = ROOT / "tests_host" / "mpy" / "fakes"
EMU = ROOT / "tests_host" / "mpy" / "esp32_emu.py"
# the composed app from .mpy plus the fakes and the simulated parts, compiled from source
# into the same heap (on a board the fakes are hardware and the firmware is frozen)
HEAP = os.environ.get("BOOT_HEAP", "512k")
KEY = "5a" * 32
BATTERY = {"36": 1800000}            # a 3.6 V cell on the 1:1 divider
MODEM = {"uart": 1, "pwrkey": 23, "status": 34, "boot_ms": 300, "reg_ms": 300}
VALVE = {"open": 25, "close": 26, "opened": 32, "closed": 33, "travel_ms": 800}
BUTTON = {"gpio": 27, "file": "press"}     # every ESP32 board: PINS["button"]

SCENARIOS = {
    "sim": {"kind": "electricity", "conf": {"sim_speed": 1, "tariff": {"price": 10000000},
                                            "config": {"arm_on_restore": True}},
            "world": {}},
    "esp32_electricity": {
        "kind": "electricity",
        "conf": {"net": {"wifi": {"ssid": "meters", "password": "secret-pass", "ntp": False}},
                 "tariff": {"price": 10000000}, "config": {"arm_on_restore": True}},
        "world": {"ap": {"ssid": "meters", "key": "secret-pass", "rssi": -58, "assoc_ms": 200},
                  "button": BUTTON,
                  "bl0942": {"uart": 2, "load_w": 2000, "set": 25, "reset": 26},
                  "trace_pins": [25, 26]}},
    "esp32_gas": {
        "kind": "gas",
        "conf": {"tariff": {"price": 10000000}, "config": {"gas": {"check_s": 2}}},
        "world": {"adc_uv": BATTERY, "modem": MODEM, "valve": VALVE, "button": BUTTON,
                  "flow": {"unit": 0, "rate_hz": 20, "after_open_ms": 4000},
                  "trace_pins": [25, 26]}},
    "esp32_water": {
        "kind": "water",
        "conf": {"tariff": {"price": 20000000}, "config": {"wake_s": 60, "credit_poll_s": 60}},
        "world": {"adc_uv": BATTERY, "modem": dict(MODEM, active_ms=5000),
                  "valve": VALVE, "flow": {"unit": 0, "rate_hz": 50}, "pull_ups": [35],
                  "button": BUTTON,
                  "trace_pins": [25, 26, 23]}},
}


def boards():
    return build_firmware.boards()


@pytest.fixture(scope="module")
def broker():
    if not have("mosquitto"):
        pytest.skip("mosquitto not installed (make sysdeps)")
    b = Broker("mosquitto", persistence=True).start()
    yield b
    b.stop()


class Meter:
    def __init__(self, board, flash, broker, scenario):
        self.flash = flash
        flash.mkdir(parents=True, exist_ok=True)
        conf = {"id": "b-" + board, "kind": scenario["kind"], "key": KEY, "broker": broker.uri,
                "board": board, "backoff_max_s": 2}
        conf.update(scenario["conf"])
        (flash / "config.json").write_text(json.dumps(conf))
        world = dict(scenario["world"], trace="trace.log")
        (flash / "emu.json").write_text(json.dumps(world))
        self.id = conf["id"]
        self.log = open(str(flash) + ".log", "w")
        env = dict(os.environ, MICROPYPATH="%s:%s:%s/lib" % (FAKES, flash, flash))
        self.p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + HEAP, str(EMU)], cwd=flash,
                                  env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def press(self):
        """The resident presses the local button (fakes/esp32_world.py Button; the sim
        board's button is a sim-topic message)."""
        (self.flash / BUTTON["file"]).write_text("")

    def output(self):
        self.log.flush()
        return Path(str(self.flash) + ".log").read_text()

    def trace(self):
        """[(ms, gpio, level)] of every write to the traced output pins."""
        p = self.flash / "trace.log"
        if not p.exists():
            return []
        return [tuple(int(x) for x in l.split()) for l in p.read_text().splitlines() if l]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def wait_state(he, meter_id, pred, t=30.0):
    t_end = time.time() + t
    while time.time() < t_end:
        try:
            m, kind, obj, _ = he.q.get(timeout=0.2)
        except Exception:
            continue
        if m == meter_id and kind == "state" and pred(obj):
            return obj
    return None


def asleep_settled(he, meter_id, t=60.0, quiet_s=3.0):
    """True once the meter's latest state says asleep and nothing more came for quiet_s
    (an older session's asleep state in the queue is not the end of the latest one)."""
    t_end = time.time() + t
    last = None
    quiet_end = None
    while time.time() < t_end:
        try:
            m, kind, obj, _ = he.q.get(timeout=0.2)
        except Exception:
            if last is not None and last.get("asleep") and time.time() >= quiet_end:
                return True
            continue
        if m == meter_id and kind == "state":
            last = obj
            quiet_end = time.time() + quiet_s
    return False


def raised_after(trace, gpio, t0_ms):
    return [t for t, g, v in trace if g == gpio and v == 1 and t >= t0_ms]


def test_every_board_has_a_boot_scenario():
    missing = sorted(set(boards()) - set(SCENARIOS))
    assert not missing, "boards without a boot scenario in %s: %s" % (__file__, missing)


@pytest.mark.parametrize("board", sorted(SCENARIOS))
def test_board_boots_and_serves(board, broker, tmp_path):
    assert board in boards(), "scenario for a board that no longer exists"
    t_start = time.time()
    flash = tmp_path / "flash"
    build_firmware.build(board, flash, log=lambda *a: None)
    sc = SCENARIOS[board]
    he = HeadEnd(broker.uri, "meters", "b-" + board)
    m = Meter(board, flash, broker, sc)
    key = bytes.fromhex(KEY)
    try:
        st = wait_state(he, m.id, lambda o: o.get("online"), 40)
        assert st, "never came online:\n" + m.output()
        assert st["net"]["iface"] == ("host" if board == "sim" else
                                      "wifi" if "wifi" in json.dumps(sc["conf"]) else "cellular")
        a = he.send(m.id, key, "status", {})
        assert a and a["ok"] and a["kind"] == sc["kind"], (a, m.output())
        KIND_FLOWS[sc["kind"]](board, m, he, key, a)
    finally:
        rc = m.stop()
        out = m.output()
        he.close()
    assert rc == 0, "exit %s after SIGINT:\n%s" % (rc, out)
    assert "Traceback" not in out, out
    print("boot test %s: %.1f s" % (board, time.time() - t_start))


def wait_supply(he, m, key, want, t=15.0):
    t_end = time.time() + t
    while True:
        a = he.send(m.id, key, "status", {})
        if a and a.get("supply") == want or time.time() > t_end:
            return a
        time.sleep(0.5)


def _electricity(board, m, he, key, st0):
    # arm_on_restore: a credit restore waits for the resident's press at the meter
    a = he.send(m.id, key, "recharge", {"txn": "t-1", "amount": 100000})
    assert a["ok"] and a["supply"] == "armed", a
    if board == "sim":
        he.publish_raw(m.id, json.dumps({"button": "press"}).encode(), topic="sim", qos=0)
    else:
        assert not raised_after(m.trace(), 25, 0), "relay closed before the press"
        m.press()
    a = wait_supply(he, m, key, "on")
    assert a["supply"] == "on", ("the button press did not confirm the supply", a, m.output())
    if board == "sim":
        # a motor load (pf 0.85): a resistive step is the malicious-load signature
        he.publish_raw(m.id, json.dumps({"load_w": 2000, "pf": 0.85}).encode(), topic="sim",
                       qos=0)
    else:
        time.sleep(1.5)
        assert raised_after(m.trace(), 25, 0), "relay SET coil never pulsed: %r" % m.trace()
    time.sleep(4)
    a = he.send(m.id, key, "status", {})
    assert a["register"] > st0["register"], ("no energy billed", a)
    assert a["balance"] < 100000 + st0["balance"], ("nothing charged", a)
    n_before = len(m.trace())
    a = he.send(m.id, key, "supply", {"state": "off"})
    assert a["ok"] and a["supply"] == "off_remote", a
    if board != "sim":
        time.sleep(1.5)
        assert [t for t, g, v in m.trace()[n_before:] if g == 26 and v == 1], \
            "relay RESET coil not pulsed after supply off: %r" % m.trace()


def _gas(board, m, he, key, st0):
    a = he.send(m.id, key, "recharge", {"txn": "t-1", "amount": 100000})
    assert a and a["ok"] and a["supply"] == "armed", (a, m.output())
    m.press()                  # the local confirmation: the leak check, then the valve opens
    t_end = time.time() + 20
    while time.time() < t_end:
        a = he.send(m.id, key, "status", {})
        if a["supply"] == "on" and a["register"] > st0["register"]:
            break
        time.sleep(0.5)
    assert a["supply"] == "on" and a["register"] > st0["register"], ("gas not billed", a,
                                                                      m.output())
    assert raised_after(m.trace(), 25, 0), "valve never driven open"
    n_before = len(m.trace())
    a = he.send(m.id, key, "supply", {"state": "off"})
    assert a["ok"] and a["supply"] == "off_remote", a
    time.sleep(1.5)
    assert [t for t, g, v in m.trace()[n_before:] if g == 26 and v == 1], \
        "valve not driven closed after supply off"


def burst(he, meter_id, key, cmds):
    """Publish commands back to back, then collect their acks: a water meter's session
    stays open only while there is something to do (app.py SESSION_QUIET_MS)."""
    cids = []
    for op, args in cmds:
        seq = he.next_seq()            # never one an earlier command used (same millisecond)
        he.send(meter_id, key, op, args, seq=seq, wait_s=0)
        cids.append("c-%d" % seq)
    return [he.wait_ack(c, 0, 90) for c in cids]


def _water(board, m, he, key, st0):
    # the fresh meter is off for credit, so it connected at once: recharge opens the valve
    a = burst(he, m.id, key, [("recharge", {"txn": "t-1", "amount": 700})])[0]
    assert a and a["ok"] and a["supply"] == "on", a
    # 5 L/s at 20 minor/L: the pulse count wakes the meter every 200 pulses to bill it, and
    # the low balance asks for a session (the modem wakes from PSM for it)
    st = wait_state(he, m.id, lambda o: o.get("online") and 0 < o.get("balance", 0) < 700, 60)
    assert st, "no session after the flow was billed:\n" + m.output()[-3000:]
    n_before = len(m.trace())
    a, b, c = burst(he, m.id, key, [("status", {}), ("recharge", {"txn": "t-2", "amount": 10 ** 6}),
                                    ("supply", {"state": "off"})])
    assert a and a["register"] > st0["register"] and a["balance"] < 700, a
    assert c and c["ok"] and c["supply"] == "off_remote", c
    time.sleep(1.5)
    assert [t for t, g, v in m.trace()[n_before:] if g == 26 and v == 1], \
        "valve not driven closed after supply off: %r" % m.trace()[n_before:]
    assert [t for t, g, v in m.trace() if g == 23 and v == 1], "the modem was never powered"
    # asleep with nothing due for a long time (supply off, no credit poll): the button
    # brings a session at once (the resident has paid and wants the credit now)
    assert asleep_settled(he, m.id, 60), "never went asleep:\n" + m.output()[-3000:]
    m.press()
    st = wait_state(he, m.id, lambda o: o.get("online"), 20)
    assert st, "no session after the button press:\n" + m.output()[-3000:]


KIND_FLOWS = {"electricity": _electricity, "gas": _gas, "water": _water}
