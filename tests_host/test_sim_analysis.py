"""The building-balance analysis on synthetic buildings with known faults (many seeds),
and on fault-free buildings, where it must find nothing."""
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import analysis  # noqa: E402

HOURS = 36


def household_profile(rng, kind):
    """Hourly use of one household: a daily shape with noise (Wh or litres per hour)."""
    base = {"electricity": 120, "water": 0, "gas": 0}[kind]
    peaks = {"electricity": {7: 900, 8: 600, 18: 1200, 19: 1500, 20: 1100, 21: 700},
             "water": {7: 60, 8: 30, 19: 40, 21: 70},
             "gas": {7: 80, 12: 120, 18: 250, 19: 150}}[kind]
    scale = rng.uniform(0.6, 1.5)
    out = []
    for h in range(HOURS):
        v = base + peaks.get(h % 24, 0) * scale * rng.uniform(0.6, 1.4)
        if kind != "electricity" and h % 24 not in peaks and rng.random() < 0.15:
            v += rng.uniform(1, 10)  # a tap or burner now and then
        out.append(v)
    return out


def building(seed, leak_water=0, theft=None, leak_gas=0, onset_h=12, homes=20, sparse=False):
    rng = random.Random(seed)
    meters = {}
    t0 = 1_796_000_000 // 3600 * 3600
    totals = {k: [0.0] * HOURS for k in analysis.UTILITIES}
    for i in range(homes):
        h = "H%02d" % (i + 1)
        for kind in analysis.UTILITIES:
            prof = household_profile(rng, kind)
            metered = list(prof)
            if theft == h and kind == "electricity":
                metered = [v if k < onset_h else v * 0.02 for k, v in enumerate(prof)]
            for k in range(HOURS):
                totals[kind][k] += prof[k]
            meters["%s-%s" % (h, kind[0])] = {"kind": kind, "household": h,
                                              "readings": readings(t0, metered, rng, sparse and kind == "water")}
    for kind, extra in (("water", leak_water), ("gas", leak_gas), ("electricity", 0)):
        master = [v * rng.uniform(0.995, 1.005) + (extra if k >= onset_h else 0) for k, v in enumerate(totals[kind])]
        meters["M-%s" % kind[0]] = {"kind": kind, "household": "master",
                                    "readings": readings(t0, master, rng, sparse and kind == "water")}
    return {"meters": meters}


def readings(t0, hourly, rng, sparse=False):
    """Register readings every 60 s like `tele`, integer registers as the firmware reports;
    sparse: only at irregular radio sessions 30-90 min apart, like a water meter's."""
    out, reg, next_s = [], 0.0, 0
    for h, v in enumerate(hourly):
        for m in range(60):
            t = h * 3600 + m * 60
            if not sparse or t >= next_s:
                out.append([t0 + t, int(reg)])
                next_s = t + rng.randint(30, 90) * 60
            reg += v / 60
    out.append([t0 + len(hourly) * 3600, int(reg)])
    return out


@pytest.mark.parametrize("seed", range(12))
def test_each_fault_found_and_ranked_first(seed):
    rng = random.Random(1000 + seed)
    thief = "H%02d" % rng.randint(1, 20)
    rec = building(seed, leak_water=rng.uniform(25, 60), theft=thief, leak_gas=rng.uniform(30, 80))
    res = analysis.analyse(rec)
    first = {f["utility"]: f for f in res["findings"] if f["rank"] == 1}
    assert first["water"]["finding"] == "network_leak", analysis.format_findings(res)
    assert first["gas"]["finding"] == "network_leak" and "riser" in first["gas"]["where"]
    assert first["electricity"]["finding"] == "suspected_bypass"
    assert first["electricity"]["household"] == thief, analysis.format_findings(res)
    assert abs(first["water"]["onset_ts"] - (rec["meters"]["M-w"]["readings"][0][0] + 12 * 3600)) <= 3600


@pytest.mark.parametrize("seed", range(12))
def test_fault_free_building_has_no_finding(seed):
    res = analysis.analyse(building(500 + seed))
    assert res["findings"] == [], analysis.format_findings(res)


@pytest.mark.parametrize("seed", range(8))
def test_sparse_water_readings_raise_no_false_finding(seed):
    # water registers read only at radio sessions 30-90 min apart: interpolating them smears
    # every shower over neighbouring hours, which must never pass for a loss. (Known limit: a
    # 25-60 L/h leak then leaves too few conclusive hours to be found; the building scenario's
    # water meters report hourly, where it is found.)
    rng = random.Random(2000 + seed)
    for s in (700 + seed, 900 + seed):
        res = analysis.analyse(building(s, sparse=True))
        assert res["findings"] == [], analysis.format_findings(res)
    res = analysis.analyse(building(seed, leak_gas=rng.uniform(30, 80), sparse=True))
    first = {f["utility"]: f for f in res["findings"] if f["rank"] == 1}
    assert set(first) <= {"gas", "water"} and first["gas"]["finding"] == "network_leak", \
        analysis.format_findings(res)
    assert all(f["finding"] != "suspected_bypass" for f in res["findings"]), analysis.format_findings(res)


def test_too_short_recording_is_a_clear_error():
    rec = building(1)
    for m in rec["meters"].values():
        m["readings"] = m["readings"][:90]
    with pytest.raises(ValueError, match="too short"):
        analysis.analyse(rec)
