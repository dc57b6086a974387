# heap: 224k
# Power cuts at every block write of an app-bundle update, on real LittleFS (a RAM block
# device whose writes stop after K of them: the power is gone), from the announce through
# the transfer, the read-back, the switch, the probation and the commit. After every cut the
# meter "boots": firmware/loader.py chooses the bundle from what is on flash, and that bundle
# must be complete, old or new, never a mix; then the update must finish by itself (the
# head-end resends an unacknowledged `ota` command, as docs/protocol.md §3 asks).
# It cuts at every block write (about 290 of them, ~7 s); OTA_POWERCUT_STRIDE=N samples every
# Nth (plus the first and last 40 writes) when the bundle is made larger for a soak.
import os
import sys

import mptest
import ota_rig as rig
import loader
from core.store import Store
from ota import hook, slots
from ota import update

update.RESERVE_BYTES = 2048     # scaled down with this 32 KiB filesystem (64 KiB on a meter)

MNT = "/pc"
UID = "u-pc"
STRIDE = int(os.getenv("OTA_POWERCUT_STRIDE") or 1)


def bundle(tag, version, n):
    files = rig.sample_files(tag, n=n, size=700)
    m = rig.bundle_manifest(files, version=version)
    return files, m


V1, M1 = bundle(b"v1", "1.0.0", 3)
V2, M2 = bundle(b"v2", "1.1.0", 4)
D1 = rig.digests(V1)
D1["OTA_MANIFEST"] = rig.digests({"m": M1})["m"]
D2 = rig.digests(V2)
D2["OTA_MANIFEST"] = rig.digests({"m": M2})["m"]
SIG2 = rig.sign(M2)
OBJ2 = dict(V2)
OBJ2["MANIFEST"] = M2
bd = rig.RamBlocks(n=64)
IMAGE = []


def setup():
    rig.mount(bd, MNT, fresh=True)
    d = slots.path(MNT, "a")
    slots.mkdirs(d)
    for p in V1:
        slots.mkdirs((d + "/" + p).rsplit("/", 1)[0])
        with open(d + "/" + p, "wb") as f:
            f.write(V1[p])
    with open(d + "/OTA_MANIFEST", "wb") as f:
        f.write(M1)
    slots.write(Store(MNT), "a", "a", False)
    if not IMAGE:
        IMAGE.extend(bytes(b) for b in bd.blocks)
    return IMAGE


def restore(image):
    for i in range(len(image)):
        bd.blocks[i][:] = image[i]


class Meter:
    """One boot of the meter: the loader's choice checked, then the app's OTA side."""

    def __init__(self, count=True):
        rig.mount(bd, MNT)
        slot, reason = loader.choose(MNT, count)
        loader.SLOT, loader.REASON, loader.ROOT = slot, reason, MNT
        got = rig.files_of(slots.path(MNT, slot))
        mptest.true(got == D1 or got == D2, "bundle %s is complete, old or new: %r" % (slot, sorted(got)))
        self.version = "1.0.0" if got == D1 else "1.1.0"
        self.app = rig.App(MNT, Store(MNT), fw=self.version)
        self.ota = hook.attach(self.app)


def run(budget):
    """One update with the power cut after `budget` block writes (None: no cut). -> number of
    boots it took, and the block writes of an uncut run."""
    bd.budget = budget
    bd.writes = 0
    boots = 0
    srv = rig.Server(UID, OBJ2)
    while boots < 12:
        boots += 1
        try:
            m = Meter()
            a, o = m.app, m.ota
            last = o.rec.get("last") or {}
            if last.get("u") == UID and last.get("status") == "committed":
                mptest.eq(m.version, "1.1.0")
                p = slots.pointer(a.store)
                mptest.eq((p["active"], p["good"], p["trial"]), ("b", "b", False))
                return boots, bd.writes
            mptest.true(last.get("status") in (None, "committed"), "no failure: %r" % last)
            if o.rec.get("u") != UID and m.version == "1.0.0":
                rig.announce(o, UID, M2, SIG2)         # the head-end's resend
            for _ in range(400):
                r = rig.pump(a, o, srv, steps=50)
                if bd.live.dead:
                    raise OSError(5)
                if r == "reboot":
                    break
                if o.trial and o.trial.active:         # the head-end confirms the probation
                    a.prepay.cmd["last_seq"] += 1
                    a.outbox.acked_seq = 1 << 40
                if r == "idle" and not (o.trial and o.trial.active):
                    break
        except OSError as e:
            if e.args[0] != 5 or not bd.live.dead:
                raise
        bd.budget = None                               # the power is back
    raise mptest.Fail("no commit after %d boots" % boots)


def test_every_cut_boots_a_complete_bundle_then_the_update_finishes():
    image = setup()
    boots, total = run(None)
    mptest.eq(boots, 3, "announce+transfer, probation+commit, committed")
    mptest.true(total > 50, total)
    ks = [k for k in range(total + 1) if k % STRIDE == 0 or k < 40 or k > total - 40]
    print("block writes per update: %d; cuts tried: %d" % (total, len(ks)))
    worst = 0
    for k in ks:
        restore(image)
        b, _ = run(k)
        worst = max(worst, b)
    print("most boots to finish after one cut: %d" % worst)


def test_cut_during_probation_then_crash_rolls_back_to_the_complete_old_bundle():
    image = setup()
    restore(image)
    bd.budget = None
    m = Meter()
    rig.announce(m.ota, UID, M2, SIG2)
    mptest.eq(rig.pump(m.app, m.ota, rig.Server(UID, OBJ2)), "reboot")
    m = Meter()                                       # boot 1 on probation
    mptest.eq((m.version, m.ota.trial.active), ("1.1.0", True))
    loader.crashed.__globals__["_append"](MNT, b"c")  # what main.py records on a crash
    m = Meter()
    mptest.eq((loader.SLOT, loader.REASON, m.version), ("a", "crash", "1.0.0"))
    ev = [e for e in m.app.prepay.events if e["type"] == "ota"][-1]
    mptest.eq((ev["status"], ev["reason"]), ("rolled_back", "crash"))
    p = slots.pointer(m.app.store)
    mptest.eq((p["active"], p["good"], p["trial"]), ("a", "a", False))
    m = Meter()
    mptest.eq((loader.SLOT, loader.REASON, m.version), ("a", None, "1.0.0"))
    mptest.eq([e for e in m.app.prepay.events if e["type"] == "ota"], [], "reported once")


def test_boot_loop_without_commit_rolls_back():
    image = setup()
    restore(image)
    m = Meter()
    rig.announce(m.ota, UID, M2, SIG2)
    rig.pump(m.app, m.ota, rig.Server(UID, OBJ2))
    for i in range(loader.BOOTS_MAX):
        m = Meter()
        mptest.eq(m.version, "1.1.0")
    m = Meter()
    mptest.eq((loader.SLOT, loader.REASON), ("a", "boot_loop"))
    ev = [e for e in m.app.prepay.events if e["type"] == "ota"][-1]
    mptest.eq((ev["status"], ev["reason"]), ("rolled_back", "boot_loop"))


def test_health_window_expires_rolls_back_and_reports_what_was_missing():
    image = setup()
    restore(image)
    m = Meter()
    rig.announce(m.ota, UID, M2, SIG2)
    rig.pump(m.app, m.ota, rig.Server(UID, OBJ2))
    m = Meter()
    a = m.app
    for _ in range(10):
        a.clock.t += 5
        m.ota.step(a.clock.t)
    mptest.eq(a.stop_code, None, "inside the window: still on probation")
    a.clock.t += 60
    m.ota.step(a.clock.t)
    mptest.eq(a.stop_code, 3, "reboot into the good bundle")
    m = Meter()
    mptest.eq(m.version, "1.0.0")
    ev = [e for e in m.app.prepay.events if e["type"] == "ota"][-1]
    mptest.eq((ev["status"], ev["reason"]), ("rolled_back", "health_timeout:round_trip"))
    mptest.raises(ValueError, m.ota.op, {"update": UID, "size": len(M2), "sig": rig.b64(SIG2)}, 0)


def test_deployed_by_cable_during_probation_ends_the_update():
    image = setup()
    restore(image)
    m = Meter()
    rig.announce(m.ota, UID, M2, SIG2)
    rig.pump(m.app, m.ota, rig.Server(UID, OBJ2))
    m = Meter()
    mptest.eq(m.version, "1.1.0")
    for s in ("a", "b"):                        # what tools/deploy.py removes
        os.remove(MNT + "/app_slot." + s)
    rig.mount(bd, MNT)
    slot, reason = loader.choose(MNT)
    mptest.eq((slot, reason), ("base", None))
    loader.SLOT, loader.REASON = slot, reason
    app = rig.App(MNT, Store(MNT), fw="1.2.0")
    o = hook.attach(app)
    ev = [e for e in app.prepay.events if e["type"] == "ota"]
    mptest.eq([(e["status"], e["reason"]) for e in ev], [("cancelled", "deployed")])
    mptest.eq(o.rec.get("st"), None)
    mptest.eq(o.rec["last"]["status"], "cancelled")


mptest.main(globals())
