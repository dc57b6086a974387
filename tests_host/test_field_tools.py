"""Host tools for the field: build_firmware (every module through mpy-cross, bundles load on
the real unix port), flash (esptool command lines and every error path, with a fake esptool
since no chip is attached), provision (config checks, PIN record accepted by the firmware)."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, MICROPYTHON, run_mpy

sys.path.insert(0, str(ROOT / "tools"))
import build_firmware  # noqa: E402
import flash  # noqa: E402
import provision_device  # noqa: E402

KEY = "9f" * 32


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "esp32_electricity"
    return build_firmware.build("esp32_electricity", out, log=lambda *a: None)


def test_every_firmware_module_compiles_to_mpy_v6(bundle):
    out, written = bundle
    # a one-kind board leaves the other kinds' meter packages out (build_firmware.sources)
    other = tuple(str(ROOT / "firmware" / "meters" / k) + "/" for k in ("water", "gas"))
    srcs = [p for p in (ROOT / "firmware").rglob("*.py")
            if "__pycache__" not in str(p) and not str(p).startswith(other)]
    mpys = [w for w in written if w.endswith(".mpy") and not w.startswith("lib/")]
    assert not [w for w in mpys if w.startswith(("meters/water/", "meters/gas/"))]
    # every firmware module but boot.py/main.py (kept as source) plus board.py
    want = len(srcs) - sum(1 for p in srcs if p.name in ("boot.py", "main.py")
                           and p.parent == ROOT / "firmware") + 1
    assert len(mpys) == want
    for w in written:
        data = (out / w).read_bytes()
        if w.endswith(".mpy"):
            assert data[:2] == b"M\x06", w
    assert (out / "boot.py").read_bytes() == (ROOT / "firmware" / "boot.py").read_bytes()
    man = (out / "MANIFEST.sha256").read_text().splitlines()
    assert len(man) == len(written)
    frozen = (out.parent / "esp32_electricity-modules.py").read_text()
    assert 'module("service.py"' in frozen and "boot.py" not in frozen
    esp32 = (out.parent / "esp32_electricity-manifest.py").read_text()
    assert 'include("$(PORT_DIR)/boards/manifest.py")' in esp32
    assert 'include("%s")' % (out.parent / "esp32_electricity-modules.py").resolve() in esp32


def test_compiled_bundle_runs_on_the_unix_port(bundle, tmp_path):
    out, _ = bundle
    code = ("import sys; sys.path[:] = ['%s']\n"
            "import service, service_auth, core.clock, core.frame\n"
            "from hal import guard\n"
            "print(core.clock.iso_date(20000), service.__file__.endswith('.mpy'))\n" % out)
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=64k", "-c", code], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2024-10-04", "True"]


def test_build_errors_are_clear(tmp_path):
    with pytest.raises(build_firmware.BuildError, match="unknown board 'nope'"):
        build_firmware.build("nope", tmp_path / "x")
    r = subprocess.run([sys.executable, str(ROOT / "tools/build_firmware.py"), "--board",
                        "esp32_nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown board" in r.stderr


# ---- flash -----------------------------------------------------------------------------
def image(tmp_path, chip_id, name="fw.bin", size=200_000, magic=0xE9):
    head = bytearray(24)
    head[0] = magic
    head[12] = chip_id & 0xFF
    head[13] = chip_id >> 8
    p = tmp_path / name
    p.write_bytes(bytes(head) + bytes(size - 24))
    return p


@pytest.fixture
def fake_esptool(tmp_path, monkeypatch):
    """An esptool stand-in: answers chip-id with the chip in $FAKE_CHIP, logs every call."""
    log = tmp_path / "esptool.log"
    script = tmp_path / "esptool"
    script.write_text("#!/bin/sh\necho \"$@\" >> %s\n"
                      "case \"$*\" in *chip-id*) [ -n \"$FAKE_CHIP\" ] || "
                      "{ echo 'A fatal error occurred: Failed to connect' >&2; exit 2; }\n"
                      "  echo \"Connected to $FAKE_CHIP on port:\"; echo 'Chip type:    "
                      "      '$FAKE_CHIP' (QFN56)';; esac\nexit ${FAKE_RC:-0}\n" % log)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ESPTOOL", str(script))
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    return log, str(port)


@pytest.mark.parametrize("chip,name,offset,cid", [("ESP32", "esp32", "0x1000", 0),
                                                  ("ESP32-S3", "esp32s3", "0x0", 9),
                                                  ("ESP32-C3", "esp32c3", "0x0", 5),
                                                  ("ESP32-S2", "esp32s2", "0x1000", 2)])
def test_flash_detects_chip_erases_and_writes_at_offset(fake_esptool, tmp_path, monkeypatch,
                                                        chip, name, offset, cid):
    log, port = fake_esptool
    monkeypatch.setenv("FAKE_CHIP", chip)
    fw = image(tmp_path, cid)
    flash.flash(port, str(fw), log=lambda *a: None)
    calls = log.read_text().splitlines()
    assert calls[0].endswith("chip-id")
    assert calls[1] == "--chip %s --port %s --baud 460800 erase-flash" % (name, port)
    assert calls[2] == "--chip %s --port %s --baud 460800 write-flash -z %s %s" % (
        name, port, offset, fw)


def test_flash_error_paths(fake_esptool, tmp_path, monkeypatch):
    log, port = fake_esptool
    good = image(tmp_path, 0)
    cases = [
        (dict(port=None, firmware=good), "set PORT"),
        (dict(port=str(tmp_path / "ttyNOPE"), firmware=good), "does not exist"),
        (dict(port=str(tmp_path), firmware=good), "is a directory"),
        (dict(port=port, firmware=None), "set FIRMWARE"),
        (dict(port=port, firmware=tmp_path / "none.bin"), "no such file"),
        (dict(port=port, firmware=image(tmp_path, 0, "fw.elf")), "expected a .bin"),
        (dict(port=port, firmware=image(tmp_path, 0, "tiny.bin", size=100)), "only 100 bytes"),
        (dict(port=port, firmware=image(tmp_path, 0, "x.bin", magic=0x7F)), "not an ESP image"),
        (dict(port=port, firmware=image(tmp_path, 9, "s3.bin")), "built for esp32s3 but the "
                                                                  "board is esp32"),
        (dict(port=port, firmware=good, chip="esp8266"), "unknown chip"),
    ]
    monkeypatch.setenv("FAKE_CHIP", "ESP32")
    for kw, msg in cases:
        with pytest.raises(flash.FlashError, match=msg):
            flash.flash(kw["port"], kw["firmware"] and str(kw["firmware"]), chip=kw.get("chip"),
                        log=lambda *a: None)
    assert "erase-flash" not in log.read_text(), "nothing erased on any error"
    monkeypatch.delenv("FAKE_CHIP")
    with pytest.raises(flash.FlashError, match="no ESP chip answered"):
        flash.flash(port, str(good), log=lambda *a: None)
    monkeypatch.setenv("FAKE_CHIP", "ESP32-P4")
    with pytest.raises(flash.FlashError, match="not supported"):
        flash.flash(port, str(good), log=lambda *a: None)
    # the CLI: exit 2 and one line on stderr
    r = subprocess.run([sys.executable, str(ROOT / "tools/flash.py"), "--port", "/dev/nope",
                        "--firmware", str(good)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("flash: port /dev/nope does not exist")


def test_flash_rejects_generated_garbage_images(fake_esptool, tmp_path, monkeypatch):
    log, port = fake_esptool
    monkeypatch.setenv("FAKE_CHIP", "ESP32")
    rnd = __import__("random").Random(5)
    for i in range(50):
        p = tmp_path / ("g%d.bin" % i)
        data = bytearray(rnd.getrandbits(8) for _ in range(rnd.choice((10, 70_000))))
        if data and data[0] == 0xE9 and len(data) > 14 and data[12] == 0 and data[13] == 0:
            data[0] = 0
        p.write_bytes(bytes(data))
        with pytest.raises(flash.FlashError):
            flash.flash(port, str(p), log=lambda *a: None)
    assert not log.exists() or "write-flash" not in log.read_text()


# ---- provision -------------------------------------------------------------------------
def test_provision_config_checks_never_echo_the_key(tmp_path):
    d = tmp_path / "m1"
    d.mkdir()
    cases = [(None, "not found"), ("{", "not valid JSON"), ("[1]", "JSON object"),
             ({"id": "m2", "kind": "gas", "key": KEY}, "for meter 'm2'"),
             ({"id": "m1", "kind": "gas", "key": KEY[:-2]}, "64 hex"),
             ({"id": "m1", "kind": "gas", "key": "zz" * 32}, "not hexadecimal"),
             ({"id": "m1", "kind": "steam", "key": KEY}, "kind must be")]
    for content, msg in cases:
        cfg = d / "config.json"
        if content is None:
            cfg.unlink(missing_ok=True)
        else:
            cfg.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(provision_device.ProvisionError, match=msg) as e:
            provision_device.load_config(d, "m1")
        assert KEY not in str(e.value) and "zz" * 32 not in str(e.value)


def test_pin_record_is_accepted_by_the_firmware_and_wrong_pins_are_not(tmp_path):
    rec = provision_device.pin_record("482916")
    (tmp_path / "service.json").write_text(json.dumps(rec))
    code = ("import service_auth\nservice_auth._root='.'\n"
            "print([service_auth._check_pin(p) for p in ('482916','482917','0','4829160')])\n")
    r = run_mpy(["-c", code], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[True, False, False, False]"
    for bad in ("123", "12a4", "123456789"):
        with pytest.raises(provision_device.ProvisionError):
            provision_device.pin_record(bad)
