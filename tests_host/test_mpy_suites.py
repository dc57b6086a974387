"""Run every firmware test script in tests_host/mpy/ on the real MicroPython unix port.

The firmware is imported from the deployable bundle that `make firmware BOARD=sim` builds
(mpy-cross .mpy files), as an ESP32 runs it, so a script's heap is spent on what the meter
keeps, not on compiling the firmware's source; the test scripts and their fakes stay source.
MPY_SOURCE=1 runs the firmware from source instead.

The heap is 64 KiB unless the script's first line declares another, e.g. `# heap: 192k`
for a composed script (core + driver + sim board: on the unix port their bytecode sits in
the heap, on an ESP32 it is frozen in flash); `# heap: app` for one that builds the whole App
(APP_HEAP), `# heap: app+16k` for that plus large fakes compiled from source. MPY_HEAP overrides every 64k default (not the
declared ones). tools/heap_margins.py measures each script's floor: the policy is at least
8 KiB to spare below the heap it runs at. The bundle is conftest's `firmware_path`.

Each script also runs on build/native/micropython32 (`make native`): a 32-bit MicroPython
with the firmware frozen in, as on an ESP32: 31-bit small ints, so money and unix times go
through long ints, ticks wrap at 2**30 ms, 4-byte pointers. Every script must pass there
too; without that build these tests skip and say how to get it."""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import HEAP, ROOT, run_mpy, script_heap

HERE = Path(__file__).parent
SUITES = sorted(p for p in (HERE / "mpy").glob("test_*.py"))
MICROPYTHON32 = os.environ.get("MICROPYTHON32") or str(ROOT / "build" / "native" / "micropython32")


@pytest.mark.parametrize("script", SUITES, ids=[p.stem for p in SUITES])
def test_mpy_suite(script, micropython, tmp_path, firmware_path):
    r = run_mpy([script], heap=script_heap(script, HEAP), cwd=tmp_path, env={"MICROPYPATH": firmware_path})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed"), out
    assert not last[-1].startswith("0 passed"), "suite ran no test:\n" + out


@pytest.mark.parametrize("script", SUITES, ids=[p.stem for p in SUITES])
def test_mpy_suite_32bit_frozen(script, tmp_path):
    if not os.path.exists(MICROPYTHON32):
        pytest.skip("no 32-bit frozen port at %s: `make native` builds it from MPY_SRC" % MICROPYTHON32)
    # .frozen only: the firmware, the sim board and umqtt are in the binary (tools/build_native.py)
    cmd = [MICROPYTHON32, "-X", "heapsize=" + script_heap(script, HEAP), str(script)]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (HERE / "mpy", HERE / "mpy" / "rigs")))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed"), out
    assert not last[-1].startswith("0 passed"), "suite ran no test:\n" + out
