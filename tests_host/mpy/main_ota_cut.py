# TEST-ONLY launcher (tests_host/test_ota_e2e.py, the kill -9 sweep): firmware/main.py,
# except that the process is killed with SIGKILL right after the Nth durable step of an
# update (OTA_KILL_AT=N), with no chance to tidy up; OTA_KILL_AT=0 only prints each step's
# number ("ota: step N"). The durable steps are the update's writes to flash: a chunk of a
# file (ota.pull.FilePull.put), the update record (ota.hook.Ota.save), the A/B pointer
# (ota.slots.write) and the probation count (ota.slots.clear_trial). The firmware carries no
# hook: this launcher wraps those four from outside, on the test's MICROPYPATH only, and
# again each time they are loaded anew (the unix port's in-process restart after a switch,
# firmware/loader.py restart(), forgets every module but this one and main).
import builtins
import os
import sys

KILL_AT = int(os.getenv("OTA_KILL_AT") or -1)
_steps = [0]                    # counted across in-process restarts (this module stays)
_real_import = builtins.__import__


def _step():
    _steps[0] += 1
    if KILL_AT == 0:
        print("ota: step %d" % _steps[0])
    elif _steps[0] == KILL_AT:
        print("ota: killed at step %d" % _steps[0])
        os.system("kill -9 $PPID")


def _after(f):
    def wrapped(*a, **kw):
        r = f(*a, **kw)
        _step()
        return r
    return wrapped


def _patch():
    for name, owner, attr in (("ota.slots", None, "write"), ("ota.slots", None, "clear_trial"),
                              ("ota.pull", "FilePull", "put"), ("ota.hook", "Ota", "save")):
        m = sys.modules.get(name)
        if m is None:
            continue
        o = getattr(m, owner, None) if owner else m     # None while the module still loads
        if o is not None and hasattr(o, attr) and not getattr(o, "_cut_" + attr, False):
            setattr(o, attr, _after(getattr(o, attr)))
            setattr(o, "_cut_" + attr, True)


def _import(name, *a):
    r = _real_import(name, *a)
    if name.startswith("ota") or name == "app":
        _patch()
    return r


if KILL_AT >= 0:
    builtins.__import__ = _import
import main  # noqa: E402

sys.exit(main.main(["main.py", sys.argv[1]]))
