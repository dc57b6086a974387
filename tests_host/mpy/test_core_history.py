# core/history.py and core/eventlog.py on the real port: ring bounds, idempotent fold,
# month roll-up, persisted-form validation, batched event-log saves.
import os
import random

import mptest
from core import clock
from core.eventlog import EventLog
from core.history import DAYS_KEEP, MONTHS_KEEP, History
from core.store import Store


def test_days_and_months_rings():
    h = History()
    d0 = clock.days_from_civil(2024, 1, 1)
    for i in range(800):  # > 2 years of days
        mptest.true(h.fold(d0 + i, 100 + i, 1000000 * i, 2))
    mptest.eq(len(h.days), DAYS_KEEP)
    mptest.eq(h.days[-1][0], d0 + 799)
    mptest.eq(h.days[0][0], d0 + 800 - DAYS_KEEP)
    mptest.eq(len(h.months), MONTHS_KEEP)
    # the newest month holds exactly the days folded in it
    y, m, _ = clock.civil_from_days(d0 + 799)
    first = clock.days_from_civil(y, m, 1)
    want = sum(100 + i for i in range(first - d0, 800))
    mptest.eq(h.months[-1][1], want)
    v = h.view(3)
    mptest.eq(len(v["days"]), 3)
    mptest.eq(v["days"][-1][0], clock.iso_date(d0 + 799))
    mptest.eq(v["days"][-1][2], 799 + 2)


def test_fold_is_idempotent_and_ignores_the_past():
    h = History()
    mptest.true(h.fold(100, 5, 0, 0))
    mptest.eq(h.fold(100, 5, 0, 0), False)  # reboot mid-rollover
    mptest.eq(h.fold(90, 5, 0, 0), False)  # clock jumped back
    mptest.eq(h.days, [[100, 5, 0, 0]])
    h2 = History(h.to_dict())
    mptest.eq(h2.fold(100, 1, 1, 1), False)


def test_bad_persisted_history_rejected():
    random.seed(9)
    good = History()
    for i in range(10):
        good.fold(1000 + i, i, i, i)
    g = good.to_dict()
    bads = [None, -1, 1.5, "x", [1], [[1, 2, 3]], [[1, 2, 3, -4]], [[2, 0, 0, 0], [1, 0, 0, 0]],
            [[True, 0, 0, 0]], [[0, 0, 0, 0]] * 70]
    n = 0
    for i in range(200):
        d = {"d": g["d"], "m": g["m"], "last": g["last"]}
        k = random.choice(("d", "m", "last"))
        d[k] = random.choice(bads)
        try:
            History(d)
        except ValueError:
            n += 1
    mptest.true(n > 150, str(n))


def _store(name):
    d = "hist_" + name
    try:
        for f in os.listdir(d):
            os.remove(d + "/" + f)
    except OSError:
        pass
    return Store(d)


def test_eventlog_ring_dedup_and_batched_saves():
    st = _store("ev")
    log = EventLog(st, keep=20)
    for s in range(1, 51):
        mptest.true(log.append({"seq": s, "ts": 1000 + s, "type": "x"}))
        log.maybe_save(1000 + s)
    mptest.eq(len(log.events), 20)
    mptest.eq(log.events[0]["seq"], 31)
    mptest.eq(log.append({"seq": 50, "ts": 0, "type": "x"}), False)  # re-drained after reboot
    # 50 s of events cost one save (the first), not 50
    mptest.eq(st.writes, 1)
    log.maybe_save(1100)
    mptest.eq(st.writes, 2)
    log.append({"seq": 51, "ts": 1101, "type": "y"})
    log.maybe_save(1101, force=True)
    log2 = EventLog(Store(st.root), keep=20)
    mptest.eq(log2.last_seq(), 51)
    mptest.eq(len(log2.events), 20)
    for bad in (None, 3, "x", {"seq": "1"}, {"seq": True}, {"ts": 1}):
        mptest.raises(ValueError, log2.append, bad)
    mptest.eq(log2.last_seq(), 51)
    for bad in (0, -1, True, 1.5, None, 10 ** 6):
        mptest.raises(ValueError, EventLog, st, bad)


def test_eventlog_survives_garbage_record():
    st = _store("evg")
    st.save("events", {"ev": [{"seq": 3}, "junk", {"seq": 2}, {"seq": 9, "type": "a"}, 7]})
    log = EventLog(st)
    mptest.eq([e["seq"] for e in log.events], [3, 9])
    st.save("events", {"ev": "notalist"})
    mptest.eq(EventLog(st).events, [])


mptest.main(globals())
