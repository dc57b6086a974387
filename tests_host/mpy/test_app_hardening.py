# heap: app
# The whole app (firmware/app.py: store, prepay, driver, outbox, link down) under power cuts,
# flash faults and bugs (docs/architecture.md "Boundaries", docs/protocol.md §6):
#   - an event's seq is never numbered twice: not after a power cut before the prepay save,
#     not after the prepay record is refused and rebuilt;
#   - a flash write error anywhere is contained: storage_fault, metering goes on from RAM,
#     the write is retried, the alarm clears once every failed write succeeded;
#   - a tick that raises puts the meter in its fail-safe state with tick_fault and goes on;
#   - a keypad entry whose save fails changes nothing and says so.
# A "power cut" is dropping the App without its shutdown and building a new one from the
# same flash directory, as kill -9 and a restart do.
import json
import os

import mptest
import app_cmd
import app as appmod

FLASH = "apphard"
KEY = "ab" * 32
START_S = 1800000000


def fresh(kind="electricity", **extra):
    import gc
    import sys
    for k in list(sys.modules):
        pkg = ".".join(k.split(".")[:2])  # a meter kind's package and its modules
        if k.startswith("meters.") and pkg != "meters." + kind and pkg != "meters.valve":
            del sys.modules[k]            # one driver's bytecode in the heap at a time
    appmod.APP = None
    import core.store
    import link.outbox
    for m in (core.store, link.outbox):
        if "open" in m.__dict__:
            del m.open                    # a flash left failing by a failed test
    gc.collect()
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    for n in os.listdir(FLASH):
        os.remove(FLASH + "/" + n)
    conf = {"id": "ah-1", "kind": kind, "key": KEY, "broker": "mqtt://127.0.0.1:9",
            "board": "sim", "sim_speed": 1000000, "sim_start": START_S, "backoff_max_s": 1}
    conf.update(extra)
    with open(FLASH + "/config.json", "w") as f:
        json.dump(conf, f)
    return appmod.App(FLASH)


ticks = app_cmd.ticks


def command(a, seq, op, args):
    return app_cmd.command(a, "ah-1", KEY, seq, op, args)


def outbox_types(a):
    out = []
    with open(FLASH + "/outbox.log") as f:
        for line in f:
            out.append((json.loads(line)["seq"], json.loads(line)["type"]))
    return out


def test_event_seq_not_reused_after_a_power_cut():
    a = fresh()
    ticks(a, 3)
    a.prepay.save()
    saved_seq = a.prepay.next_seq
    # an event that forces no prepay save, drained into the outbox: then the power goes
    a._on_message((a.topic + "sim").encode(), b"not json", False)
    ticks(a, 1)
    last = a.outbox.last_seq
    mptest.true(last >= saved_seq, "the sim_rejected event reached the outbox unsaved")
    a = appmod.App(FLASH)                       # kill -9 and restart
    mptest.true(a.prepay.next_seq > last, "next seq %d <= %d" % (a.prepay.next_seq, last))
    ack = command(a, 1, "recharge", {"txn": "r-1", "amount": 500})
    mptest.eq(ack["code"], "ok")
    ticks(a, 1)
    mptest.true([t for s, t in outbox_types(a) if t == "recharge"], "recharge event lost")
    seqs = [s for s, t in outbox_types(a)]
    mptest.eq(seqs, sorted(set(seqs)), "seqs in the outbox not strictly increasing")


def test_rebuilt_record_numbers_events_above_the_outbox():
    a = fresh()
    ticks(a, 3)
    command(a, 1, "recharge", {"txn": "r-1", "amount": 500})
    ticks(a, 2)
    last = a.outbox.last_seq
    mptest.true(last >= 2)
    d = a.prepay.to_dict()
    d["led"]["bal"] = 12345                    # CRC-valid but inconsistent: refused at boot
    a.store.save("prepay", d)
    a = appmod.App(FLASH)
    mptest.true(a.prepay.recovered is not None, "the record was rebuilt")
    ticks(a, 1)
    got = [(s, t) for s, t in outbox_types(a) if t == "store_recovery"]
    mptest.true(got and got[0][0] > last, "store_recovery not in the outbox: %r" % got)
    mptest.eq(command(a, 1, "recharge", {"txn": "r-1", "amount": 500})["code"], "replay")


def _fail_writes(a, names):
    """From now on, opening one of these records (or the outbox segment) for writing fails
    with ENOSPC, as on a full flash. Returns the function that heals the flash."""
    import builtins
    import core.store
    import link.outbox
    real = builtins.open

    def fake(path, mode="r", *args):
        base = path.rsplit("/", 1)[-1].split(".")[0]
        if ("w" in mode or "a" in mode) and base in names:
            raise OSError(28)
        return real(path, mode, *args)
    core.store.open = fake
    link.outbox.open = fake

    def heal():
        del core.store.open
        del link.outbox.open
    return heal


def test_flash_full_is_contained_and_retried():
    a = fresh()
    mptest.eq(command(a, 1, "recharge", {"txn": "r-0", "amount": 100000})["code"], "ok")
    ticks(a, 3)
    a.board.sim({"load_w": 3000, "pf": 0.6})    # an inductive load: no malicious-load trip
    heal = _fail_writes(a, ("prepay", "floor", "events", "elec", "outbox"))
    reg = a.prepay.register
    ticks(a, 120)                          # two minutes at 3 kW: ~100 Wh
    mptest.true("storage_fault" in a.prepay.alarms, "no storage_fault alarm")
    mptest.true(a.prepay.register > reg, "metering stopped")
    mptest.eq(a.prepay.supply.state, "on")
    ack = command(a, 2, "recharge", {"txn": "r-1", "amount": 500})
    mptest.eq(ack["code"], "storage")      # nothing acknowledged that was not saved
    # the flash recovers: the writes are retried, the events delivered, the alarm clears
    held = a.prepay.register               # what RAM metered while nothing could be saved
    heal()
    ticks(a, 3)
    mptest.true("storage_fault" not in a.prepay.alarms, "storage_fault stands")
    types = [t for s, t in outbox_types(a)]
    mptest.true("alarm" in types and "alarm_clear" in types, types)
    b = appmod.App(FLASH)                  # and what RAM held is on flash now
    mptest.true(b.prepay.register >= held, "metering of the fault lost: %d < %d"
                % (b.prepay.register, held))


def test_tick_exception_leaves_gas_closed_and_goes_on():
    a = fresh("gas")
    command(a, 1, "recharge", {"txn": "r-1", "amount": 5000})
    a.board.sim({"button": "press"})
    for _ in range(400):
        ticks(a, 1)
        if a.prepay.supply.state == "on" and a.driver.valve.position == "open":
            break
    mptest.eq(a.driver.valve.position, "open")
    real = a.driver.tick
    n = [0]

    def broken(now_s):
        n[0] += 1
        raise TypeError("a driver bug")
    a.driver.tick = broken
    ticks(a, 15)                           # never raises out of the loop
    mptest.true("tick_fault" in a.prepay.alarms)
    mptest.eq(a.prepay.supply.state, "off_safety")
    mptest.eq(a.board.valve_model.update(), 0, "gas valve physically closed")
    ev = [e for e in a.prepay.pending_events() + [] if e.get("name") == "tick_fault"]
    a.driver.tick = real
    ticks(a, 70)                           # clears by its rule after good ticks...
    mptest.true("tick_fault" not in a.prepay.alarms)
    mptest.eq(a.prepay.supply.state, "armed")   # ...and gas re-opens only via the button
    mptest.eq(a.driver.valve.position, "closed")
    types = [t for s, t in outbox_types(a)]
    mptest.true("alarm" in types)


def test_no_test_hook_in_the_firmware():
    # config.json's old "test_exit_after_save" made the production app exit after every
    # accepted command; a config key must never turn the firmware into a test rig
    a = fresh(test_exit_after_save=True)
    ack = command(a, 1, "recharge", {"txn": "h-1", "amount": 100})
    mptest.eq(ack["code"], "ok")
    mptest.eq(a.stop_code, None)


def test_keypad_entry_whose_save_fails_changes_nothing():
    a = fresh(paygo={"key": "a29ab82edc5fbbc41ec9530f6dac86b1"})
    ticks(a, 2)
    st = dict(a.prepay.ext["paygo"])
    heal = _fail_writes(a, ("prepay",))
    res = a.token("123412341234123", a.clock.now_s())   # a wrong code: counts a fail
    heal()
    mptest.eq(res["result"], "error")
    mptest.eq(a.prepay.ext["paygo"], st, "lockout state changed by an unsaved entry")
    mptest.true(a.token_entry.st is a.prepay.ext["paygo"], "the entry lost its state")


if __name__ == "__main__":
    mptest.main(globals())
