# Prepay's configuration keys, their defaults and validation, and the shared input
# checks of the facade. Kept apart from core/prepay.py so each module compiles in a small
# heap on the unix port (docs/ledger.md, "Memory").
from core import clock, credit

# Prepay's own config keys and defaults (credit.DEFAULTS adds the credit-policy keys).
BATCH_USE = {"electricity": 50, "water": 20, "gas": 20}  # Wh / litres between consumption saves
DEFAULTS = {"recharge_max_minor": 1000000, "arm_on_restore": False, "batch_use": 50, "batch_s": 900}
KINDS = ("electricity", "water", "gas")
NOW_MAX = clock.DAYS_MAX * 86400


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_now(now_s):
    if not is_int(now_s) or not 0 <= now_s <= NOW_MAX:
        raise ValueError("time must be an int of unix seconds, 0..year 9999")


def own_config(patch):
    """Validate Prepay's own keys; returns the normalized sub-patch."""
    out = {}
    for k in patch:
        if k not in DEFAULTS:
            continue
        v = patch[k]
        if k == "arm_on_restore":
            if not isinstance(v, bool):
                raise ValueError("arm_on_restore must be a bool")
        elif k == "recharge_max_minor":
            if not is_int(v) or not 1 <= v <= 10 ** 12:
                raise ValueError("recharge_max_minor must be 1..10^12")
        elif k == "batch_use":
            if not is_int(v) or not 1 <= v <= 100000:
                raise ValueError("batch_use must be 1..100000")
        elif k == "batch_s":
            if not is_int(v) or not 60 <= v <= 86400:
                raise ValueError("batch_s must be 60..86400")
        out[k] = v
    return out


def split_config(patch, base=None):
    """-> (own, credit_patch); ValueError on an unknown key or a bad value."""
    if not isinstance(patch, dict):
        raise ValueError("config must be a dict")
    cpatch = {}
    for k in patch:
        if not isinstance(k, str):
            raise ValueError("config key must be a str")
        if k in DEFAULTS:
            continue
        if k not in credit.DEFAULTS:
            raise ValueError("unknown config key " + k)
        cpatch[k] = patch[k]
    own = own_config(patch)
    return own, credit.validate_config(cpatch, base) if cpatch else {}
