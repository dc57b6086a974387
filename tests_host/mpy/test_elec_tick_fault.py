# heap: app
# What the latching relay does while the electricity meter's tick faults (docs/electricity.md
# "Tick faults"): a metering fault alone holds the relay (the resident keeps the supply),
# the supply leaving "on" (remote off, credit gone, a safety latch) still opens it although
# the driver's tick is broken, and relay.tick_fault "open" opens it for the fault's duration
# without chattering, then the tick_fault alarm's own rule (60 good ticks) closes it again.
import json
import os

import mptest
import app_cmd
import app as appmod

FLASH = "elecfault"
KEY = "cd" * 32
START_S = 1800000000


def fresh(config=None):
    import gc
    appmod.APP = None
    gc.collect()
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    for n in os.listdir(FLASH):
        os.remove(FLASH + "/" + n)
    conf = {"id": "ef-1", "kind": "electricity", "key": KEY, "broker": "mqtt://127.0.0.1:9",
            "board": "sim", "sim_speed": 1000000, "sim_start": START_S, "backoff_max_s": 1,
            "tariff": {"price": 1000}}
    if config:
        conf["config"] = config
    with open(FLASH + "/config.json", "w") as f:
        json.dump(conf, f)
    a = appmod.App(FLASH)
    a.board.sim({"load_w": 1000, "pf": 0.9})
    return a


ticks = app_cmd.ticks


def command(a, seq, op, args):
    return app_cmd.command(a, "ef-1", KEY, seq, op, args)


def pulses(a):
    n = {"set": 0, "reset": 0}
    for name in n:
        pin = getattr(a.board, "relay_" + name)
        old = pin.value

        def value(v=None, old=old, name=name):
            if v:
                n[name] += 1
            return old(v) if v is not None else old()
        pin.value = value
    return n


def on_with_credit(config=None, amount=10 ** 6):
    a = fresh(config)
    mptest.eq(command(a, 1, "recharge", {"txn": "t-1", "amount": amount})["supply"], "on")
    ticks(a, 3)
    mptest.true(a.board.world.closed, "relay closed with credit")
    return a


def broken(now_s):
    raise TypeError("a driver bug")


def test_hold_by_default_but_remote_off_still_opens():
    a = on_with_credit()
    real = a.driver.tick
    a.driver.tick = broken
    ticks(a, 10)
    mptest.true("tick_fault" in a.prepay.alarms)
    mptest.true(a.board.world.closed, "a metering fault alone holds the supply")
    mptest.eq(command(a, 2, "supply", {"state": "off"})["supply"], "off_remote")
    ticks(a, 1)
    mptest.true(not a.board.world.closed, "remote off opens with the driver tick broken")
    mptest.eq(a.store.load("elec")["closed"], False, "the open position is on flash")
    a.driver.tick = real
    command(a, 3, "supply", {"state": "on"})
    ticks(a, 2)
    mptest.true(a.board.world.closed, "back on once the head-end says so")


def test_credit_gone_or_a_latch_opens_during_a_fault():
    for cause in ("latch", "credit"):
        a = on_with_credit(amount=50)
        a.driver.tick = broken
        ticks(a, 3)
        if cause == "latch":
            a.prepay.alarm("tamper", a.clock.now_s(), latch=True)
            want = "off_safety"
        else:
            now = a.clock.now_s()            # the last use billed before the fault took it all
            for _ in range(10):
                a.prepay.consume(now - 1, now, 10 ** 4)
            want = "off_credit"
        ticks(a, 1)
        mptest.eq(a.prepay.supply.state, want)
        # a faulting tick's fault_drive runs before prepay's part of that tick: it acts on
        # the new state at the next tick (1 s later)
        ticks(a, 1)
        mptest.true(not a.board.world.closed, cause)


def test_open_policy_opens_for_the_fault_without_chatter_and_recloses_by_rule():
    a = on_with_credit({"relay": {"tick_fault": "open"}})
    n = pulses(a)
    real_p = a.prepay.tick
    # the driver's own tick works, the prepay part faults: the driver must not re-close
    a.prepay.tick = broken
    ticks(a, 20)
    mptest.true("tick_fault" in a.prepay.alarms)
    mptest.true(not a.board.world.closed, "open policy: opened at the fault")
    mptest.eq(n, {"set": 0, "reset": 1}, "one open pulse, no chatter")
    a.prepay.tick = real_p
    ticks(a, 59)
    mptest.true(not a.board.world.closed, "held open until the fault clears by its rule")
    ticks(a, 3)
    mptest.true("tick_fault" not in a.prepay.alarms)
    mptest.true(a.board.world.closed, "recloses after 60 good ticks")


def test_bad_policy_value_is_refused():
    a = on_with_credit()
    ack = command(a, 2, "config", {"relay": {"tick_fault": "cut"}})
    mptest.true(not ack["ok"], ack)
    mptest.eq(a.driver.rcfg["tick_fault"], "hold")


if __name__ == "__main__":
    mptest.main(globals())
