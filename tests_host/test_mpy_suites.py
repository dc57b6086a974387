"""Run every firmware test script in tests_host/mpy/ on the real MicroPython unix port.

The firmware is imported from the deployable bundle that `make firmware BOARD=sim` builds
(mpy-cross .mpy files), as an ESP32 runs it, so a script's heap is spent on what the meter
keeps, not on compiling the firmware's source; the test scripts and their fakes stay source.
MPY_SOURCE=1 runs the firmware from source instead.

The heap is 64 KiB unless the script's first line declares another, e.g. `# heap: 192k`
for a composed script (core + driver + sim board: on the unix port their bytecode sits in
the heap, on an ESP32 it is frozen in flash). MPY_HEAP overrides every 64k default (not the
declared ones). tools/heap_margins.py measures each script's floor: the policy is at least
8 KiB to spare below the heap it runs at."""
from pathlib import Path

import pytest

from conftest import HEAP, run_mpy, script_heap

HERE = Path(__file__).parent
SUITES = sorted(p for p in (HERE / "mpy").glob("test_*.py"))


@pytest.mark.parametrize("script", SUITES, ids=[p.stem for p in SUITES])
def test_mpy_suite(script, micropython, tmp_path, firmware_path):
    r = run_mpy([script], heap=script_heap(script, HEAP), cwd=tmp_path, env={"MICROPYPATH": firmware_path})
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed"), out
    assert not last[-1].startswith("0 passed"), "suite ran no test:\n" + out
