"""Shared pieces of the OTA tests on the host: a session key pair made by `cryptography`,
the firmware bundle built as `make firmware BOARD=sim` builds it, bundles with a fault put
in on purpose, and running a tests_host/mpy script on the real MicroPython port."""
import os
import subprocess
import sys
from pathlib import Path

from conftest import MICROPYTHON, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import build_firmware  # noqa: E402
import ota  # noqa: E402

_KEYS = {}


def key(name="utility"):
    """An RSA-2048 key made by the library (cached per test process)."""
    if name not in _KEYS:
        from cryptography.hazmat.primitives.asymmetric import rsa
        _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[name]


def build(out, version, patch=None):
    """The sim bundle at `version` in out/; patch(src_dir) may change a copy of firmware/
    first (a bad bundle). -> bundle dir."""
    if patch is None:
        b, _ = build_firmware.build("sim", Path(out), version=version, log=lambda s: None)
        return b
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "firmware"
        shutil.copytree(ROOT / "firmware", src, ignore=shutil.ignore_patterns("__pycache__"))
        patch(src)
        old = build_firmware.ROOT
        fake = Path(tmp)
        (fake / "boards").symlink_to(ROOT / "boards")
        (fake / "lib").symlink_to(ROOT / "lib")
        (fake / ".venv").symlink_to(ROOT / ".venv")
        build_firmware.ROOT = fake
        try:
            b, _ = build_firmware.build("sim", Path(out), version=version, log=lambda s: None)
        finally:
            build_firmware.ROOT = old
    return b


def run_mpy(script, args=(), heap="256k", cwd=None, timeout=300, env=None, path=None):
    """tests_host/mpy/<script> on the real port, the firmware from a bundle dir `path`."""
    e = dict(os.environ)
    e["MICROPYPATH"] = "%s:%s/lib:%s:%s" % (path, path, ROOT / "tests_host" / "mpy",
                                            ROOT / "tests_host" / "mpy" / "rigs")
    e.update(env or {})
    return subprocess.run([MICROPYTHON, "-X", "heapsize=" + heap,
                           str(ROOT / "tests_host" / "mpy" / script)] + [str(a) for a in args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env=e)


def read_record(flash, name):
    """The newest valid copy of a core/store.py record on a flash dir (CPython reader)."""
    import binascii
    import json as _json
    best = None
    for s in ("a", "b"):
        try:
            raw = (Path(flash) / ("%s.%s" % (name, s))).read_bytes()
        except OSError:
            continue
        hdr, body = raw[:31], raw[31:]
        parts = hdr.split()
        if len(parts) != 4 or parts[0] != b"PMR1" or int(parts[2]) != len(body):
            continue
        if binascii.crc32(body + hdr[:22]) & 0xFFFFFFFF != int(parts[3], 16):
            continue
        if best is None or int(parts[1]) > best[0]:
            best = (int(parts[1]), _json.loads(body))
    return best[1] if best else None


class Meter:
    """One real firmware process (main.py of a bundle) on a flash dir; stop() with SIGINT
    like Ctrl-C, kill() like a power cut."""

    def __init__(self, flash, bundle, heap=os.environ.get("OTA_HEAP", "384k"), env=None, entry=None):
        self.flash = Path(flash)
        self.bundle = Path(bundle)
        self.heap = heap
        self.env = env or {}
        self.entry = entry          # a test launcher in place of the bundle's main.py
        self.p = None

    def start(self, env=None):
        e = dict(os.environ)
        e["MICROPYPATH"] = "%s:%s/lib" % (self.bundle, self.bundle)
        e.update(self.env)
        e.update(env or {})
        self.log = open(str(self.flash) + ".log", "a")
        self.p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + self.heap,
                                   str(self.entry or self.bundle / "main.py"), str(self.flash)],
                                  stdout=self.log, stderr=subprocess.STDOUT, env=e)
        return self

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def stop(self):
        import signal
        if self.alive():
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def kill(self):
        if self.alive():
            self.p.kill()
            self.p.wait()

    def output(self):
        try:
            return Path(str(self.flash) + ".log").read_text()
        except OSError:
            return ""


def slot_complete(flash, slot):
    """Every file the slot's manifest lists is there with its hash, and nothing else."""
    import hashlib
    d = Path(flash) / "app" / slot
    lines = (d / "OTA_MANIFEST").read_bytes().split(b"\n")[1:]
    want = {}
    for l in lines:
        if l:
            h, size, p = l.decode().split(" ")
            want[p] = h
    have = {}
    for f in d.rglob("*"):
        if f.is_file() and f.name != "OTA_MANIFEST":
            have[f.relative_to(d).as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return have == want
