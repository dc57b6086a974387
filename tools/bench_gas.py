#!/usr/bin/env python3
"""bench: gas. The hazard table (tests_host/mpy/rigs/gas_hazards.py) as pass/fail with measured
reaction times in simulated seconds, the simulated-time speed of the full stack, and the
heap figures, all measured on the real MicroPython unix port."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MPY = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
PATH = ":".join(str(ROOT / p) for p in ("firmware", "lib", "boards/sim", "tests_host/mpy", "tests_host/mpy/rigs"))

SCRIPT = r'''
import gc, time
gc.collect()
m0 = gc.mem_alloc()
import gas_hazards, gas_rig
gc.collect()
m1 = gc.mem_alloc()
print("%-20s %-6s %10s %10s  %s" % ("hazard", "result", "deadline_s", "reaction_s", "detail"))
bad = 0
for e in gas_hazards.TABLE:
    ok, took, detail = gas_hazards.run(e)
    bad += not ok
    print("%-20s %-6s %10s %10s  %s" % (e[0], "PASS" if ok else "FAIL", ("hold " if e[4] == "hold" else "") + str(e[3]),
          "-" if took is None else took, detail))
    gc.collect()
r = gas_rig.Rig()
r.sim(flow_lph=300)
gc.collect()
m2 = gc.mem_alloc()
n = 20000
t = time.ticks_us()
r.step(n)
us = time.ticks_diff(time.ticks_us(), t)
gc.collect()
print("")
print("full stack tick (driver+prepay): %.1f us/tick, %d sim s per wall s" % (us / n, n * 1000000 // max(us, 1)))
print("one simulated day at 1 s ticks: %.2f wall s" % (us / n * 86400 / 1e6))
print("heap after importing core+gas+sim+rig (from source): %d B; with one meter built: %d B" % (m1 - m0, m2 - m0))
print("flash writes in that run: %d records, %d bytes" % (r.store.writes, r.store.bytes_written))
r.close()
print("hazards failed: %d" % bad)
'''


def main():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MICROPYPATH=PATH)
        r = subprocess.run([MPY, "-X", "heapsize=192k", "-c", SCRIPT], cwd=d, env=env,
                           capture_output=True, text=True, timeout=600)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode or "hazards failed: 0" not in r.stdout:
            sys.exit(1)


if __name__ == "__main__":
    main()
