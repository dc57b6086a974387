# The event outbox's priorities (firmware/link/outbox.py, segment.py) on the real port at
# 64 KiB: keypad feedback, telemetry and daily reports never push billing or safety events
# out; shedding costs the same whatever the queue length (no list, no rewrite); a generated
# run of mixed events, acks and reboots against the priority rule (OUTBOX_N, default 600).
import gc
import os
import random
import mptest
from core.store import Store
from link.outbox import Outbox

_n = [0]


def fresh():
    _n[0] += 1
    d = "obp%d" % _n[0]
    try:
        os.mkdir(d)
    except OSError:
        pass
    for f in os.listdir(d):
        os.remove(d + "/" + f)
    return d


def ev(seq, type="recharge"):
    return {"seq": seq, "ts": 1700000000 + seq, "type": type, "txn": "t%d" % seq}

def token_ev(seq, result="invalid", amount=None):
    e = {"seq": seq, "ts": 1700000000 + seq, "type": "token", "result": result,
         "reason": "no_match", "locked_s": 0}
    if amount is not None:
        e["amount"] = amount
    return e


def test_keypad_noise_never_sheds_billing_or_safety():
    # the outbox full (a broker that never acks), a recharge and an over_voltage alarm
    # queued, then 260 wrong keypad codes: the old outbox counted `token` as billing and
    # shed the recharge and the alarm to make room for the noise
    d = fresh()
    ob = Outbox(d, Store(d))
    s = 0
    for i in range(ob.max_n):
        s += 1
        t = ("recharge", "alarm", "supply", "low_balance", "daily")[i % 5]
        ob.append(ev(s, t))
    keep = [x for x in ob.queued() if x % 5 in (1, 2)][-8:]      # recharges and alarms
    for i in range(260):
        s += 1
        ob.append(token_ev(s))
    mptest.eq(ob.dropped_high, 0, "billing/safety shed for keypad noise")
    q = ob.queued()
    for x in keep:
        mptest.true(x in q, "seq %d shed" % x)
    # a token that credited is billing: it is kept like a recharge
    s += 1
    ob.append(token_ev(s, "accepted", 500))
    mptest.true(s in ob.queued())
    q = Outbox(d, Store(d)).queued()     # and after a reboot
    for x in keep + [s]:
        mptest.true(x in q, "seq %d lost in a reboot" % x)


def shed_cost(max_n):
    """Worst bytes allocated by one append to a full outbox of max_n (each one sheds)."""
    d = fresh()
    ob = Outbox(d, Store(d), max_n=max_n)
    s = 0
    for i in range(max_n):
        s += 1
        ob.append(ev(s, "alarm" if i % 4 else "daily"))
    ino = os.stat(d + "/outbox.log")[1]
    worst = 0
    for i in range(40):
        s += 1
        e = token_ev(s)
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        ob.append(e)
        worst = max(worst, gc.mem_alloc() - a)
        gc.enable()
    mptest.eq(os.stat(d + "/outbox.log")[1], ino, "billing/safety file rewritten by a shed")
    mptest.eq(ob.dropped_high, 0)
    return worst


def test_shedding_costs_the_same_whatever_the_queue_length():
    # the old outbox built a list of every queued index and rewrote the whole file per shed
    # (MemoryError with a full outbox and 270 keypad entries)
    small, big = shed_cost(32), shed_cost(256)
    print("    worst bytes allocated per shedding append: 32 queued %d, 256 queued %d" % (small, big))
    mptest.true(big <= small + 128, "shedding allocates %d B more at 256" % (big - small))


def test_generated_priorities_never_shed_high_while_low_queued():
    n = int(os.getenv("OUTBOX_N") or 600)
    random.seed(3)
    d = fresh()
    ob = Outbox(d, Store(d), max_n=20, max_bytes=2400)
    low = {}
    s = 0
    for i in range(n):
        s += 1
        r = random.getrandbits(4)
        if r < 5:
            e = token_ev(s, ("invalid", "locked", "already_used")[r % 3])
        elif r < 8:
            e = ev(s, ("daily", "tele", "sim_rejected")[r % 3])
        elif r < 9:
            e = token_ev(s, "accepted", 100)
        else:
            e = ev(s, ("recharge", "alarm", "supply", "alarm_clear", "low_balance")[r % 5])
        is_low = e["type"] in ("daily", "tele", "sim_rejected") or (e["type"] == "token" and not e.get("amount"))
        low[s] = is_low
        before = [x for x in ob.queued() if low[x]]
        dh = ob.dropped_high
        ob.append(e)
        if ob.dropped_high > dh:
            mptest.eq(before, [], "a high event shed while low ones were queued")
        q = ob.queued()
        mptest.true(len([x for x in q if low[x]]) <= 20 // 4, "low within its quarter")
        mptest.true(len(q) <= 20)
        if not is_low:
            mptest.true(s in q, "a new high event is always stored")
        if random.getrandbits(3) == 0:
            h = ob.head()
            if h:
                ob.acked(h[0])
        if random.getrandbits(5) == 0:
            ob = Outbox(d, Store(d), max_n=20, max_bytes=2400)
        mptest.eq(q, sorted(q))
        if len(low) > 128:              # only the queued ones matter: keep the model small
            lo = q[0] if q else s
            for k in [k for k in low if k < lo]:
                del low[k]
    print("    %d ops: dropped low %d, high %d" % (n, ob.dropped_low, ob.dropped_high))


mptest.main(globals())
