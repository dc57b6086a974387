# Run by tools/bench_ota.py on the MicroPython unix port, with the firmware from a bundle
# (not in tools/: tools/ota.py there would shadow the firmware's ota package):
#   micropython ota_heap_probe.py <flash dir> <published update dir> [normal|update|cycle|all]
# normal: run the meter only; update: also pull the update (exit 1 unless it staged);
# cycle: then restart in-process into the new bundle as main.py does on this port and run it;
# all (default): normal and update, then time the signature check.
# (the update's id, size and signature come from <published update dir>/update.json: the
# PyPI unix port dies with "FATAL: uncaught NLR" on a command-line argument over ~256 bytes)
# The real App (sim electricity meter, its broker unreachable) runs normally for a while,
# then pulls an update whose chunks are answered in-process from the published files (read
# 1 KiB at a time from disk, never held). Prints the live heap (after gc.collect) and the
# heap in use between collections, normal running against the update, and the time of the
# signature check against an HMAC command-frame check on the same port.
import gc
import json
import sys
import time

flash, pub = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "all"
with open(pub + "/update.json") as f:
    info = json.load(f)
uid, size, sig = info["update"], info["size"], info["sig"]
import app  # noqa: E402

a = app.App(flash)
link = a.link
sent = []
link.up = lambda: True
link.publish_now = lambda topic, msg, qos=0, retain=False: sent.append((topic, msg)) or 0


def answer(msg):
    req = json.loads(msg)
    f = req["f"]
    path = pub + ("/" + f if f in ("MANIFEST", "IMAGE") else "/files/" + f)
    with open(path, "rb") as fh:
        fh.seek(req["o"])
        data = fh.read(req["n"])
    return json.dumps({"u": req["u"], "f": f, "o": req["o"]}).encode() + b"\n" + data


slowest = [0, 0]                    # the longest loop pass (us): normal, during the update


def run(steps, update=False):
    live = used = 0
    for i in range(steps):
        t = time.ticks_us()
        a.step()
        if update:
            q = list(sent)
            sent[:] = []
            for topic, msg in q:
                if topic.endswith("ota/get"):
                    a.ota.on_data(answer(msg))     # what link.service() does in the pass
        else:
            sent[:] = []
        if i > 5:
            k = 1 if update else 0
            slowest[k] = max(slowest[k], time.ticks_diff(time.ticks_us(), t))
        used = max(used, gc.mem_alloc())
        if i % 10 == 0:
            gc.collect()
            live = max(live, gc.mem_alloc())
        if a.stop_code is not None:
            break
    return live, used


gc.collect()
n_live, n_used = run(300)
print("normal running: live heap %d bytes (max after gc.collect)" % n_live)
if mode == "normal":
    sys.exit(0)
a.ota.op({"update": uid, "size": size, "sig": sig}, a.clock.now_s())
t0 = time.ticks_ms()
u_live, u_used = run(20000, True)
dt = time.ticks_diff(time.ticks_ms(), t0)
print("during the update: live heap %d bytes (x%.2f the normal running heap); %s after %d ms"
      % (u_live, u_live / n_live,
         "switch requested" if a.stop_code == app.REBOOT else "NOT staged: " + str(a.ota.rec), dt))
print("longest loop pass: normal %d us, during the update %d us (x%.1f; the chunk server "
      "answers in-process here)" % (slowest[0], slowest[1], slowest[1] / max(1, slowest[0])))
if a.stop_code != app.REBOOT:
    sys.exit(1)
if mode == "update":
    sys.exit(0)
if mode == "cycle":
    a.shutdown()
    a = app = link = None
    sent[:] = []
    import loader
    loader.restart(flash)       # what main.py does after the switch on this port
    gc.collect()
    print("after the restart's purge: %d bytes still in use (interned names, the loader)"
          % gc.mem_alloc())
    import app
    a = app.App(flash)
    for _ in range(50):
        a.step()
    print("the new bundle runs:", app.FW)
    sys.exit(0)
from ota import rsa  # noqa: E402
from core import frame  # noqa: E402
import hashlib  # noqa: E402
from binascii import a2b_base64, unhexlify  # noqa: E402
n = a.ota.keys[0]
with open(pub + "/MANIFEST", "rb") as f:
    d = hashlib.sha256(f.read()).digest()
s = a2b_base64(sig)
assert rsa.verify(n, d, s)
key = unhexlify("00" * 32)
fr = frame.sign(key, b'{"id":"c-1","meter":"m","seq":1,"op":"status","args":{}}')
N = 50
t = time.ticks_us()
for _ in range(N):
    rsa.verify(n, d, s)
t_rsa = time.ticks_diff(time.ticks_us(), t) / N
t = time.ticks_us()
for _ in range(N):
    frame.open_frame(key, fr)
t_mac = time.ticks_diff(time.ticks_us(), t) / N
print("signature check (RSA-2048 PKCS#1 v1.5, e=65537): %.0f us; HMAC command frame check: %.0f us "
      "(x%.1f)" % (t_rsa, t_mac, t_rsa / t_mac))
