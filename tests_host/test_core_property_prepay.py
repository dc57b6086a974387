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


@pytest.mark.parametrize("script", [SCRIPT, DAYS, RESTORE], ids=["checks", "days", "restore"])
def test_prepay_checks(tmp_path, script):
    r = run_mpy([script], heap=HEAP, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed") and not last[-1].startswith("0 passed"), out
