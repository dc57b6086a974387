# Scenario scaffolding for the water meter: Store(tmpdir) + Prepay + SimBoard + Driver in
# one MicroPython process, woken wake by wake in simulated time (no MQTT). The clock jumps
# to each wake the driver asks for (period_s), as the app does between deep sleeps.
from rigclock import RigClock
import os
from core.store import Store
from core.prepay import Prepay
from sim_water import SimBoard
from meters.water import Driver

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


class Rig:
    def __init__(self, balance=1000000, cfg=None):
        _n[0] += 1
        self.root = "waterrig_%d" % _n[0]
        rmtree(self.root)
        os.mkdir(self.root)
        self.cfg = {"tariff": TARIFF}
        if cfg:
            self.cfg.update(cfg)
        self.clock = Clock()
        self.board = SimBoard(self.cfg, self.clock)
        self.log = []           # every event seen, in order
        self.sessions = []      # (now_s, reason)
        self.wakes = 0
        self.broker_ok = True   # False: sessions fail (no broker), as during an outage
        self.boot()
        if balance:
            self.p.recharge("init", balance, self.now)
        self.wake()

    @property
    def now(self):
        return self.clock.t

    def boot(self):
        """A (deep-sleep or power-on) reboot: everything in RAM is rebuilt from flash,
        RTC memory and the board's counters."""
        self.store = Store(self.root)
        self.p = Prepay(self.store, "water", self.cfg, self.clock.t)
        self.d = Driver(self.p, self.board, self.cfg, self.store)

    def wake(self):
        """One wake as firmware/app.py runs it: driver, core, ask whether a session is due
        (the driver sees the wake's new events still pending), then drain them."""
        now = self.clock.t
        self.d.tick(now)
        self.p.tick(now)
        self.wakes += 1
        due = self.d.session_due(now)
        self.drain()
        if due:
            self.sessions.append((now, self.d.last_reason))
            self.on_session(now)
            self.drain()
            # as the app ends it: ok unless the test says the broker was out of reach
            self.d.session_end(now, self.broker_ok)

    def drain(self):
        evs = self.p.pending_events()
        if evs:
            self.log.extend(evs)
            self.p.events_delivered(evs[-1]["seq"])

    def on_session(self, now):
        pass

    def sleep(self):
        s = self.d.period_s()
        assert s >= 1, s
        self.clock.t += s
        return s

    def run(self, secs):
        end = self.clock.t + secs
        while True:
            s = self.d.period_s()
            if self.clock.t + s > end:
                break
            self.clock.t += s
            self.wake()
        self.clock.t = end

    def run_until(self, pred, secs):
        end = self.clock.t + secs
        while self.clock.t < end:
            self.clock.t += self.d.period_s()
            self.wake()
            if pred():
                return self.clock.t
        return None

    def sim(self, msg):
        # as the app routes the sim topic: the button to driver.button, the rest to sim
        if "button" in msg:
            self.d.button(self.now)
            self.wake()
            return
        self.d.sim(msg)
        if self.d.wake_now:
            self.wake()

    def types(self, t=None):
        return [e for e in self.log if t is None or e["type"] == t]

    def alarms(self, name, active=True):
        return [e for e in self.log if e["type"] in ("alarm", "alarm_clear") and e["name"] == name
                and e["active"] == active]
