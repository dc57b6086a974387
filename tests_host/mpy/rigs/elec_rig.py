# Scenario scaffolding for the electricity meter on the unix port: the real Store, Prepay,
# sim board part and Driver, ticked in simulated time in one process (no MQTT).
from rigclock import RigClock
import os
import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_tools = _here + "/../../../tools"
if _tools not in sys.path:
    sys.path.append(_tools)

from core.store import Store          # noqa: E402
from core.prepay import Prepay        # noqa: E402
import sim_electricity                 # noqa: E402
from meters.electricity import Driver  # noqa: E402

T0 = 1767225600            # 2026-01-01 00:00 UTC
PRICE = 20000              # 20 minor units per kWh = 20000 micro-minor per Wh
_n = [0]


class Clock(RigClock):
    def __init__(self, now_s):
        RigClock.__init__(self, now_s)


def fresh_dir(tag="elec"):
    _n[0] += 1
    d = "%s_%d_%d" % (tag, os.getpid() if hasattr(os, "getpid") else 0, _n[0])
    try:
        os.mkdir(d)
    except OSError:
        pass
    return d


class Rig:
    def __init__(self, cfg=None, balance_minor=100000, now_s=T0, root=None, board=None, clock=None):
        c = {"tariff": {"price": PRICE}}
        if cfg:
            c.update(cfg)
        self.cfg = c
        self.clock = clock or Clock(now_s)
        self.root = root or fresh_dir()
        self.store = Store(self.root)
        self.prepay = Prepay(self.store, "electricity", c, self.clock.now_s())
        self.board = board or sim_electricity.SimBoard(c, self.clock)
        self.drv = Driver(self.prepay, self.board, c, self.store)
        if balance_minor and self.prepay.balance_minor == 0:
            self.prepay.recharge("init", balance_minor, self.clock.now_s())
        self.seen = 0

    @property
    def now(self):
        return self.clock.t

    @property
    def world(self):
        return self.board.world

    def step(self, n=1):
        for _ in range(n):
            now = self.clock.t
            self.drv.tick(now)
            self.prepay.tick(now)
            self.clock.t = now + self.drv.period_s()

    def run_until(self, pred, max_s):
        """Step until pred() is true; returns the sim seconds taken, or None."""
        for i in range(max_s):
            if pred():
                return i
            self.step()
        return max_s if pred() else None

    def events(self, type=None, **match):
        out = []
        for e in self.prepay.pending_events():
            if type is not None and e["type"] != type:
                continue
            if all(e.get(k) == v for k, v in match.items()):
                out.append(e)
        return out

    def drain(self):
        evs = self.prepay.pending_events()
        if evs:
            self.prepay.events_delivered(evs[-1]["seq"])
        return evs

    def state(self):
        return self.prepay.supply.state

    def closed(self):
        return self.world.closed

    def reboot(self):
        """Power cycle: new Prepay and Driver from the same flash dir; the relay's
        contacts (the board's physical world) keep their position."""
        self.prepay.save()
        self.store = Store(self.root)
        self.prepay = Prepay(self.store, "electricity", self.cfg, self.clock.t)
        self.drv = Driver(self.prepay, self.board, self.cfg, self.store)
