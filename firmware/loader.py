# The loader: picks the app bundle this boot runs (docs/ota.md, "A/B layout").
#
# It lives at the filesystem root beside boot.py and main.py, outside the bundles, and an
# update never rewrites it, so it stays small and changes rarely. Once a pointer record
# exists (an update installed a bundle), boot.py imports it first on a device (before
# anything imports from a bundle) and main.py calls select() on the unix port; before that
# neither imports it. Bundles:
#   base      the files `make deploy` put at the root (or the unix port's module path)
#   a, b      <flash>/app/a and <flash>/app/b, staged by over-the-air updates
# The pointer is the store record "app_slot" (core/store.py's power-safe A/B slot format,
# read here with a small reader of that format; only the app writes it):
#   {"v": 1, "active": "b", "good": "a", "trial": true, "u": "<update id>"}
# "active" is the bundle to run, "good" the last one that passed probation. While "trial"
# is set, every counted boot appends b"b" to <flash>/app/trial and main.py appends b"c"
# when an exception escapes the bundle; one crash, or BOOTS_MAX boots without the bundle
# committing itself, and this loader runs "good" instead (the app there finishes the
# rollback and reports it). A slot without its app module is never run.
import binascii
import json
import os
import sys

SLOTS = ("a", "b")
POINTER = "app_slot"
BOOTS_MAX = 4           # boots on probation (power cuts included) before giving up on a bundle
CRASHES_MAX = 1         # probation requires no crash at all (docs/ota.md "Health")
_HDR_LEN = 31           # core/store.py: "PMR1 <seq:10> <len:5> <crc:8>\n"
_BODY_MAX = 1024        # a pointer is ~100 bytes: anything larger is not one

SLOT = None             # the bundle this boot runs: "base", "a" or "b"
REASON = None           # why it is not the pointer's "active" one ("crash", "boot_loop", "missing")
ROOT = None
_PATH0 = None           # sys.path before select() changed it


def _p(root, *parts):
    r = root.rstrip("/")
    return "/".join((r,) + parts) if r else "/" + "/".join(parts)


def _read_slot(path):
    # -> (seq, dict) for a valid slot of core/store.py's format, else None
    try:
        with open(path, "rb") as f:
            hdr = f.read(_HDR_LEN)
            body = f.read(_BODY_MAX + 1)
    except OSError:
        return None
    parts = hdr.split()
    if len(hdr) != _HDR_LEN or hdr[-1:] != b"\n" or len(parts) != 4 or parts[0] != b"PMR1":
        return None
    try:
        seq, n, crc = int(parts[1]), int(parts[2]), int(parts[3], 16)
    except ValueError:
        return None
    if n != len(body) or n > _BODY_MAX:
        return None
    if binascii.crc32(hdr[:_HDR_LEN - 9], binascii.crc32(body)) & 0xFFFFFFFF != crc:
        return None
    try:
        d = json.loads(body)
    except ValueError:
        return None
    return (seq, d) if isinstance(d, dict) else None


def read_pointer(root):
    """The newest valid copy of the pointer record, or None."""
    best = None
    for s in ("a", "b"):
        r = _read_slot(_p(root, POINTER + "." + s))
        if r is not None and (best is None or r[0] > best[0]):
            best = r
    return best[1] if best else None


def _has_app(d):
    for name in ("app.mpy", "app.py"):
        try:
            os.stat(d + "/" + name)
            return True
        except OSError:
            pass
    return False


def slot_dir(root, slot):
    return _p(root, "app", slot)


def trial_log(root):
    try:
        with open(_p(root, "app", "trial"), "rb") as f:
            return f.read(64)
    except OSError:
        return b""


def _append(root, b):
    try:
        with open(_p(root, "app", "trial"), "ab") as f:
            f.write(b)
    except OSError as e:            # flash full or failing: probation still ends by its window
        print("loader: cannot count (%r)" % e)


def choose(root, count=True):
    """-> (slot, reason). count: this boot counts towards the probation limit (a deep-sleep
    wake does not). reason is None when the pointer's active bundle runs."""
    p = read_pointer(root)
    if not p or p.get("v") != 1:
        return "base", None
    good = p.get("good")
    if good not in SLOTS or not _has_app(slot_dir(root, good)):
        good = "base"
    active = p.get("active")
    if active not in SLOTS:
        return good, None
    if p.get("trial"):
        log = trial_log(root)
        if log.count(b"c") >= CRASHES_MAX:
            return good, "crash"
        if log.count(b"b") >= BOOTS_MAX:
            return good, "boot_loop"
        if count:
            _append(root, b"b")
    if not _has_app(slot_dir(root, active)):
        return good, "missing"
    return active, None


def _counts():
    # a deep-sleep wake (water meter) is not a boot of the bundle; a watchdog reset during
    # probation is a crash that main.py could not record
    try:
        import machine
        c = machine.reset_cause()
    except (ImportError, AttributeError):
        return True, False
    return c != getattr(machine, "DEEPSLEEP_RESET", -1), c == getattr(machine, "WDT_RESET", -1)


def _is_bundle(e):
    return _has_app(e or ".")


def select(root):
    """Run once per boot: choose the bundle and put it first on sys.path, with every other
    bundle's entries removed, so no module can come from a mix of two bundles."""
    global SLOT, REASON, ROOT, _PATH0
    if SLOT is not None and ROOT == root:
        return SLOT
    if _PATH0 is None:
        _PATH0 = list(sys.path)
    count, wdt = _counts()
    if wdt and count:
        p = read_pointer(root)
        if p and p.get("trial"):
            _append(root, b"c")
    SLOT, REASON = choose(root, count)
    ROOT = root
    if SLOT != "base":
        d = slot_dir(root, SLOT)
        drop = []
        for e in _PATH0:
            if _is_bundle(e):
                drop.append(e)
                drop.append("/lib" if e in ("", "/", ".") else e.rstrip("/") + "/lib")
        sys.path[:] = [d, d + "/lib"] + [e for e in _PATH0 if e not in drop]
    print("loader: bundle %s%s" % (SLOT, " (%s)" % REASON if REASON else ""))
    return SLOT


def trial():
    """True while this boot runs a bundle on probation."""
    p = read_pointer(ROOT) if ROOT is not None else None
    return bool(p and p.get("v") == 1 and p.get("trial") and p.get("active") == SLOT)


def crashed(e):
    """main.py: an exception escaped the bundle. On probation it is recorded and the meter
    restarts (the loader then runs the good bundle) -> True; otherwise False."""
    if not trial():
        return False
    sys.print_exception(e)
    _append(ROOT, b"c")
    restart()
    return True


def restart(root=None):
    """A reset: machine.reset() on a device; on the unix port every module loaded from a
    bundle is forgotten and the bundle chosen again, as after a reset."""
    try:
        import machine
        machine.reset()
    except (ImportError, AttributeError):
        pass
    global SLOT
    root = root or ROOT
    # builtin modules are never in sys.modules on MicroPython: everything there was loaded
    # from a file (or is a namespace package of such files, like umqtt)
    for k in list(sys.modules):
        if k not in ("loader", "main", "__main__"):
            del sys.modules[k]
    if _PATH0 is not None:
        sys.path[:] = _PATH0
    SLOT = None
    import gc
    gc.collect()
    print("loader: restart, heap in use %d" % gc.mem_alloc())
    select(root)
