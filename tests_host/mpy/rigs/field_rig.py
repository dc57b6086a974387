# Test-only fakes of the running app (app.APP) for the field-service tests: a Prepay-shaped
# recorder and a Driver-shaped recorder. They follow docs/architecture.md's facade and driver
# contract (emit/alarm/alarm_clear/save/status, safe_stop/can_clear) and record every call in
# `order`, so tests assert what the boot guard and the console did, in which sequence.


class FakeSupply:
    def __init__(self):
        self.state = "on"


class FakePrepay:
    def __init__(self, order):
        self.order = order
        self.events = []
        self.alarms = {}
        self.saves = 0
        self.fail_save = False
        self.balance_minor = 5000
        self.supply = FakeSupply()
        self.seq = 0
        self.cfg = {"report_s": 60}

    def emit(self, type, now_s, **fields):
        self.order.append("emit:" + type)
        if len(self.order) > 60:
            del self.order[:20]
        self.seq += 1
        ev = {"seq": self.seq, "ts": now_s, "type": type}
        ev.update(fields)
        self.events.append(ev)
        if len(self.events) > 40:          # a bounded log, like core/eventlog.py
            self.events.pop(0)
        return ev

    def alarm(self, name, now_s, latch=False, **fields):
        self.alarms[name] = now_s
        if latch:
            self.supply.state = "off_safety"
        self.emit("alarm", now_s, name=name, latch=latch, **fields)

    def alarm_clear(self, name, now_s):
        if name not in self.alarms:
            raise ValueError("alarm not active")
        del self.alarms[name]
        if self.supply.state == "off_safety":
            self.supply.state = "on"
        self.emit("alarm_clear", now_s, name=name)

    def save(self):
        self.order.append("save")
        if self.fail_save:
            raise OSError(28)
        self.saves += 1

    def pending_events(self):
        return list(self.events)

    def supply_command(self, on, now_s):
        # core/supply.py priority: a safety latch beats a remote command
        if self.supply.state != "off_safety":
            self.supply.state = "on" if on else "off_remote"

    def configure(self, patch, now_s):
        for k in patch:
            if k not in self.cfg:
                raise ValueError("unknown config key " + k)
        self.cfg.update(patch)

    def status(self, now_s):
        return {"balance": self.balance_minor, "supply": self.supply.state,
                "alarms": sorted(self.alarms)}


class FakeDriver:
    def __init__(self, order, kind):
        self.order = order
        self.KIND = kind
        self.safe_stops = []
        self.fail = False
        self.valve = "open"

    def safe_stop(self, now_s):
        self.order.append("safe_stop")
        if self.fail:
            raise RuntimeError("driver broken")
        self.safe_stops.append(now_s)
        if self.KIND == "gas":
            self.valve = "closed"

    def can_clear(self, alarm, remote):
        return True

    def op(self, name, args, now_s):
        return None

    def button(self, now_s):
        pass


class FakeMonoClock:
    """Only the monotonic side of the clock contract (the guard's healthy timer reads it)."""

    def __init__(self):
        self.mono = 0

    def mono_s(self):
        return self.mono


class FakeApp:
    def __init__(self, kind="electricity"):
        self.clock = FakeMonoClock()
        self.order = []
        self.prepay = FakePrepay(self.order)
        self.driver = FakeDriver(self.order, kind)
