# The service console's bad-login lockout (service_auth.py): after LOCK_FAILS bad secrets
# every login is refused for LOCK_BASE_S, doubling per further bad one up to LOCK_MAX_S
# (the STS meters' keypad lockout, applied to the console; unlike a keypad it is kept
# across power cycles, as OpenPAYGO's recommends). A good login resets the count.
#
# A safety timer: the wait runs on the board clock's mono_s(), never on the wall clock, so a
# `time` op, NTP, +CCLK or an RTC step, forward or back, neither ends it nor stretches it.
# service_lock.json keeps the count and the wait's length, never a clock reading: after a
# reboot (power cut, watchdog, deep sleep) the wait runs again in full from the boot, as the
# electricity recloser's does (docs/field-guide.md "Technician console"). A reboot can
# therefore never shorten a lockout; it can lengthen one by at most LOCK_MAX_S.
import json

from core.check import is_int

LOCK_FILE = "service_lock.json"
LOCK_FAILS = 3
LOCK_BASE_S = 10
LOCK_MAX_S = 1280
_live = {}      # root -> [fails, until mono_s, last mono_s seen]: this boot's view


def lock_s(fails):
    """The wait after the fails-th bad login in a row."""
    if fails < LOCK_FAILS:
        return 0
    return min(LOCK_MAX_S, LOCK_BASE_S << min(fails - LOCK_FAILS, 8))


def _read(root):
    try:
        with open(root + "/" + LOCK_FILE) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return 0, 0
    if not isinstance(d, dict):
        return 0, 0
    n = d.get("fails")
    if not is_int(n) or n < 0:
        return 0, 0
    left = d.get("wait_s")
    if not is_int(left) or left < 0:
        left = lock_s(n)        # a record of the wall-clock firmware (until_s): wait in full
    return n, min(left, LOCK_MAX_S)


def _write(root, fails, wait_s):
    with open(root + "/" + LOCK_FILE, "w") as f:
        json.dump({"fails": fails, "wait_s": wait_s}, f)


def state(root, mono_s):
    """-> (bad logins in a row, seconds the console stays locked)."""
    s = _live.get(root)
    if s is None or mono_s < s[2]:
        # the first look since boot, or a clock that restarted: the stored wait in full
        n, left = _read(root)
        s = [n, mono_s + left, mono_s]
        _live[root] = s
    s[2] = mono_s
    return s[0], max(0, s[1] - mono_s)


def failed(root, mono_s):
    """A bad login: -> the new count. Written before the caller answers (OSError if the
    flash refuses: the caller's boundary reports it, the count stays in RAM)."""
    n = state(root, mono_s)[0] + 1
    w = lock_s(n)
    _live[root] = [n, mono_s + w, mono_s]
    _write(root, n, w)
    return n


def passed(root, mono_s):
    if state(root, mono_s)[0]:
        _live[root] = [0, mono_s, mono_s]
        _write(root, 0, 0)
