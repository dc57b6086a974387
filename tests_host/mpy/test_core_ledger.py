# core/ledger.py on the real port: exact integer arithmetic, carried remainder,
# exactly-once credits with a bounded txn ring, generated bad input changes nothing.
import random

import mptest
from core.ledger import MICRO, TXN_KEEP, Ledger

MAX = 1000000


def _snap(l):
    d = l.to_dict()
    d["tx"] = list(d["tx"])
    return d


def test_charges_sum_to_exact_cost_forever():
    random.seed(3)
    l = Ledger()
    l.credit("seed", MAX, MAX)
    exact = 0
    for i in range(3000):
        c = random.getrandbits(random.getrandbits(4) + 1)  # 0 .. 2^16, many sub-minor
        exact += c
        l.charge(c)
        mptest.true(0 <= l.rem_micro < MICRO)
        mptest.eq(l.charges_minor * MICRO + l.rem_micro, exact)
        mptest.true(l.consistent())
    mptest.eq(l.charges_minor, exact // MICRO)


def test_exactly_once_and_ring_bound():
    l = Ledger()
    mptest.eq(l.credit("a", 10, MAX), True)
    mptest.eq(l.credit("a", 10, MAX), False)
    mptest.eq(l.balance_minor, 10)
    for i in range(TXN_KEEP - 1):
        mptest.true(l.credit("t%d" % i, 1, MAX))
    mptest.eq(l.credit("a", 10, MAX), False)  # still inside the ring of TXN_KEEP
    l.credit("push", 1, MAX)  # now "a" is the (TXN_KEEP+1)-th newest: documented bound
    mptest.eq(len(l.txns), TXN_KEEP)
    mptest.eq(l.seen("a"), False)
    mptest.true(l.consistent())


def test_recovered_and_standing_keep_invariant():
    l = Ledger()
    l.credit("x", 1000, MAX, recovered_minor=100)
    l.standing(30)
    l.charge(2500000)
    mptest.eq(l.balance_minor, 1000 - 100 - 30 - 2)
    mptest.true(l.consistent())
    l2 = Ledger(l.to_dict())  # round trip through the persisted form
    mptest.eq(l2.to_dict(), l.to_dict())


BAD_VALUES = [None, True, False, 1.5, -1, 0, "1", b"1", [], {}, 10 ** 30, -(10 ** 30), MAX + 1]


def _rand_bad_txn():
    k = random.getrandbits(3)
    if k == 0:
        return ""
    if k == 1:
        return "x" * (41 + random.getrandbits(5))
    if k == 2:
        return "ok" + chr(random.choice([32, 33, 34, 35, 47, 92, 124, 233, 10, 0])) 
    if k == 3:
        return random.getrandbits(20)
    if k == 4:
        return None
    if k == 5:
        return b"abc"
    if k == 6:
        return ["a"]
    return 1.5


def test_generated_bad_credits_change_nothing():
    random.seed(11)
    l = Ledger()
    l.credit("base", 500, MAX)
    l.charge(1234567)
    before = _snap(l)
    for i in range(400):
        if i % 2:
            txn, amt = _rand_bad_txn(), 100
        else:
            txn, amt = "good%d" % i, random.choice(BAD_VALUES)
            if isinstance(amt, int) and not isinstance(amt, bool) and 0 < amt <= MAX:
                continue
        mptest.raises(ValueError, l.credit, txn, amt, MAX)
        mptest.eq(_snap(l), before)
    for bad in BAD_VALUES + [-5]:
        if isinstance(bad, int) and not isinstance(bad, bool) and bad >= 0:
            continue
        mptest.raises(ValueError, l.charge, bad)
        mptest.raises(ValueError, l.standing, bad)
        mptest.eq(_snap(l), before)
    mptest.raises(ValueError, l.credit, "r", 10, MAX, 11)
    mptest.raises(ValueError, l.credit, "r", 10, MAX, -1)
    mptest.eq(_snap(l), before)


def test_persisted_form_is_validated():
    random.seed(5)
    l = Ledger()
    l.credit("a", 100, MAX)
    l.charge(3333333)
    good = l.to_dict()
    n = 0
    for i in range(300):
        d = dict(good)
        k = random.choice(list(d))
        d[k] = random.choice(BAD_VALUES + [12345, ["x y"], ["a"] * (TXN_KEEP + 1)])
        try:
            l2 = Ledger(d)
        except ValueError:
            n += 1
            continue
        mptest.true(l2.consistent())  # whatever is accepted still adds up
    mptest.true(n > 200)


mptest.main(globals())
