# Prepay's configuration keys, their defaults and validation, and the checks of its
# persisted record. Kept apart from core/prepay.py so each module compiles in a small
# heap on the unix port (docs/ledger.md, "Memory").
from core import credit
from core.check import bool_, int_in, is_int

# Prepay's own config keys and defaults (credit.DEFAULTS adds the credit-policy keys).
BATCH_USE = {"electricity": 50, "water": 20, "gas": 20}  # Wh / litres between consumption saves
DEFAULTS = {"recharge_max_minor": 1000000, "arm_on_restore": False, "batch_use": 50, "batch_s": 900}
KINDS = ("electricity", "water", "gas")


def own_config(patch):
    """Validate Prepay's own keys; returns the normalized sub-patch."""
    out = {}
    for k in patch:
        if k not in DEFAULTS:
            continue
        v = patch[k]
        if k == "arm_on_restore":
            bool_(v, k)
        elif k == "recharge_max_minor":
            # the one recharge limit (commands, tokens, local): at most the credit policy's
            # bound on any amount, so no second, hidden limit applies after this one
            int_in(v, k, 1, credit.MONEY_MAX)
        elif k == "batch_use":
            int_in(v, k, 1, 100000)
        elif k == "batch_s":
            int_in(v, k, 60, 86400)
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


def _ints(v, n, what):
    if type(v) is not list or len(v) != n:
        raise ValueError("record field %s invalid" % what)
    for x in v:
        if not is_int(x) or x < 0:
            raise ValueError("record field %s invalid" % what)


def check_record(d):
    """The parts of a persisted prepay record the facade keeps as they are (the ledger,
    tariff, credit and supply states are checked by their own modules): a CRC-valid but
    wrong record is refused (ValueError) and rebuilt, never trusted into a crash later."""
    for k, t in (("cfg", dict), ("tar", dict), ("cr", dict), ("alarms", dict), ("pend", list),
                 ("cmd", dict), ("ext", dict), ("led", dict), ("sup", dict)):
        if type(d.get(k)) is not t:
            raise ValueError("record field %s invalid" % k)
    for k in ("reg", "seq", "drop"):
        if not is_int(d.get(k, 0)) or d.get(k, 0) < 0:
            raise ValueError("record field %s invalid" % k)
    if d["day"] is not None:
        _ints(d["day"], 4, "day")
    if d["std"] is not None and (not is_int(d["std"]) or d["std"] < 0):
        raise ValueError("record field std invalid")
    for k in d["alarms"]:
        if type(k) is not str or not is_int(d["alarms"][k]):
            raise ValueError("record field alarms invalid")
    last = 0
    for e in d["pend"]:
        if type(e) is not dict or not is_int(e.get("seq")) or not last < e["seq"] < d["seq"]:
            raise ValueError("record field pend invalid")
        if type(e.get("type")) is not str or not is_int(e.get("ts")):
            raise ValueError("record field pend invalid")
        last = e["seq"]
    c = d["cmd"]
    if not is_int(c.get("last_seq")) or c["last_seq"] < 0 or type(c.get("recent")) is not list:
        raise ValueError("record field cmd invalid")
    for r in c["recent"]:
        if type(r) is not list or len(r) != 3 or not is_int(r[1]):
            raise ValueError("record field cmd invalid")
