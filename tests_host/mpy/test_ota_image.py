# heap: 224k
# Whole-firmware updates through esp32.Partition (firmware/ota/update.py, pull.py, trial.py)
# against the fake Partition in tests_host/mpy/fakes/esp32.py, which follows MicroPython's
# esp32_partition.c and docs/library/esp32.rst and models the ESP-IDF bootloader's app
# rollback: get_next_update, erase + extended writeblocks per 4 KiB block checked against the
# manifest's per-block SHA-256, a read-back, set_boot, probation,
# mark_app_valid_cancel_rollback; and the failure paths: no OTA partition, an image larger
# than the partition, a failing flash write, a corrupt block, an image the bootloader will
# not validate, a reset before the commit, a failed health window, no rollback support.
import os
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import esp32            # noqa: E402  (the fake)
import mptest           # noqa: E402
import ota_rig as rig   # noqa: E402
from core.store import Store    # noqa: E402
from ota import hook, slots     # noqa: E402

FLASH = "imgflash"


def image(n=14000, magic=True):
    b = bytearray(n)
    for i in range(n):
        b[i] = (i * 7 + 3) & 0xFF
    if magic:
        b[0] = 0xE9
    return b


IMG = image()               # made once: the heap is small and big buffers fragment it


def holds(label, img):
    """The partition holds img, compared 1 KiB at a time."""
    p = esp32.Partition(label)
    buf = bytearray(1024)
    for off in range(0, len(img), 1024):
        n = min(1024, len(img) - off)
        mv = memoryview(buf)[:n]
        p.readblocks(off // 4096, mv, off % 4096)
        if bytes(mv) != bytes(img[off:off + n]):
            return False
    return True


def boot(fwv=None):
    st = Store(FLASH)
    app = rig.App(FLASH, st)
    o = hook.attach(app)
    if fwv:
        o.rec["fwv"] = fwv
    return app, o


def start(img=None, **hdr):
    if slots.is_dir(FLASH):
        rig.rmtree(FLASH)
    os.mkdir(FLASH)
    img = img or IMG
    hdr.setdefault("version", "2.0.0")
    hdr.setdefault("min_from", "0.0.0")     # the first image after the factory one
    m = rig.image_manifest(img, **hdr)
    srv = rig.Server("fw-1", {"MANIFEST": m, "IMAGE": img})
    app, o = boot()
    rig.announce(o, "fw-1", m)
    return app, o, srv, img


def last(app):
    e = [e for e in app.prepay.events if e["type"] == "ota"][-1]
    return e["status"], e.get("reason")


def confirm(app, o):
    for _ in range(5):
        app.clock.t += 1
        app.prepay.cmd["last_seq"] += 1
        app.outbox.acked_seq = 1 << 40
        o.step(app.clock.t)


def test_image_written_block_by_block_then_switch_probation_commit():
    esp32.reset_flash()
    app, o, srv, img = start()
    mptest.eq(rig.pump(app, o, srv), "reboot")
    mptest.eq(rig.statuses(app), ["accepted", "progress", "progress", "progress", "staged"])
    mptest.true(holds("ota_1", img), "the image is in the next update partition")
    mptest.eq(esp32._flash["boot"], "ota_1")
    mptest.eq(esp32.Partition(esp32.Partition.RUNNING).info()[4], "ota_0", "not before the reset")
    esp32.bootloader_reset()
    app, o = boot()
    mptest.eq(o.trial.active, True)
    mptest.eq(rig.statuses(app), ["trial"])
    confirm(app, o)
    mptest.eq(last(app), ("committed", None))
    mptest.true(("mark_valid", "ota_1") in esp32._flash["calls"])
    mptest.eq(o.rec["fwv"], "2.0.0")
    esp32.bootloader_reset()
    mptest.eq(esp32._flash["running"], "ota_1", "stays on the new image")
    # the next one must be newer than the committed firmware
    m = rig.image_manifest(IMG, version="2.0.0", min_from="0.0.0")
    app, o = boot()
    rig.announce(o, "fw-2", m)
    rig.pump(app, o, rig.Server("fw-2", {"MANIFEST": m, "IMAGE": IMG}))
    mptest.eq(last(app), ("refused", "not_newer"))


def test_reset_before_commit_the_bootloader_goes_back():
    esp32.reset_flash()
    app, o, srv, img = start()
    rig.pump(app, o, srv)
    esp32.bootloader_reset()            # boots ota_1, pending verify
    app, o = boot()
    mptest.eq(o.trial.active, True)
    esp32.bootloader_reset()            # a crash or a power cut before the commit
    mptest.eq(esp32._flash["running"], "ota_0")
    app, o = boot()
    mptest.eq(last(app), ("rolled_back", "bootloader"))
    mptest.eq(o.rec.get("fwv"), None)
    esp32.bootloader_reset()
    mptest.eq(esp32._flash["running"], "ota_0")


def test_health_window_fails_set_boot_previous():
    esp32.reset_flash()
    app, o, srv, img = start(health_s=30)
    rig.pump(app, o, srv)
    esp32.bootloader_reset()
    app, o = boot()
    app.clock.t += 31
    o.step(app.clock.t)
    mptest.eq(app.stop_code, 3)
    mptest.eq(esp32._flash["boot"], "ota_0")
    esp32.bootloader_reset()
    mptest.eq(esp32._flash["running"], "ota_0")
    app, o = boot()
    mptest.eq(last(app), ("rolled_back", "health_timeout:round_trip,loops"))
    esp32.bootloader_reset()
    mptest.eq(esp32._flash["running"], "ota_0", "the old image was confirmed again")


def test_refusals_and_failures_leave_the_running_image_alone():
    esp32.reset_flash(ota=False)
    app, o, srv, img = start()
    rig.pump(app, o, srv)
    mptest.eq(last(app), ("refused", "no_ota_partition"))
    esp32.reset_flash(app_size=8192)       # a 14000-byte image
    app, o, srv, img = start()
    rig.pump(app, o, srv)
    mptest.eq(last(app), ("refused", "no_space"))
    esp32.reset_flash()
    esp32._flash["fail"]["writeblocks"] = 3
    app, o, srv, img = start()
    rig.pump(app, o, srv)
    mptest.eq(last(app), ("failed", "storage_error 1"))
    esp32.reset_flash()
    IMG[0] = 0                              # signed, but not an image the bootloader takes
    app, o, srv, img = start()
    rig.pump(app, o, srv)
    IMG[0] = 0xE9
    mptest.eq(last(app), ("failed", "set_boot -5379"))
    mptest.eq(esp32._flash["boot"], "ota_0")
    esp32.reset_flash()
    app, o, srv, img = start(board="esp32_gas")
    rig.pump(app, o, srv)
    mptest.eq(last(app), ("refused", "wrong_board"))
    for (b, r) in ((esp32._flash["boot"], "ota_0"), (esp32._flash["running"], "ota_0")):
        mptest.eq(b, r)


def test_corrupt_block_is_written_again_persistent_corruption_fails():
    esp32.reset_flash()
    app, o, srv, img = start()
    hit = []

    def once(req, data):
        if req["f"] == "IMAGE" and req["o"] == 5120 and not hit:
            hit.append(1)
            return b"\x00" * len(data)
    srv.corrupt = once
    mptest.eq(rig.pump(app, o, srv), "reboot")
    mptest.true(holds("ota_1", img))
    esp32.reset_flash()
    app, o, srv, img = start()
    srv.corrupt = lambda req, data: b"\x01" * len(data) if req["f"] == "IMAGE" and req["o"] >= 8192 else None
    rig.pump(app, o, srv)
    mptest.eq(last(app), ("failed", "bad_data"))
    mptest.eq(esp32._flash["boot"], "ota_0")


def test_resume_after_reboot_restarts_only_the_unfinished_block():
    esp32.reset_flash()
    app, o, srv, img = start()
    rig.pump(app, o, srv, stop=lambda: o.rec.get("i", 0) >= 2)
    mptest.eq(o.rec["i"], 2)
    n0 = srv.bytes
    app, o = boot()
    mptest.eq(rig.pump(app, o, srv), "reboot")
    mptest.eq(srv.bytes - n0, len(img) - 2 * 4096, "blocks 0 and 1 are not pulled again")
    mptest.true(holds("ota_1", img))


def test_commit_without_bootloader_rollback_support():
    esp32.reset_flash(rollback=False)
    app, o, srv, img = start()
    rig.pump(app, o, srv)
    esp32.bootloader_reset()
    app, o = boot()
    confirm(app, o)
    mptest.eq(last(app), ("committed", None))     # -261 from mark_app_valid is not a failure
    mptest.eq(o.rec["fwv"], "2.0.0")


mptest.main(globals())
