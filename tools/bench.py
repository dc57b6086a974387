#!/usr/bin/env python3
"""`make bench`: runs every tools/bench_<area>.py in turn and prints its section.

Each bench_<area>.py is a script that prints its own figures. Figures that have a
natural baseline print a ratio against that baseline measured in the same run,
because these machines are shared and noisy. Nothing here asserts a wall time.
"""
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    only = sys.argv[1:]
    scripts = sorted(HERE.glob("bench_*.py"))
    failed = []
    for s in scripts:
        area = s.stem[len("bench_"):]
        if only and area not in only:
            continue
        print("=" * 78)
        print("bench: %s" % area)
        print("=" * 78, flush=True)
        t0 = time.time()
        r = subprocess.run([sys.executable, str(s)], cwd=HERE.parent)
        print("(%s took %.1f s)" % (area, time.time() - t0), flush=True)
        if r.returncode:
            failed.append(area)
    if failed:
        print("bench sections that failed: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
