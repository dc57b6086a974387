# Tariff spec validation: the formats integrators send in the protocol's `tariff` op
# (docs/tariffs-and-credit.md). Kept apart from core/tariff.py so each module compiles in
# a small heap; core/tariff.py re-exports validate() and kind().
from core import clock
from core.check import int_in

DAY_S = 86400
BANDS = ("sharp", "peak", "flat", "valley")  # DL/T 645 TOU rate names
MAX_SWITCHES = 12        # per day; DL/T 645 asks for 8, we allow 12
MAX_STEPS = 5            # DL/T 645 tiered pricing: up to 5 steps
MAX_HOLIDAYS = 64
PRICE_MAX = 10 ** 9      # 1000 minor units per Wh: far above any real price
STANDING_MAX = 10 ** 7   # minor units per day
USE_MAX = 10 ** 12       # base units in one call / one tier threshold


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
    return int_in(x, name, 0, DAY_S - 1)


def _date(x, name):
    if type(x) is str:
        return clock.parse_date(x)
    return int_in(x, name, 0, clock.DAYS_MAX)


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
        nr[k] = int_in(rates[k], "tou.rates." + k, 0, PRICE_MAX)
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
            int_in(upto, "tiered.steps upto", 1, USE_MAX)
            if upto <= prev:
                raise ValueError("tiered.steps: upto not strictly increasing")
            prev = upto
        out.append([upto, int_in(s[1], "tiered.steps price", 0, PRICE_MAX)])
    period = t.get("period", "month")
    if period not in ("month", "year"):
        raise ValueError("tiered.period: want month or year")
    # reset_day <= 28 so every month has it (DL/T 645 tiered tariffs: monthly or yearly settlement)
    rd = int_in(t.get("reset_day", 1), "tiered.reset_day", 1, 28)
    rm = int_in(t.get("reset_month", 1), "tiered.reset_month", 1, 12)
    tz = clock.check_tz(t.get("tz_offset_s", 0), "tiered.tz_offset_s")
    return {"steps": out, "period": period, "reset_day": rd, "reset_month": rm, "tz_offset_s": tz}


def validate(spec):
    """Return the normalized spec (times as seconds of day, dates as day numbers,
    defaults filled). Idempotent: validate(validate(s)) == validate(s)."""
    _keys(spec, ("price", "tou", "tiered", "standing_minor_per_day", "tz_offset_s"), "tariff")
    kinds = [k for k in ("price", "tou", "tiered") if k in spec]
    if len(kinds) != 1:
        raise ValueError("tariff: want exactly one of price, tou, tiered")
    out = {"standing_minor_per_day": int_in(spec.get("standing_minor_per_day", 0),
                                          "standing_minor_per_day", 0, STANDING_MAX)}
    k = kinds[0]
    # A top-level tz_offset_s gives a flat tariff its local midnight (standing charge, daily
    # history); for tou / tiered it is the default of their own tz_offset_s.
    tz = spec.get("tz_offset_s")
    if tz is not None:
        tz = clock.check_tz(tz)
    if k == "price":
        out["price"] = int_in(spec["price"], "price", 0, PRICE_MAX)
        if tz is not None:
            out["tz_offset_s"] = tz
        return out
    inner = spec[k]
    if tz is not None and type(inner) is dict:
        if inner.get("tz_offset_s", tz) != tz:
            raise ValueError("tz_offset_s: differs from %s.tz_offset_s" % k)
        inner = dict(inner)
        inner["tz_offset_s"] = tz
    out[k] = _tou(inner) if k == "tou" else _tiered(inner)
    return out


def kind(spec):
    return "flat" if "price" in spec else ("tou" if "tou" in spec else "tiered")
