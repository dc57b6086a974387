"""Expands tools/scenarios/building*.json into a full sim scenario: N households with three
meters each, seeded so every run is the same, plus one bulk (master) meter per utility at the
building inlet whose physical world is the sum of its households and of any injected fault.

Faults (scenario key "faults", all optional):
  water_leak_lph   a leak in the building's water network, between the master and the homes
  gas_leak_lph     a leak in the gas riser
  theft_household  a household that bypasses its electricity meter: the master still sees its
                   load, its own meter sees only bypass_share of it
  onset            scenario time the faults begin, e.g. "d0 12:00"
Household profiles are piecewise constant, with daily shapes (morning and evening peaks,
showers, cooking) scaled and shifted per household. Electric loads keep a power factor below
the malicious-load limit: these are ordinary appliances, not heaters.
"""
import random

from sim import parse_at

DAY = 86400


def _hhmm(s):
    return "%02d:%02d" % (s // 3600, s % 3600 // 60)


def _shape(rng, kind):
    """[(second of day, value)] for one household; value is load_w or flow_lph."""
    j = lambda: rng.randint(-40, 40) * 60          # noqa: E731  (minutes of jitter)
    k = rng.uniform(0.6, 1.5)
    if kind == "electricity":
        base = int(rng.uniform(90, 180))
        pts = [(0, base), (6 * 3600 + 30 * 60 + j(), int(550 * k)), (8 * 3600 + j(), int(base * 1.4)),
               (18 * 3600 + j(), int(500 * k)), (19 * 3600 + 30 * 60 + j(), int(850 * k)),
               (22 * 3600 + 30 * 60 + j(), int(260 * k)), (23 * 3600 + 30 * 60, base)]
    elif kind == "water":
        pts = [(0, 0)]
        for start, lph, mins in ((7 * 3600, 480, 8), (12 * 3600 + 30 * 60, 300, 4), (19 * 3600, 360, 5),
                                 (21 * 3600, 480, 8)):
            s = start + j()
            pts += [(s, int(lph * k)), (s + int(mins * k) * 60, 0)]
    else:
        pts = [(0, 0)]
        for start, lph, mins in ((7 * 3600, 1800, 8), (12 * 3600, 400, 25), (18 * 3600 + 30 * 60, 600, 40),
                                 (21 * 3600, 1800, 8)):
            s = start + j()
            pts += [(s, int(lph * k)), (s + int(mins * k) * 60, 0)]
    return sorted(pts)


def _field(kind):
    return "load_w" if kind == "electricity" else "flow_lph"


def _fields(kind, v):
    return {"load_w": v, "pf": 0.88, "voltage_v": 230} if kind == "electricity" else {"flow_lph": v}


def _value_at(shape, sod):
    v = shape[0][1]
    for s, x in shape:
        if s <= sod:
            v = x
    return v


def generate(sc):
    rng = random.Random(sc.get("seed", 7))
    n = sc.get("households", 20)
    tz = sc.get("tz_offset_s", 0)
    import datetime
    start_ts = int(datetime.datetime.fromisoformat(sc["start"].replace("Z", "+00:00")).timestamp())
    end_ts = parse_at(sc["end"], start_ts, tz)
    faults = sc.get("faults", {})
    onset = parse_at(faults["onset"], start_ts, tz) if faults.get("onset") else None
    thief = faults.get("theft_household")
    share = faults.get("bypass_share", 0.02)
    meters, steps = {}, []
    shapes = {}
    for i in range(1, n + 1):
        h = "H%02d" % i
        for kind in ("electricity", "water", "gas"):
            shape = _shape(rng, kind)
            shapes[(h, kind)] = shape
            alias = "%s-%s" % (h, kind[0])
            m = {"id": "%s-%s" % (kind[0], h.lower()), "kind": kind, "household": h,
                 "tariff": {"price": {"electricity": 60000, "water": 400000, "gas": 300000}[kind],
                            "tz_offset_s": tz},
                 "config": dict(sc.get("household_config", {}).get(kind, {}))}
            if thief == h and kind == "electricity" and onset is not None:
                # the bypass: from the onset the meter sees only `share` of what the home draws
                day0 = (start_ts + tz) // DAY * DAY - tz
                once = [[start_ts, _fields(kind, _value_at(shape, (start_ts + tz) % DAY))],
                        [onset, _fields(kind, int(_value_at(shape, (onset + tz) % DAY) * share))]]
                for d in range((end_ts - day0) // DAY + 1):
                    for sod, v in shape:
                        t = day0 + d * DAY + sod
                        if start_ts < t <= end_ts and t != onset:
                            once.append([t, _fields(kind, int(v * share) if t >= onset else v)])
                once.sort(key=lambda x: x[0])
                m["sim_script"] = {"tz_offset_s": tz, "once": once}
            else:
                m["sim_script"] = {"tz_offset_s": tz, "daily": [[_hhmm(s), _fields(kind, v)] for s, v in shape]}
            meters[alias] = m
            steps.append({"at": "d0 00:01", "meter": alias, "op": "recharge", "args": {"amount": 500000}})
            if kind == "gas":
                steps.append({"on": {"meter": alias, "type": "supply", "state": "armed"}, "after_s": 120,
                              "meter": alias, "sim": {"button": "press"}})
    # bulk meters: the sum of the households' real draw, plus the injected leaks
    for kind in ("electricity", "water", "gas"):
        instants = sorted({s for (h, k), shape in shapes.items() if k == kind for s, _ in shape})
        daily = []
        for s in instants:
            total = sum(_value_at(shapes[(h, kind)], s) for h in ("H%02d" % i for i in range(1, n + 1)))
            daily.append([_hhmm(s), _fields(kind, total)])
        script = {"tz_offset_s": tz, "daily": daily}
        leak = faults.get({"water": "water_leak_lph", "gas": "gas_leak_lph"}.get(kind, "-"))
        if leak and onset is not None:
            script["add"] = [[onset, {"flow_lph": leak}]]
        alias = "M-%s" % kind[0]
        meters[alias] = {"id": "%s-master" % kind[0], "kind": kind, "household": "master", "heap": "384k",
                         "tariff": {"price": 0, "tz_offset_s": tz}, "config": dict(sc.get("master_config", {}).get(kind, {})),
                         "sim_script": script}
        steps.append({"at": "d0 00:01", "meter": alias, "op": "recharge", "args": {"amount": 1000000}})
        if kind == "gas":
            steps.append({"on": {"meter": alias, "type": "supply", "state": "armed"}, "after_s": 120,
                          "meter": alias, "sim": {"button": "press"}})
    out = dict(sc)
    out.pop("generator", None)
    out["meters"] = meters
    out["steps"] = steps + sc.get("steps", [])
    out["analysis"] = True
    return out
