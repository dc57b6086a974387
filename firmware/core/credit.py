# Credit policy: low-credit warnings, emergency credit, friendly (non-disconnect) periods
# and payment-based debt recovery. Pure functions over a config dict (DEFAULTS in core/credit_config.py) and
# a small state dict the caller persists. Money in integer minor units, time in UTC s.
# Defaults and their sources are in docs/tariffs-and-credit.md (GB SMETS2, STS).
from core import clock
from core.check import bool_, int_in, is_int
from core.credit_config import (DEFAULTS, KEYS, PERIODS, MONEY_MAX,  # noqa: F401
                                validate_config, merged)

DAY_S = 86400
# How far back the clock may be from a debt-cap period already seen and still keep that
# period spent: a year. Beyond, the index is taken for one in another period's units.
CAP_AHEAD_DAYS = 366


def _get(cfg, k):
    return cfg[k] if k in cfg else DEFAULTS[k]


# ---- state -------------------------------------------------------------------------
# ref: balance right after the last recharge; fired: warning levels fired this descent;
# rate: hourly cost buckets over 24 h; ec: emergency credit; debt: outstanding recovery.

def new_state():
    return {"ref": 0, "fired": [], "hr": -1, "h0": -1, "b": [0] * 24,
            "ec": 0, "ec_out": False, "ec_s": 0,
            "debt": 0, "debt_cfg": 0, "cap_p": -1, "cap_used": 0, "bal": 0, "t": 0}


def check_state(state):
    # A state loaded from flash: refuse a corrupt record rather than trust it.
    if type(state) is not dict:
        raise ValueError("credit state: not an object")
    ref = new_state()
    for k in state:
        if k not in ref:
            raise ValueError("credit state: unknown key %r" % (k,))
    for k in ref:
        if k not in state:
            raise ValueError("credit state: missing %s" % k)
        v = state[k]
        if k == "fired":
            if type(v) is not list or len(v) > 5 or any(not is_int(p) or not 0 <= p <= 99 for p in v):
                raise ValueError("credit state.fired: bad")
        elif k == "b":
            if type(v) is not list or len(v) != 24:
                raise ValueError("credit state.b: want 24 hourly buckets")
            for x in v:
                int_in(x, "credit state.b", 0, MONEY_MAX * 24)
        elif k == "ec_out":
            bool_(v, "credit state.ec_out")
        elif k in ("ref", "bal"):
            int_in(v, "credit state." + k, -MONEY_MAX * 10, MONEY_MAX * 10)
        elif k in ("hr", "h0", "cap_p"):
            int_in(v, "credit state." + k, -1, clock.DAYS_MAX * 24)
        elif k == "t" or k == "ec_s":
            int_in(v, "credit state." + k, 0, clock.DAYS_MAX * DAY_S)
        else:
            int_in(v, "credit state." + k, 0, MONEY_MAX)
    return state


def prune_fired(fired, cfg):
    """The fired levels that still mean something under cfg's warn_pct (0 = imminent),
    each once: at most len(warn_pct) + 1 <= 5 entries, whatever the config history."""
    levels = _get(cfg, "warn_pct")
    out = []
    for p in fired:
        if (p == 0 or p in levels) and p not in out:
            out.append(p)
    return out


def on_config(state, old_cfg, new_cfg):
    """Migrate the state that depends on config after a config change (docs/ledger.md,
    "Config changes"): the fired warning levels follow the new warn_pct (a new level is
    fired once when the balance is below it), and the debt-cap period index is converted
    to the new period's units (the period holding the old period's start), so neither a
    frozen index nor a reopened cap follows a change of debt_cap_period."""
    state["fired"] = prune_fired(state["fired"], new_cfg)
    old_len = PERIODS[_get(old_cfg, "debt_cap_period")]
    new_len = PERIODS[_get(new_cfg, "debt_cap_period")]
    if old_len != new_len and state["cap_p"] >= 0:
        state["cap_p"] = state["cap_p"] * old_len // new_len


def set_reference(state, balance_minor):
    # A recharge: the new reference for the % warnings, and every warning re-armed.
    int_in(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    state["ref"] = balance_minor
    state["fired"] = []


def set_debt(state, debt_minor):
    state["debt"] = int_in(debt_minor, "debt_minor", 0, MONEY_MAX)


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
    credit once the balance is back above cutoff_minor (the emergency credit is repaid)."""
    int_in(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    int_in(amount_minor, "amount_minor", 0, MONEY_MAX)
    if now_s is None:
        now_s = state["t"]
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    _sync_debt(state, cfg)
    take = amount_minor * _get(cfg, "debt_pct") // 100
    if take > state["debt"]:
        take = state["debt"]
    cap = _get(cfg, "debt_cap_minor")
    if cap:
        n = PERIODS[_get(cfg, "debt_cap_period")]
        p = now_s // DAY_S // n
        # a period whose cap was spent stays spent until the clock passes its end, however
        # the clock went back (a power cut, a signed step back past unauthenticated time);
        # an index over a year ahead is no time this meter has seen (a record kept in another
        # period's units by older firmware): start the current period afresh
        if p > state["cap_p"] or state["cap_p"] > p + CAP_AHEAD_DAYS // n + 1:
            state["cap_p"] = p
            state["cap_used"] = 0
        # a cap lowered inside its period may be below what is spent already: take nothing
        left = cap - state["cap_used"]
        if take > left:
            take = left if left > 0 else 0
        state["cap_used"] += take
    state["debt"] -= take
    to_bal = amount_minor - take
    new_bal = balance_minor + to_bal
    if state["ec"] and new_bal > _get(cfg, "cutoff_minor"):
        state["ec"] = 0
        state["ec_out"] = False
    set_reference(state, new_bal)
    state["bal"] = new_bal
    return to_bal, take


# ---- consumption rate --------------------------------------------------------------

def note_cost(state, now_s, cost_minor):
    # hourly buckets of charged minor units over the last 24 h (a ring indexed by hour)
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    int_in(cost_minor, "cost_minor", 0, MONEY_MAX)
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
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
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
    int_in(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    state["bal"] = balance_minor
    out = []
    fired = state["fired"]
    ref = state["ref"]
    if len(fired) > 4 or [p for p in fired if p and p not in _get(cfg, "warn_pct")]:
        fired[:] = prune_fired(fired, cfg)     # a level no longer configured
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
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
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
    int_in(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
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
        # emergency credit used up: reconnect only once it is repaid (GB SMETS2)
        state["ec_out"] = True
    return False


def emergency_offered(state, cfg, balance_minor):
    int_in(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
    return (_get(cfg, "emergency_minor") > 0 and not state["ec"]
            and balance_minor <= _get(cfg, "emergency_below_minor"))


def take_emergency(state, cfg, now_s, balance_minor=None):
    """Take emergency credit (button or remote). balance_minor defaults to the balance
    last seen by credit_ok / warnings_due / on_recharge. -> the amount granted."""
    int_in(now_s, "now_s", 0, clock.DAYS_MAX * DAY_S)
    if balance_minor is None:
        balance_minor = state["bal"]
    int_in(balance_minor, "balance_minor", -MONEY_MAX * 10, MONEY_MAX * 10)
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
