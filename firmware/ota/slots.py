# The A/B bundle slots on flash and the pointer the loader reads (firmware/loader.py,
# docs/ota.md "A/B layout"). The pointer is one core/store.py record, "app_slot", so
# switching, committing and rolling back are each ONE power-safe record write.
import os
import sys

POINTER = "app_slot"       # loader.POINTER
SLOTS = ("a", "b")
_cut = [None, 0]           # test hook: [kill at this durable step, steps so far]


def step_done():
    """Called after each durable step of an update (a chunk written, a record or pointer
    saved). The power-cut test on the unix port sets OTA_KILL_AT=N and this process is
    killed with SIGKILL right after step N, with no chance to tidy up; OTA_KILL_AT=0 only
    prints the count. A device has no os.getenv: never active there."""
    c = _cut
    if c[0] is None:
        g = getattr(os, "getenv", None)
        v = g("OTA_KILL_AT") if g else None
        c[0] = int(v) if v else -1
        c[1] = int(g("OTA_STEPS") or 0) if v else 0     # counted across in-process reboots
    if c[0] < 0:
        return
    c[1] += 1
    os.putenv("OTA_STEPS", str(c[1]))
    if c[0] == 0:
        print("ota: step %d" % c[1])
    elif c[1] == c[0]:
        print("ota: killed at step %d" % c[1])
        os.system("kill -9 $PPID")


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
    step_done()


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
    step_done()


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
