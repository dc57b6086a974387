# Scenario scaffolding for the gas meter: Store(tmpdir) + Prepay + SimBoard + Driver in one
# MicroPython process, stepped tick by tick in simulated time (no MQTT).
from rigclock import RigClock
import os
from core.store import Store
from core.prepay import Prepay
from sim_gas import SimBoard
from meters.gas import Driver

T0 = 1767225600          # 2026-01-01 00:00 UTC
TARIFF = {"price": 2000000}   # 2 minor units per litre
_n = [0]


class Clock(RigClock):
    def __init__(self, t=T0):
        RigClock.__init__(self, t)


def _rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(d)


class Rig:
    def __init__(self, gas=None, balance=100000, armed_on=True, cfg=None, root=None):
        _n[0] += 1
        self.root = root or "gasrig_%d" % _n[0]
        if root is None:
            _rmtree(self.root)
            os.mkdir(self.root)
        self.cfg = {"tariff": TARIFF}
        if cfg:
            self.cfg.update(cfg)
        if gas:
            self.cfg["gas"] = gas
        self.clock = Clock()
        self.board = SimBoard(self.cfg, self.clock)
        self.boot()
        if balance:
            self.p.recharge("init", balance, self.now)
        if armed_on:
            self.press()
            self.run_until(lambda: self.state == "on", 400)
            self.events()

    def boot(self):
        self.store = Store(self.root)
        self.p = Prepay(self.store, "gas", self.cfg, self.clock.t, arms=True)
        self.d = Driver(self.p, self.board, self.cfg, self.store)

    def reboot(self):
        """Power cut: nothing saved beyond what is already on flash; the valve stays where
        it physically is; the board keeps its world (it is the house)."""
        self.boot()

    @property
    def now(self):
        return self.clock.t

    @property
    def state(self):
        return self.p.supply.state

    @property
    def valve(self):
        return self.d.valve.position

    def physically_closed(self):
        return self.board.valve_model.pos == 0

    def sim(self, **msg):
        self.board.sim(msg)

    def press(self):
        self.board.sim({"button": "press"})

    def step(self, n=1):
        for _ in range(n):
            self.clock.t += self.d.period_s()
            self.d.tick(self.clock.t)
            self.p.tick(self.clock.t)

    def run_until(self, cond, limit_s):
        """Step until cond() holds; returns the simulated seconds taken or None."""
        t0 = self.clock.t
        while self.clock.t - t0 < limit_s:
            if cond():
                return self.clock.t - t0
            self.step()
        return self.clock.t - t0 if cond() else None

    def events(self, type=None):
        ev = self.p.pending_events()
        if ev:
            self.p.events_delivered(ev[-1]["seq"])
        self._last = ev if type is None else [e for e in ev if e["type"] == type]
        return self._last

    def alarms_raised(self, ev=None):
        return [e["name"] for e in (ev or self.events()) if e["type"] == "alarm" and e.get("active")]

    def close(self):
        _rmtree(self.root)
