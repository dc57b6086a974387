# heap: app
# Attack findings on the whole app (firmware/app.py with the sim board, a flash directory and
# the link down; tests_host/test_attack_findings.py runs one test per finding). A "power cut"
# drops the App without its shutdown and builds a new one from the same flash directory, as
# kill -9 and a restart do. The sim board's `sim_start` is an RTC that restarts at that
# instant at every power-up (an ESP32 without a backup cell: the RTC is lost with the power),
# floored by the app's persisted clock record, exactly as hal/rtc_clock.py floors it.
#   micropython attack_app.py <test name>
import json
import os

import mptest
import app_cmd
import app as appmod

FLASH = "attack"
KEY = "ab" * 32
START_S = 1800000000
DAY_S = 86400


def fresh(kind="electricity", wipe=True, **extra):
    import gc
    appmod.APP = None
    gc.collect()
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    if wipe:
        for n in os.listdir(FLASH):
            if n != "app":
                os.remove(FLASH + "/" + n)
    conf = {"id": "at-1", "kind": kind, "key": KEY, "broker": "mqtt://127.0.0.1:9",
            "board": "sim", "sim_speed": 1000000, "sim_start": START_S, "backoff_max_s": 1}
    conf.update(extra)
    with open(FLASH + "/config.json", "w") as f:
        json.dump(conf, f)
    return appmod.App(FLASH)


ticks = app_cmd.ticks


def command(a, seq, op, args):
    return app_cmd.command(a, "at-1", KEY, seq, op, args)


def test_power_cut_never_moves_the_clock_back_nor_reopens_a_spent_debt_cap():
    # debt recovery: half of each recharge, at most 100 a day (docs/tariffs-and-credit.md)
    cfg = {"debt_minor": 5000, "debt_pct": 50, "debt_cap_minor": 100, "debt_cap_period": "day"}
    a = fresh(config=cfg)
    mptest.eq(command(a, 1, "time", {"now": START_S})["code"], "ok")
    # three days of running, saved all along (a prepay save is forced by each recharge)
    a.clock.advance(START_S + 3 * DAY_S)
    ticks(a, 2)
    ack = command(a, 2, "recharge", {"txn": "r-1", "amount": 1000})
    mptest.eq(ack["code"], "ok")
    debt0 = a.prepay.cr["debt"]
    mptest.eq(debt0, 4900, "the cap took 100 today")
    before_s = a.clock.now_s()
    # the power goes (no shutdown), comes back: the RTC restarts at START_S
    a = fresh(config=cfg, wipe=False)
    after_s = a.clock.now_s()
    ack = command(a, 3, "recharge", {"txn": "r-2", "amount": 1000})
    mptest.eq(ack["code"], "ok")
    # the clock record is written while running at most SAVE_S apart (core/clock_floor.py):
    # a power cut sets the clock back by no more than that
    from core.clock_floor import SAVE_S
    mptest.true(after_s >= before_s - SAVE_S and a.prepay.cr["debt"] == debt0,
                "wall clock back by %d s after a power cut (clock floor record %r); debt "
                "%d -> %d: the day's spent cap of 100 reopened"
                % (before_s - after_s, a.store.load("clock"), debt0, a.prepay.cr["debt"]))
    # hours of running, then a power cut that loses the RTC again: still no further back
    a.clock.advance(a.clock.now_s() + 5 * 3600)
    ticks(a, 3)
    before_s = a.clock.now_s()
    a = fresh(config=cfg, wipe=False)
    mptest.true(a.clock.now_s() >= before_s - SAVE_S, "back by %d s after the second cut"
                % (before_s - a.clock.now_s()))
    # and a spent cap stays spent however far the clock is back inside a year (a record
    # whose cap period lies days ahead: the clock went back days)
    cr = a.prepay.cr
    cr["cap_p"] = a.clock.now_s() // DAY_S + 3
    cr["cap_used"] = 100
    debt1 = cr["debt"]
    mptest.eq(command(a, 4, "recharge", {"txn": "r-3", "amount": 1000})["code"], "ok")
    mptest.eq(a.prepay.cr["debt"], debt1, "a spent period reopened by a clock 3 days back")


def test_signed_step_back_rewinds_keeps_the_record_and_restarts():
    # an unsynced meter took a spoofed network time (a week ahead, within the bound); the
    # head-end's signed `time` op brings it back: the wall clock rewinds at once, the clock
    # record follows (an old floor must not undo it at the restart), the meter restarts
    from net import timesync
    a = fresh()
    mptest.eq(command(a, 1, "time", {"now": START_S})["code"], "ok")
    ticks(a, 2)
    a.clock.ok = False                                  # as after a power cut
    truth = a.clock.now_s()
    applied, d = timesync.offer(a.clock, truth + 6 * DAY_S, "ntp")
    mptest.true(applied, d)
    ticks(a, 2)
    mptest.eq(command(a, 2, "time", {"now": truth - 400})["code"], "bad_args",
              "below the last signed time")
    ack = command(a, 3, "time", {"now": truth + 5})
    mptest.eq(ack["code"], "ok")
    mptest.true(a.clock.now_s() < truth + 60, "clock at %d" % (a.clock.now_s() - truth))
    mptest.eq(a.stop_code, appmod.REBOOT, "restarts once the ack is out")
    rec = a.store.load("clock")
    mptest.true(rec["t"] < truth + 60 and rec["s"] == truth + 5, repr(rec))
    a.shutdown()
    b = fresh(wipe=False)
    mptest.true(b.clock.now_s() < truth + 60, "restart at %d" % (b.clock.now_s() - truth))
    mptest.eq(b.clock.signed_s, truth + 5)


def _fail_all_writes():
    import builtins
    import core.store
    import link.outbox
    real = builtins.open

    def fake(path, mode="r", *args):
        if "w" in mode or "a" in mode:
            raise OSError(28)
        return real(path, mode, *args)
    core.store.open = fake
    link.outbox.open = fake

    def heal():
        del core.store.open
        del link.outbox.open
    return heal


def _ota_conf():
    import ota_testkey
    return {"pub": ota_testkey.N_HEX}


def test_probation_rollback_on_a_full_flash_still_boots():
    # an update on probation crashed; the next boot runs the good bundle, whose Ota.on_boot
    # writes the rollback; the flash is full (or worn): every write fails with ENOSPC.
    # Without OTA a full flash is contained (storage_fault, metering goes on from RAM,
    # docs/architecture.md "Boundaries"); the meter must still start.
    a = fresh(ota=_ota_conf())
    mptest.eq(command(a, 1, "recharge", {"txn": "r-1", "amount": 5000})["code"], "ok")
    ticks(a, 2)
    from ota import slots
    slots.write(a.store, "b", "base", True, "u-1")      # switched to b, on probation
    a.store.save("ota", {"v": 1, "u": "u-1", "st": "trial", "ver": "1.1.0", "t0": START_S,
                         "hs": 600, "loops": 3, "slot": "b", "tes": 5})
    heal = _fail_all_writes()
    try:
        try:
            b = fresh(ota=_ota_conf(), wipe=False)      # the loader ran "base": rollback
            err = None
        except Exception as e:
            err = e
            b = None
        mptest.true(err is None, "the app did not start: %r" % (err,))
        ticks(b, 3)
        mptest.eq(command(b, 2, "recharge", {"txn": "r-2", "amount": 100})["code"], "storage")
    finally:
        heal()


def test_newer_prepay_record_stops_the_start_without_ota_config_too():
    # docs/ota.md §6: a record newer than the bundle reads stops the start with a clear
    # error instead of being rebuilt (for prepay, that would lose money). A bundle put back
    # by cable (`make deploy`) on a meter whose config.json has no "ota" object
    a = fresh()
    mptest.eq(command(a, 1, "recharge", {"txn": "r-1", "amount": 5000})["code"], "ok")
    ticks(a, 2)
    d = a.prepay.to_dict()
    bal = a.prepay.led.balance_minor
    d["v"] = d.get("v", 1) + 1              # what a later bundle's format change writes
    a.store.save("prepay", d)
    try:
        b = fresh(wipe=False)
    except ValueError as e:
        b = None
        print("refused:", e)
    mptest.true(b is None or b.prepay.led.balance_minor == bal,
                "record rebuilt: balance %d -> %d (%s)"
                % (bal, b.prepay.led.balance_minor if b else 0, b and b.prepay.recovered))


def test_newer_floor_record_stops_the_start_too():
    # the floor record (core/floor.py: used-up command seqs, reserved event seqs) in a newer
    # format: an older bundle (a rollback, a cable deploy) that read it as empty would take
    # a command seq again and number events the head-end has seen; it must stop instead
    a = fresh()
    mptest.eq(command(a, 5, "recharge", {"txn": "r-1", "amount": 5000})["code"], "ok")
    rec = a.store.load("floor")
    mptest.eq(rec.get("cmd"), 5)
    a.store.save("floor", {"v": 2, "seqs": [5, rec.get("evt")]})   # a later bundle's shape
    err = None
    try:
        fresh(wipe=False)
    except ValueError as e:
        err = str(e)
    mptest.true(err is not None and "floor" in err, "started over a newer floor: %r" % err)
    mptest.eq(a.store.load("floor").get("v"), 2, "the newer record is left as it was")


def test_time_op_during_probation_does_not_end_the_health_window():
    # a bundle on probation has health_s (600 s here) to make its round trip; the head-end
    # corrects the meter clock by +1 day (the `time` op allows that once synced): that is no
    # time the bundle had, and must not roll a healthy update back
    import loader
    from ota import slots
    a = fresh(ota=_ota_conf())
    mptest.eq(command(a, 1, "time", {"now": START_S})["code"], "ok")
    ticks(a, 2)
    slots.mkdirs(slots.path(a.flash, "b"))
    slots.write(a.store, "b", "base", True, "u-1")      # switched to b
    a.store.save("ota", {"v": 1, "u": "u-1", "st": "switch", "ver": "1.1.0",
                         "t0": a.clock.now_s(), "hs": 600, "loops": 3, "slot": "b"})
    loader.SLOT, loader.ROOT = "b", FLASH                # this boot runs b, on probation
    try:
        b = fresh(ota=_ota_conf(), wipe=False)
        mptest.true(b.ota.trial is not None and b.ota.trial.active, "on probation")
        ack = command(b, 2, "time", {"now": b.clock.now_s() + DAY_S})
        mptest.eq(ack["code"], "ok")
        b.step()                                          # one loop pass, seconds later
        mptest.true(b.ota.trial.active, "rolled back %d s after the switch: %r"
                    % (b.clock.mono_s(), b.ota.rec.get("why")))
    finally:
        loader.SLOT = loader.ROOT = None


def test_keypad_lockout_is_not_shortened_by_a_clock_step():
    # wrong codes lock the keypad (1 min doubling to 512 min, docs/offline-topup.md): an
    # anti-guessing timer. A forward step of the wall clock (NTP's 900 s on a synced meter,
    # or any step while unsynced after a power cut) is no time the guesser waited
    a = fresh(paygo={"key": "a29ab82edc5fbbc41ec9530f6dac86b1"})
    mptest.eq(command(a, 1, "time", {"now": START_S})["code"], "ok")
    ticks(a, 2)
    res = None
    for i in range(4):                      # 2 free, then 60 s, then 120 s
        res = a.token("%09d" % (123456789 + 7919 * i), a.clock.now_s())
    left = a.token_entry.locked_s(a.clock.now_s())
    mptest.true(left >= 60, "locked %d s after %r" % (left, res))
    mptest.eq(command(a, 2, "time", {"now": a.clock.now_s() + 900})["code"], "ok")
    res = a.token("%09d" % 987654321, a.clock.now_s())
    mptest.eq(res["result"], "locked", "a 900 s clock step ended a %d s lockout" % left)


mptest.main(globals())
