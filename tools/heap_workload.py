"""The fixed workload of tools/bench_heap.py: one simulated meter with its link, driven
through a real broker by the reference head-end, judged on what it publishes.

    connect -> 64 small recharges with 36-character ids (a head-end's UUIDs): the meter's
    steady state, its ring of credited ids (ledger TXN_KEEP), its recent commands and its
    event log as full as months in the field leave them
    -> recharge x3, a time-of-use tariff with a standing charge, status
    (gas: the button at the meter, which runs the leak check and opens the valve)
    -> an hour of simulated metering (23:00 to midnight, load / flow from a sim_script)
    -> the daily rollover at local midnight ("daily" event)
    -> a broker restart while the link is up -> reconnect -> recharge, status.

The water meter talks only in radio sessions: it starts at a zero balance, so its credit
poll (60 s) opens the first session; its report interval (1 h, the shortest allowed)
opens the next one just after midnight, and the broker restarts inside that session.

The run passes when every command is acked ok, the four recharge events, the tariff event
and the daily event arrive, the meter reconnects after the restart, it is still running at
the end and it printed no traceback. Sim time runs at SPEED x real time.
"""
import calendar
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from headend import HeadEnd, provision  # noqa: E402

SPEED = 2000
AGE_N = 64              # = ledger.TXN_KEEP: the ring of credited ids full
SIM_START = calendar.timegm((2026, 3, 10, 23, 0, 0))       # a Tuesday, 23:00 UTC
TOU = {"tou": {"rates": {"peak": 22000, "flat": 15000, "valley": 8000},
               "weekday": [["00:00", "valley"], ["08:00", "peak"], ["17:00", "flat"], ["23:00", "valley"]],
               "weekend": [["00:00", "valley"], ["09:00", "flat"], ["22:00", "valley"]],
               "tz_offset_s": 0},
       "standing_minor_per_day": 25}
# use from 23:20, after the commands: intermittent for gas (its long-use shutoff is 1 h)
SCRIPT = {
    "electricity": {"daily": [["00:00", {"load_w": 0, "pf": 1.0}], ["23:20", {"load_w": 1800, "pf": 0.95}]]},
    "water": {"daily": [["00:00", {"flow_lph": 0}], ["23:20", {"flow_lph": 120}], ["23:35", {"flow_lph": 0}],
                        ["23:45", {"flow_lph": 40}]]},
    "gas": {"daily": [["00:00", {"flow_lph": 0}], ["23:20", {"flow_lph": 300}], ["23:35", {"flow_lph": 0}],
                      ["23:45", {"flow_lph": 200}]]},
}


class Port:
    """One MicroPython binary and how it finds the firmware."""

    def __init__(self, name, exe, main, path):
        self.name, self.exe, self.main, self.path = name, str(exe), str(main), path

    def env(self):
        return dict(os.environ, MICROPYPATH=self.path)


class Run:
    def __init__(self, port, kind, heap_k, broker, tmp, probe=None, age_n=AGE_N):
        self.port, self.kind, self.heap_k, self.broker = port, kind, heap_k, broker
        self.age_n = age_n      # 0: a fresh meter (rings empty)
        self.dir = Path(tmp) / ("%s-%s-%dk-%d" % (port.name, kind, heap_k, time.monotonic_ns() % 10 ** 9))
        self.id = "hp-" + kind[:1]
        self.probe = probe
        self.why = None
        self.evts = []
        self.online_at = []          # real times the meter said online

    def _drain(self, he):
        while not he.q.empty():
            meter, leaf, obj, _ = he.q.get()
            if leaf == "evt":
                self.evts.append(obj)
            elif leaf == "state" and isinstance(obj, dict) and obj.get("online"):
                self.online_at.append(time.monotonic())

    def _wait(self, he, pred, timeout_s, what):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self._drain(he)
            if pred():
                return True
            if self.proc.poll() is not None:
                self.why = "meter exited (rc %s) waiting for %s" % (self.proc.returncode, what)
                return False
            time.sleep(0.02)
        self.why = "no %s within %.0f s" % (what, timeout_s)
        return False

    def _age(self, he, key, n):
        """n recharges one after the other, each after the previous ack (as a head-end's
        recharges come: one loop pass of the meter never holds more than one)."""
        for i in range(n):
            cid = "a%d" % (i + 1)
            txn = "%08x-%04x-%04x-%04x-%012x" % (0x5eed0000 + i, i, 0x4000 | i, 0x8000 | i, i * 7919)
            he.send(self.id, key, "recharge", {"txn": txn, "amount": 10}, seq=i + 1, cid=cid, wait_s=0)
            end = time.monotonic() + 8
            while he.wait_ack(cid, 0, 0.2) is None:
                if self.proc.poll() is not None or time.monotonic() > end:
                    self.why = "no ack of aging recharge %d (%s)" % (
                        i + 1, "meter exited" if self.proc.poll() is not None else "timeout")
                    return False
            if not he.acks[cid][0].get("ok"):
                self.why = "aging recharge not acked ok: %s" % he.acks[cid][0]
                return False
        return True

    def _cmds(self, he, key, cmds):
        for seq, op, args in cmds:
            cid = "c%d" % seq
            he.send(self.id, key, op, args, seq=seq, cid=cid, wait_s=0)
            if not self._wait(he, lambda: he.acks.get(cid), 8, "ack of %s (seq %d)" % (op, seq)):
                return False
            a = he.acks[cid][0]
            if not a.get("ok"):
                self.why = "%s (seq %d) not acked ok: %s" % (op, seq, a)
                return False
        return True

    def _types(self, t):
        return [e for e in self.evts if isinstance(e, dict) and e.get("type") == t]

    def go(self):
        """-> True when the workload ran through; self.why says what failed, self.out holds
        the meter's output."""
        self.dir.mkdir(parents=True)
        extra = {"sim_start": SIM_START, "sim_script": SCRIPT[self.kind]}
        if self.kind == "water":
            extra["config"] = {"credit_poll_s": 60, "session_report_s": 3600}
        conf = provision(str(self.dir), self.id, self.kind, self.broker.uri, SPEED, extra=extra)
        key = bytes.fromhex(conf["key"])
        script = self.port.main
        if self.probe:
            script = str(self.dir.parent / "heap_probe.py")   # its own folder holds no firmware
            shutil.copyfile(self.probe, script)
        he = HeadEnd(self.broker.uri, "meters", self.id, username="hp-headend")
        log = open(self.dir / "meter.log", "w")
        self.proc = subprocess.Popen([self.port.exe, "-X", "heapsize=%dk" % self.heap_k, script, str(self.dir)],
                                     env=self.port.env(), stdout=log, stderr=subprocess.STDOUT, cwd=str(self.dir))
        ok = False
        try:
            ok = self._steps(he, key)
        finally:
            alive = self.proc.poll() is None
            if alive and self.probe:
                (self.dir / "stop").write_text("")      # heap_probe.py stops and reports
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            log.close()
            he.close()
            self.out = (self.dir / "meter.log").read_text(errors="replace")
        if ok and not alive:
            ok, self.why = False, "meter exited before the end (rc %s)" % self.proc.returncode
        if ok and ("Traceback" in self.out or "MemoryError" in self.out):
            ok, self.why = False, "traceback in the meter's output"
        return ok

    def _steps(self, he, key):
        if not self._wait(he, lambda: self.online_at, 15, "first connect"):
            return False
        if not self._age(he, key, self.age_n):
            return False
        s = self.age_n
        if not self._cmds(he, key, [(s + 1, "recharge", {"txn": "t1", "amount": 300}),
                                    (s + 2, "recharge", {"txn": "t2", "amount": 300}),
                                    (s + 3, "recharge", {"txn": "t3", "amount": 300}),
                                    (s + 4, "tariff", TOU), (s + 5, "status", {})]):
            return False
        if self.kind == "gas":
            he.publish_raw(self.id, b'{"button": "press"}', topic="sim", qos=1)
        if not self._wait(he, lambda: self._types("daily"), 30, "daily event"):
            return False
        n_online = len(self.online_at)
        self.broker.restart()
        if not self._wait(he, lambda: len(self.online_at) > n_online, 30, "reconnect after the broker restart"):
            return False
        if not self._cmds(he, key, [(s + 6, "recharge", {"txn": "t4", "amount": 300}),
                                    (s + 7, "status", {})]):
            return False
        if not self._wait(he, lambda: {"t1", "t2", "t3", "t4"} <= {e.get("txn") for e in self._types("recharge")}
                          and self._types("tariff"), 10, "recharge and tariff events"):
            return False
        return True

    def heap(self):
        """The probe's figures, with the largest block in bytes, or None."""
        res = None
        big = 0
        for line in self.out.splitlines():
            if "HEAP {" in line:        # a SIGINT may cut a mem_info() line short before it
                res = json.loads(line[line.index("HEAP {") + 5:])
            elif "max blk sz:" in line:
                big = max(big, int(line.split("max blk sz:")[1].split(",")[0]))
        if res is not None:
            res["largest_b"] = big * res["block_b"]
        return res

    def failure(self):
        """The MemoryError and where it struck, from the meter's output."""
        lines = self.out.splitlines()
        for i, l in enumerate(lines):
            if "MemoryError" in l:
                where = [x.strip() for x in lines[max(0, i - 3):i] if x.strip().startswith("File")]
                return "%s (%s)" % (l.strip(), where[-1] if where else "no traceback")
        return None
