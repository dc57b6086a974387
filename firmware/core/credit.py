# Credit policy: low-credit warnings, emergency credit, friendly (non-disconnect) periods
# and payment-based debt recovery. Pure functions over a config dict (defaults below) and
# a small state dict the caller persists. Money in integer minor units, time in UTC s.
# Defaults and their sources are in docs/tariffs-and-credit.md (from shared/domain.md).
from core import clock

DAY_S = 86400
MONEY_MAX = 10 ** 9     # minor units: bound on every configured amount

DEFAULTS = {
    # Warnings at % of the balance right after the last recharge (issue 2: 30 % and 10 %)
    "warn_pct": [30, 10],
    # "imminent" when the projected time to zero at the recent rate is under this (issue 2)
    "imminent_h": 24,
    # Emergency credit: SMETS2 typically GBP 10-15, offered at GBP 1-2 (domain.md)
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


def _int(x, name, lo, hi):
    if type(x) is not int:
        raise ValueError("%s: not an int" % name)
    if x < lo or x > hi:
        raise ValueError("%s: out of range %d..%d" % (name, lo, hi))
    return x


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
        a = w[0] if type(w[0]) is int else clock.parse_hhmm(w[0])
        b = w[1] if type(w[1]) is int else clock.parse_hhmm(w[1], True)
        _int(a, "friendly.windows start", 0, DAY_S - 1)
        _int(b, "friendly.windows end", 0, DAY_S)
        if a == b or (a == 0 and b == DAY_S):
            raise ValueError("friendly.windows: empty or whole-day window (use weekends/holidays)")
        wins.append([a, b])
    we = f.get("weekends", False)
    if type(we) is not bool:
        raise ValueError("friendly.weekends: not a bool")
    hol = f.get("holidays", [])
    if type(hol) is not list or len(hol) > MAX_HOLIDAYS:
        raise ValueError("friendly.holidays: want a list of at most %d dates" % MAX_HOLIDAYS)
    hs = sorted(set(h if type(h) is int and 0 <= h <= clock.DAYS_MAX else clock.parse_date(h)
                    for h in hol))
    tz = clock.check_tz(f.get("tz_offset_s", 0), "friendly.tz_offset_s")
    return {"windows": wins, "weekends": we, "holidays": hs, "tz_offset_s": tz}


def _warn_pct(w):
    if type(w) is not list or len(w) > 4:
        raise ValueError("warn_pct: want a list of at most 4 percentages")
    prev = 100
    for p in w:
        _int(p, "warn_pct", 1, 99)
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
            out[k] = _int(v, k, 0, 24 * 14)          # 0 disables the imminent warning
        elif k == "friendly":
            out[k] = _friendly(v)
        elif k == "debt_pct":
            out[k] = _int(v, k, 0, 100)
        elif k == "debt_cap_period":
            if v not in PERIODS:
                raise ValueError("debt_cap_period: want one of day, week, month")
            out[k] = v
        elif k in ("friendly_floor_minor", "cutoff_minor"):
            out[k] = _int(v, k, -MONEY_MAX, MONEY_MAX)
        else:
            out[k] = _int(v, k, 0, MONEY_MAX)
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


def _get(cfg, k):
    return cfg[k] if k in cfg else DEFAULTS[k]


# ---- state -------------------------------------------------------------------------
# ref: balance right after the last recharge; fired: warning levels fired this descent;
# rate: hourly cost buckets over 24 h; ec: emergency credit; debt: outstanding recovery.

def new_state():
    return {"ref": 0, "fired": [], "hr": -1, "h0": -1, "b": [0] * 24,
            "ec": 0, "ec_out": False, "ec_s": 0,
            "debt": 0, "debt_cfg": 0, "cap_p": -1, "cap_used": 0, "bal": 0, "t": 0}


def set_reference(state, balance_minor):
    # A recharge: the new reference for the % warnings, and every warning re-armed.
    _int(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    state["ref"] = balance_minor
    state["fired"] = []


def set_debt(state, debt_minor):
    state["debt"] = _int(debt_minor, "debt_minor", 0, MONEY_MAX)


def _sync_debt(state, cfg):
    # configure({"debt_minor": n}) sets the outstanding debt to n (once per new value)
    d = _get(cfg, "debt_minor")
    if d != state["debt_cfg"]:
        state["debt"] = d
        state["debt_cfg"] = d


def on_recharge(state, cfg, balance_minor, amount_minor, now_s=None):
    """-> (to_balance_minor, recovered_minor). balance_minor is the balance before the
    recharge. Debt recovery takes debt_pct % of the amount, at most what is left of the
    period's cap; what cannot be taken stays as debt. Re-arms warnings; ends emergency
    credit once the balance is back at or above zero."""
    _int(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    _int(amount_minor, "amount_minor", 0, MONEY_MAX)
    if now_s is None:
        now_s = state["t"]
    _int(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    _sync_debt(state, cfg)
    take = amount_minor * _get(cfg, "debt_pct") // 100
    if take > state["debt"]:
        take = state["debt"]
    cap = _get(cfg, "debt_cap_minor")
    if cap:
        p = now_s // DAY_S // PERIODS[_get(cfg, "debt_cap_period")]
        if p != state["cap_p"]:
            state["cap_p"] = p
            state["cap_used"] = 0
        if take > cap - state["cap_used"]:
            take = cap - state["cap_used"]
        state["cap_used"] += take
    state["debt"] -= take
    to_bal = amount_minor - take
    new_bal = balance_minor + to_bal
    if state["ec"] and new_bal >= 0:
        state["ec"] = 0
        state["ec_out"] = False
    set_reference(state, new_bal)
    state["bal"] = new_bal
    return to_bal, take


# ---- consumption rate --------------------------------------------------------------

def note_cost(state, now_s, cost_minor):
    # hourly buckets of charged minor units over the last 24 h (a ring indexed by hour)
    _int(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    _int(cost_minor, "cost_minor", 0, MONEY_MAX)
    h = now_s // 3600
    b = state["b"]
    if state["h0"] < 0:
        state["h0"] = h
        state["hr"] = h
    last = state["hr"]
    if h > last:
        for i in range(last + 1, min(h, last + 24) + 1):
            b[i % 24] = 0
        state["hr"] = h
    elif h < last:
        h = last  # clock stepped back: keep counting in the newest hour
    b[h % 24] += cost_minor
    if now_s > state["t"]:
        state["t"] = now_s


def rate_per_day(state, now_s):
    # -> (minor units charged in the last up-to-24 h, hours covered)
    if state["h0"] < 0:
        return 0, 0
    h = now_s // 3600
    last = state["hr"]
    if h < last:
        h = last
    total = 0
    for i in range(max(h - 23, last - 23), last + 1):
        total += state["b"][i % 24]
    hours = h - state["h0"] + 1
    return total, (24 if hours > 24 else hours)


# ---- warnings ----------------------------------------------------------------------

def warnings_due(state, cfg, balance_minor, now_s):
    """Levels to fire now: the configured percentages (as strings) newly crossed since the
    last recharge, and "imminent". Each fires once per descent."""
    _int(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    _int(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    state["bal"] = balance_minor
    out = []
    fired = state["fired"]
    ref = state["ref"]
    if ref > 0:
        for p in _get(cfg, "warn_pct"):
            if p not in fired and balance_minor * 100 <= ref * p:
                fired.append(p)
                out.append(str(p))
    ih = _get(cfg, "imminent_h")
    if ih and 0 not in fired:
        spent, hours = rate_per_day(state, now_s)
        left = balance_minor - _get(cfg, "cutoff_minor")
        # left / (spent / hours) < ih  <=>  left * hours < ih * spent   (integers)
        if spent > 0 and left * hours < ih * spent:
            fired.append(0)   # 0 marks "imminent" in the fired list
            out.append("imminent")
    return out


# ---- friendly periods, cut-off, emergency credit -----------------------------------

def in_friendly(cfg, now_s):
    f = _get(cfg, "friendly")
    day, sod = clock.local(now_s, f["tz_offset_s"])
    if f["weekends"] and clock.weekday(day) >= 5:
        return True
    if day in f["holidays"]:
        return True
    for a, b in f["windows"]:
        if a < b:
            if a <= sod < b:
                return True
        elif sod >= a or sod < b:   # crosses midnight
            return True
    return False


def credit_ok(state, cfg, balance_minor, now_s):
    """False means cut the supply off. Fail safe: only the listed exceptions keep it on."""
    _int(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    _int(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    state["bal"] = balance_minor
    cut = _get(cfg, "cutoff_minor")
    if balance_minor > cut:
        return True
    floor = cut
    if state["ec"] and not state["ec_out"]:
        floor = cut - state["ec"]
    if in_friendly(cfg, now_s) and _get(cfg, "friendly_floor_minor") < floor:
        floor = _get(cfg, "friendly_floor_minor")
    if balance_minor > floor:
        return True
    if state["ec"] and balance_minor <= cut - state["ec"]:
        # emergency credit used up: reconnect only once it is repaid (SMETS2, domain.md)
        state["ec_out"] = True
    return False


def emergency_offered(state, cfg, balance_minor):
    return (_get(cfg, "emergency_minor") > 0 and not state["ec"]
            and balance_minor <= _get(cfg, "emergency_below_minor"))


def take_emergency(state, cfg, now_s, balance_minor=None):
    """Take emergency credit (button or remote). balance_minor defaults to the balance
    last seen by credit_ok / warnings_due / on_recharge. -> the amount granted."""
    _int(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    if balance_minor is None:
        balance_minor = state["bal"]
    _int(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    if state["ec"]:
        raise ValueError("already_taken")
    if not emergency_offered(state, cfg, balance_minor):
        raise ValueError("not_offered")
    state["ec"] = _get(cfg, "emergency_minor")
    state["ec_out"] = False
    state["ec_s"] = now_s
    return state["ec"]


def describe(state, cfg, balance_minor):
    d = {}
    if state["ec"]:
        d["emergency_minor"] = state["ec"]
    if state["debt"]:
        d["debt_minor"] = state["debt"]
    if emergency_offered(state, cfg, balance_minor):
        d["emergency_offered"] = True
    return d
