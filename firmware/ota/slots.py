# The A/B bundle slots on flash and the pointer the loader reads (firmware/loader.py,
# docs/ota.md "A/B layout"). The pointer is one core/store.py record, "app_slot", so
# switching, committing and rolling back are each ONE power-safe record write.
import os
import sys

POINTER = "app_slot"       # loader.POINTER
SLOTS = ("a", "b")


def loader():
    return sys.modules.get("loader")


def running():
    """The bundle this boot runs ("base" when the loader did not choose one: the unix
    port's tests, or a device deployed before the A/B layout)."""
    ld = loader()
    return (ld.SLOT or "base") if ld is not None else "base"


def loader_reason():
    ld = loader()
    return ld.REASON if ld is not None else None


def pointer(store):
    """The pointer record; without one (never updated, or `make deploy` removed it so the
    deployed bundle runs) the running bundle, with "missing": True."""
    p = store.load(POINTER)
    if not isinstance(p, dict) or p.get("v") != 1:
        r = running()
        return {"v": 1, "active": r, "good": r, "trial": False, "u": None, "missing": True}
    return p


def write(store, active, good, trial, u=None):
    store.save(POINTER, {"v": 1, "active": active, "good": good, "trial": bool(trial), "u": u})


def target(p):
    """The slot to stage into: neither the one to run nor the known-good one."""
    for s in SLOTS:
        if s != p.get("active") and s != p.get("good"):
            return s
    return None


def path(flash, *parts):
    r = flash.rstrip("/")
    return "/".join((r, "app") + parts) if r else "/app/" + "/".join(parts)


def mkdirs(p):
    """Create every missing directory of p (a directory path)."""
    cur = "/" if p.startswith("/") else ""
    for part in p.split("/"):
        if not part:
            continue
        cur = cur + part
        try:
            os.mkdir(cur)
        except OSError:
            pass
        cur += "/"


def clear_trial(flash):
    try:
        os.remove(path(flash, "trial"))
    except OSError:
        pass


def crashes(flash):
    try:
        with open(path(flash, "trial"), "rb") as f:
            return f.read(64).count(b"c")
    except OSError:
        return 0


def is_dir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


def wipe_some(d, budget):
    """Remove up to `budget` entries under directory d (deepest first). -> True when d is
    gone. Bounded per call so metering never waits on a long delete."""
    if not is_dir(d):
        try:
            os.remove(d)
        except OSError:
            pass
        return True
    stack = [d]
    while stack and budget > 0:
        cur = stack[-1]
        names = [e[0] for e in os.ilistdir(cur)]
        sub = None
        for n in names:
            p = cur + "/" + n
            if is_dir(p):
                sub = p
                break
            os.remove(p)
            budget -= 1
            if budget <= 0:
                return False
        if sub is not None:
            stack.append(sub)
            continue
        os.rmdir(cur)
        budget -= 1
        stack.pop()
    return not stack


def walk(d, prefix=""):
    """Every file under d as a path relative to d (a generator: nothing held)."""
    for e in os.ilistdir(d):
        n = e[0]
        p = d + "/" + n
        if is_dir(p):
            for x in walk(p, prefix + n + "/"):
                yield x
        else:
            yield prefix + n
