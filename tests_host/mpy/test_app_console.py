# heap: app
# The technician console (firmware/service.py) on the real app (docs/field-guide.md): every
# part of a config validated before any is applied, no secret printed, minimal mode's exit
# (clear crash_loop) open to the console, and an action that fails inside (a failed save
# included) answers a specific error and changes nothing.
import hashlib
import json
import os
from binascii import hexlify

import mptest
import app as appmod
import service

FLASH = "appcons"
KEY = "ab" * 32
PAYGO_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"
PIN = "246810"
OUT = []


def _print(*a):
    OUT.append(" ".join(str(x) for x in a))


service.print = _print


def fresh():
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    for n in os.listdir(FLASH):
        os.remove(FLASH + "/" + n)
    conf = {"id": "ac-1", "kind": "electricity", "key": KEY, "broker": "mqtt://127.0.0.1:9",
            "board": "sim", "sim_speed": 1000000, "sim_start": 1800000000,
            "paygo": {"key": PAYGO_KEY}}
    with open(FLASH + "/config.json", "w") as f:
        json.dump(conf, f)
    h = ("s1" + PIN).encode()
    for _ in range(10):
        h = hashlib.sha256(h).digest()
    with open(FLASH + "/service.json", "w") as f:
        json.dump({"pin_salt": "s1", "pin_iter": 10, "pin_sha256": hexlify(h).decode()}, f)
    a = appmod.App(FLASH)
    service.attach(a)
    service.logout()
    OUT.clear()
    return a


def test_config_validates_every_part_before_applying_any():
    a = fresh()
    service.login(PIN)
    pulse = a.driver.rcfg["pulse_ms"]
    mptest.raises(ValueError, service.config, relay={"pulse_ms": 100}, warn_pct=[200])
    mptest.eq(a.driver.rcfg["pulse_ms"], pulse, "driver part applied before the core failed")
    mptest.raises(ValueError, service.config, relay={"pulse_ms": 9999}, warn_pct=[20])
    mptest.eq(a.prepay.cfg["warn_pct"], [30, 10], "core part applied before the driver failed")
    service.config(relay={"pulse_ms": 100}, warn_pct=[20])
    mptest.eq((a.driver.rcfg["pulse_ms"], a.prepay.cfg["warn_pct"]), (100, [20]))


def test_config_view_prints_no_secret():
    a = fresh()
    service.config()
    text = "\n".join(OUT)
    mptest.true("paygo" in text, text)
    mptest.true(PAYGO_KEY not in text, "the paygo key was printed")


def test_console_clears_crash_loop():
    a = fresh()
    a.prepay.alarm("crash_loop", a.clock.now_s(), resets=3, cause="watchdog")
    service.login(PIN)
    service.clear("crash_loop")
    mptest.true("crash_loop" not in a.prepay.alarms)


def test_failed_save_of_a_console_action_changes_nothing():
    a = fresh()
    a.prepay.alarm("relay_fault", a.clock.now_s())
    a.prepay.save()
    service.login(PIN)
    import core.store
    real = open

    def full(path, mode="r", *args):
        if "w" in mode and "/prepay." in path:
            raise OSError(28)
        return real(path, mode, *args)
    core.store.open = full
    try:
        e = mptest.raises(ValueError, service.clear, "relay_fault")
    finally:
        del core.store.open
    mptest.true(str(e).startswith("storage"), str(e))
    mptest.true("relay_fault" in a.prepay.alarms, "cleared in RAM but not saved")


mptest.main(globals())
