"""Property-based test of the Prepay ledger on the real MicroPython port.

Hypothesis generates sequences of ops (credits incl. duplicates, consumption chunks,
flat-tariff changes, clock jumps forward and back, clean and unclean reboots). One
micropython process per example runs tests_host/mpy/core_driver.py on a temp flash dir;
its state after every op is compared with an independent reference model written here
with exact integer arithmetic:
    balance == credits - charges - standing - recovered   (exactly)
    no txn credited twice
    charges * 10^6 + remainder == exact cost of all billed use (so charges == floor(cost))
    standing charged for every local day exactly once (days skipped by a forward jump or
    a reboot late, at most 62 in one catch-up), never again after a clock jump back
On an unclean reboot (a power cut) the model rolls back to the last op that ended in a
save, which the driver reports through the store's write counter.

CORE_HEAP (default 128k) is the heap for these runs: the composed core does not load at
64k from source on the unix port (see docs/ledger.md, "Memory").
"""
import copy
import json
import os

from hypothesis import given, settings, HealthCheck, strategies as st

from conftest import run_mpy

HEAP = os.environ.get("CORE_HEAP", "128k")
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "100"))
DRIVER = os.path.join(os.path.dirname(__file__), "mpy", "core_driver.py")
MICRO = 10 ** 6
T0 = 1700000000  # 2023-11-14 22:13:20 UTC
DAY = 86400
CATCHUP = 62  # core/prepay.py CATCHUP_DAYS: most days of standing charge in one catch-up


class Model:
    """Flat-tariff reference: price in force, one pending change, day-based standing."""

    def __init__(self, price, standing):
        self.cur = (price, standing)
        self.pend = None  # (price, standing, from_s)
        self.cost_micro = 0
        self.credits = 0
        self.standing = 0
        self.txns = []
        self.st_day = None
        self.reg = 0

    def _activate(self, t):
        if self.pend and t >= self.pend[2]:
            self.cur = self.pend[:2]
            self.pend = None

    def _in_force(self, t):
        if self.pend and t >= self.pend[2]:
            return self.pend[:2]
        return self.cur

    def use(self, t0, t1, use):
        if use == 0:
            return
        self._activate(t0)
        if self.pend and t0 < self.pend[2] < t1:
            f = self.pend[2]
            first = use * (f - t0) // (t1 - t0)
            self.cost_micro += first * self.cur[0]
            self._activate(f)
            self.cost_micro += (use - first) * self.cur[0]
        else:
            self.cost_micro += use * self.cur[0]
        self.reg += use

    def tick(self, now):
        # standing for every local day (UTC here) not yet charged, each at the tariff in
        # force at its midnight (today: at now), the latest CATCHUP of them at most; then
        # the pending tariff activates
        d = now // DAY
        if self.st_day is None:
            first = d
        else:
            first = max(self.st_day + 1, d - CATCHUP + 1)
        for day in range(first, d + 1):
            self.standing += self._in_force(now if day == d else day * DAY)[1]
        if self.st_day is None or d > self.st_day:
            self.st_day = d
        self._activate(now)

    def credit(self, txn, amount):
        if txn in self.txns:
            return False
        self.txns.append(txn)
        self.credits += amount
        return True

    def tariff(self, price, standing, now):
        self.pend = (price, standing, now)

    def expect(self):
        ch = self.cost_micro // MICRO
        return {"cr": self.credits, "ch": ch, "st": self.standing, "rc": 0,
                "rem": self.cost_micro - ch * MICRO, "reg": self.reg,
                "bal": self.credits - ch - self.standing}


price_st = st.integers(0, 400000)
op_st = st.one_of(
    st.tuples(st.just("use"), st.integers(0, 7200), st.integers(0, 3000)),
    st.tuples(st.just("use"), st.integers(1, 60), st.integers(0, 40)),
    st.tuples(st.just("jump"), st.integers(-3 * DAY, 3 * DAY)),
    st.tuples(st.just("jump"), st.integers(-70 * DAY, 70 * DAY)),  # crosses the 62-day cap
    st.tuples(st.just("credit"), st.sampled_from(["a", "b", "c", "d:1", "e_2", "f.3", "g-4"]),
              st.integers(1, 1000000)),
    st.tuples(st.just("tariff"), price_st, st.integers(0, 500)),
    st.tuples(st.just("reboot"), st.booleans()),
)


def run_ops(tmp, head, ops):
    flash = tmp / "flash"
    lines = [json.dumps(head)] + [json.dumps(list(o)) for o in ops]
    r = run_mpy([DRIVER, flash, "ops"], heap=HEAP, cwd=tmp, input="\n".join(lines) + "\n",
                timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    out = []
    for line in r.stdout.splitlines():
        i, w, s = line.split(" ", 2)
        out.append((int(w), json.loads(s)))
    assert len(out) == len(ops) + 1, r.stdout[-2000:]
    return out[0][0], out[1:]


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(price=price_st, standing=st.integers(0, 500),
       ops=st.lists(op_st, min_size=1, max_size=40))
def test_ledger_matches_reference_model(tmp_path_factory, price, standing, ops):
    tmp = tmp_path_factory.mktemp("prop")
    head = {"kind": "electricity", "now": T0,
            "cfg": {"tariff": {"price": price, "standing_minor_per_day": standing},
                    "recharge_max_minor": 1000000}}
    writes, out = run_ops(tmp, head, ops)
    m = Model(price, standing)
    now = T0
    m.tick(now)
    # the state persisted by the last save, as (model, now) -- the first tick saves
    saved = copy.deepcopy(m)
    for op, (w, got) in zip(ops, out):
        k = op[0]
        if k == "use":
            m.use(now, now + op[1], op[2])
            now += op[1]
            m.tick(now)
        elif k == "jump":
            now = max(0, now + op[1])
            m.tick(now)
        elif k == "credit":
            m.credit(op[1], op[2])
        elif k == "tariff":
            m.tariff(op[1], op[2], now)
        elif k == "reboot":
            if not op[1]:
                # power cut: everything after the last save is gone (a credit is always
                # saved, so no credit is ever lost this way)
                m = copy.deepcopy(saved)
            m.tick(now)
        if w > writes or (k == "reboot" and op[1]):
            saved = copy.deepcopy(m)
            writes = w
        exp = m.expect()
        for key in exp:
            assert got[key] == exp[key], (op, key, got, exp)
        assert got["bal"] == got["cr"] - got["ch"] - got["st"] - got["rc"]
        assert 0 <= got["rem"] < MICRO
