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
from heap_policy import APP_HEAP  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import socket  # noqa: E402

KIND = "electricity" if (ROOT / "firmware/meters/electricity").exists() else "gas"


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


def meter(flash, heap, bundle=None):
    """The meter from source (default) or from a .mpy bundle dir (tools/build_firmware.py)."""
    if bundle:
        env = dict(os.environ, MICROPYPATH="%s:%s" % (bundle, os.path.join(bundle, "lib")))
        main = os.path.join(bundle, "main.py")
    else:
        env, main = mpy_env(), str(ROOT / "firmware/main.py")
    return subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + heap, main, flash],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cmd_rtt(b, n, tmp, gap_s=0.0):
    """-> (recharge rtts, status rtts). gap_s > 0 spaces the commands out, so each one meets an
    idle meter (back to back, a command waits for the previous one's flash write)."""
    d = tempfile.mkdtemp(dir=tmp)
    conf = provision(d, "b-1", KIND, b.uri, 1)
    key = bytes.fromhex(conf["key"])
    p = meter(d, APP_HEAP)      # tools/heap_policy.py: the whole meter's heap
    he = HeadEnd(b.uri, "meters", "b-1")
    try:
        for _ in range(100):
            if he.send("b-1", key, "status", {}, seq=1, wait_s=0.2):
                break
        out = ([], [])
        for i in range(n):
            for k, op, args in ((0, "recharge", {"txn": "b%d" % i, "amount": 1}), (1, "status", {})):
                time.sleep(gap_s)
                t0 = time.perf_counter()
                a = he.send("b-1", key, op, args, seq=2 + 2 * i + k)
                out[k].append(time.perf_counter() - t0)
                assert a and a["ok"], a
        return out
    finally:
        he.close()
        p.terminate()
        p.wait()


SAVE_PROBE = """
import time, app
a = app.App(%r)
ts = []
for i in range(30):
    t0 = time.ticks_us(); a.prepay.save(); ts.append(time.ticks_diff(time.ticks_us(), t0))
ts.sort()
print(ts[15])
"""


def save_us(tmp):
    """Median prepay.save() (the one flash write a recharge needs before its ack), in process."""
    d = tempfile.mkdtemp(dir=tmp)
    provision(d, "s-1", KIND, "mqtt://127.0.0.1:1", 1)
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=256k", "-c", SAVE_PROBE % d], env=mpy_env(),
                       capture_output=True, text=True, cwd=d)
    try:
        return int(r.stdout.split()[-1])
    except (ValueError, IndexError):
        return None


def boots(b, heap, tmp, bundle=None):
    d = tempfile.mkdtemp(dir=tmp)
    conf = provision(d, "h-1", KIND, b.uri, 50)
    p = meter(d, heap, bundle)
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
        b50, b99 = pct(br, 50), pct(br, 99)
        print("command->ack round trip, %s meter, mosquitto loopback, n=%d per row" % (KIND, n))
        print("  bare broker loop (paho->paho, QoS 1)      : p50 %.3f ms  p99 %.3f ms" % (b50 * 1e3, b99 * 1e3))
        for label, gap in (("back to back", 0.0), ("spaced 10 ms", 0.01)):
            rc, st = cmd_rtt(b, n // 2, tmp, gap)
            for op, xs in (("recharge", rc), ("status", st)):
                c50, c99 = pct(xs, 50), pct(xs, 99)
                print("  %-8s %-12s -> ack: p50 %.3f ms  p99 %.3f ms  ratio p50 %.1fx  p99 %.1fx"
                      % (op, label, c50 * 1e3, c99 * 1e3, c50 / b50, c99 / b99))
        sv = save_us(tmp)
        print("  prepay.save() in process (one per recharge, before its ack; status saves after): "
              "%s us median" % sv)
        bundle = os.path.join(tmp, "bundle")
        r = subprocess.run([sys.executable, str(ROOT / "tools/build_firmware.py"), "--board", "sim",
                            "--out", bundle], capture_output=True, text=True)
        for label, bdir in (("source", None), (".mpy bundle", bundle if r.returncode == 0 else "")):
            if bdir == "":
                print("heap floor (%s): bundle build failed: %s" % (label, r.stderr.strip()[-200:]))
                continue
            floor = None
            for kb in (48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 200, 208, 216, 224, 240, 256, 320):
                if boots(b, "%dk" % kb, tmp, bdir):
                    floor = kb
                    break
            print("heap floor, %s (boot, connect, status + recharge, run): %s" %
                  (label, "%d KiB" % floor if floor else "> 320 KiB"))
    finally:
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
