"""The plumbing of the whole-meter stateful test (test_stateful_meter.py holds its rules):
one run is one meter (stateful_meter.Meter) and one model (stateful_model.Model); every
operation's answer goes through the model, a violation fails the run unless STATEFUL_IGNORE
names its category (a replay of a finding, FINDING set, fails on every one), and a meter that stopped (reset, crash, power cut, clean stop) is started
again on the same flash, with the world and the physical parts as they were."""
import os
import shutil
import tempfile

from hypothesis.stateful import RuleBasedStateMachine

from stateful_meter import PWRON, SOFT, T0, WDT, Meter, Tokens, frame
from stateful_model import Model
from stateful_probe import probe_exits

# steps per meter kind: 2000 (40 sequences of 50) is ~140 s of CPU for the three kinds,
# ~70 s of wall time added to a `make test` on two cores
STEPS = int(os.environ.get("STATEFUL_STEPS", "2000"))
PER_EXAMPLE = int(os.environ.get("STATEFUL_EXAMPLE_STEPS", "50"))
IGNORE = set(filter(None, os.environ.get("STATEFUL_IGNORE", "").split(",")))
STATS = {}
MPYPATH = [None]


class MeterRun(RuleBasedStateMachine):
    KIND = None
    # a replay (test_stateful_findings.py): the rule its finding broke. A replay fails on a
    # violation of ANY rule, not only that one: a fixed finding must leave the meter clean
    # (a category a replay let pass once hid a false alarm of the rig from every run)
    FINDING = None

    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="stateful-%s-" % self.KIND)
        self.meter = Meter(self.KIND, self.dir, MPYPATH[0])
        self.model = Model(self.KIND)
        self.tokens = Tokens()
        self.seq = self.cid = self.txn_n = 0
        self.frames = []
        self.t, self.mono, self.vms = T0, 0, 0
        self.broker_up = True
        self.nviol = 0
        self.boot_tries = 0
        self.trace = []
        self.failed = False
        s = STATS.setdefault(self.KIND, {"steps": 0, "examples": 0, "states": set(),
                                          "violations": {}})
        s["examples"] += 1
        self._boot(PWRON, None)

    # ---- plumbing --------------------------------------------------------------------------
    def _boot(self, cause, how, ans_before=None, rtc=None):
        flash_latches = (ans_before or {}).get("st") or {}
        act = {"boot": how, "flash_latches": flash_latches.get("flash_latches")
               if flash_latches else (self.model.st or {}).get("flash_latches"),
               "cleared_before": set(ev.get("name") for _, _, ev, _ in
                                     (ans_before or {}).get("evts", ()) if ev.get("type") == "alarm_clear")}
        self.boot_tries += 1
        if self.boot_tries > 6:
            self._fail("boot_loop", "the meter never came up: %s" % (ans_before or {}).get("detail"))
        last = self.model.st or {}
        ans = self.meter.start(cause, rtc or self.t, self.mono, self.vms + 1000, self.broker_up,
                               last.get("flash_latches") is not None, last.get("phys"))
        self._take(ans, dict(act, what="boot"))      # a boot that ends restarts from _take
        if "end" not in ans:
            self.boot_tries = 0
            # the world outlives the meter: a new sim board starts as it is (flow, voltage,
            # battery, magnet...), before the first tick
            w = dict(self.model.world)
            self._take(self.meter.send({"op": "sim", "msg": w, "run_s": 0}),
                       {"what": "world after boot", "sim": w})

    def _take(self, ans, act):
        act["printed"] = self.meter.printed[:]
        del self.meter.printed[:]
        if ans.get("st"):
            self.t, self.mono = ans["st"]["t"], ans["st"]["mono"]
        elif ans.get("evts"):
            # a run that ended without its final state (a power cut inside a tick) got at
            # least as far as its last event: the world never goes back to before it (the
            # RTC, when kept, moved with it); else a restart would date itself before an
            # overload trip the cut tick raised, and its reclose looked 3 s early
            last = max(e[0] for e in ans["evts"])
            if last > self.mono:
                self.t += last - self.mono
                self.mono = last
        self.vms = ans.get("vms", self.vms)
        self.model.observe(ans, act)
        # "ok": the operation ran; the codes of the acks it drew follow
        codes = ",".join(str(a.get("code")) for a in ans.get("acks") or ())
        self.trace.append("%s -> %s%s" % (act.get("what"), ans.get("end") or "ok",
                                          " [ack %s]" % codes if codes else ""))
        self._judge()
        if ans.get("end"):
            self._restart(ans)

    def _judge(self):
        """Fail on the new violations, except the categories STATEFUL_IGNORE names."""
        new = self.model.viol[self.nviol:]
        self.nviol = len(self.model.viol)
        s = STATS[self.KIND]
        for cat, msg in new:
            s["violations"].setdefault(cat, msg)
        if self.FINDING is not None:
            bad = new
        else:
            bad = [v for v in new if v[0] not in IGNORE and "all" not in IGNORE]
        if bad:
            self._fail(*bad[0], more=bad[1:])
        return bool(new)

    def report(self, cat, msg):
        self.model.bad(cat, msg)
        return self._judge()

    def _fail(self, cat, msg, more=()):
        self.failed = True
        lines = ["%s: %s" % (cat, msg)] + ["also %s: %s" % v for v in more]
        lines.append("last operations: " + "; ".join(self.trace[-8:]))
        raise AssertionError("\n".join(lines))

    def _restart(self, ans):
        end = ans["end"]
        if end == "shutdown":
            # a stop that could not save (a failing flash) leaves what is on flash
            self._boot(SOFT, "flash" if ans.get("detail") else "clean", ans)
        elif end == "reset":
            self._boot(SOFT, "flash", ans)
        elif end == "cut":
            self._boot(PWRON, "flash", ans, rtc=self._rtc_after_cut)
        else:
            self._boot(WDT, "flash", ans)

    _rtc_after_cut = None

    def do(self, op, what, **act):
        STATS[self.KIND]["steps"] += 1
        act["what"] = what
        ans = self.meter.send(op)
        self._take(ans, act)
        return ans

    def cmd(self, op, args, seq=None, exp=None, meter=None, key_ok=True, max_s=None, **act):
        self.cid += 1
        if seq is None:
            self.seq += 1
            seq = self.seq
        # a head-end never reuses a seq it sent (docs/protocol.md §3): a hostile seq above the
        # counter (an `old_seq` with nothing sent yet is seq 1, a fresh one) moves it up
        self.seq = max(self.seq, seq)
        cid = "c%d" % self.cid
        raw = frame(meter or self.meter.id, cid, seq, op, args, exp, key_ok)
        h = raw.hex()
        entry = {"seq": seq, "op": op, "args": args, "hex": h} if key_ok and meter is None else None
        self.frames.append((h, cid, entry))
        if entry:
            self.model.sent(cid, dict(entry))
        if max_s is None:
            max_s = 7200 if self.KIND == "water" else 10
        return self.do({"op": "cmd", "hex": h, "max_s": max_s}, "cmd %s %r seq %d" % (op, args, seq), **act)

    def teardown(self):
        try:
            if not self.failed and self.meter.proc is not None:
                probe_exits(self)
        finally:
            STATS[self.KIND]["states"] |= self.model.states
            self.meter.kill()
            shutil.rmtree(self.dir, ignore_errors=True)
