"""Block-level power cuts on real LittleFS v2 (vfs.VfsLfs2 over a Python block device in
MicroPython; the block device protocol of MicroPython's docs/library/vfs.rst). For one credit + save of a full Prepay record, every
prefix k of its device operations is cut (the device keeps the first k, then OSError(5));
the remounted flash must give exactly the old or the new ledger.

The store-level version (every prefix of three consecutive saves) runs inside the 64k
suite as tests_host/mpy/test_core_store_lfs.py; this one needs the composed core, so it
runs at CORE_HEAP (default 128k). tools/bench_core.py counts LittleFS blocks per day.
"""
import os
from pathlib import Path

from conftest import run_mpy

HEAP = os.environ.get("CORE_HEAP", "128k")
SCRIPT = Path(__file__).parent / "mpy" / "core_lfs_prepay.py"


def test_prepay_credit_save_cut_at_every_block_prefix(tmp_path):
    r = run_mpy([SCRIPT], heap=HEAP, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "1 passed, 0 failed" in r.stdout, out[-4000:]
    print([l for l in r.stdout.splitlines() if l.startswith("device ops")])
