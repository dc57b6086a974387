#!/usr/bin/env python3
"""bench: the sim and the fleet.

- the household sim's wall time per simulated day (meters running flat out), with its CPU time;
- the fleet at a fixed N against mosquitto (FLEET_N, default 50);
- the largest N at which p99 command->ack stays under 1 s (FLEET_MAX_N bounds the search);
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
    r = fleet(bundle, ["-n", n, "--json"])
    print("fleet at N=%s:" % n)
    if r.returncode == 0 or r.stdout.strip():
        for res in json.loads(r.stdout.strip().splitlines()[-1]):
            print("  broker %-10s connected %d/%d  p50 %.1f ms  p99 %.1f ms  events/s %.1f  RSS %d KB/meter  "
                  "broker CPU %s%%  credits %s  events %s" % (
                      res["broker"], res["connected"], res["n"], res["p50_ms"], res["p99_ms"], res["events_per_s"],
                      res["rss_kb_per_meter"], res["broker_cpu_pct"], "ok" if res["credits_ok"] else "LOST",
                      "ok" if res["billing_events_ok"] else "LOST"))
    else:
        print("  failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
        ok = False
    r = fleet(bundle, ["--search", "--max-n", os.environ.get("FLEET_MAX_N", "640")])
    print("fleet search (p99 < 1 s):")
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
