#!/usr/bin/env python3
"""bench: heap. What a meter with its link needs in RAM, per meter kind, on two ports:

- 32-bit frozen: build/native/micropython32 (`make native`), the firmware frozen into the
  binary as on an ESP32 image: pointers of 4 bytes, bytecode out of the heap;
- 64-bit PyPI: the unix port of requirements-dev.txt running the .mpy bundle, whose
  bytecode sits in the heap and whose pointers are 8 bytes (the baseline, same run).

The workload (tools/heap_workload.py) runs a meter in its steady state: 64 credits taken
first, so the ring of credited ids, the recent commands and the event log are as full as
months in the field leave them. The 32-bit port also runs it on a fresh meter (no credits
before), the figure a first boot sees. For each kind and port:
  floor    the smallest -X heapsize (1 KiB steps) at which the workload passes twice
           (near the floor a run can pass by luck: GC timing follows real time)
  live     heap in use after gc.collect() at the end (and the largest seen, live_max)
  peak     the most in use before a collection, the collector off (tools/heap_probe.py):
           an upper bound of what one loop pass needs
  largest  the largest single block allocated at any pass end
  imports  heap held after `import app` (the app's own modules, before the driver)
and at floor - 1 KiB, the allocation that failed and where: what stands in the way.
HEAP_KINDS=electricity,gas limits the kinds. Nothing here asserts a figure.
"""
import math
import os
import sys
import tempfile
import threading
import time
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from brokers import Broker, mosquitto_path  # noqa: E402
from heap_workload import AGE_N, Port, Run  # noqa: E402
import build_native  # noqa: E402

GOAL_K = 48
KINDS = [k for k in os.environ.get("HEAP_KINDS", "electricity,water,gas").split(",") if k]
PROBE = str(HERE / "heap_probe.py")


def configs(bundle):
    """-> [(label, port, heap for the probe run, credits taken first)]"""
    out = []
    if build_native.BIN32.exists():
        p32 = Port("32-bit frozen", build_native.BIN32, build_native.MAIN, ".frozen")
        out.append(("32-bit frozen, steady state", p32, 1024, AGE_N))
        out.append(("32-bit frozen, fresh meter", p32, 1024, 0))
    py = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
    pypi = Port("64-bit PyPI .mpy", py, bundle / "main.py", "%s:%s" % (bundle, bundle / "lib"))
    out.append(("64-bit PyPI .mpy, steady state", pypi, 2048, AGE_N))
    return out


def measure(port, big_k, kind, tmp, age_n):
    """-> dict of figures for one port and kind (floor search included)."""
    b = Broker("mosquitto").start()
    try:
        r = Run(port, kind, big_k, b, tmp, probe=PROBE, age_n=age_n)
        if not r.go() or r.heap() is None:
            return {"error": "probe run failed: %s %s" % (r.why, r.failure() or r.out[-300:])}
        res = r.heap()
        runs = 1

        def passes(k):
            nonlocal runs
            runs += 1
            x = Run(port, kind, k, b, tmp, age_n=age_n)
            ok = x.go()
            return ok, x

        # the floor lies above the live set; start the search at the probe's peak and
        # widen it upward if even that fails (fragmentation can cost more)
        lo = max(4, res["live_max"] // 1024 - 1)
        hi = math.ceil(res["peak"] / 1024) + 1
        while True:
            ok, _ = passes(hi)
            if ok:
                break
            lo, hi = hi, hi * 3 // 2
            if hi > big_k:
                return dict(res, error="no pass up to %dk" % big_k)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            ok, x = passes(mid)
            if ok:
                hi = mid
            else:
                lo = mid
        # the bisection assumed that every heap below a pass fails; near the floor a run
        # can pass by luck (GC timing), so walk down until one fails: that run shows what
        # stands in the way
        for _ in range(4):
            ok, x = passes(hi - 1)
            if not ok:
                break
            hi -= 1
        # and confirm it with a second run: the floor is where the workload passes twice
        for _ in range(4):
            if passes(hi)[0]:
                break
            hi += 1
        res["floor_k"] = hi
        res["below"] = (x.failure() or x.why or "?") if not ok else "passes too (noisy floor)"
        res["runs"] = runs
        return res
    finally:
        b.stop()


def fmt_k(b):
    return "%.1fk" % (b / 1024.0)


def main():
    if not mosquitto_path():
        print("heap: mosquitto not installed (make sysdeps); skipped")
        return 0
    tmp = tempfile.mkdtemp(prefix="bench-heap-")
    bundle = Path(tmp) / "bundle" / "sim"
    import build_firmware
    build_firmware.build("sim", bundle, log=lambda *a: None)
    cs = configs(bundle)
    if len(cs) < 2:
        print("heap: no 32-bit frozen port (make native builds build/native/micropython32 from MPY_SRC);"
              " 64-bit PyPI figures only")
    print("heap of a meter with its link, fixed workload (tools/heap_workload.py): connect, %d credits" % AGE_N)
    print("(steady state; none on a fresh meter), 3 recharges, a time-of-use tariff, status, 1 h of metering,")
    print("the daily rollover, a broker restart, recharge, status")
    results = {}
    t0 = time.time()
    jobs = [(c, k) for k in KINDS for c in cs]

    def work(items):
        for (label, port, big, age), k in items:
            results[(label, k)] = measure(port, big, k, tmp, age)

    # two workers (one broker each): the two cores; a floor does not depend on speed
    threads = [threading.Thread(target=work, args=(jobs[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cols = "%-12s %7s %8s %8s %8s %8s %8s"
    for label, port, _, _ in cs:
        print("\n%s (%s):" % (label, os.path.relpath(port.exe, ROOT)))
        print(cols % ("kind", "floor", "live", "live_max", "peak", "largest", "imports"))
        for k in KINDS:
            r = results[(label, k)]
            if "floor_k" not in r:
                print("%-12s %s" % (k, r.get("error")))
                continue
            print(cols % (k, "%dk" % r["floor_k"], fmt_k(r["live"]), fmt_k(r["live_max"]), fmt_k(r["peak"]),
                          "%d B" % r["largest_b"], fmt_k(r["imports"])))
    if len(cs) > 1:
        a, b = cs[0][0], cs[-1][0]
        print("\nsteady state side by side, 32-bit frozen | 64-bit PyPI (ratio):")
        print("%-12s %-24s %-24s %-24s" % ("kind", "floor", "live", "peak"))
        for k in KINDS:
            x, y = results[(a, k)], results[(b, k)]
            if "floor_k" in x and "floor_k" in y:
                print("%-12s %-24s %-24s %-24s" % (
                    k, "%dk | %dk (x%.1f)" % (x["floor_k"], y["floor_k"], y["floor_k"] / x["floor_k"]),
                    "%s | %s (x%.1f)" % (fmt_k(x["live"]), fmt_k(y["live"]), y["live"] / x["live"]),
                    "%s | %s (x%.1f)" % (fmt_k(x["peak"]), fmt_k(y["peak"]), y["peak"] / x["peak"])))
        for label in (cs[0][0], cs[1][0]):
            over = [k for k in KINDS if results[(label, k)].get("floor_k", 999) > GOAL_K]
            print("goal, every kind at or under %d KiB, %s: %s" % (
                GOAL_K, label, "met" if not over else "NOT met for " + ", ".join(over)))
    print("\njust below the floor (floor - 1 KiB), what failed:")
    for label, _, _, _ in cs:
        for k in KINDS:
            r = results[(label, k)]
            if "below" in r:
                print("  %-30s %-12s %s" % (label, k, r["below"]))
    print("(%d workload runs in %.0f s)" % (sum(r.get("runs", 0) for r in results.values()), time.time() - t0))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
