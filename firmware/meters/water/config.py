# Water-meter configuration: every key the water driver owns under config.json's
# "config" dict, its default, and its validation. docs/water.md lists them with sources.
# Keys are flat (the protocol `config` op sends them as is) and named so that they do not
# collide with core keys; the valve exercise reads the core's "tz_offset_s" if present.
# validate(patch) checks everything first and returns a new dict; nothing is applied on error.
from core.check import bool_, int_in

DEFAULTS = {
    # wake / session policy
    "wake_s": 900,                # timer wake: ledger + detectors every 15 min
    "wake_pulses": 0,             # ULP wakes the CPU after this many pulses (0 = from burst_lph)
    "session_report_s": 86400,    # daily report session (water meters report every 6-24 h, docs/water.md §5)
    "credit_poll_s": 900,         # session interval while the valve is closed for credit (docs/water.md §5: 15 min)
    "session_max_s": 30,          # radio-on cap of one session (connect, commands, outbox)
    "session_retry_s": 60,        # a failed session is retried after this, doubling to 6 h
    # leak_suspected (Kamstrup flowIQ LEAK, docs/water.md)
    "leak_zero_s": 3600,          # a continuous zero-flow period this long...
    "leak_window_s": 86400,       # ...must occur within this window, else leak_suspected
    "leak_zero_lph": 0,           # an interval at or below this mean flow counts as zero flow
                                  # (flowIQ: 0.1-2 % of Q3; 0 = strictly no pulse)
    # burst (Kamstrup BURST: above 5/10/20 % of Q3 for 30 min; Q3 = 2500 L/h -> 10 % = 250)
    "burst_lph": 250,
    "burst_s": 1800,
    "burst_close": False,         # close the valve (latched off_safety) on burst
    # reverse_flow (Sensus iPERL: reverse for more than 15 min)
    "reverse_s": 900,
    # dry / empty pipe (Sensus iPERL: empty pipe after 1 min), only with an empty-pipe input
    "dry_s": 60,
    # magnetic_attack
    "magnet_close": False,        # close the valve (latched) while the attack alarm stands
    # valve
    "valve_timeout_s": 20,        # end stop not reached in this time -> valve_fault
    "valve_exercise_days": 30,    # 0 = never
    "valve_exercise_at": "03:00", # local time of day
    "valve_safe": "open",         # where a dying battery parks the valve: "open" | "closed"
    # battery (Li-SOCl2 3.6 V nominal, flat discharge curve; read under load)
    "battery_low_mv": 3300,       # early low-battery alarm
    "battery_park_mv": 3100,      # park the valve in valve_safe while it can still move
}

# key -> (min, max) for int keys
_RANGES = {
    "wake_s": (60, 86400),
    "wake_pulses": (0, 1000000),
    "session_report_s": (3600, 7 * 86400),
    "credit_poll_s": (60, 86400),
    "session_max_s": (5, 600),
    "session_retry_s": (10, 3600),
    "leak_zero_s": (600, 86400),
    "leak_window_s": (3600, 3 * 86400),  # iPERL: 24, 48 or 72 h
    "leak_zero_lph": (0, 100),
    "burst_lph": (1, 100000),
    "burst_s": (60, 86400),
    "reverse_s": (60, 86400),
    "dry_s": (10, 86400),
    "valve_timeout_s": (2, 120),
    "valve_exercise_days": (0, 365),
    "battery_low_mv": (2000, 4000),
    "battery_park_mv": (2000, 4000),
}
_BOOLS = ("burst_close", "magnet_close")

CONFIG_KEYS = tuple(sorted(DEFAULTS))


def parse_hhmm(s):
    # Local copy of the HH:MM check so water config validates without core.clock.
    if not isinstance(s, str) or len(s) != 5 or s[2] != ":":
        raise ValueError("valve_exercise_at: want HH:MM")
    hh, mm = s[:2], s[3:]
    if not (hh.isdigit() and mm.isdigit()):
        raise ValueError("valve_exercise_at: want HH:MM")
    h, m = int(hh), int(mm)
    if h > 23 or m > 59:
        raise ValueError("valve_exercise_at: out of range")
    return h * 3600 + m * 60


def validate(patch, base=None):
    """Check every key of patch; return base (defaults if None) updated with it."""
    if not isinstance(patch, dict):
        raise ValueError("config: want an object")
    out = dict(DEFAULTS if base is None else base)
    for k in patch:
        if k not in DEFAULTS:
            raise ValueError("config: unknown key %s" % k)
        v = patch[k]
        if k in _RANGES:
            lo, hi = _RANGES[k]
            int_in(v, k, lo, hi)
        elif k in _BOOLS:
            bool_(v, k)
        elif k == "valve_exercise_at":
            parse_hhmm(v)
        elif k == "valve_safe":
            if v not in ("open", "closed"):
                raise ValueError("valve_safe: want open or closed")
        out[k] = v
    if out["battery_park_mv"] >= out["battery_low_mv"]:
        raise ValueError("battery_park_mv: must be below battery_low_mv")
    if out["leak_zero_s"] >= out["leak_window_s"]:
        raise ValueError("leak_zero_s: must be shorter than leak_window_s")
    return out


def pick(cfg):
    """The water keys present in the whole config dict (other areas' keys ignored)."""
    return {k: cfg[k] for k in cfg if k in DEFAULTS}
