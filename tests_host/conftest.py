"""Shared fixtures: the MicroPython unix port, its module path, and helpers to run it."""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
MPYPATH = ":".join(str(ROOT / p) for p in ("firmware", "lib", "boards/sim", "tests_host/mpy", "tests_host/mpy/rigs"))
collect_ignore_glob = ["mpy/*"]  # MicroPython scripts, run by test_mpy_suites.py
HEAP = os.environ.get("MPY_HEAP", "64k")


# The heap of every whole-app run (firmware/main.py or an App built in a test script) from
# the compiled bundle: floor + margin in tools/heap_policy.py; APP_HEAP=... overrides it.
sys.path.insert(0, str(ROOT / "tools"))
from heap_policy import APP_HEAP  # noqa: E402
_BUNDLE = []


def app_bundle():
    """The sim board's deployable bundle (tools/build_firmware.py: mpy-cross .mpy files, as
    `make firmware BOARD=sim` writes it), built once per test process; MPY_SOURCE=1 gives
    None (the firmware runs from source)."""
    if os.environ.get("MPY_SOURCE"):
        return None
    if not _BUNDLE:
        tmp = tempfile.mkdtemp(prefix="pm-bundle-")
        atexit.register(shutil.rmtree, tmp, True)
        out = Path(tmp) / "sim"
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_firmware.py"), "--board", "sim",
                            "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        _BUNDLE.append(out)
    return _BUNDLE[0]


def app_path():
    """MICROPYPATH of a whole-app run: the bundle (+ its lib/), tests_host/mpy and its rigs/
    (launchers and rigs stay source); the source tree with MPY_SOURCE=1."""
    b = app_bundle()
    if b is None:
        return MPYPATH
    return "%s:%s:%s:%s" % (b, b / "lib", ROOT / "tests_host" / "mpy", ROOT / "tests_host" / "mpy" / "rigs")


def app_main():
    """main.py of the bundle (source, as on a device), or firmware/main.py with MPY_SOURCE=1."""
    b = app_bundle()
    return str((b or ROOT / "firmware") / "main.py")


def app_env(extra=None):
    """Environment of a whole-app run (see app_path)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = app_path()
    if extra:
        env.update(extra)
    return env


def script_heap(path, default=HEAP):
    """The heap a tests_host/mpy script declares on its first line (`# heap: 192k`, or
    `# heap: app` for a script that builds the whole App: APP_HEAP, `# heap: app+16k` for one
    that also compiles large fakes from source), else default. One place per script, read by
    test_mpy_suites.py and tools/heap_margins.py."""
    with open(str(path)) as f:
        m = re.match(r"#\s*heap:\s*(\d+k|app)(?:\+(\d+)k)?\s*$", f.readline())
    if not m:
        return default
    if m.group(1) != "app":
        return m.group(1)
    if not m.group(2):
        return APP_HEAP
    base = APP_HEAP.lower()
    base_k = int(base[:-1]) * (1024 if base.endswith("m") else 1) if base[-1] in "km" else int(base) // 1024
    return "%dk" % (base_k + int(m.group(2)))


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
def firmware_path():
    """MICROPYPATH for firmware scripts: the compiled .mpy bundle of the sim board (as a
    board runs it) plus tests_host/mpy; MPY_SOURCE=1 runs the firmware from source."""
    return app_path()


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
    config.addinivalue_line("markers", "stateful: the whole-meter stateful test (STATEFUL=0 skips it)")


# The whole-meter stateful test runs in every `make test` at its default size
# (STATEFUL_STEPS, tests_host/stateful_machine.py); STATEFUL=0 skips it.
STATEFUL_DEFAULT = "1"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("STATEFUL", STATEFUL_DEFAULT) == "1":
        return
    skip = pytest.mark.skip(reason="whole-meter stateful test: STATEFUL=0 skips it")
    for item in items:
        if "stateful" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    """Print the stateful test's note (steps run, distinct states), from xdist workers too."""
    notes = []
    for key in ("passed", "failed"):
        for rep in terminalreporter.stats.get(key, ()):
            for name, value in getattr(rep, "user_properties", ()):
                if name == "stateful_note" and getattr(rep, "when", "call") == "call":
                    notes.append(value)
    for n in sorted(set(notes)):
        terminalreporter.write_line(n)
