"""Runs tests_host/mpy/core_prepay_checks.py (the Prepay facade's unit checks and
generated bad input) and core_prepay_days.py (standing charge per day, local midnight)
on the real MicroPython port.

The composed core (tariff + credit + supply + prepay) does not load from source within
the suite's 64k heap on the unix port (compile-time peaks; docs/ledger.md "Memory"), so
this runs at CORE_HEAP (default 128k); tools/bench_core.py prints the smallest heap that
passes, from source and precompiled with mpy-cross.
"""
import os
from pathlib import Path

import pytest

from conftest import run_mpy

HEAP = os.environ.get("CORE_HEAP", "128k")
SCRIPT = Path(__file__).parent / "mpy" / "core_prepay_checks.py"
DAYS = Path(__file__).parent / "mpy" / "core_prepay_days.py"  # standing catch-up, local midnight
RESTORE = Path(__file__).parent / "mpy" / "core_prepay_restore.py"  # generated wrong records
LIMIT = Path(__file__).parent / "mpy" / "core_cmd_limit.py"  # one recharge limit, via Commands


# Prepay + Commands + frame from source: measured floor 168k in /work/main (a long CI clone
# path costs a few KiB more), run at 192k (heap policy: floor plus margin for composed tests)
CMD_HEAP = os.environ.get("CORE_CMD_HEAP", "192k")


@pytest.mark.parametrize("script,heap", [(SCRIPT, HEAP), (DAYS, HEAP), (RESTORE, HEAP), (LIMIT, CMD_HEAP)],
                         ids=["checks", "days", "restore", "limit"])
def test_prepay_checks(tmp_path, script, heap):
    r = run_mpy([script], heap=heap, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed") and not last[-1].startswith("0 passed"), out
