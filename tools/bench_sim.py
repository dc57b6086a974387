#!/usr/bin/env python3
"""bench: the sim and the fleet.

- the household sim's wall time per simulated day (meters running flat out), with its CPU time;
- the fleet at a fixed N against mosquitto (FLEET_N, default 50), on the native build
  (`make native`) and on the PyPI port: latency and PSS per meter side by side;
- the largest N at which p99 command->ack stays under 1 s, on the native build when there
  is one: doubling from FLEET_START_N (500) to FLEET_MAX_N (4000), two command rounds,
  then one bisection step; with PSS per meter and what binds. The full search to 10,000
  meters: `make fleet FLEET_ARGS="--search --start-n 1000 --max-n 10000"` (docs/bench.md);
- the same fleet against a two-node RabbitMQ cluster, when rabbitmq-server is installed.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def build():
    out = Path(tempfile.mkdtemp(prefix="bench-bundle-")) / "sim"
    subprocess.run([PY, str(HERE / "build_firmware.py"), "--board", "sim", "--out", str(out)], check=True,
                   capture_output=True)
    return out


def sim_day(bundle):
    out = tempfile.mkdtemp(prefix="bench-sim-")
    env = dict(os.environ, SIM_BUNDLE=str(bundle))
    speed = os.environ.get("BENCH_SIM_SPEED", "20000")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    r = subprocess.run([PY, str(HERE / "sim.py"), "--scenario", "household", "--out", out, "--quiet",
                        "--speed", speed], env=env, capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rec = json.loads((Path(out) / "recording.json").read_text())
    days = (rec["end_ts"] - rec["start_ts"]) / 86400
    ok = r.returncode == 0
    print("household sim: %.2f simulated days, 3 meters, requested speed %s" % (days, speed))
    print("  wall time per simulated day   %6.1f s   (CPU %.1f s per day, all processes)" % (wall / days, cpu / days))
    print("  expectations                  %s" % ("all hold" if ok else "FAILED: " + r.stdout.strip().splitlines()[-1]))
    return ok


def fleet(bundle, args):
    env = dict(os.environ, SIM_BUNDLE=str(bundle))
    r = subprocess.run([PY, str(HERE / "fleet.py")] + args, env=env, capture_output=True, text=True)
    return r


def main():
    bundle = build()
    ok = sim_day(bundle)
    n = os.environ.get("FLEET_N", "50")
    native = (ROOT / "build" / "native" / "micropython").exists()
    print("fleet at N=%s:" % n)
    pss = {}
    for port in (["native"] if native else []) + ["pypi"]:
        r = fleet(bundle, ["-n", n, "--json", "--port", port])
        if r.stdout.strip():
            for res in json.loads(r.stdout.strip().splitlines()[-1]):
                pss[port] = res["pss_kb_per_meter"]
                print("  %-6s broker %-10s connected %d/%d  p50 %.1f ms  p99 %.1f ms  events/s %.1f  "
                      "PSS %d KB/meter (RSS %d)  idle meter %.3f ms CPU/s  credits %s  events %s" % (
                          port, res["broker"], res["connected"], res["n"], res["p50_ms"], res["p99_ms"],
                          res["events_per_s"], res["pss_kb_per_meter"], res["rss_kb_per_meter"],
                          res["idle"]["meter_cpu_ms_per_s"], "ok" if res["credits_ok"] else "LOST",
                          "ok" if res["billing_events_ok"] else "LOST"))
        else:
            print("  %s failed: %s" % (port, (r.stderr.strip().splitlines() or ["?"])[-1]))
            ok = False
    if len(pss) == 2 and pss["native"]:
        print("  PSS per meter, PyPI port / native: x%.1f" % (pss["pypi"] / float(pss["native"])))
    args = ["--search", "--rounds", "2", "--start-n", os.environ.get("FLEET_START_N", "500"),
            "--max-n", os.environ.get("FLEET_MAX_N", "4000"), "--bisect", "1"]
    if not native:
        args = ["--search", "--max-n", os.environ.get("FLEET_MAX_N", "640")]
        print("fleet search: no native build (make native); on the PyPI port up to %s meters" % args[-1])
    r = fleet(bundle, args + ["--port", "native" if native else "pypi"])
    print("fleet search (p99 < 1 s, %s port):" % ("native" if native else "PyPI"))
    for line in r.stdout.strip().splitlines():
        print("  " + line)
    import rabbit_cluster
    if rabbit_cluster.available():
        r = fleet(bundle, ["--cluster", "-n", os.environ.get("CLUSTER_N", "40"), "--json"])
        print("fleet on a two-node RabbitMQ cluster (node 2 restarted mid-run):")
        if r.stdout.strip():
            for res in json.loads(r.stdout.strip().splitlines()[-1]):
                print("  connected %d/%d  p50 %.1f ms  p99 %.1f ms  events/s %.1f  credits %s  events %s" % (
                    res["connected"], res["n"], res["p50_ms"], res["p99_ms"], res["events_per_s"],
                    "ok" if res["credits_ok"] else "LOST", "ok" if res["billing_events_ok"] else "LOST"))
        else:
            print("  failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
            ok = False
    else:
        print("fleet on a RabbitMQ cluster: skipped (apt-get install rabbitmq-server)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
