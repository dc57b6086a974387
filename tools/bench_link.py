#!/usr/bin/env python3
"""bench: link. Command -> ack round trip through mosquitto on loopback (p50/p99 over N
commands, BENCH_N, default 1000) beside the bare broker round trip (paho publish looped back to
a paho subscriber) measured in the same run; then the smallest -X heapsize at which a simulated
meter with the link boots, connects and answers a status command."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests_host"))
from brokers import Broker, mosquitto_path  # noqa: E402
from headend import HeadEnd, provision  # noqa: E402
from conftest import MICROPYTHON, mpy_env  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import socket  # noqa: E402

KIND = "electricity" if (ROOT / "firmware/meters/electricity.py").exists() else "gas"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def bare(b, n):
    got = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda *a: got.append(time.perf_counter())
    c.connect("127.0.0.1", b.port)
    c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.subscribe("bench/x", 1)
    c.loop_start()
    time.sleep(0.3)
    rtt = []
    for i in range(n):
        k = len(got)
        t0 = time.perf_counter()
        c.publish("bench/x", b"x" * 120, qos=1)
        while len(got) == k:
            time.sleep(0.00002)
        rtt.append(got[-1] - t0)
    c.loop_stop()
    c.disconnect()
    return rtt


def meter(flash, heap):
    return subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + heap, str(ROOT / "firmware/main.py"), flash],
                            env=mpy_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def cmd_rtt(b, n, tmp):
    conf = provision(tmp + "/m", "b-1", KIND, b.uri, 1)
    key = bytes.fromhex(conf["key"])
    p = meter(tmp + "/m", "256k")
    he = HeadEnd(b.uri, "meters", "b-1")
    try:
        for _ in range(100):
            if he.send("b-1", key, "status", {}, seq=1, wait_s=0.2):
                break
        rtt = []
        for i in range(n):
            t0 = time.perf_counter()
            a = he.send("b-1", key, "recharge", {"txn": "b%d" % i, "amount": 1}, seq=2 + i)
            rtt.append(time.perf_counter() - t0)
            assert a and a["ok"], a
        return rtt
    finally:
        he.close()
        p.terminate()
        p.wait()


def boots(b, heap, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    conf = provision(d, "h-1", KIND, b.uri, 50)
    p = meter(d, heap)
    he = HeadEnd(b.uri, "meters", "h-1")
    ok = False
    try:
        for _ in range(15):
            a = he.send("h-1", bytes.fromhex(conf["key"]), "status", {}, seq=1, wait_s=0.3)
            if a and a["ok"]:
                a = he.send("h-1", bytes.fromhex(conf["key"]), "recharge", {"txn": "h", "amount": 5}, seq=2,
                            wait_s=2)
                time.sleep(1.5)     # let it run a few dozen sim ticks after the command
                ok = bool(a and a["ok"]) and p.poll() is None
                break
            if p.poll() is not None:
                break
    finally:
        he.close()
        p.terminate()
        p.wait()
    return ok


def main():
    if not mosquitto_path():
        print("link: mosquitto not installed (make sysdeps); skipped")
        return
    n = int(os.environ.get("BENCH_N", "1000"))
    tmp = tempfile.mkdtemp(prefix="bench-link-")
    b = Broker("mosquitto").start()
    try:
        br = bare(b, n)
        cr = cmd_rtt(b, n, tmp)
        b50, b99, c50, c99 = pct(br, 50), pct(br, 99), pct(cr, 50), pct(cr, 99)
        print("command->ack round trip, %s meter, mosquitto loopback, n=%d" % (KIND, n))
        print("  bare broker loop (paho->paho, QoS 1): p50 %.3f ms  p99 %.3f ms" % (b50 * 1e3, b99 * 1e3))
        print("  signed command -> ack (QoS 1)        : p50 %.3f ms  p99 %.3f ms" % (c50 * 1e3, c99 * 1e3))
        print("  ratio command/bare                   : p50 %.1fx  p99 %.1fx" % (c50 / b50, c99 / b99))
        floor = None
        for kb in (96, 112, 128, 144, 160, 192, 224, 256, 320):
            if boots(b, "%dk" % kb, tmp):
                floor = kb
                break
        print("heap floor (boot, connect, status + recharge, run): %s" %
              ("%d KiB" % floor if floor else "> 320 KiB"))
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
