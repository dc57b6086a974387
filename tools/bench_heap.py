#!/usr/bin/env python3
"""bench: heap. What a meter with its link needs in RAM, per meter kind, on two ports:

- 32-bit frozen: build/native/micropython32 (`make native`), the firmware frozen into the
  binary as on an ESP32 image: pointers of 4 bytes, bytecode out of the heap;
- 64-bit PyPI: the unix port of requirements-dev.txt running the .mpy bundle, whose
  bytecode sits in the heap and whose pointers are 8 bytes (the baseline, same run).

For each kind and port, over the fixed workload of tools/heap_workload.py:
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
from heap_workload import Port, Run  # noqa: E402
import build_native  # noqa: E402

GOAL_K = 48
KINDS = [k for k in os.environ.get("HEAP_KINDS", "electricity,water,gas").split(",") if k]
PROBE = str(HERE / "heap_probe.py")


def ports(bundle):
    out = []
    if build_native.BIN32.exists():
        out.append((Port("32-bit frozen", build_native.BIN32, build_native.MAIN, ".frozen"), 1024))
    py = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
    out.append((Port("64-bit PyPI .mpy", py, bundle / "main.py", "%s:%s" % (bundle, bundle / "lib")), 2048))
    return out


def measure(port, big_k, kind, tmp):
    """-> dict of figures for one port and kind (floor search included)."""
    b = Broker("mosquitto").start()
    try:
        r = Run(port, kind, big_k, b, tmp, probe=PROBE)
        if not r.go() or r.heap() is None:
            return {"error": "probe run failed: %s %s" % (r.why, r.failure() or r.out[-300:])}
        res = r.heap()
        runs = 1

        def passes(k):
            nonlocal runs
            runs += 1
            x = Run(port, kind, k, b, tmp)
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
    ps = ports(bundle)
    if len(ps) < 2:
        print("heap: no 32-bit frozen port (make native builds build/native/micropython32 from MPY_SRC);"
              " 64-bit PyPI figures only")
    print("heap of a meter with its link, fixed workload (tools/heap_workload.py): connect, 3 recharges,")
    print("a time-of-use tariff, status, 1 h of metering, the daily rollover, a broker restart, recharge, status")
    results = {}
    t0 = time.time()
    jobs = [(p, big, k) for k in KINDS for p, big in ps]

    def work(items):
        for p, big, k in items:
            results[(p.name, k)] = measure(p, big, k, tmp)

    # two workers (one broker each): the two cores; a floor does not depend on speed
    threads = [threading.Thread(target=work, args=(jobs[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cols = "%-12s %7s %8s %8s %8s %8s %8s"
    for p, _ in ps:
        print("\n%s (%s):" % (p.name, os.path.relpath(p.exe, ROOT)))
        print(cols % ("kind", "floor", "live", "live_max", "peak", "largest", "imports"))
        for k in KINDS:
            r = results[(p.name, k)]
            if "floor_k" not in r:
                print("%-12s %s" % (k, r.get("error")))
                continue
            print(cols % (k, "%dk" % r["floor_k"], fmt_k(r["live"]), fmt_k(r["live_max"]), fmt_k(r["peak"]),
                          "%d B" % r["largest_b"], fmt_k(r["imports"])))
    if len(ps) == 2:
        a, b = ps[0][0].name, ps[1][0].name
        print("\nratio 64-bit PyPI / 32-bit frozen:")
        for k in KINDS:
            x, y = results[(a, k)], results[(b, k)]
            if "floor_k" in x and "floor_k" in y:
                print("  %-12s floor x%.1f  live x%.1f  peak x%.1f" % (
                    k, y["floor_k"] / x["floor_k"], y["live"] / x["live"], y["peak"] / x["peak"]))
        over = [k for k in KINDS if results[(a, k)].get("floor_k", 999) > GOAL_K]
        print("goal: every kind at or under %d KiB on the 32-bit frozen port: %s" % (
            GOAL_K, "met" if not over else "NOT met for " + ", ".join(over)))
    print("\njust below the floor (floor - 1 KiB), what failed:")
    for p, _ in ps:
        for k in KINDS:
            r = results[(p.name, k)]
            if "below" in r:
                print("  %-16s %-12s %s" % (p.name, k, r["below"]))
    print("(%d workload runs in %.0f s)" % (sum(r.get("runs", 0) for r in results.values()), time.time() - t0))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
