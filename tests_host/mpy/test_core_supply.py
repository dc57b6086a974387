# core/supply.py on the unix port: the full (state, input) transition table for arming and
# non-arming meters, hazard sequences, random walks against the priority rule, bad input.
import os
import random
import mptest
from core.supply import Supply, STATES

SOAK = int(os.getenv("SOAK") or 1)   # scales the generated loops (soak runs)


def start(name, arms):
    # a Supply in the given state with its canonical cause
    s = Supply(arms)
    if s.state == "armed":
        s.confirm(1)
    if name == "off_credit":
        s.set_credit(False, 1)
    elif name == "off_remote":
        s.remote(False, 1)
    elif name == "off_safety":
        s.latch("x", 1)
    elif name == "armed":
        if arms:
            s.set_credit(False, 1)
            s.set_credit(True, 1)
        else:  # a non-arming meter is only armed if restored so (e.g. config changed)
            d = s.to_dict()
            d["confirm_due"] = True
            d["state"] = "armed"
            s = Supply(False, d)
    mptest.eq(s.state, name)
    return s


INPUTS = {
    "credit_ok": lambda s: s.set_credit(True, 5),
    "credit_lost": lambda s: s.set_credit(False, 5),
    "remote_on": lambda s: s.remote(True, 5),
    "remote_off": lambda s: s.remote(False, 5),
    "latch_x": lambda s: s.latch("x", 5),
    "latch_y": lambda s: s.latch("y", 5),
    "clear_x": lambda s: s.clear("x", 5),
    "clear_y": lambda s: s.clear("y", 5),
    "confirm": lambda s: s.confirm(5),
}

# (state, input) -> (new state for arms=False, new state for arms=True, reason);
# None = no transition, "E" = ValueError("not_armed")
TABLE = {
    ("on", "credit_ok"): (None, None, None),
    ("on", "credit_lost"): ("off_credit", "off_credit", "credit"),
    ("on", "remote_on"): (None, None, None),
    ("on", "remote_off"): ("off_remote", "off_remote", "remote"),
    ("on", "latch_x"): ("off_safety", "off_safety", "safety:x"),
    ("on", "latch_y"): ("off_safety", "off_safety", "safety:y"),
    ("on", "clear_x"): (None, None, None),
    ("on", "clear_y"): (None, None, None),
    ("on", "confirm"): ("E", "E", None),
    ("off_credit", "credit_ok"): ("on", "armed", "credit"),
    ("off_credit", "credit_lost"): (None, None, None),
    ("off_credit", "remote_on"): (None, None, None),
    ("off_credit", "remote_off"): ("off_remote", "off_remote", "remote"),
    ("off_credit", "latch_x"): ("off_safety", "off_safety", "safety:x"),
    ("off_credit", "latch_y"): ("off_safety", "off_safety", "safety:y"),
    ("off_credit", "clear_x"): (None, None, None),
    ("off_credit", "clear_y"): (None, None, None),
    ("off_credit", "confirm"): ("E", "E", None),
    ("off_remote", "credit_ok"): (None, None, None),
    ("off_remote", "credit_lost"): (None, None, None),
    ("off_remote", "remote_on"): ("on", "armed", "remote"),
    ("off_remote", "remote_off"): (None, None, None),
    ("off_remote", "latch_x"): ("off_safety", "off_safety", "safety:x"),
    ("off_remote", "latch_y"): ("off_safety", "off_safety", "safety:y"),
    ("off_remote", "clear_x"): (None, None, None),
    ("off_remote", "clear_y"): (None, None, None),
    ("off_remote", "confirm"): ("E", "E", None),
    ("off_safety", "credit_ok"): (None, None, None),
    ("off_safety", "credit_lost"): (None, None, None),
    ("off_safety", "remote_on"): (None, None, None),     # never bypasses the latch
    ("off_safety", "remote_off"): (None, None, None),
    ("off_safety", "latch_x"): (None, None, None),
    ("off_safety", "latch_y"): (None, None, None),
    ("off_safety", "clear_x"): ("on", "armed", "safety:x"),
    ("off_safety", "clear_y"): (None, None, None),
    ("off_safety", "confirm"): ("E", "E", None),
    ("armed", "credit_ok"): (None, None, None),
    ("armed", "credit_lost"): ("off_credit", "off_credit", "credit"),
    ("armed", "remote_on"): (None, None, None),
    ("armed", "remote_off"): ("off_remote", "off_remote", "remote"),
    ("armed", "latch_x"): ("off_safety", "off_safety", "safety:x"),
    ("armed", "latch_y"): ("off_safety", "off_safety", "safety:y"),
    ("armed", "clear_x"): (None, None, None),
    ("armed", "clear_y"): (None, None, None),
    ("armed", "confirm"): ("on", "on", "confirm"),
}


def test_table_is_complete():
    for st in STATES:
        for i in INPUTS:
            mptest.true((st, i) in TABLE, "missing %s/%s" % (st, i))


def test_transition_table():
    for (st, inp), (new_f, new_t, reason) in TABLE.items():
        for arms, new in ((False, new_f), (True, new_t)):
            s = start(st, arms)
            before = s.to_dict()
            if new == "E":
                e = mptest.raises(ValueError, INPUTS[inp], s)
                mptest.eq(str(e), "not_armed")
                mptest.eq(s.to_dict(), before, "state changed on error")
                continue
            tr = INPUTS[inp](s)
            if new is None:
                mptest.eq(tr, [], "%s/%s arms=%s" % (st, inp, arms))
                mptest.eq(s.state, st)
            else:
                mptest.eq(tr, [(new, reason)], "%s/%s arms=%s" % (st, inp, arms))
                mptest.eq(s.state, new)
                mptest.eq(s.since_s, 5)
            mptest.eq(s.may_open, s.state == "on")
            # every state survives a save/load round trip
            mptest.eq(Supply(arms, s.to_dict()).to_dict(), s.to_dict())


def test_arming_meter_starts_armed():
    mptest.eq(Supply(True).state, "armed")
    mptest.eq(Supply(False).state, "on")


def test_hazard_remote_on_never_bypasses_latch():
    for arms in (False, True):
        s = start("off_safety", arms)
        s.remote(False, 2)
        s.set_credit(False, 3)
        s.remote(True, 4)
        s.set_credit(True, 5)
        mptest.eq(s.state, "off_safety")
        mptest.true(not s.may_open)
        mptest.raises(ValueError, s.confirm, 6)
        mptest.eq(s.state, "off_safety")


def test_hazard_two_latches_need_both_cleared():
    s = start("on", False)
    s.latch("tamper", 1)
    s.latch("overload", 2)
    mptest.eq(s.clear("tamper", 3), [])
    mptest.eq(s.state, "off_safety")
    mptest.eq(s.clear("overload", 4), [("on", "safety:overload")])


def test_hazard_cleared_latch_falls_to_next_cause():
    s = start("on", True)
    s.latch("leak", 1)
    s.set_credit(False, 2)
    mptest.eq(s.clear("leak", 3), [("off_credit", "safety:leak")])
    s.remote(False, 4)
    mptest.eq(s.state, "off_remote")
    mptest.eq(s.set_credit(True, 5), [])
    mptest.eq(s.remote(True, 6), [("armed", "remote")])   # gas: never reopens by itself
    mptest.eq(s.confirm(7), [("on", "confirm")])


def test_latch_keeps_first_since():
    s = start("on", False)
    s.latch("x", 10)
    s.latch("x", 20)
    mptest.eq(s.latches, {"x": 10})


def _expected(causes_latches, remote_off, credit_ok, confirm_due):
    if causes_latches:
        return "off_safety"
    if remote_off:
        return "off_remote"
    if not credit_ok:
        return "off_credit"
    return "armed" if confirm_due else "on"


def test_random_walks_priority_and_arming():
    # Independent model: causes -> state; an arming meter reaches `on` only by confirm.
    random.seed(7)
    names = ("a", "b", "c")
    for walk in range(300 * SOAK):
        arms = walk % 2 == 1
        s = Supply(arms)
        lat = set()
        remote_off = False
        credit = True
        confirm_due = arms
        now = 0
        for _ in range(40):
            now += random.randint(0, 3)
            k = random.randint(0, 5)
            prev = s.state
            if k == 0:
                credit = random.random() < 0.5
                tr = s.set_credit(credit, now)
            elif k == 1:
                remote_off = random.random() < 0.5
                tr = s.remote(not remote_off, now)
            elif k == 2:
                n = random.choice(names)
                lat.add(n)
                tr = s.latch(n, now)
            elif k == 3:
                n = random.choice(names)
                lat.discard(n)
                tr = s.clear(n, now)
            elif k == 4:
                if prev == "armed":
                    tr = s.confirm(now)
                    confirm_due = False
                else:
                    mptest.raises(ValueError, s.confirm, now)
                    tr = []
            else:
                s = Supply(arms, s.to_dict())   # reboot
                tr = []
            blocked = lat or remote_off or not credit
            if arms and blocked:
                confirm_due = True   # any cause re-arms the confirmation
            exp = _expected(lat, remote_off, credit, confirm_due)
            mptest.eq(s.state, exp, "walk %d" % walk)
            if s.state != prev:
                mptest.eq(len(tr), 1)
                mptest.eq(tr[0][0], s.state)
                if arms and s.state == "on":
                    mptest.eq(tr[0][1], "confirm")
            else:
                mptest.eq(tr, [])


BAD = (None, 1, 0, "yes", 1.0, [], {}, b"x")


def test_bad_input_generated():
    random.seed(8)
    for arms in (False, True):
        s = start("off_credit", arms)
        before = s.to_dict()
        for x in BAD:
            mptest.raises(ValueError, s.set_credit, x, 1)
            mptest.raises(ValueError, s.remote, x, 1)
            if type(x) is not int:
                mptest.raises(ValueError, s.set_credit, True, x)
                mptest.raises(ValueError, s.confirm, x)
            if type(x) is not str:
                mptest.raises(ValueError, s.latch, x, 1)
                mptest.raises(ValueError, s.clear, x, 1)
            mptest.raises(ValueError, Supply, x)
        for _ in range(200):
            mptest.raises(ValueError, s.latch, "r" * random.randint(33, 200), 1)
            mptest.raises(ValueError, s.set_credit, True, -random.randint(1, 1 << 30) << 10)
        mptest.raises(ValueError, s.latch, "", 1)
        mptest.eq(s.to_dict(), before)


def test_corrupt_saved_state_rejected():
    random.seed(9)
    good = start("off_safety", True).to_dict()
    n = 0
    for _ in range(500):
        d = dict(good)
        d["latches"] = dict(good["latches"])
        k = random.choice(list(d.keys()) + ["junk"])
        d[k] = random.choice(BAD + (True, False, -1, "on", {"": 1}, {"x": -5}))
        try:
            s = Supply(True, d)
        except ValueError:
            n += 1
            continue
        # accepted only if it is internally consistent
        if d.get("state") is not None:
            mptest.eq(s.state, d["state"])
    mptest.true(n > 300, "rejected %d" % n)
    mptest.raises(ValueError, Supply, True, "on")


mptest.main(globals())
