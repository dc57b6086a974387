# The one home of the validation rules for input from outside (commands, config, records,
# keypad, files): every module checks with these, so a fix to a rule lands once, and every
# refusal is a ValueError worded one way ("<what>: not an int", "<what>: out of range
# lo..hi"), docs/architecture.md "Bad input".
#
# bool is refused where an int is wanted: CPython's True is an int (isinstance(True, int));
# MicroPython's is not, but True == 1 there too, and the host tools run the same rules.

DAYS_MAX = 2932896              # days from 1970-01-01 to 9999-12-31 (clock.days_from_civil)
NOW_MAX = DAYS_MAX * 86400      # the latest unix time the meter accepts
ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-"
ID_MAX = 40                     # protocol v1 ids: command id, meter id, txn (docs/protocol.md)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def int_in(v, what, lo=None, hi=None):
    """v if it is an int (not a bool) within lo..hi (either bound may be None), else
    ValueError naming `what`."""
    if not is_int(v):
        raise ValueError("%s: not an int" % what)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError("%s: out of range %s..%s" % (what, "" if lo is None else lo,
                                                       "" if hi is None else hi))
    return v


def bool_(v, what):
    if not isinstance(v, bool):
        raise ValueError("%s: not a bool" % what)
    return v


def is_id(v):
    """A protocol id: 1..40 characters of [A-Za-z0-9_.:-]."""
    if not isinstance(v, str) or not 0 < len(v) <= ID_MAX:
        return False
    for c in v:
        if c not in ID_CHARS:
            return False
    return True


def check_now(now_s):
    """A time argument: an int of unix seconds, 0..year 9999."""
    if not is_int(now_s) or not 0 <= now_s <= NOW_MAX:
        raise ValueError("time must be an int of unix seconds, 0..year 9999")
