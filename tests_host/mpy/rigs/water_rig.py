# Scenario scaffolding for the water meter (scenario_rig.py): woken wake by wake in
# simulated time (no MQTT). The clock jumps to each wake the driver asks for (period_s), as
# the app does between deep sleeps.
from sim_water import SimBoard
from meters.water import Driver
from scenario_rig import ScenarioRig, T0, TARIFF, Clock, rmtree  # noqa: F401 (scenarios use T0)


class Rig(ScenarioRig):
    KIND = "water"

    def __init__(self, balance=1000000, cfg=None):
        self.setup(SimBoard, Driver, cfg)
        self.log = []           # every event seen, in order
        self.sessions = []      # (now_s, reason)
        self.wakes = 0
        self.broker_ok = True   # False: sessions fail (no broker), as during an outage
        self.boot()
        if balance:
            self.p.recharge("init", balance, self.now)
        self.wake()

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
