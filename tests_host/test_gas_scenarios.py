"""Gas meter scenarios and the hazard table on the real MicroPython unix port.

The full stack (core Prepay + gas driver + sim board + test code) compiled from source needs
more than the 64 KiB heap used for unit scripts (measured: ~77 KiB resident after import,
compile peaks above that), so this runs tests_host/mpy/gas_scenarios.py with GAS_HEAP
(default 208k). The gas modules alone are tested at 64k by tests_host/mpy/test_gas_*.py.
"""
import os
from pathlib import Path

from conftest import run_mpy

HERE = Path(__file__).parent / "mpy"
# floor from a long clone path 178k (tools/heap_margins.py); policy: floor + >= 16k, in 16k steps
HEAP = os.environ.get("GAS_HEAP", "208k")


def test_gas_scenarios_and_hazard_table(micropython, tmp_path):
    r = run_mpy([HERE / "gas_scenarios.py"], heap=HEAP, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed") and not last[-1].startswith("0 passed"), out
