# heap: 176k
# The update transfer on the real MicroPython unix port (firmware/ota/hook.py, update.py,
# pull.py, manifest.py, rsa.py): a signed bundle pulled in <= 1 KiB chunks, every refusal
# reason, corrupt / lost / refused chunks, resume after a reboot and after a link outage,
# cancel, replace, the per-session budget of a sleeping meter.
import json
import os

import mptest
import ota_rig as rig
from core.store import Store
from ota import hook, slots

FLASH = "otaflash"


def fresh(**kw):
    if slots.is_dir(FLASH):
        rig.rmtree(FLASH)
    os.mkdir(FLASH)
    store = Store(FLASH)
    app = rig.App(FLASH, store, **kw)
    return app, hook.attach(app)


def serve(files, uid="u-1", sig=None, **hdr):
    m = rig.bundle_manifest(files, **hdr)
    objs = dict(files)
    objs["MANIFEST"] = m
    return m, rig.Server(uid, objs)


def test_bundle_pulled_checked_and_staged_then_switched():
    app, ota = fresh()
    files = rig.sample_files()
    m, srv = serve(files)
    mptest.eq(app.commands.ops["ota"], ota.op)
    ack = rig.announce(ota, "u-1", m)
    mptest.eq(ack, {"update": "u-1", "stage": "manifest"})
    mptest.eq(rig.pump(app, ota, srv), "reboot")
    mptest.eq(rig.statuses(app)[0], "accepted")
    mptest.true("staged" in rig.statuses(app), rig.statuses(app))
    got = rig.files_of(slots.path(FLASH, "a"))
    man = got.pop("OTA_MANIFEST")
    mptest.eq(man, rig.digests({"m": m})["m"])
    mptest.eq(got, rig.digests(files), "every file staged byte for byte")
    p = slots.pointer(app.store)
    mptest.eq((p["active"], p["good"], p["trial"], p["u"]), ("a", "base", True, "u-1"))
    # every request asked for at most 1 KiB
    mptest.true(srv.requests >= sum(len(v) for v in files.values()) // 1024)


def test_requests_are_at_most_one_kib():
    app, ota = fresh()
    files = {"app.py": b"x" * 5000}
    m, srv = serve(files)
    seen = []
    real = srv.answer

    def answer(req):
        seen.append(req["n"])
        return real(req)
    srv.answer = answer
    rig.announce(ota, "u-1", m)
    rig.pump(app, ota, srv)
    mptest.true(seen and max(seen) <= 1024, seen)
    mptest.eq(sum(seen), len(m) + 5000, "each byte asked for once")


def _refused(reason, files=None, sig=None, app_kw=None, rec=None, **hdr):
    app, ota = fresh(**(app_kw or {}))
    if rec:
        ota.rec.update(rec)
    m, srv = serve(files or rig.sample_files(), **hdr)
    rig.announce(ota, "u-1", m, sig=sig(m) if sig else None)
    rig.pump(app, ota, srv)
    ev = [e for e in app.prepay.events if e["type"] == "ota"][-1]
    mptest.eq((ev["status"], ev.get("reason")), ("refused", reason))
    mptest.eq(slots.pointer(app.store)["trial"], False, "nothing switched")
    mptest.true(not slots.is_dir(slots.path(FLASH, "a")) or
                "app.py" not in rig.files_of(slots.path(FLASH, "a")), "nothing staged")
    mptest.eq(ota.rec.get("st"), None)
    mptest.eq(ota.rec["last"]["status"], "refused")
    return app


def test_refusals_each_with_its_reason():
    _refused("bad_signature", sig=lambda m: rig.sign(m, rig.OTHER_N, rig.OTHER_D))
    _refused("bad_signature", sig=lambda m: rig.sign(m + b" "))
    _refused("wrong_board", board="esp32_gas")
    _refused("wrong_kind", kinds=["gas"])
    _refused("wrong_kind", kinds=["water"], app_kw={"kind": "electricity"})
    _refused("not_newer", version="1.0.0")
    _refused("not_newer", version="0.9.9")
    _refused("from_too_old", min_from="1.0.1")
    _refused("downgrade", version="1.1.0", rec={"floor": {"bundle": "1.2.0"}})
    _refused("bad_manifest", files={"lib/x.py": b"no app module"})
    _refused("bad_manifest", health_s=5)
    _refused("format_unreadable", formats={"prepay": [2, [2]]})
    _refused("format_rollback_unsafe", formats={"prepay": [2, [1, 2]]})


def test_downgrade_allowed_only_when_asked_and_never_below_floor():
    app, ota = fresh(fw="1.2.0")
    m, srv = serve(rig.sample_files(), version="1.1.0")
    rig.announce(ota, "u-1", m, downgrade=True)
    mptest.eq(rig.pump(app, ota, srv), "reboot")
    app, ota = fresh(fw="1.2.0")
    ota.rec["floor"] = {"bundle": "1.1.5"}
    rig.announce(ota, "u-1", m, downgrade=True)
    rig.pump(app, ota, srv)
    mptest.eq(rig.statuses(app)[-1], "refused")


def test_no_space_on_a_small_littlefs():
    # 24 KiB of LittleFS: an 18 KiB bundle fits, but not with the room records, the outbox
    # and the event log need (update.RESERVE_BYTES + 1/16 of the filesystem)
    import vfs
    m, srv = serve(rig.sample_files(n=6, size=2500))
    bd = rig.RamBlocks(n=48)
    rig.mount(bd, "/small", fresh=True)
    try:
        app = rig.App("/small", Store("/small"))
        ota = hook.attach(app)
        rig.announce(ota, "u-1", m)
        rig.pump(app, ota, srv)
        ev = [e for e in app.prepay.events if e["type"] == "ota"][-1]
        mptest.eq((ev["status"], ev.get("reason")), ("refused", "no_space"))
        mptest.eq(slots.pointer(app.store)["trial"], False)
    finally:
        vfs.umount("/small")


def test_corrupt_chunk_refetched_persistent_corruption_fails():
    app, ota = fresh()
    files = rig.sample_files()
    m, srv = serve(files)
    hits = []

    def once(req, data):
        if req["f"] == "pkg1/mod1.py" and req["o"] == 1024 and not hits:
            hits.append(1)
            return bytes([data[0] ^ 1]) + data[1:]
    srv.corrupt = once
    rig.announce(ota, "u-1", m)
    mptest.eq(rig.pump(app, ota, srv), "reboot")
    mptest.eq(rig.files_of(slots.path(FLASH, "a")), dict(rig.digests(files),
              OTA_MANIFEST=rig.digests({"m": m})["m"]))
    app, ota = fresh()
    srv.corrupt = lambda req, data: (b"\x00" + data[1:]) if req["f"] == "app.py" else None
    rig.announce(ota, "u-1", m)
    rig.pump(app, ota, srv)
    mptest.eq(rig.statuses(app)[-1], "failed")
    mptest.eq(ota.rec["last"]["reason"], "bad_data")
    mptest.eq(slots.pointer(app.store)["trial"], False)


def test_short_and_stray_chunks_ignored_lost_ones_asked_again():
    app, ota = fresh()
    files = rig.sample_files()
    m, srv = serve(files)
    n = [0]

    def lose(req):
        n[0] += 1
        return n[0] % 3 == 0
    srv.lose = lose
    short = []
    srv.corrupt = lambda req, data: (short.append(1) or data[:-1]) if len(short) < 2 and len(data) > 1 else None
    rig.announce(ota, "u-1", m)
    ota.on_data(b'{"u":"u-1","f":"MANIFEST","o":999}\nxxx')       # not asked for: dropped
    ota.on_data(b'garbage')
    mptest.eq(rig.pump(app, ota, srv, steps=20000), "reboot")
    mptest.eq(rig.files_of(slots.path(FLASH, "a"))["app.py"], rig.digests(files)["app.py"])


def test_server_error_fails_the_update():
    app, ota = fresh()
    m, srv = serve(rig.sample_files())
    del srv.objects["pkg0/mod0.py"]
    rig.announce(ota, "u-1", m)
    rig.pump(app, ota, srv)
    mptest.eq((rig.statuses(app)[-1], ota.rec["last"]["reason"]), ("failed", "server not_found"))


def test_resume_after_reboot_and_outage_pulls_only_the_rest():
    app, ota = fresh()
    files = rig.sample_files(n=6, size=2500)
    m, srv = serve(files)
    rig.announce(ota, "u-1", m)
    half = sum(len(v) for v in files.values()) // 2

    def stop():
        return srv.bytes > half
    mptest.eq(rig.pump(app, ota, srv, stop=stop), "stop")
    before = srv.bytes
    # a reboot: nothing in RAM survives; the record and the files on flash do
    app2 = rig.App(FLASH, Store(FLASH))
    ota2 = hook.attach(app2)
    app2.link.is_up = False                  # and the broker is away for a while
    for _ in range(50):
        app2.clock.ms += 1000
        ota2.step(app2.clock.now_s())
    mptest.eq(app2.link.sent, [], "nothing asked while the link is down")
    app2.link.is_up = True
    mptest.eq(rig.pump(app2, ota2, srv), "reboot")
    total = len(m) + sum(len(v) for v in files.values())
    mptest.true(srv.bytes - before < total - half + 2048, (srv.bytes, before, total))
    mptest.eq(rig.files_of(slots.path(FLASH, "a"))["pkg1/mod5.py"], rig.digests(files)["pkg1/mod5.py"])


def test_command_args_refused_with_reasons_and_nothing_changed():
    app, ota = fresh()
    m, srv = serve(rig.sample_files())
    good = {"update": "u-1", "size": len(m), "sig": rig.b64(rig.sign(m))}
    bad = [{}, {"update": "", "size": 100, "sig": good["sig"]},
           dict(good, update="x" * 41), dict(good, update="a/b"), dict(good, size=10),
           dict(good, size=True), dict(good, size=10 ** 7), dict(good, sig="abc"),
           dict(good, sig=7), dict(good, apply="later"), dict(good, downgrade=1),
           dict(good, extra=1), {"cancel": "u-9"}, {"cancel": "u-1", "update": "u-1"}]
    for a in bad:
        mptest.raises(ValueError, ota.op, a, 0)
    mptest.eq(ota.rec.get("st"), None)
    mptest.eq(app.store.load("ota"), None, "no record written by a refused command")


def test_repeat_resumes_cancel_and_replace():
    app, ota = fresh()
    files = rig.sample_files()
    m, srv = serve(files)
    rig.announce(ota, "u-1", m)
    rig.pump(app, ota, srv, steps=3)
    st = ota.rec["st"]
    mptest.eq(rig.announce(ota, "u-1", m)["update"], "u-1")
    mptest.eq(ota.rec["st"], st, "a repeated announce carries on")
    ota.op({"cancel": "u-1"}, 0)
    mptest.eq(rig.statuses(app)[-1], "cancelled")
    mptest.eq(ota.rec.get("st"), None)
    rig.announce(ota, "u-2", m)
    srv.uid = "u-2"
    rig.pump(app, ota, srv, steps=3)
    m3, srv3 = serve(files, uid="u-3", version="1.2.0")
    rig.announce(ota, "u-3", m3)
    mptest.eq(rig.statuses(app)[-1], "cancelled", "u-2 replaced")
    mptest.eq(rig.pump(app, ota, srv3), "reboot")


def test_sleeping_meter_pulls_a_budget_per_session():
    app, ota = fresh(always_online=False)
    files = rig.sample_files()
    m, srv = serve(files)
    rig.announce(ota, "u-1", m)
    sessions = 0
    while app.stop_code is None and sessions < 50:
        sessions += 1
        app.link.on_connect(app.link)            # a radio session starts
        ota.budget = 3
        rig.pump(app, ota, srv, steps=40, stop=lambda: not ota.busy())
    total = len(m) + sum(len(v) for v in files.values())
    mptest.true(sessions >= total // (3 * 1024), sessions)
    mptest.eq(app.stop_code, 3)


def test_a_fault_in_the_update_path_never_escapes_into_the_loop():
    from ota import pull
    app, ota = fresh()
    m, srv = serve(rig.sample_files())
    rig.announce(ota, "u-1", m)
    real = pull.FilePull.put

    def boom(self, data):
        raise RuntimeError("a bug")
    pull.FilePull.put = boom
    try:
        rig.pump(app, ota, srv, steps=50)       # would raise out of step()/on_data() otherwise
    finally:
        pull.FilePull.put = real
    ev = [e for e in app.prepay.events if e["type"] == "ota"][-1]
    mptest.eq((ev["status"], ev["reason"]), ("failed", "internal RuntimeError"))
    mptest.eq(ota.rec.get("st"), None)
    rig.announce(ota, "u-2", m)                 # and the next update works
    srv.uid = "u-2"
    mptest.eq(rig.pump(app, ota, srv), "reboot")


mptest.main(globals())
