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


def test_config_sets_the_shells_report_s_as_the_config_op_does():
    a = fresh()
    service.login(PIN)
    service.config(report_s=300)          # the field guide's example
    mptest.eq(a.commands.setting("report_s", 60), 300)
    mptest.raises(ValueError, service.config, report_s=None)
    mptest.raises(ValueError, service.config, report_s=5, warn_pct=[20])
    mptest.eq((a.commands.setting("report_s", 60), a.prepay.cfg["warn_pct"]), (300, [30, 10]))


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


def _failing_prepay_writes():
    import core.store
    real = open

    def full(path, mode="r", *args):
        if "w" in mode and "/prepay." in path:
            raise OSError(5)
        return real(path, mode, *args)
    core.store.open = full


def test_login_on_a_failing_flash_answers_storage_and_opens_no_session():
    a = fresh()
    n = len(a.prepay.pending_events())
    _failing_prepay_writes()
    import core.store
    try:
        e = mptest.raises(ValueError, service.login, PIN)
    finally:
        del core.store.open
    mptest.true(str(e).startswith("storage"), str(e))
    mptest.true(not service._logged_in(a.clock.now_s()), "a session although the login failed")
    mptest.eq(len(a.prepay.pending_events()), n, "the unsaved audit event is left behind")
    mptest.raises(service.Denied, service.clear, "relay_fault")
    service.login(PIN)                  # the flash is back: the same PIN opens a session


def test_bad_login_on_a_failing_flash_is_refused_with_a_specific_error():
    a = fresh()
    _failing_prepay_writes()
    import core.store
    try:
        e = mptest.raises(ValueError, service.login, "999999")
    finally:
        del core.store.open
    mptest.true(str(e).startswith("storage"), str(e))
    mptest.true(not service._logged_in(a.clock.now_s()))


def test_resume_on_a_failing_flash_answers_storage_and_does_not_restart():
    a = fresh()
    _failing_prepay_writes()
    import core.store
    try:
        e = mptest.raises(ValueError, service.resume)    # not SystemExit: nothing restarted
    finally:
        del core.store.open
    mptest.true(str(e).startswith("storage"), str(e))


mptest.main(globals())
