"""core/tariff.py cost() on the real MicroPython port against an independent CPython model.

Hypothesis generates random flat / time-of-use / tiered tariffs (with tz offsets, holidays,
up to 12 switching times, up to 5 steps, monthly or yearly reset), an optional pending
tariff, and a run of consecutive metering intervals. The port prices them through ONE
micropython process that reads JSON lines; the model here prices them with Python's
datetime calendar and its own segmentation (every local midnight and every switching
time, a superset of the firmware's cut points: the cumulative-floor split gives the same
parts for any superset, see docs/tariffs-and-credit.md). Costs must agree exactly.

POLICY_EXAMPLES (default 100) scales the number of examples. POLICY_FIRMWARE=<dir> runs a
copy of firmware/ instead (how the mutation check in the report was done, without touching
the shared tree).
"""
import json
import os
import select
import subprocess
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import MICROPYTHON, mpy_env

EXAMPLES = int(os.environ.get("POLICY_EXAMPLES", "100"))
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
BASE = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp())
BANDS = ["sharp", "peak", "flat", "valley"]

DRIVER = r'''
import sys, json
from core import tariff as T
while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    try:
        s = T.new_state(req["spec"])
        if req["pend"]:
            T.set_pending(s, req["pend"][0], req["pend"][1])
        out = [T.cost(s, c[0], c[1], c[2]) for c in req["calls"]]
        print(json.dumps({"ok": out, "cum": s["cum"]}))
    except Exception as e:
        print(json.dumps({"err": repr(e)}))
'''


# ---- the independent model -----------------------------------------------------------

def local_date(t, tz):
    return (EPOCH + timedelta(seconds=t + tz)).date()


def hhmm(s):
    return int(s[:2]) * 3600 + int(s[3:]) * 60


def tz_of(spec):
    for k in ("tou", "tiered"):
        if k in spec:
            return spec[k].get("tz_offset_s", 0)
    return 0


def band_price(tou, t):
    tz = tou.get("tz_offset_s", 0)
    d = local_date(t, tz)
    sod = (t + tz) % 86400
    hol = {date.fromisoformat(h) for h in tou.get("holidays", [])}
    sched = tou.get("weekend", tou["weekday"]) if (d.weekday() >= 5 or d in hol) else tou["weekday"]
    band = None
    for s, b in sched:
        if hhmm(s) <= sod:
            band = b
    return tou["rates"][band]


def period_start(tr, t):
    d = local_date(t, tr.get("tz_offset_s", 0))
    rd = tr.get("reset_day", 1)
    if tr.get("period", "month") == "month":
        y, m = d.year, d.month
        if d.day < rd:
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        return date(y, m, rd).toordinal()
    rm = tr.get("reset_month", 1)
    y = d.year if (d.month, d.day) >= (rm, rd) else d.year - 1
    return date(y, rm, rd).toordinal()


def step_cost(steps, cum, use):
    total = 0
    lo = 0
    for upto, price in steps:
        hi = float("inf") if upto is None else upto
        overlap = max(0, min(cum + use, hi) - max(cum, lo))
        total += overlap * price
        lo = hi
    return total


def rules(spec):
    tr = spec["tiered"]
    return (tr.get("period", "month"), tr.get("reset_day", 1), tr.get("reset_month", 1),
            tr.get("tz_offset_s", 0))


def cut_points(specs, t0, t1):
    pts = set()
    for sp in specs:
        tz = tz_of(sp)
        times = [0]
        if "tou" in sp:
            times += [hhmm(s) for s, _ in sp["tou"]["weekday"] + sp["tou"].get("weekend", [])]
        d = local_date(t0, tz) - timedelta(days=1)
        end = local_date(t1, tz) + timedelta(days=1)
        while d <= end:
            mid = int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) - tz
            for s in times:
                if t0 < mid + s < t1:
                    pts.add(mid + s)
            d += timedelta(days=1)
    return sorted(pts)


def model(spec, pend, calls):
    cur = spec
    cum, pk = 0, None
    out = []
    for t0, t1, use in calls:
        specs = [cur] + ([pend[0]] if pend else [])
        pts = cut_points(specs, t0, t1)
        if pend and t0 < pend[1] < t1:
            pts = sorted(set(pts) | {pend[1]})
        edges = [t0] + pts + [t1]
        dur = t1 - t0
        done = 0
        total = 0
        for i in range(max(1, len(edges) - 1)):
            a, b = edges[i], edges[min(i + 1, len(edges) - 1)]
            if pend and a >= pend[1]:
                new = pend[0]
                if not ("tiered" in new and "tiered" in cur and rules(new) == rules(cur)):
                    cum, pk = 0, None
                cur, pend = new, None
            upto = use * (b - t0) // dur if dur else use
            part, done = upto - done, upto
            if "price" in cur:
                total += part * cur["price"]
            elif "tou" in cur:
                total += part * band_price(cur["tou"], a)
            else:
                k = period_start(cur["tiered"], a)
                if pk is None or k > pk:
                    cum, pk = 0, k
                total += step_cost(cur["tiered"]["steps"], cum, part)
                cum += part
        out.append(total)
    return out, cum


# ---- strategies --------------------------------------------------------------------------

prices = st.integers(0, 2_000_000)
tzs = st.integers(-56, 56).map(lambda q: q * 900)


@st.composite
def schedules(draw, names):
    n = draw(st.integers(1, 12))
    mins = sorted(draw(st.sets(st.integers(1, 1439), min_size=n - 1, max_size=n - 1)))
    times = [0] + mins
    return [["%02d:%02d" % (m // 60, m % 60), draw(st.sampled_from(names))] for m in times]


@st.composite
def tariffs(draw):
    kind = draw(st.sampled_from(["flat", "tou", "tiered"]))
    spec = {}
    if draw(st.booleans()):
        spec["standing_minor_per_day"] = draw(st.integers(0, 500))
    if kind == "flat":
        spec["price"] = draw(prices)
    elif kind == "tou":
        names = draw(st.lists(st.sampled_from(BANDS), min_size=1, max_size=4, unique=True))
        tou = {"rates": {n: draw(prices) for n in names}, "weekday": draw(schedules(names)),
               "tz_offset_s": draw(tzs)}
        if draw(st.booleans()):
            tou["weekend"] = draw(schedules(names))
        tou["holidays"] = [(date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 60)))).isoformat()
                           for _ in range(draw(st.integers(0, 4)))]
        spec["tou"] = tou
    else:
        n = draw(st.integers(1, 5))
        ups = sorted(draw(st.sets(st.integers(1, 200_000), min_size=n - 1, max_size=n - 1)))
        steps = [[u, draw(prices)] for u in ups] + [[None, draw(prices)]]
        tr = {"steps": steps, "period": draw(st.sampled_from(["month", "year"])),
              "reset_day": draw(st.integers(1, 28)), "tz_offset_s": draw(tzs)}
        if tr["period"] == "year":
            tr["reset_month"] = draw(st.integers(1, 2))
        spec["tiered"] = tr
    return spec


@st.composite
def cases(draw):
    spec = draw(tariffs())
    t = BASE + draw(st.integers(0, 40 * 86400))
    calls = []
    for _ in range(draw(st.integers(1, 25))):
        dur = draw(st.one_of(st.just(0), st.integers(1, 120), st.integers(0, 4 * 86400),
                             st.integers(25 * 86400, 40 * 86400)))
        use = draw(st.one_of(st.just(0), st.integers(0, 50), st.integers(0, 300_000)))
        calls.append([t, t + dur, use])
        t += dur
    pend = None
    if draw(st.booleans()):
        pend = [draw(tariffs()), draw(st.integers(calls[0][0], t + 1))]
    return spec, pend, calls


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    d = tmp_path_factory.mktemp("policy")
    drv = d / "cost_driver.py"
    drv.write_text(DRIVER)
    env = mpy_env()
    if os.environ.get("POLICY_FIRMWARE"):
        env["MICROPYPATH"] = os.environ["POLICY_FIRMWARE"]
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=64k", str(drv)], cwd=d, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(spec, pend, calls):
        p.stdin.write(json.dumps({"spec": spec, "pend": pend, "calls": calls}) + "\n")
        p.stdin.flush()
        # a hung port (e.g. a cost() that never advances) fails the test instead of hanging it
        assert select.select([p.stdout], [], [], 30)[0], "micropython gave no answer in 30 s"
        line = p.stdout.readline()
        assert line, "micropython died"
        return json.loads(line)
    yield ask
    p.stdin.close()
    try:
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_cost_matches_model(port, case):
    spec, pend, calls = case
    got = port(spec, pend, calls)
    assert "err" not in got, got
    exp, cum = model(spec, pend, calls)
    assert got["ok"] == exp
    assert got["cum"] == cum


def test_model_self_check():
    # the model itself on hand-worked cases, so a shared mistake cannot hide
    tou = {"tou": {"rates": {"valley": 1, "peak": 10},
                   "weekday": [["00:00", "valley"], ["08:00", "peak"]], "tz_offset_s": 3600}}
    mon = int(datetime(2026, 11, 30, tzinfo=timezone.utc).timestamp())
    # 06:50..07:10 UTC = 07:50..08:10 local: 10 valley + 10 peak
    assert model(tou, None, [[mon + 6 * 3600 + 50 * 60, mon + 7 * 3600 + 10 * 60, 20]])[0] == [110]
    tier = {"tiered": {"steps": [[10, 1], [None, 5]], "reset_day": 1}}
    assert model(tier, None, [[mon, mon, 8], [mon, mon, 4]]) == ([8, 2 + 10], 12)
    dec1 = int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp())
    assert model(tier, None, [[mon, mon, 12], [dec1 - 1, dec1 + 1, 2]]) == ([10 + 10, 5 + 1], 1)
