# The persistent event outbox (firmware/link/outbox.py) on the real port at 64 KiB: order,
# idempotent append by seq, torn last line after a power cut, shedding policy (periodic before
# billing/safety), compaction, bounds; then a generated run (OUTBOX_N ops, default 600) of
# appends, acks, reboots and torn writes checked against a simple model.
import os
import random
import mptest
from core.store import Store
from link.outbox import Outbox, ACK_EVERY

_n = [0]


def fresh():
    _n[0] += 1
    d = "ob%d" % _n[0]
    try:
        os.mkdir(d)
    except OSError:
        pass
    for f in os.listdir(d):
        os.remove(d + "/" + f)
    return d


def ev(seq, type="recharge"):
    return {"seq": seq, "ts": 1700000000 + seq, "type": type, "txn": "t%d" % seq}


def drain(ob, upto=None):
    got = []
    while True:
        h = ob.head()
        if h is None or (upto is not None and len(got) >= upto):
            return got
        got.append(h[0])
        ob.acked(h[0])


def test_order_and_payload():
    d = fresh()
    ob = Outbox(d, Store(d))
    for s in range(1, 21):
        mptest.true(ob.append(ev(s)))
    h = ob.head()
    mptest.eq(h[0], 1)
    import json
    mptest.eq(json.loads(h[1])["txn"], "t1")
    mptest.eq(drain(ob), list(range(1, 21)))
    mptest.eq(len(ob), 0)


def test_append_idempotent_by_seq():
    d = fresh()
    ob = Outbox(d, Store(d))
    for s in (1, 2, 3):
        ob.append(ev(s))
    mptest.eq(ob.append(ev(2)), False)
    mptest.eq(ob.append(ev(3)), False)
    mptest.eq(len(ob), 3)
    ob = Outbox(d, Store(d))          # after a reboot the app re-drains the same events
    mptest.eq(ob.append(ev(3)), False)
    mptest.eq(drain(ob), [1, 2, 3])


def test_survives_reboot_and_acked_not_resurrected_beyond_pointer():
    d = fresh()
    st = Store(d)
    ob = Outbox(d, st)
    for s in range(1, 41):
        ob.append(ev(s))
    drain(ob, upto=ACK_EVERY + 3)     # the pointer is saved every ACK_EVERY acks
    ob2 = Outbox(d, Store(d))
    h = ob2.head()[0]
    # at least once: at most ACK_EVERY - 1 acked events come again, never an older one
    mptest.true(ACK_EVERY + 1 <= h <= ACK_EVERY + 4, "head %d" % h)
    mptest.eq(drain(ob2), list(range(h, 41)))


def test_torn_last_line_after_power_cut():
    d = fresh()
    ob = Outbox(d, Store(d))
    for s in range(1, 6):
        ob.append(ev(s))
    with open(d + "/outbox.log", "ab") as f:
        f.write(b'{"seq": 6, "ts": 17000')          # the cut came mid-append
    ob = Outbox(d, Store(d))
    mptest.eq(len(ob), 5)
    ob.append(ev(6))                                # appended after the torn bytes...
    ob.append(ev(7))
    ob = Outbox(d, Store(d))                        # ...must survive the next reboot
    mptest.eq(drain(ob), [1, 2, 3, 4, 5, 6, 7])


def test_garbage_lines_ignored():
    d = fresh()
    ob = Outbox(d, Store(d))
    ob.append(ev(1))
    with open(d + "/outbox.log", "ab") as f:
        f.write(b'not json\n{"no_seq": 1}\n[1,2]\n')
    ob = Outbox(d, Store(d))
    ob.append(ev(2))
    mptest.eq(drain(Outbox(d, Store(d))), [1, 2])


def test_periodic_shed_before_billing_and_safety():
    d = fresh()
    ob = Outbox(d, Store(d), max_n=16, max_bytes=100000)
    s = 0
    kinds = {}
    for i in range(60):
        s += 1
        t = ("daily", "tele", "recharge", "alarm", "supply")[i % 5]
        kinds[s] = t
        ob.append(ev(s, t))
    left = drain(ob)
    highs = [x for x in kinds if kinds[x] not in ("daily", "tele")]
    lows = [x for x in left if kinds[x] in ("daily", "tele")]
    mptest.true(len(lows) <= 16 // 4, "low entries within their quarter: %r" % lows)
    mptest.true(ob.dropped_low > 0)
    # billing/safety shed only once the outbox is full of them: the newest survive, in order
    mptest.eq([x for x in left if kinds[x] not in ("daily", "tele")], highs[len(highs) - len(left) + len(lows):])
    mptest.eq(left, sorted(left))


def test_billing_never_shed_while_periodic_present():
    d = fresh()
    ob = Outbox(d, Store(d), max_n=12, max_bytes=100000)
    for s in range(1, 12):             # 11 billing events, below the bound
        ob.append(ev(s, "recharge"))
    for s in range(12, 40):
        ob.append(ev(s, "tele"))
    mptest.eq(ob.dropped_high, 0)
    left = drain(ob)
    mptest.eq(left[:11], list(range(1, 12)))


def test_bounded_bytes_and_compaction():
    d = fresh()
    ob = Outbox(d, Store(d), max_n=64, max_bytes=4096)
    s = 0
    for rnd in range(30):
        for i in range(10):
            s += 1
            ob.append(ev(s, "alarm"))
        drain(ob, upto=9)
        mptest.true(os.stat(d + "/outbox.log")[6] <= 4096, "file within max_bytes")
        mptest.true(len(ob) <= 64)
    left = drain(ob)
    mptest.eq(left, sorted(left))
    mptest.eq(left[-1], s)
    try:
        os.stat(d + "/outbox.log")
        mptest.true(False, "an empty outbox leaves no segment")
    except OSError:
        pass


def test_event_too_large_refused_nothing_changed():
    d = fresh()
    ob = Outbox(d, Store(d), max_bytes=4096)
    ob.append(ev(1))
    big = ev(2)
    big["blob"] = "x" * 1100          # over a quarter of the outbox
    mptest.raises(ValueError, ob.append, big)
    mptest.eq(len(ob), 1)
    ob.append(ev(3))
    mptest.eq(drain(Outbox(d, Store(d))), [1, 3])


def resent(ob, acked_max):
    # acks go in queue order and seqs only grow, so a queued seq <= the highest acked one was
    # acked before the reboot: the cloud gets it again. Bound: ACK_EVERY (the pointer is saved
    # every ACK_EVERY acks, and before every rewrite)
    again = [s for s in ob.queued() if s <= acked_max]
    mptest.true(len(again) <= ACK_EVERY, "%d acked events resent: %r" % (len(again), again))
    _worst[0] = max(_worst[0], len(again))


_worst = [0]


def test_generated_ops_against_model():
    n = int(os.getenv("OUTBOX_N") or 600)
    rnd = random.Random(11) if hasattr(random, "Random") else None
    rb = (lambda k: rnd.getrandbits(k)) if rnd else random.getrandbits
    if rnd is None:
        random.seed(11)
    d = fresh()
    ob = Outbox(d, Store(d), max_n=24, max_bytes=2400)
    seq = 0
    acked_max = 0
    high_sent = []            # billing/safety seqs appended, in order
    for i in range(n):
        op = rb(4)
        if op < 9:
            seq += 1
            t = ("tele", "daily", "recharge", "alarm", "supply", "low_balance")[rb(8) % 6]
            ob.append(ev(seq, t))
            if t not in ("tele", "daily"):
                high_sent.append(seq)
                if len(high_sent) > 64:     # only the unacked ones matter: keep the list small
                    high_sent = [x for x in high_sent if x > acked_max]
        elif op < 13:
            for _ in range(rb(3)):
                h = ob.head()
                if h:
                    # at least once: never behind the persisted ack pointer
                    mptest.true(h[0] > ob.acked_seq, "head %d acked_seq %d" % (h[0], ob.acked_seq))
                    ob.acked(h[0])
                    acked_max = max(acked_max, h[0])
        elif op < 15:
            ob = Outbox(d, Store(d), max_n=24, max_bytes=2400)    # reboot
            resent(ob, acked_max)
        else:
            with open(d + "/outbox.log", "ab") as f:                # power cut mid-append
                f.write(b'{"seq": %d, "ty' % (seq + 1))
            ob = Outbox(d, Store(d), max_n=24, max_bytes=2400)
            resent(ob, acked_max)
        q = ob.queued()
        mptest.eq(q, sorted(q), "queue in seq order")
        mptest.true(len(q) == len(set(q)), "no duplicate in the queue")
        mptest.true(len(ob) <= 24)
    # every billing/safety event not yet acked is still queued unless the queue was full of them
    left = drain(ob)
    want = [s for s in high_sent if s > acked_max]
    if ob.dropped_high == 0:
        for s in want:
            mptest.true(s in left, "billing/safety seq %d lost" % s)
    print("    worst resend after a reboot: %d acked events (bound ACK_EVERY=%d), %d ops"
          % (_worst[0], ACK_EVERY, n))


mptest.main(globals())
