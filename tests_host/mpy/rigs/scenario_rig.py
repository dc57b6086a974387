# Scenario scaffolding shared by the gas and water rigs (gas_rig.py, water_rig.py): a temp
# flash dir with Store + Prepay + the kind's SimBoard + Driver in one MicroPython process,
# in simulated time (no MQTT). Each kind's rig adds how its meter is run: gas tick by tick,
# water wake by wake.
import os
from rigclock import RigClock
from core.store import Store
from core.prepay import Prepay

T0 = 1767225600              # 2026-01-01 00:00 UTC (a Thursday)
TARIFF = {"price": 2000000}  # 2 minor units per litre
_n = [0]


class Clock(RigClock):
    def __init__(self, t=T0):
        RigClock.__init__(self, t)


def rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        try:
            os.remove(p)
        except OSError:
            rmtree(p)
    os.rmdir(d)


class ScenarioRig:
    KIND = None          # "gas" | "water"
    ARMS = None          # Prepay's arms argument (gas: True)

    def setup(self, SimBoard, Driver, cfg, root=None):
        """A fresh flash dir (or `root` as it is), the config, the clock and the board; then
        boot(). The caller credits and runs."""
        _n[0] += 1
        self.Driver = Driver
        self.root = root or "%srig_%d" % (self.KIND, _n[0])
        if root is None:
            rmtree(self.root)
            os.mkdir(self.root)
        self.cfg = {"tariff": TARIFF}
        if cfg:
            self.cfg.update(cfg)
        self.clock = Clock()
        self.board = SimBoard(self.cfg, self.clock)

    @property
    def now(self):
        return self.clock.t

    def boot(self):
        """A reboot: everything in RAM is rebuilt from flash (and, for water, RTC memory and
        the board's counters); the board keeps its world (it is the house)."""
        self.store = Store(self.root)
        if self.ARMS is None:
            self.p = Prepay(self.store, self.KIND, self.cfg, self.clock.t)
        else:
            self.p = Prepay(self.store, self.KIND, self.cfg, self.clock.t, arms=self.ARMS)
        self.d = self.Driver(self.p, self.board, self.cfg, self.store)

    def close(self):
        rmtree(self.root)
