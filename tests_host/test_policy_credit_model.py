"""core/credit.py on the real MicroPython port against an independent CPython model.

Hypothesis generates friendly-period configs (windows crossing midnight, weekends,
holidays, tz offsets), emergency and floor settings, and instants; ONE micropython process
answers in_friendly() and credit_ok() for each batch read as a JSON line. The model uses
Python's datetime calendar for the local weekday and date. A second property drives debt
recovery with random caps and periods against a plain model.

POLICY_EXAMPLES (default 100) scales the number of examples; POLICY_FIRMWARE=<dir> runs a
copy of firmware/ instead (for mutation checks without touching the shared tree).
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
BASE = int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp())

DRIVER = r'''
import sys, json
from core import credit as K
while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    try:
        cfg = K.merged({})
        cfg.update(K.validate_config(req["cfg"]))
        out = []
        if req["op"] == "friendly":
            st = K.new_state()
            if req["ec"]:
                K.take_emergency(st, cfg, req["times"][0], cfg["emergency_below_minor"])
            for t, bal in zip(req["times"], req["bals"]):
                out.append([K.in_friendly(cfg, t), K.credit_ok(st, cfg, bal, t)])
        else:
            st = K.new_state()
            for t, amt in req["recharges"]:
                out.append(list(K.on_recharge(st, cfg, 0, amt, t)))
            out.append(st["debt"])
        print(json.dumps({"ok": out}))
    except Exception as e:
        print(json.dumps({"err": repr(e)}))
'''


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    d = tmp_path_factory.mktemp("policy_credit")
    drv = d / "credit_driver.py"
    drv.write_text(DRIVER)
    env = mpy_env()
    if os.environ.get("POLICY_FIRMWARE"):
        env["MICROPYPATH"] = os.environ["POLICY_FIRMWARE"]
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=64k", str(drv)], cwd=d, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(req):
        p.stdin.write(json.dumps(req) + "\n")
        p.stdin.flush()
        assert select.select([p.stdout], [], [], 30)[0], "micropython gave no answer in 30 s"
        line = p.stdout.readline()
        assert line, "micropython died"
        got = json.loads(line)
        assert "err" not in got, got
        return got["ok"]
    yield ask
    p.stdin.close()
    try:
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()


def hhmm(s):
    return 86400 if s == "24:00" else int(s[:2]) * 3600 + int(s[3:]) * 60


def model_friendly(f, t):
    tz = f.get("tz_offset_s", 0)
    loc = EPOCH + timedelta(seconds=t + tz)
    if f.get("weekends") and loc.weekday() >= 5:
        return True
    if loc.date() in {date.fromisoformat(h) for h in f.get("holidays", [])}:
        return True
    sod = loc.hour * 3600 + loc.minute * 60 + loc.second
    for a, b in f.get("windows", []):
        a, b = hhmm(a), hhmm(b)
        if (a <= sod < b) if a < b else (sod >= a or sod < b):
            return True
    return False


@st.composite
def windows(draw):
    a = draw(st.integers(0, 1439))
    b = draw(st.integers(1, 1440).filter(lambda b: b != a and not (a == 0 and b == 1440)))
    fmt = lambda m: "24:00" if m == 1440 else "%02d:%02d" % (m // 60, m % 60)  # noqa: E731
    return [fmt(a), fmt(b)]


@st.composite
def friendly_cases(draw):
    f = {"windows": draw(st.lists(windows(), max_size=4)), "weekends": draw(st.booleans()),
         "holidays": [(date(2026, 12, 1) + timedelta(days=draw(st.integers(0, 40)))).isoformat()
                      for _ in range(draw(st.integers(0, 4)))],
         "tz_offset_s": draw(st.integers(-56, 56)) * 900}
    n = draw(st.integers(1, 40))
    cut = draw(st.integers(-200, 200))
    cfg = {"friendly": f, "cutoff_minor": cut,
           "friendly_floor_minor": cut - draw(st.integers(0, 3000)),
           "emergency_minor": draw(st.integers(0, 3000)),
           "emergency_below_minor": cut + draw(st.integers(0, 500))}
    edges = [hhmm(x) for w in f["windows"] for x in w] + [0]
    times = []
    for _ in range(n):
        if draw(st.booleans()):
            times.append(BASE + draw(st.integers(0, 45 * 86400)))
        else:   # exactly at a window edge (local), or one second either side
            day = draw(st.integers(0, 44))
            times.append(BASE + day * 86400 + draw(st.sampled_from(edges)) - f["tz_offset_s"]
                         + draw(st.sampled_from([-1, 0, 0, 1])) + 86400)
    times.sort()
    bals = [draw(st.integers(-5000, 500)) for _ in range(n)]
    ec = cfg["emergency_minor"] > 0 and draw(st.booleans())
    return cfg, times, bals, ec


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(friendly_cases())
def test_friendly_and_cutoff_match_model(port, case):
    cfg, times, bals, ec = case
    got = port({"op": "friendly", "cfg": cfg, "times": times, "bals": bals, "ec": ec})
    ec_amt = cfg["emergency_minor"] if ec else 0
    ec_out = False
    for (fr, ok), t, bal in zip(got, times, bals):
        exp_fr = model_friendly(cfg["friendly"], t)
        assert fr == exp_fr, (t, cfg)
        floor = cfg["cutoff_minor"]
        if ec_amt and not ec_out:
            floor = min(floor, cfg["cutoff_minor"] - ec_amt)
        if exp_fr:
            floor = min(floor, cfg["friendly_floor_minor"])
        exp_ok = bal > cfg["cutoff_minor"] or bal > floor
        if not exp_ok and ec_amt and bal <= cfg["cutoff_minor"] - ec_amt:
            ec_out = True      # used up: no more emergency allowance until repaid
        assert ok == exp_ok, (t, bal, cfg, ec)


@st.composite
def debt_cases(draw):
    cfg = {"debt_minor": draw(st.integers(0, 20000)), "debt_pct": draw(st.integers(0, 100)),
           "debt_cap_minor": draw(st.integers(0, 2000)),
           "debt_cap_period": draw(st.sampled_from(["day", "week", "month"]))}
    t = BASE
    rs = []
    for _ in range(draw(st.integers(1, 30))):
        t += draw(st.integers(0, 10 * 86400))
        rs.append([t, draw(st.integers(0, 10000))])
    return cfg, rs


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(debt_cases())
def test_debt_recovery_matches_model(port, case):
    cfg, rs = case
    got = port({"op": "debt", "cfg": cfg, "recharges": rs})
    days = {"day": 1, "week": 7, "month": 30}[cfg["debt_cap_period"]]
    debt = cfg["debt_minor"]
    used = {}
    for (t, amt), (to_bal, rec) in zip(rs, got):
        take = min(amt * cfg["debt_pct"] // 100, debt)
        if cfg["debt_cap_minor"]:
            p = t // 86400 // days
            take = min(take, cfg["debt_cap_minor"] - used.get(p, 0))
            used[p] = used.get(p, 0) + take
        debt -= take
        assert (to_bal, rec) == (amt - take, take)
    assert got[-1] == debt
