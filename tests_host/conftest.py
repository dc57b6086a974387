"""Shared fixtures: the MicroPython unix port, its module path, and helpers to run it."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
MPYPATH = ":".join(str(ROOT / p) for p in ("firmware", "lib", "boards/sim", "tests_host/mpy"))
collect_ignore_glob = ["mpy/*"]  # MicroPython scripts, run by test_mpy_suites.py
HEAP = os.environ.get("MPY_HEAP", "64k")


def script_heap(path, default=HEAP):
    """The heap a tests_host/mpy script declares on its first line (`# heap: 192k`), else
    default. One place per script, read by test_mpy_suites.py and tools/heap_margins.py."""
    with open(str(path)) as f:
        m = re.match(r"#\s*heap:\s*(\d+k)\s*$", f.readline())
    return m.group(1) if m else default


def mpy_env(extra=None):
    env = dict(os.environ)
    env["MICROPYPATH"] = MPYPATH
    if extra:
        env.update(extra)
    return env


def run_mpy(args, heap=HEAP, cwd=None, timeout=300, input=None, env=None):
    """Run the real MicroPython unix port with a constrained heap."""
    cmd = [MICROPYTHON, "-X", "heapsize=" + heap] + [str(a) for a in args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          input=input, env=mpy_env(env))


@pytest.fixture(scope="session")
def micropython():
    if not os.path.exists(MICROPYTHON):
        pytest.fail("MicroPython unix port not found at %s (run `make venv`)" % MICROPYTHON)
    return MICROPYTHON


def have(cmd):
    return shutil.which(cmd) or os.path.exists("/usr/sbin/" + cmd)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long soak/fuzz/broker tests")
    config.addinivalue_line("markers", "broker: needs an MQTT broker")
