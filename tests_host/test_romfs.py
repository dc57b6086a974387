"""ROMFS deploy (docs/field-guide.md "Deploy as a ROMFS image"): the image that
`make firmware ROMFS=1` writes holds every compiled module of the bundle but boot.py and
main.py, mounts with vfs.VfsRom on the unix port, and the firmware imports and runs from it
in place; `make deploy ROMFS=1` refuses, before touching anything, a MicroPython built
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
    # the upstream 4 MiB ROMFS partition table (ports/esp32/partitions-4MiB-romfs.csv) has
    # a 128 KiB romfs partition
    assert size < 0x20000, "image of %d bytes no longer fits a 128 KiB partition" % size


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
