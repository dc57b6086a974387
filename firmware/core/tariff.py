# Tariffs: flat, time-of-use (TOU) and tiered (block) prices, a daily standing charge and
# one pending tariff that takes over at a set instant. Pure functions over a plain state
# dict that the caller persists; no I/O, no wall clock, integers only.
#
# Prices are price_micro: millionths of a minor unit per base unit (Wh or litre), so a
# cost is use_base * price_micro, exact, in micro-minor units.
# Spec formats and the splitting rule are documented in docs/tariffs-and-credit.md.
from core import clock

DAY_S = 86400
BANDS = ("sharp", "peak", "flat", "valley")  # DL/T 645 TOU rate names (domain.md)
MAX_SWITCHES = 12        # per day; DL/T 645 asks for 8, we allow 12
MAX_STEPS = 5            # DL/T 645 tiered pricing: up to 5 steps
MAX_HOLIDAYS = 64
PRICE_MAX = 10 ** 9      # 1000 minor units per Wh: far above any real price
STANDING_MAX = 10 ** 7   # minor units per day
USE_MAX = 10 ** 12       # base units in one call / one tier threshold


def _int(x, name, lo, hi):
    if type(x) is not int:
        raise ValueError("%s: not an int" % name)
    if x < lo or x > hi:
        raise ValueError("%s: out of range %d..%d" % (name, lo, hi))
    return x


def _keys(d, allowed, name):
    if type(d) is not dict:
        raise ValueError("%s: not an object" % name)
    for k in d:
        if k not in allowed:
            raise ValueError("%s: unknown key %r" % (name, k))


def _time(x, name):
    # "HH:MM" or int seconds of day (the normalized form) -> seconds of day
    if type(x) is str:
        return clock.parse_hhmm(x)
    return _int(x, name, 0, DAY_S - 1)


def _date(x, name):
    if type(x) is str:
        return clock.parse_date(x)
    return _int(x, name, 0, clock.DAYS_MAX)


def _schedule(sched, rates, name):
    if type(sched) is not list or not sched:
        raise ValueError("%s: want a non-empty list of [time, band]" % name)
    if len(sched) > MAX_SWITCHES:
        raise ValueError("%s: more than %d switching times" % (name, MAX_SWITCHES))
    out = []
    prev = -1
    for e in sched:
        if type(e) is not list or len(e) != 2:
            raise ValueError("%s: entry is not [time, band]" % name)
        t = _time(e[0], name + " time")
        if e[1] not in rates:
            raise ValueError("%s: band %r has no rate" % (name, e[1]))
        if t <= prev:
            raise ValueError("%s: times not strictly increasing" % name)
        if not out and t != 0:
            raise ValueError("%s: first switching time must be 00:00" % name)
        prev = t
        out.append([t, e[1]])
    return out


def _tou(t):
    _keys(t, ("rates", "weekday", "weekend", "holidays", "tz_offset_s"), "tou")
    rates = t.get("rates")
    if type(rates) is not dict or not rates:
        raise ValueError("tou.rates: want 1..4 of %s" % ",".join(BANDS))
    _keys(rates, BANDS, "tou.rates")
    nr = {}
    for k in rates:
        nr[k] = _int(rates[k], "tou.rates." + k, 0, PRICE_MAX)
    if "weekday" not in t:
        raise ValueError("tou.weekday: missing")
    wd = _schedule(t["weekday"], nr, "tou.weekday")
    we = _schedule(t["weekend"], nr, "tou.weekend") if "weekend" in t else [list(e) for e in wd]
    hol = t.get("holidays", [])
    if type(hol) is not list or len(hol) > MAX_HOLIDAYS:
        raise ValueError("tou.holidays: want a list of at most %d dates" % MAX_HOLIDAYS)
    hs = sorted(set(_date(h, "tou.holidays") for h in hol))
    tz = clock.check_tz(t.get("tz_offset_s", 0), "tou.tz_offset_s")
    return {"rates": nr, "weekday": wd, "weekend": we, "holidays": hs, "tz_offset_s": tz}


def _tiered(t):
    _keys(t, ("steps", "period", "reset_day", "reset_month", "tz_offset_s"), "tiered")
    steps = t.get("steps")
    if type(steps) is not list or not 1 <= len(steps) <= MAX_STEPS:
        raise ValueError("tiered.steps: want 1..%d [upto, price] pairs" % MAX_STEPS)
    out = []
    prev = 0
    for i, s in enumerate(steps):
        if type(s) is not list or len(s) != 2:
            raise ValueError("tiered.steps: entry is not [upto, price]")
        upto = s[0]
        last = i == len(steps) - 1
        if last:
            if upto is not None:
                raise ValueError("tiered.steps: last step's upto must be null")
        else:
            _int(upto, "tiered.steps upto", 1, USE_MAX)
            if upto <= prev:
                raise ValueError("tiered.steps: upto not strictly increasing")
            prev = upto
        out.append([upto, _int(s[1], "tiered.steps price", 0, PRICE_MAX)])
    period = t.get("period", "month")
    if period not in ("month", "year"):
        raise ValueError("tiered.period: want month or year")
    # reset_day <= 28 so every month has it (domain.md: monthly or yearly settlement)
    rd = _int(t.get("reset_day", 1), "tiered.reset_day", 1, 28)
    rm = _int(t.get("reset_month", 1), "tiered.reset_month", 1, 12)
    tz = clock.check_tz(t.get("tz_offset_s", 0), "tiered.tz_offset_s")
    return {"steps": out, "period": period, "reset_day": rd, "reset_month": rm, "tz_offset_s": tz}


def validate(spec):
    """Return the normalized spec (times as seconds of day, dates as day numbers,
    defaults filled). Idempotent: validate(validate(s)) == validate(s)."""
    _keys(spec, ("price", "tou", "tiered", "standing_minor_per_day"), "tariff")
    kinds = [k for k in ("price", "tou", "tiered") if k in spec]
    if len(kinds) != 1:
        raise ValueError("tariff: want exactly one of price, tou, tiered")
    out = {"standing_minor_per_day": _int(spec.get("standing_minor_per_day", 0),
                                          "standing_minor_per_day", 0, STANDING_MAX)}
    k = kinds[0]
    if k == "price":
        out["price"] = _int(spec["price"], "price", 0, PRICE_MAX)
    elif k == "tou":
        out["tou"] = _tou(spec["tou"])
    else:
        out["tiered"] = _tiered(spec["tiered"])
    return out


def kind(spec):
    return "flat" if "price" in spec else ("tou" if "tou" in spec else "tiered")


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
        _int(frm, "tariff state.from", 0, clock.DAYS_MAX * DAY_S)
    elif frm is not None:
        raise ValueError("tariff state: from without pending")
    pk = state.get("pk")
    if pk is not None:
        _int(pk, "tariff state.pk", 0, clock.DAYS_MAX)
    return {"cur": cur, "pend": pend, "from": frm,
            "cum": _int(state.get("cum", 0), "tariff state.cum", 0, 10 ** 15),
            "pk": pk, "t": _int(state.get("t", 0), "tariff state.t", 0, clock.DAYS_MAX * DAY_S)}


def set_pending(state, spec, from_s):
    # from_s is required (the caller passes now for "immediately"); the new tariff takes
    # over at the first priced instant >= from_s. A later set_pending replaces it.
    spec = validate(spec)
    _int(from_s, "from_s", 0, clock.DAYS_MAX * DAY_S)
    state["pend"] = spec
    state["from"] = from_s


def activate(state, now_s):
    # Promote the pending tariff once its instant has come. -> True if it did.
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
    return 0


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
    _int(t0_s, "t0_s", 0, clock.DAYS_MAX * DAY_S)
    _int(t1_s, "t1_s", 0, clock.DAYS_MAX * DAY_S)
    _int(use_base, "use_base", 0, USE_MAX)
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
        t = end
    if t1_s > state["t"]:
        state["t"] = t1_s
    return acc


def price_at(state, now_s):
    spec = _in_force(state, now_s)
    if "price" in spec:
        return spec["price"]
    if "tou" in spec:
        band, _ = _band_at(spec["tou"], now_s)
        return spec["tou"]["rates"][band]
    tr = spec["tiered"]
    cum = _cum_at(state, tr, now_s) if spec is state["cur"] else 0
    return tr["steps"][_step_index(tr, cum)][1]


def standing_minor_per_day(state, now_s):
    return _in_force(state, now_s)["standing_minor_per_day"]


def describe(state, now_s=None):
    # small dict for status / telemetry
    if now_s is None:
        now_s = state["t"]
    spec = _in_force(state, now_s)
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
