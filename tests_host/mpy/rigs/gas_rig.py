# Scenario scaffolding for the gas meter (scenario_rig.py): stepped tick by tick in
# simulated time (no MQTT).
from sim_gas import SimBoard
from meters.gas import Driver
from scenario_rig import ScenarioRig, T0, TARIFF, Clock, rmtree  # noqa: F401 (scenarios use T0)


class Rig(ScenarioRig):
    KIND = "gas"
    ARMS = True

    def __init__(self, gas=None, balance=100000, armed_on=True, cfg=None, root=None):
        if gas:
            cfg = dict(cfg or {})
            cfg["gas"] = gas
        self.setup(SimBoard, Driver, cfg, root)
        self.boot()
        if balance:
            self.p.recharge("init", balance, self.now)
        if armed_on:
            self.press()
            self.run_until(lambda: self.state == "on", 400)
            self.events()

    def reboot(self):
        """Power cut: nothing saved beyond what is already on flash; the valve stays where
        it physically is; the board keeps its world (it is the house)."""
        self.boot()

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
