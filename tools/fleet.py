#!/usr/bin/env python3
"""`make fleet N=...`: many simulated meters against one broker, driven by the head-end.

Each meter is a real firmware process (sim board, small heap): on the native build
(build/native/micropython, `make native`: the firmware frozen in, a few hundred KB of its
own per process) when it exists, else on the PyPI unix port running the .mpy bundle
(--port pypi forces that). The head-end sends recharges and status queries, one command per
meter per round, each round spread over max(N/50, --round-s) seconds, and follows acks,
events and state. Prints: meters connected, command->ack p50/p99 across the fleet, events
per second, memory per meter as PSS (/proc/<pid>/smaps_rollup: shared pages split between
the processes that share them), what an idle meter costs (CPU and wakeups a second, before
the commands), the CPU of the broker, the head-end and the whole machine while the commands
run. With --search it grows N (doubling from --start-n) until p99 reaches 1 s, reports the
largest N that stayed under and what binds. With --cluster it runs against a two-node
RabbitMQ cluster (meters spread over both nodes, the head-end on node 1), restarts node 2
mid-run, and checks that no acknowledged credit and no billing event was lost.

Only loopback addresses are used; every loop is bounded in count and time.
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import headend  # noqa: E402
import procstat  # noqa: E402
from brokers import Broker  # noqa: E402
from heap_policy import APP_HEAP  # noqa: E402

MICROPYTHON = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
# PyPI port: the deployable bundle that `make firmware BOARD=sim` compiles (.mpy), as an
# ESP32 would load it: importing from source needs far more heap for the compiler.
BUNDLE = Path(os.environ.get("SIM_BUNDLE") or ROOT / "build" / "sim")
MPYPATH = "%s:%s" % (BUNDLE, BUNDLE / "lib")
# native: tools/build_native.py's 64-bit build, the firmware frozen in (heap floor ~80k)
NATIVE = ROOT / "build" / "native" / "micropython"
NATIVE_MAIN = ROOT / "build" / "native" / "main.py"
IDLE_S = float(os.environ.get("FLEET_IDLE_S", "5"))
PSS_SAMPLE = 400                 # meters whose smaps_rollup is read (evenly spread)


def meter_port(choice="auto"):
    """-> (name, argv prefix, main.py, MICROPYPATH). auto: native when built and no
    MICROPYTHON is given."""
    if choice == "auto":
        choice = "native" if NATIVE.exists() and not os.environ.get("MICROPYTHON") else "pypi"
    if choice == "native":
        if not NATIVE.exists():
            raise SystemExit("fleet: no native build at %s (make native)" % NATIVE)
        # floor about 97k at start (2026-12-02; 96k died of MemoryError building the link, so
        # every meter of the fleet stayed unconnected) + >= 16k, rounded to 16k
        heap = os.environ.get("FLEET_HEAP", "128k")
        return "native", [str(NATIVE), "-X", "heapsize=" + heap], str(NATIVE_MAIN), ".frozen"
    heap = os.environ.get("FLEET_HEAP", APP_HEAP)      # tools/heap_policy.py
    return "pypi", [MICROPYTHON, "-X", "heapsize=" + heap], str(BUNDLE / "main.py"), MPYPATH


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")


class Fleet:
    def __init__(self, n, ports, host="127.0.0.1", root="fleet", workdir=None, creds=None, port="auto",
                 extra=None, sim_speed=1):
        self.n = n
        self.port = meter_port(port)
        self.extra = extra or {}    # more config.json keys for every meter (tools/ota_fleet.py)
        self.sim_speed = sim_speed
        self.creds = creds          # (username, password) provisioned into every meter, or None
        self.ports = ports          # meters are spread over these broker ports (cluster nodes)
        self.host = host
        self.root = root
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="fleet-"))
        self.meters = {}
        self.acks = {}              # command id -> (t_sent, t_ack, body)
        self.sent = {}
        self.events = {}            # meter id -> {seq: evt}
        self.online = set()
        self.n_evt = 0
        self.lock = threading.Lock()

    def provision(self):
        for i in range(self.n):
            mid = "f-%05d" % i
            port = self.ports[i % len(self.ports)]
            extra = {"sim_script": {"daily": [["00:00", {"load_w": 0, "pf": 1.0}]]}}
            extra.update(self.extra)
            if self.creds:
                extra["username"], extra["password"] = self.creds
            cfg = headend.provision(self.dir / mid, mid, "electricity", "mqtt://%s:%d" % (self.host, port),
                                    root=self.root, sim_speed=self.sim_speed, extra=extra)
            self.meters[mid] = {"key": bytes.fromhex(cfg["key"]), "dir": self.dir / mid, "proc": None, "seq": 0}

    def start(self):
        _, argv, main, path = self.port
        env = dict(os.environ, MICROPYPATH=path)
        for mid, m in self.meters.items():
            with open(self.dir / ("%s.log" % mid), "w") as log:     # the child keeps its own copy
                m["proc"] = subprocess.Popen(argv + [main, str(m["dir"])], stdout=log, stderr=subprocess.STDOUT,
                                             env=env, cwd=str(m["dir"]))

    def stop(self):
        for m in self.meters.values():
            if m["proc"] and m["proc"].poll() is None:
                m["proc"].send_signal(signal.SIGINT)
        for m in self.meters.values():
            if m["proc"]:
                try:
                    m["proc"].wait(10)
                except subprocess.TimeoutExpired:
                    m["proc"].kill()

    def on_message(self, c, u, msg):
        t = time.perf_counter()
        parts = msg.topic.split("/")
        if len(parts) != 3:
            return
        mid, leaf = parts[1], parts[2]
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        with self.lock:
            if leaf == "ack":
                cid = body.get("id")
                if cid in self.sent and cid not in self.acks:
                    self.acks[cid] = (self.sent[cid], t, body)
            elif leaf == "evt":
                self.events.setdefault(mid, {})[body.get("seq")] = body
                self.n_evt += 1
            elif leaf == "state":
                if body.get("online"):
                    self.online.add(mid)
                else:
                    self.online.discard(mid)

    def connect_headend(self, port):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-he-%d" % os.getpid())
        self.client.on_message = self.on_message
        if self.creds:
            self.client.username_pw_set(*self.creds)
        else:
            self.client.username_pw_set("fleet-headend")    # amqtt queues only for named sessions
        self.client.connect(self.host, port)
        self.client.socket().setsockopt(6, 1, 1)
        for leaf in ("ack", "evt", "state"):
            self.client.subscribe("%s/+/%s" % (self.root, leaf), qos=1)
        self.client.loop_start()

    def command(self, mid, op, args):
        m = self.meters[mid]
        m["seq"] += 1
        cid = "%s-%d" % (mid, m["seq"])
        body = {"id": cid, "meter": mid, "seq": m["seq"], "op": op, "args": args}
        payload = headend.sign(m["key"], json.dumps(body, separators=(",", ":")).encode())
        with self.lock:
            self.sent[cid] = time.perf_counter()
        self.client.publish("%s/%s/cmd" % (self.root, mid), payload, qos=1)
        return cid

    def wait_online(self, timeout_s):
        deadline = time.time() + timeout_s
        while time.time() < deadline and len(self.online) < self.n:
            time.sleep(0.2)
        return len(self.online)

    def drive(self, first, last, rate_per_s):
        """Rounds first..last-1: even rounds send every meter a recharge, odd ones a status
        query, paced at rate_per_s commands per second (on a schedule: no drift)."""
        cids, gap = [], 1.0 / rate_per_s
        t0 = time.perf_counter()
        for r in range(first, last):
            for mid in self.meters:
                op = ("recharge", {"txn": "%s-r%d" % (mid, r), "amount": 100}) if r % 2 == 0 else ("status", {})
                cids.append(self.command(mid, *op))
                wait = t0 + len(cids) * gap - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.lock:
                if all(c in self.acks for c in cids):
                    break
            time.sleep(0.1)
        return cids


def run(n, ports, broker_pid=None, rounds=4, round_s=20.0, restart=None, workdir=None, creds=None, port="auto"):
    f = Fleet(n, ports, workdir=workdir, creds=creds, port=port)
    f.provision()
    f.connect_headend(ports[0])
    time.sleep(0.3)
    t_start = time.time()
    f.start()
    try:
        connected = f.wait_online(30 + n * 0.2)
        pids = [m["proc"].pid for m in f.meters.values() if m["proc"].poll() is None]
        idle = procstat.Window(pids, broker_pid)       # nothing asked of the meters yet
        time.sleep(IDLE_S)
        idle = idle.end()
        mem_avail_kb = procstat.mem_available_kb()
        t0 = time.time()
        ev0 = f.n_evt
        rate = max(50.0, n / round_s)
        busy = procstat.Window(pids, broker_pid)
        cids = f.drive(0, rounds // 2, rate)
        if restart:
            restart()
            f.wait_online(60)
        cids += f.drive(rounds // 2, rounds, rate)
        busy = busy.end()
        dt = time.time() - t0
        lat = [(f.acks[c][1] - f.acks[c][0]) * 1000 for c in cids if c in f.acks]
        live = [m["proc"].pid for m in f.meters.values() if m["proc"].poll() is None]
        sample = live[::max(1, len(live) // PSS_SAMPLE)]
        pss = [k for k in (procstat.pss_kb(p) for p in sample) if k]
        rss = [k for k in (procstat.rss_kb(p) for p in sample) if k]
        res = {
            "n": n, "port": f.port[0], "connected": connected, "commands": len(cids), "acked": len(lat),
            "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
            "events_per_s": round((f.n_evt - ev0) / dt, 1), "commands_per_s": round(rate, 1),
            "pss_kb_per_meter": int(statistics.mean(pss)) if pss else 0,
            "rss_kb_per_meter": int(statistics.mean(rss)) if rss else 0,
            "mem_available_kb": mem_avail_kb, "mem_total_kb": procstat.mem_total_kb(),
            "broker_cpu_pct": busy["broker_cpu_pct"], "headend_cpu_pct": busy["headend_cpu_pct"],
            "meters_cpu_pct": busy["meters_cpu_pct"], "machine_busy_pct": busy["machine_busy_pct"],
            "idle": idle, "cores": os.cpu_count(), "loadavg_1m": os.getloadavg()[0],
            "startup_s": round(t0 - t_start - IDLE_S, 1),
        }
        res["credits_ok"], res["billing_events_ok"] = verify(f, cids)
        return res
    finally:
        f.stop()
        f.client.loop_stop()
        shutil.rmtree(f.dir, ignore_errors=True)


def verify(f, cids):
    """Every acknowledged recharge is credited exactly once and has its recharge event."""
    credits_ok = events_ok = True
    by_meter = {}
    for c in cids:
        if c not in f.acks:
            continue
        sent, _, ack = f.acks[c]
        if ack.get("ok") is not True:
            credits_ok = False
        else:
            by_meter.setdefault(c.rsplit("-", 1)[0], []).append(c)
    for mid, m in f.meters.items():
        acked = by_meter.get(mid, [])
        n_recharge_acks = sum(1 for c in acked if int(c.rsplit("-", 1)[1]) % 2 == 1)
        evts = [e for e in f.events.get(mid, {}).values() if e.get("type") == "recharge"]
        if len(evts) < n_recharge_acks:
            events_ok = False
        last = max((f.acks[c][2] for c in acked), key=lambda a: a.get("seq", 0), default=None)
        if last is not None and last.get("balance") != 100 * n_recharge_acks:
            credits_ok = False
    return credits_ok, events_ok


def main(argv=None):
    ap = argparse.ArgumentParser(description="fleet load test")
    ap.add_argument("-n", type=int, default=int(os.environ.get("N", "50")))
    ap.add_argument("--search", action="store_true", help="grow N until p99 >= 1 s")
    ap.add_argument("--max-n", type=int, default=int(os.environ.get("FLEET_MAX_N", "400")))
    ap.add_argument("--start-n", type=int, default=int(os.environ.get("FLEET_START_N", "10")),
                    help="the search's first N (it doubles from there)")
    ap.add_argument("--bisect", type=int, default=2, help="bisection steps after the doubling")
    ap.add_argument("--rounds", type=int, default=4, help="command rounds: recharge, status, recharge, ...")
    ap.add_argument("--round-s", type=float, default=20.0,
                    help="a round sends each meter one command over max(N/50, this) seconds")
    ap.add_argument("--port", choices=("auto", "native", "pypi"), default=os.environ.get("FLEET_PORT", "auto"),
                    help="meter binary: native build (make native) when present, else the PyPI port")
    ap.add_argument("--cluster", action="store_true", help="two-node RabbitMQ cluster")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ota", action="store_true", help="a signed update rolled out in waves (docs/ota.md)")
    a = ap.parse_args(argv)
    if a.ota:
        import ota_fleet
        return ota_fleet.main(a.n)
    out = []
    if a.cluster:
        from rabbit_cluster import RabbitCluster
        with RabbitCluster() as c:
            # RabbitMQ authenticates every named client: the meters get broker credentials
            # as a deployment would provision them (here the loopback-only default user)
            res = run(a.n, c.mqtt_ports, restart=lambda: c.restart_node(1), creds=("guest", "guest"),
                      round_s=a.round_s, port=a.port)
            res["broker"] = "rabbitmq 2-node cluster (node 2 restarted mid-run)"
            out.append(res)
    else:
        with Broker() as b:
            pid = b.proc.pid if b.proc else None
            if a.search:
                def good(n):
                    res = run(n, [b.port], pid, rounds=a.rounds, round_s=a.round_s, port=a.port)
                    res["broker"] = b.kind
                    out.append(res)
                    print_row(res)
                    sys.stdout.flush()
                    return res["p99_ms"] < 1000 and res["connected"] == n and res["acked"] == res["commands"]
                # double until p99 reaches 1 s, then --bisect steps between the last good and first bad
                n, best, bad = a.start_n, None, None
                while n <= a.max_n:
                    if not good(n):
                        bad = n
                        break
                    best = n
                    n *= 2
                for _ in range(a.bisect):
                    if best is None or bad is None or bad - best <= 20:
                        break
                    mid = (best + bad) // 2
                    if good(mid):
                        best = mid
                    else:
                        bad = mid
                top = [r for r in out if r["n"] == best]
                print("largest N with p99 < 1 s: %s%s%s" % (
                    best, "" if bad else " (the largest tried; raise --max-n)",
                    ", PSS %d KB per meter (%s port)" % (top[0]["pss_kb_per_meter"], top[0]["port"]) if top else ""))
                worst = [r for r in out if r["n"] == bad] or top
                if worst:
                    print("binds (at N=%d): %s" % (worst[0]["n"], binds(worst[0])))
            else:
                res = run(a.n, [b.port], pid, rounds=a.rounds, round_s=a.round_s, port=a.port)
                res["broker"] = b.kind
                out.append(res)
    if a.json:
        print(json.dumps(out))
    elif not a.search:
        for r in out:
            print_row(r)
    # a run passes only if every meter connected, every command was acked, every acked
    # credit is in the balance exactly once and every billing event arrived (a search's
    # last, overloaded step is allowed to miss the latency target, not to lose anything)
    bad = [r for r in out if not (r["credits_ok"] and r["billing_events_ok"] and r["connected"] == r["n"]
                                  and r["acked"] == r["commands"])]
    if a.search and bad and bad == out[-1:] and out[-1]["credits_ok"] and out[-1]["billing_events_ok"]:
        bad = []
    for r in bad:
        print("fleet: FAILED at N=%d: connected %d, acked %d/%d, credits %s, events %s" % (
            r["n"], r["connected"], r["acked"], r["commands"], r["credits_ok"], r["billing_events_ok"]))
    return 1 if bad else 0


def binds(r):
    """The resource nearest its limit in a run, in words, from the figures while the
    commands ran (each as a fraction of what it can use: the machine's cores, the one
    thread of mosquitto, the head-end's one Python thread, the memory)."""
    cores = r.get("cores") or 1
    pss_total_kb = r["pss_kb_per_meter"] * r["n"]
    ours = (r["meters_cpu_pct"] or 0) + (r["broker_cpu_pct"] or 0) + (r["headend_cpu_pct"] or 0)
    other = max(0.0, (r["machine_busy_pct"] or 0) * cores - ours)
    cand = [
        ((r["machine_busy_pct"] or 0) / 100.0,
         "CPU: %d cores %s%% busy (meters %s%% of a core, broker %s%%, head-end %s%%, other processes "
         "%.0f%%); an idle meter costs %.3f ms CPU and %.2f wakeups a second" % (
             cores, r["machine_busy_pct"], r["meters_cpu_pct"], r["broker_cpu_pct"], r["headend_cpu_pct"], other,
             r["idle"]["meter_cpu_ms_per_s"], r["idle"]["wakeups_per_meter_s"])),
        ((r["broker_cpu_pct"] or 0) / 100.0, "the broker: mosquitto's one thread %s%% busy" % r["broker_cpu_pct"]),
        ((r["headend_cpu_pct"] or 0) / 100.0, "the head-end: its Python thread %s%% busy" % r["headend_cpu_pct"]),
        (pss_total_kb / float(r["mem_total_kb"] or 1),
         "memory: %d MB of PSS for the fleet, %d MB available" % (pss_total_kb // 1024,
                                                                   (r["mem_available_kb"] or 0) // 1024)),
    ]
    frac, what = max(cand)
    return "%s (%.0f %% of its limit)" % (what, 100 * frac)


def print_row(r):
    print("%-10s %-6s N=%-5d connected %-5d acked %d/%d  p50 %.1f ms  p99 %.1f ms  cmd/s %.0f  pss %d KB/meter  "
          "idle %.3f ms CPU/s %.2f wakeups/s per meter  cpu: machine %s%% broker %s%% head-end %s%%  "
          "credits %s  events %s" % (
              r["broker"], r.get("port", "?"), r["n"], r["connected"], r["acked"], r["commands"], r["p50_ms"],
              r["p99_ms"], r.get("commands_per_s", 0), r.get("pss_kb_per_meter", 0),
              r["idle"]["meter_cpu_ms_per_s"], r["idle"]["wakeups_per_meter_s"], r["machine_busy_pct"],
              r["broker_cpu_pct"], r["headend_cpu_pct"],
              "ok" if r["credits_ok"] else "LOST", "ok" if r["billing_events_ok"] else "LOST"))


if __name__ == "__main__":
    sys.exit(main())
