#!/usr/bin/env python3
"""bench: ota. Over-the-air updates (docs/ota.md):
- time and bytes to update one meter over loopback (mosquitto), against the bundle's size and
  against a bare transfer of the same chunks by a CPython client in the same run;
- the signature check on the unix port, against an HMAC command-frame check;
- the heap during an update, against the same meter running normally;
- a rollout over a fleet of real firmware processes in waves (BENCH_OTA_FLEET meters, 10)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import paho.mqtt.client as mqtt  # noqa: E402
import ota  # noqa: E402
import ota_fleet  # noqa: E402
import ota_rollout  # noqa: E402
from brokers import Broker  # noqa: E402
from headend import HeadEnd, provision  # noqa: E402

MICROPYTHON = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
HEAP = os.environ.get("OTA_HEAP", "384k")


def bare_transfer(b, pub_dir, info):
    """A CPython client pulling the same chunks from the same server, one at a time."""
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bare-ota")
    c.username_pw_set("bare")
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.connect("127.0.0.1", b.port)
    c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.subscribe("meters/bare/ota/data", 0)
    c.loop_start()
    time.sleep(0.3)
    d = Path(pub_dir) / info["update"]
    objs = [("MANIFEST", info["size"])] + [
        (p.relative_to(d / "files").as_posix(), p.stat().st_size)
        for p in sorted((d / "files").rglob("*")) if p.is_file()]
    t0 = time.perf_counter()
    n = 0
    for f, size in objs:
        for o in range(0, size, 1024):
            k = len(got)
            c.publish("meters/bare/ota/get", json.dumps(
                {"u": info["update"], "f": f, "o": o, "n": min(1024, size - o)}), qos=0)
            t_end = time.time() + 5
            while len(got) == k and time.time() < t_end:
                time.sleep(0.00005)
            n += 1
    dt = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    return dt, n


def one_meter(work, key, base, info, pub):
    with Broker() as b:
        srv = ota_rollout.ChunkServer(pub, b.uri)
        he = HeadEnd(b.uri, "meters", "+", username="bench-ota")
        conf = provision(str(work / "m"), "m-1", "electricity", b.uri, 10,
                         extra={"ota": {"pub": ota.pub_hex(key)}, "backoff_max_s": 1})
        k = bytes.fromhex(conf["key"])
        env = dict(os.environ, MICROPYPATH="%s:%s/lib" % (base, base))
        log = open(work / "m.log", "w")
        p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + HEAP, str(base / "main.py"),
                              str(work / "m")], env=env, stdout=log, stderr=subprocess.STDOUT)
        t = {}
        try:
            t_end = time.time() + 30
            while time.time() < t_end and "online" not in t:
                m, kind, obj, _ = he.q.get(timeout=30)
                if kind == "state" and obj.get("online"):
                    t["online"] = time.perf_counter()
            t["announce"] = time.perf_counter()
            he.send("m-1", k, "ota", {"update": info["update"], "size": info["size"], "sig": info["sig"]},
                    seq=int(time.time() * 1000), wait_s=0)
            t_end = time.time() + 120
            while time.time() < t_end and "committed" not in t:
                try:
                    m, kind, obj, _ = he.q.get(timeout=1)
                except Exception:
                    continue
                if kind == "ack" and obj.get("update") and "ack" not in t:
                    t["ack"] = time.perf_counter()
                if kind == "evt" and obj.get("type") == "ota":
                    t.setdefault(obj["status"], time.perf_counter())
                    if obj["status"] == "trial":
                        he.send("m-1", k, "status", {}, seq=int(time.time() * 1000), wait_s=0)
            chunks, data, wire = srv.chunks, srv.bytes, srv.wire
            bare_s, bare_n = bare_transfer(b, pub, info)
        finally:
            p.terminate()
            p.wait()
            he.close()
            srv.close()
    return t, chunks, data, wire, bare_s, bare_n


def main():
    work = Path(tempfile.mkdtemp(prefix="bench-ota-"))
    try:
        key = ota_fleet._key()
        base = ota_fleet.build(work / "base" / "sim", "1.0.0")
        new = ota_fleet.build(work / "new" / "sim", "1.1.0")
        pub = work / "pub"
        out = ota.sign_bundle(new, key, pub, "sim", "1.1.0", min_from="1.0.0", uid="bench-110",
                              health_s=120, loops=20)
        info = json.loads((out / "update.json").read_text())
        files = [p for p in (out / "files").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        print("update bundle: %d files, %d bytes, manifest %d bytes (signature 256)"
              % (len(files), size, info["size"]))
        t, chunks, data, wire, bare_s, bare_n = one_meter(work, key, base, info, pub)
        xfer = t["staged"] - t["announce"]
        print("one meter over loopback (mosquitto), announce -> ...:")
        for k in ("accepted", "staged", "trial", "committed"):
            if k in t:
                print("  %-10s %7.2f s" % (k, t[k] - t["announce"]))
        print("  chunks %d, data %d bytes (x%.3f the bundle + manifest), MQTT bytes both ways %d (x%.3f)"
              % (chunks, data, data / (size + info["size"]), wire, wire / (size + info["size"])))
        print("  transfer throughput %.0f KiB/s; bare CPython client, same %d chunks, same server: "
              "%.2f s (meter x%.1f)" % ((size + info["size"]) / 1024 / xfer, bare_n, bare_s, xfer / bare_s))
        print("  switch + reboot + probation (%s) + commit: %.2f s" % (
            "20 clean loops, a signed round trip", t["committed"] - t["staged"]))
        flash = work / "probe"

        def probe(mode, heap):
            shutil.rmtree(flash, ignore_errors=True)
            provision(str(flash), "p-1", "electricity", "mqtt://127.0.0.1:9", 10,
                      extra={"ota": {"pub": ota.pub_hex(key)}})
            return subprocess.run(
                [MICROPYTHON, "-X", "heapsize=" + heap, str(ROOT / "tests_host/mpy/ota_heap_probe.py"),
                 str(flash), str(out), mode], env=dict(os.environ, MICROPYPATH="%s:%s/lib" % (base, base)),
                capture_output=True, text=True, timeout=300, cwd=str(work))

        r = probe("all", "512k")
        print("heap on this 64-bit unix port (the bytecode of .mpy modules is in the heap here; "
              "frozen on a board it is not):")
        for line in r.stdout.splitlines():
            if not line.startswith("loader:"):
                print("  " + line)
        if r.returncode:
            print(r.stderr[-2000:])

        def floor(mode):
            lo, hi = 160, 512                   # KiB: fails at lo, passes at hi
            while hi - lo > 8:
                mid = (lo + hi) // 2 // 8 * 8
                if probe(mode, "%dk" % mid).returncode == 0:
                    hi = mid
                else:
                    lo = mid
            return hi
        fn, fu, fc = floor("normal"), floor("update"), floor("cycle")
        print("  smallest -X heapsize: running %dk, pulling and staging an update %dk (+%dk), "
              "then restarting in-process into it %dk (this port only: a board resets)"
              % (fn, fu, fu - fn, fc))
        n = int(os.environ.get("BENCH_OTA_FLEET", "10"))
        with Broker() as b:
            res, f = ota_fleet.run(n, b.uri, work / "fleet", waves=(10, 50, 100), log=lambda s: None,
                                   key=key)
            f.stop()
        ok = sum(1 for s in res["status"].values() if s == "committed")
        print("rollout over %d real firmware processes, waves 10/50/100 %%: %s, %d committed, "
              "%.1f s (start %.1f s), %d bytes served"
              % (n, res["result"], ok, res["seconds"]["rollout"], res["seconds"]["start"],
                 res["bytes_served"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
