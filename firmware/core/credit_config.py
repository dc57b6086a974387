# Credit policy configuration: DEFAULTS (with their sources) and validation of a config
# patch. Kept apart from core/credit.py so each module compiles in a small heap;
# core/credit.py re-exports DEFAULTS, KEYS, validate_config and merged.
from core import clock
from core.check import bool_, int_in, is_int

DAY_S = 86400
MONEY_MAX = 10 ** 9     # minor units: bound on every configured amount

DEFAULTS = {
    # Warnings at % of the balance right after the last recharge (docs/tariffs-and-credit.md: 30 % and 10 %)
    "warn_pct": [30, 10],
    # "imminent" when the projected time to zero at the recent rate is under this (docs/tariffs-and-credit.md)
    "imminent_h": 24,
    # Emergency credit: SMETS2 typically GBP 10-15, offered at GBP 1-2 (GB SMETS2)
    "emergency_minor": 1000,
    "emergency_below_minor": 200,
    # Friendly periods: off by default; the supplier opts in. The SMETS2 example
    # (Mon-Sat 18:00-11:00 + weekends/bank holidays) is
    # {"windows": [["18:00", "11:00"]], "weekends": True, "holidays": [...]}.
    "friendly": {"windows": [], "weekends": False, "holidays": [], "tz_offset_s": 0},
    # How far the balance may fall during a friendly period (debt repaid from the next recharge)
    "friendly_floor_minor": -1000,
    # Payment-based debt recovery: SMETS2 example 10 % of each top-up with a weekly cap.
    # debt_minor sets the outstanding debt; debt_cap_minor 0 means no cap.
    "debt_minor": 0,
    "debt_pct": 0,
    "debt_cap_minor": 0,
    "debt_cap_period": "week",
    # Disablement threshold (SMETS2 / DL/T 645): at or below it the supply goes off
    "cutoff_minor": 0,
}
KEYS = tuple(DEFAULTS)
PERIODS = {"day": 1, "week": 7, "month": 30}
MAX_WINDOWS = 8
MAX_HOLIDAYS = 64


def _friendly(f):
    if type(f) is not dict:
        raise ValueError("friendly: not an object")
    for k in f:
        if k not in ("windows", "weekends", "holidays", "tz_offset_s"):
            raise ValueError("friendly: unknown key %r" % (k,))
    ws = f.get("windows", [])
    if type(ws) is not list or len(ws) > MAX_WINDOWS:
        raise ValueError("friendly.windows: want a list of at most %d [start, end]" % MAX_WINDOWS)
    wins = []
    for w in ws:
        if type(w) is not list or len(w) != 2:
            raise ValueError("friendly.windows: entry is not [start, end]")
        a = w[0] if is_int(w[0]) else clock.parse_hhmm(w[0])
        b = w[1] if is_int(w[1]) else clock.parse_hhmm(w[1], True)
        int_in(a, "friendly.windows start", 0, DAY_S - 1)
        int_in(b, "friendly.windows end", 0, DAY_S)
        if a == b or (a == 0 and b == DAY_S):
            raise ValueError("friendly.windows: empty or whole-day window (use weekends/holidays)")
        wins.append([a, b])
    we = f.get("weekends", False)
    bool_(we, "friendly.weekends")
    hol = f.get("holidays", [])
    if type(hol) is not list or len(hol) > MAX_HOLIDAYS:
        raise ValueError("friendly.holidays: want a list of at most %d dates" % MAX_HOLIDAYS)
    hs = sorted(set(h if is_int(h) and 0 <= h <= clock.DAYS_MAX else clock.parse_date(h)
                    for h in hol))
    tz = clock.check_tz(f.get("tz_offset_s", 0), "friendly.tz_offset_s")
    return {"windows": wins, "weekends": we, "holidays": hs, "tz_offset_s": tz}


def _warn_pct(w):
    if type(w) is not list or len(w) > 4:
        raise ValueError("warn_pct: want a list of at most 4 percentages")
    prev = 100
    for p in w:
        int_in(p, "warn_pct", 1, 99)
        if p >= prev:
            raise ValueError("warn_pct: want strictly decreasing percentages")
        prev = p
    return list(w)


def validate_config(patch, base=None):
    """Normalize a config patch (only credit keys). Cross-key rules are checked on the
    patch merged over base (or DEFAULTS). ValueError names the key and the reason."""
    if type(patch) is not dict:
        raise ValueError("credit config: not an object")
    out = {}
    for k in patch:
        v = patch[k]
        if k not in DEFAULTS:
            raise ValueError("unknown key %r" % (k,))
        if k == "warn_pct":
            out[k] = _warn_pct(v)
        elif k == "imminent_h":
            out[k] = int_in(v, k, 0, 24 * 14)          # 0 disables the imminent warning
        elif k == "friendly":
            out[k] = _friendly(v)
        elif k == "debt_pct":
            out[k] = int_in(v, k, 0, 100)
        elif k == "debt_cap_period":
            if v not in PERIODS:
                raise ValueError("debt_cap_period: want one of day, week, month")
            out[k] = v
        elif k in ("friendly_floor_minor", "cutoff_minor", "emergency_below_minor"):
            out[k] = int_in(v, k, -MONEY_MAX, MONEY_MAX)
        else:
            out[k] = int_in(v, k, 0, MONEY_MAX)
    m = merged(base)
    m.update(out)
    if m["friendly_floor_minor"] > m["cutoff_minor"]:
        raise ValueError("friendly_floor_minor: above cutoff_minor")
    if m["emergency_below_minor"] < m["cutoff_minor"]:
        raise ValueError("emergency_below_minor: below cutoff_minor (never offered)")
    return out


def merged(cfg=None):
    # DEFAULTS overlaid with the credit keys of cfg (a full device config may hold others)
    m = dict(DEFAULTS)
    if cfg:
        for k in KEYS:
            if k in cfg:
                m[k] = cfg[k]
    return m
