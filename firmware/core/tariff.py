# Tariffs: flat, time-of-use (TOU) and tiered (block) prices, a daily standing charge and
# one pending tariff that takes over at a set instant. Pure functions over a plain state
# dict that the caller persists; no I/O, no wall clock, integers only.
#
# Prices are price_micro: millionths of a minor unit per base unit (Wh or litre), so a
# cost is use_base * price_micro, exact, in micro-minor units.
# Spec formats and the splitting rule are documented in docs/tariffs-and-credit.md.
from core import clock

from core.tariff_spec import validate, kind, USE_MAX, _keys  # noqa: F401 (re-export)
from core.check import int_in

DAY_S = 86400
T_MAX = clock.DAYS_MAX * DAY_S


def _now(now_s):
    return int_in(now_s, "now_s", 0, T_MAX)


# ---- state -------------------------------------------------------------------------
# {"cur": spec, "pend": spec | None, "from": from_s | None,
#  "cum": tiered use in the current period, "pk": that period's first local day | None,
#  "t": the latest instant priced (for describe)}

def new_state(spec):
    return {"cur": validate(spec), "pend": None, "from": None, "cum": 0, "pk": None, "t": 0}


def check_state(state):
    # A state loaded from flash: re-validate so a corrupt record is refused, not trusted.
    _keys(state, ("cur", "pend", "from", "cum", "pk", "t"), "tariff state")
    cur = validate(state.get("cur"))
    pend = state.get("pend")
    frm = state.get("from")
    if pend is not None:
        pend = validate(pend)
        int_in(frm, "tariff state.from", 0, clock.DAYS_MAX * DAY_S)
    elif frm is not None:
        raise ValueError("tariff state: from without pending")
    pk = state.get("pk")
    if pk is not None:
        int_in(pk, "tariff state.pk", 0, clock.DAYS_MAX)
    return {"cur": cur, "pend": pend, "from": frm,
            "cum": int_in(state.get("cum", 0), "tariff state.cum", 0, 10 ** 15),
            "pk": pk, "t": int_in(state.get("t", 0), "tariff state.t", 0, clock.DAYS_MAX * DAY_S)}


def set_pending(state, spec, from_s):
    # from_s is required (the caller passes now for "immediately"); the new tariff takes
    # over at the first priced instant >= from_s. A later set_pending replaces it.
    spec = validate(spec)
    int_in(from_s, "from_s", 0, clock.DAYS_MAX * DAY_S)
    state["pend"] = spec
    state["from"] = from_s


def activate(state, now_s):
    # Promote the pending tariff once its instant has come. -> True if it did.
    _now(now_s)
    f = state["from"]
    if state["pend"] is None or now_s < f:
        return False
    new = state["pend"]
    old = state["cur"]
    state["cur"] = new
    state["pend"] = None
    state["from"] = None
    # Tiered cumulative use survives a price change within the same settlement period
    # (same period rules); any other change starts the count afresh.
    if not ("tiered" in new and "tiered" in old and _period_rules(new) == _period_rules(old)):
        state["cum"] = 0
        state["pk"] = None
    return True


def _period_rules(spec):
    t = spec["tiered"]
    return (t["period"], t["reset_day"], t["reset_month"], t["tz_offset_s"])


def tz_offset_s(state):
    c = state["cur"]
    if "tou" in c:
        return c["tou"]["tz_offset_s"]
    if "tiered" in c:
        return c["tiered"]["tz_offset_s"]
    return c.get("tz_offset_s", 0)


def _in_force(state, now_s):
    if state["pend"] is not None and now_s >= state["from"]:
        return state["pend"]
    return state["cur"]


# ---- time-of-use -------------------------------------------------------------------

def _day_schedule(tou, day):
    if day in tou["holidays"] or clock.weekday(day) >= 5:
        return tou["weekend"]
    return tou["weekday"]


def _band_at(tou, t_s):
    # -> (band name, UTC instant of the next switch or local midnight, whichever first)
    day, sod = clock.local(t_s, tou["tz_offset_s"])
    sched = _day_schedule(tou, day)
    band = sched[0][1]
    nxt = DAY_S
    for sw, b in sched:
        if sw <= sod:
            band = b
        else:
            nxt = sw
            break
    return band, t_s + (nxt - sod)


# ---- tiered ------------------------------------------------------------------------

def _period(tr, t_s):
    # -> (first local day of the settlement period holding t_s, UTC start of the next one)
    tz = tr["tz_offset_s"]
    day, _ = clock.local(t_s, tz)
    y, m, d = clock.civil_from_days(day)
    rd = tr["reset_day"]
    if tr["period"] == "month":
        if d < rd:
            y, m = clock.add_months(y, m, -1)
        ny, nm = clock.add_months(y, m, 1)
    else:
        rm = tr["reset_month"]
        if (m, d) < (rm, rd):
            y -= 1
        m = rm
        ny, nm = y + 1, rm
    # before the first reset after 1970-01-01 the period starts at day 0
    start = clock.days_from_civil(y, m, rd) if y >= clock.YEAR_MIN else 0
    nxt = clock.days_from_civil(ny, nm, rd)
    return start, clock.utc_of_local(nxt, 0, tz)


def _tiered_cost(state, tr, use):
    # price `use` base units starting at the period's cumulative use; split at thresholds
    c = state["cum"]
    acc = 0
    left = use
    for upto, price in tr["steps"]:
        if upto is None or c + left <= upto:
            acc += left * price
            left = 0
            break
        if c < upto:
            n = upto - c
            acc += n * price
            left -= n
            c = upto
    state["cum"] += use
    return acc


def _step_index(tr, cum):
    for i, (upto, _) in enumerate(tr["steps"]):
        if upto is None or cum < upto:
            return i
    return len(tr["steps"]) - 1


def _cum_at(state, tr, now_s):
    pk, _ = _period(tr, now_s)
    return state["cum"] if state["pk"] is not None and pk <= state["pk"] else 0


# ---- cost --------------------------------------------------------------------------

def cost(state, t0_s, t1_s, use_base):
    """Exact cost in micro-minor units of use_base base units used in [t0_s, t1_s).

    The interval is cut at every TOU switch, local midnight, tiered period boundary and the
    pending tariff's instant. The use up to an instant x is floor(use*(x-t0)/(t1-t0)); each
    part is the difference of consecutive such values, so the parts sum to use_base and
    any remainder lands in the later parts. t1 == t0 prices everything at t0.
    """
    int_in(t0_s, "t0_s", 0, clock.DAYS_MAX * DAY_S)
    int_in(t1_s, "t1_s", 0, clock.DAYS_MAX * DAY_S)
    int_in(use_base, "use_base", 0, USE_MAX)
    if t1_s < t0_s:
        raise ValueError("t1_s before t0_s")
    dur = t1_s - t0_s
    t = t0_s
    done = 0
    acc = 0
    while True:
        activate(state, t)
        spec = state["cur"]
        end = t1_s
        f = state["from"]
        if f is not None and t < f < end:
            end = f
        if "tou" in spec:
            band, nb = _band_at(spec["tou"], t)
            price = spec["tou"]["rates"][band]
            if nb < end:
                end = nb
        elif "tiered" in spec:
            tr = spec["tiered"]
            pk, nb = _period(tr, t)
            if state["pk"] is None or pk > state["pk"]:
                state["pk"] = pk
                state["cum"] = 0
            if nb < end:
                end = nb
        if dur:
            upto = use_base * (end - t0_s) // dur
            part = upto - done
            done = upto
        else:
            part = use_base
        if part:
            if "price" in spec:
                acc += part * spec["price"]
            elif "tou" in spec:
                acc += part * price
            else:
                acc += _tiered_cost(state, spec["tiered"], part)
        if end >= t1_s:
            break
        if end <= t:
            # every cut point lies strictly after t; anything else is a bug, never a hang
            raise RuntimeError("tariff: no progress at %d" % t)
        t = end
    if t1_s > state["t"]:
        state["t"] = t1_s
    return acc


def price_at(state, now_s):
    spec = _in_force(state, _now(now_s))
    if "price" in spec:
        return spec["price"]
    if "tou" in spec:
        band, _ = _band_at(spec["tou"], now_s)
        return spec["tou"]["rates"][band]
    tr = spec["tiered"]
    cum = _cum_at(state, tr, now_s) if spec is state["cur"] else 0
    return tr["steps"][_step_index(tr, cum)][1]


def standing_minor_per_day(state, now_s):
    return _in_force(state, _now(now_s))["standing_minor_per_day"]


def describe(state, now_s=None):
    # small dict for status / telemetry
    if now_s is None:
        now_s = state["t"]
    spec = _in_force(state, _now(now_s))
    k = kind(spec)
    d = {"kind": k, "price_now": price_at(state, now_s)}
    if k == "tou":
        d["band"] = _band_at(spec["tou"], now_s)[0]
    elif k == "tiered":
        tr = spec["tiered"]
        cum = _cum_at(state, tr, now_s) if spec is state["cur"] else 0
        d["step"] = _step_index(tr, cum) + 1
        d["period_use"] = cum
    if spec["standing_minor_per_day"]:
        d["standing_minor_per_day"] = spec["standing_minor_per_day"]
    if state["pend"] is not None and state["from"] > now_s:
        d["pending"] = {"from": state["from"], "kind": kind(state["pend"])}
    return d
