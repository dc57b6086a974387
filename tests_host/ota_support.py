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
    e["MICROPYPATH"] = "%s:%s/lib:%s" % (path, path, ROOT / "tests_host" / "mpy")
    e.update(env or {})
    return subprocess.run([MICROPYTHON, "-X", "heapsize=" + heap,
                           str(ROOT / "tests_host" / "mpy" / script)] + [str(a) for a in args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, env=e)
