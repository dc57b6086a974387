"""Run every firmware test script in tests_host/mpy/ on the real MicroPython unix port,
with the heap constrained to 64 KiB (MPY_HEAP overrides)."""
from pathlib import Path

import pytest

from conftest import run_mpy

SUITES = sorted(p for p in (Path(__file__).parent / "mpy").glob("test_*.py"))


@pytest.mark.parametrize("script", SUITES, ids=[p.stem for p in SUITES])
def test_mpy_suite(script, micropython, tmp_path):
    r = run_mpy([script], cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    last = [l for l in r.stdout.splitlines() if l.endswith("failed")]
    assert last and last[-1].endswith(" 0 failed"), out
    assert not last[-1].startswith("0 passed"), "suite ran no test:\n" + out
