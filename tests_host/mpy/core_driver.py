# Driver for the CPython property and power-loss tests (not a test script itself).
#
#   micropython core_driver.py <flash_dir> ops      < JSON lines of ops
#   micropython core_driver.py <flash_dir> workload <seed> [txn,...]
#
# ops mode: the first line is {"kind", "cfg", "now"}; every further line is one op and
# gets one output line "<op index> <store.writes> <state json>" so the test can tell
# which ops ended in a save (the model rolls back to that point on an unclean reboot).
#   ["use", dt_s, use_base]     consume [now, now+dt) then tick(now+dt)
#   ["jump", delta_s]           clock jump (may be negative), then tick
#   ["credit", txn, amount]     recharge + save (as the command layer acks)
#   ["tariff", price, standing] immediate flat tariff
#   ["reboot", clean]           clean: save first; re-create Store + Prepay from flash
#
# workload mode: a running meter for kill -9 trials. Re-sends the given txns first
# (redelivery after the cut), then loops: consumption chunks with tick, and now and
# then a credit that is printed as ACK only after save() returned.
import json
import sys

from core.prepay import Prepay
from core.store import Store


def state(p):
    l = p.led
    return {"bal": l.balance_minor, "cr": l.credits_minor, "ch": l.charges_minor,
            "st": l.standing_minor, "rc": l.recovered_minor, "rem": l.rem_micro,
            "reg": p.register, "supply": p.supply.state, "tx": len(l.txns)}


def ops(root):
    head = json.loads(sys.stdin.readline())
    kind, cfg, now = head["kind"], head["cfg"], head["now"]
    st = Store(root)
    p = Prepay(st, kind, cfg, now)
    p.tick(now)
    print(-1, st.writes, json.dumps(state(p)))  # the baseline: boot + first tick
    i = 0
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        op = json.loads(line)
        k = op[0]
        if k == "use":
            t1 = now + op[1]
            p.consume(now, t1, op[2])
            now = t1
            p.tick(now)
        elif k == "jump":
            now = max(0, now + op[1])
            p.tick(now)
        elif k == "credit":
            r = p.recharge(op[1], op[2], now)
            p.save()
            op.append(r)
        elif k == "tariff":
            p.set_tariff({"price": op[1], "standing_minor_per_day": op[2]}, now)
        elif k == "reboot":
            if op[1]:
                p.save()
            w = st.writes
            st = Store(root)
            st.writes = w
            p = Prepay(st, kind, cfg, now)
            p.tick(now)
        print(i, st.writes, json.dumps(state(p)))
        i += 1


def workload(root, seed, resend):
    import random
    random.seed(seed)
    now = 1700000000 + seed * 600
    st = Store(root)
    cfg = {"tariff": {"price": 150000, "standing_minor_per_day": 0}}
    p = Prepay(st, "electricity", cfg, now)
    print("BOOT", json.dumps(state(p)))
    for txn in resend:
        if txn:
            print("RESEND", txn, p.recharge(txn, 100, now))
    p.save()
    print("READY")
    i = 0
    while True:
        i += 1
        if i % 7 == 0:
            txn = "w%d-%d" % (seed, i)
            amt = 1 + random.getrandbits(10)
            print("TRY", txn, amt)
            p.recharge(txn, amt, now)
            p.save()
            print("ACK", txn, amt)
        dt = 1 + random.getrandbits(3)
        use = random.getrandbits(4)  # <= 15 Wh per chunk (documented chunk bound)
        p.consume(now, now + dt, use)
        now += dt
        p.tick(now)
        p.events_delivered(p.next_seq)  # the app's outbox takes them
        print("REG", p.register)


if sys.argv[2] == "ops":
    ops(sys.argv[1])
else:
    workload(sys.argv[1], int(sys.argv[3]), sys.argv[4].split(",") if len(sys.argv) > 4 else [])
