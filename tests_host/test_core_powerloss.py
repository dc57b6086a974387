"""Power-loss test: kill -9 the MicroPython process at random instants of a running
workload (tests_host/mpy/core_driver.py workload), restart it on the same flash dir.

Asserted after every restart:
  - the files always load (the process boots and prints its state; it never dies by itself);
  - no credit the workload printed as ACK (after save()) is lost, and none is applied
    twice: the persisted credit total equals the acknowledged credits plus a subset of
    the at-most-one in-flight credit, and redelivering acknowledged txns returns dup;
  - lost consumption stays within the documented bound:
      batch_use - 1 + one consume() chunk = 50 - 1 + 15 = 64 Wh (docs/ledger.md);
  - balance == credits - charges - standing - recovered, exactly.

POWERLOSS_TRIALS (default 300) scales the trial count; two independent chains run in
parallel threads (each on its own flash dir). SIGKILL on the unix port ends the process at
once, like a power cut; OS page cache survives it, so this tests the
order of writes, and tests_host/test_core_lfs.py covers cuts at the flash-block level.
"""
import itertools
import os
import random
import subprocess
import threading
import time

from conftest import MICROPYTHON, mpy_env

# the workload floor from a long clone path is 121k (tools/heap_margins.py); policy: floor +
# >= 16k in 16k steps. CORE_HEAP overrides.
HEAP = os.environ.get("CORE_HEAP", "144k")
TRIALS = int(os.environ.get("POWERLOSS_TRIALS", "300"))
DRIVER = os.path.join(os.path.dirname(__file__), "mpy", "core_driver.py")
BATCH_USE = 50
MAX_CHUNK = 15
LOST_BOUND = BATCH_USE - 1 + MAX_CHUNK


def _subset_sums(vals):
    out = set()
    for r in range(len(vals) + 1):
        for c in itertools.combinations(vals, r):
            out.add(sum(c))
    return out


def chain(flash, trials, seed0, rnd, report):
    certain = 0          # credits known to be persisted
    inflight = {}        # txn -> amount of an attempt not known to be persisted
    resent_new = {}      # txn -> amount re-credited in this trial, certain once READY
    acked = []
    last_reg = 0
    boot_reg = 0
    prev_out = ""
    stats = {"trials": 0, "booted": 0, "max_lost": 0, "acks": 0}
    for t in range(trials):
        seed = seed0 + t
        resend = list(inflight) + acked[-3:]
        args = [MICROPYTHON, "-X", "heapsize=" + HEAP, DRIVER, flash, "workload", str(seed)]
        if resend:
            args.append(",".join(resend))
        errf = open(flash + ".stderr", "w+")
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errf, env=mpy_env(), text=True)
        head = []
        if rnd.random() < 0.8:
            # most cuts land in the running workload: wait for READY, then a random instant
            while True:
                line = p.stdout.readline()
                head.append(line)
                if not line or line.startswith("READY"):
                    break
            time.sleep(rnd.random() * 0.06)
        else:
            time.sleep(rnd.random() * 0.15)  # blind: anywhere from start-up to the workload
        p.kill()
        # read through the same buffered reader (communicate() would skip its buffer)
        out = "".join(head) + p.stdout.read()
        p.stdout.close()
        p.wait()
        errf.seek(0)
        err = errf.read()
        errf.close()
        assert p.returncode == -9, "process ended by itself (%s):\n%s\n%s" % (
            p.returncode, out[-1500:], err[-3000:])
        stats["trials"] += 1
        resent_new = {}
        ready = False
        lines = out.split("\n")
        lines.pop()  # "" after the last newline, or a line the kill cut short: its print
        # had not returned, so nothing after it ran
        for line in lines:
            parts = line.split(" ")
            if len(parts) < 2 and parts[0] != "READY":
                break  # a line cut by the kill
            k = parts[0]
            if k == "BOOT":
                import json
                try:
                    s = json.loads(line[5:])
                except ValueError:
                    break
                stats["booted"] += 1
                extra = s["cr"] - certain
                assert extra in _subset_sums(list(inflight.values())), (
                    "credits %d: certain %d, in flight %r\nprev:%s\nnow:%s" % (s["cr"], certain, inflight, prev_out[-3000:], out[:500]))
                assert s["bal"] == s["cr"] - s["ch"] - s["st"] - s["rc"], s
                assert s["reg"] >= boot_reg, "register went back"
                assert s["reg"] <= last_reg + MAX_CHUNK, (s["reg"], last_reg)
                lost = last_reg - s["reg"]
                assert lost <= LOST_BOUND, "lost %d Wh > bound %d" % (lost, LOST_BOUND)
                stats["max_lost"] = max(stats["max_lost"], lost)
                boot_reg = s["reg"]
                last_reg = s["reg"]
            elif k == "RESEND" and len(parts) == 3:
                txn, r = parts[1], parts[2]
                if txn in inflight:
                    if r == "False":
                        certain += inflight.pop(txn)
                    elif r == "True":
                        inflight[txn] = 100
                        resent_new[txn] = 100
                elif r in ("True", "False"):
                    assert r == "False", "acknowledged txn %s credited twice" % txn
            elif k == "READY":
                ready = True
                for txn in resent_new:
                    certain += inflight.pop(txn)
                resent_new = {}
            elif k == "TRY" and len(parts) == 3:
                inflight[parts[1]] = int(parts[2])
            elif k == "ACK" and len(parts) == 3 and parts[1] in inflight:
                certain += inflight.pop(parts[1])
                acked.append(parts[1])
                stats["acks"] += 1
            elif k == "REG" and len(parts) == 2 and parts[1].isdigit():
                last_reg = int(parts[1])
        assert len(inflight) <= 2, inflight
        prev_out = out
    report.append(stats)


def test_kill9_at_random_instants(tmp_path):
    rnd = random.Random(int(os.environ.get("POWERLOSS_SEED", "20240601")))
    report = []
    errors = []
    n = (TRIALS + 1) // 2

    def run(i):
        try:
            chain(str(tmp_path / ("flash%d" % i)), n, 1000 * i, random.Random(rnd.random()), report)
        except BaseException as e:  # surface in the main thread
            errors.append(e)

    th = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    if errors:
        raise errors[0]
    total = {k: sum(r[k] for r in report) for k in report[0]}
    total["max_lost"] = max(r["max_lost"] for r in report)
    print("powerloss:", total)
    assert total["trials"] >= TRIALS
    # the kills must land in all phases: during boot and well into the workload
    assert total["booted"] > TRIALS // 2 and total["acks"] > TRIALS // 2, total
