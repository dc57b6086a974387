"""ROMFS deploy (docs/field-guide.md "Deploy as a ROMFS image"): the image that
`make firmware ROMFS=1` writes holds every compiled module of the bundle but boot.py and
main.py, fits the romfs partition of its board's own partition table, mounts with
vfs.VfsRom on the unix port, and the firmware imports and runs from it in place; `make deploy ROMFS=1` refuses, before touching anything, a MicroPython built
without ROMFS (the unix port behind a pseudo-terminal is one)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, MICROPYTHON, have

sys.path.insert(0, str(ROOT / "tools"))
import build_firmware  # noqa: E402
import deploy  # noqa: E402
import partition_table  # noqa: E402

ESP32_BOARDS = ("esp32_electricity", "esp32_gas", "esp32_water")


LIST = """
import vfs, os
vfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')
print(' '.join(os.listdir('/rom')))
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    out = tmp_path_factory.mktemp("rf") / "esp32_gas"
    bundle, written = build_firmware.build("esp32_gas", out, log=lambda *a: None)
    img = Path(str(bundle) + ".romfs")
    size = build_firmware.romfs_image(bundle, img, log=lambda *a: None)
    return bundle, written, img, size


def test_image_holds_the_compiled_bundle(image):
    bundle, written, img, size = image
    data = img.read_bytes()
    assert data[:3] == b"\xd2\xcd\x31" and len(data) == size      # the ROMFS header
    for rel in written:
        name = rel.rsplit("/", 1)[-1].encode()
        if rel in ("boot.py", "main.py", "MANIFEST.sha256"):
            continue
        assert name in data, rel
    # the image's own file list (a module may name boot.py in a string: ota/manifest.py does)
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=%dk" % (size // 1024 + 64), "-c", LIST % str(img)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    names = r.stdout.split()
    assert "app.mpy" in names and "boot.py" not in names and "main.py" not in names, names


@pytest.mark.parametrize("board", ESP32_BOARDS)
def test_partition_table_is_sound_and_the_image_fits_its_romfs(board, tmp_path):
    """Each ESP32 board carries its own partition table for the ROMFS + OTA build
    (boards/<board>/partitions.csv, docs/porting.md "Partition table"): no overlap, inside the
    module's flash, two OTA app slots, one romfs partition that holds the board's image
    (built as `make firmware ROMFS=1` builds it: line numbers and asserts kept)."""
    flash, rows = partition_table.read(partition_table.path(board))
    by = partition_table.check(flash, rows)
    assert flash in (4 << 20, 8 << 20)
    assert by["ota_0"]["size"] == by["ota_1"]["size"] >= 0x180000    # MicroPython's ESP32 image
    limit = partition_table.romfs_size(board)
    bundle, _ = build_firmware.build(board, tmp_path / board, log=lambda *a: None)
    size = build_firmware.romfs_image(bundle, tmp_path / (board + ".romfs"), log=lambda *a: None,
                                      limit=limit)
    assert size <= limit, "%s: image of %d bytes, romfs partition %d" % (board, size, limit)


@pytest.mark.parametrize("table, why", [
    ("ota_0, app, ota_0, 0x10000, 0x180000,\nota_1, app, ota_1, 0x180000, 0x180000,", "overlap"),
    ("ota_0, app, ota_0, 0x10000, 0x180000,\nota_1, app, ota_1, 0x190000, 0x180000,\n"
     "romfs, data, 0x8f, 0x310000, 0x40000,\nvfs, data, fat, 0x350000, 0xc0000,", "past the 4 MiB"),
    ("ota_0, app, ota_0, 0x8000, 0x180000,", "aligned"),
    ("ota_0, app, ota_0, 0x10000, 0x180000,\nota_1, app, ota_1, 0x190000, 0x180000,\n"
     "otadata, data, ota, 0xd000, 0x2000,\nvfs, data, fat, 0x350000, 0xb0000,", "romfs"),
    ("ota_0, app, ota_0, 0x10000, 0x180000,\notadata, data, ota, 0xd000, 0x2000,\n"
     "romfs, data, 0x8f, 0x310000, 0x40000,\nvfs, data, fat, 0x350000, 0xb0000,", "ota_1"),
])
def test_partition_table_check_refuses(table, why, tmp_path):
    p = tmp_path / "partitions.csv"
    p.write_text("# flash: 4MiB\n" + table + "\n")
    with pytest.raises(partition_table.TableError, match=why):
        partition_table.check(*partition_table.read(p))


def test_romfs_image_larger_than_the_partition_is_refused(image, tmp_path):
    bundle, written, img, size = image
    with pytest.raises(build_firmware.BuildError, match="does not fit"):
        build_firmware.romfs_image(bundle, tmp_path / "x.romfs", log=lambda *a: None, limit=size - 1)
    assert not (tmp_path / "x.romfs").exists()


def test_firmware_runs_in_place_from_the_mounted_image(image, tmp_path):
    bundle, written, img, size = image
    code = """
import vfs, sys, gc
vfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')
sys.path[:] = ['/rom', '/rom/lib']
import app, core.prepay, link.mqtt, meters.gas.driver, net.cellular, net.wifi, service
from core.store import Store
from core.prepay import Prepay
p = Prepay(Store('.'), 'gas', {'tariff': {'price': 100000}}, 1800000000)
p.recharge('t-1', 500, 1800000000)
print(app.__file__, net.cellular.__file__, p.balance_minor)
""" % str(img)
    # the unix port reads the image into its heap (on a board it is a flash partition): the
    # heap is the image plus 256k for what the imports keep
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=%dk" % (size // 1024 + 256), "-c", code], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["/rom/app.mpy", "/rom/net/cellular.mpy", "500"]


@pytest.mark.skipif(not have("socat"), reason="socat not installed (make sysdeps)")
def test_deploy_refuses_a_firmware_without_romfs(image, tmp_path):
    bundle, written, img, size = image
    dev = tmp_path / "device"
    dev.mkdir()
    pty = str(tmp_path / "pty")
    proc = subprocess.Popen(["socat", "PTY,link=%s,rawer" % pty,
                             'EXEC:"%s -X heapsize=128k",pty,setsid,ctty,stderr,onlcr=0'
                             % MICROPYTHON], cwd=dev, start_new_session=True)
    try:
        for _ in range(100):
            if os.path.exists(pty):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        with pytest.raises(deploy.DeployError, match="has no ROMFS"):
            deploy.deploy_romfs(bundle, img, pty, log=lambda *a: None)
        assert os.listdir(dev) == [], "nothing written to the device"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
