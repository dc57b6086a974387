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

    def emit(self, type, now_s, **fields):
        self.order.append("emit:" + type)
        self.seq += 1
        ev = {"seq": self.seq, "ts": now_s, "type": type}
        ev.update(fields)
        self.events.append(ev)
        return ev

    def alarm(self, name, now_s, latch=False, **fields):
        self.alarms[name] = now_s
        if latch:
            self.supply.state = "off_safety"
        self.emit("alarm", now_s, name=name, latch=latch, **fields)

    def alarm_clear(self, name, now_s):
        if name not in self.alarms:
            raise ValueError("no alarm " + name)
        del self.alarms[name]
        self.emit("alarm_clear", now_s, name=name)

    def save(self):
        self.order.append("save")
        if self.fail_save:
            raise OSError(28)
        self.saves += 1

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


class FakeApp:
    def __init__(self, kind="electricity"):
        self.order = []
        self.prepay = FakePrepay(self.order)
        self.driver = FakeDriver(self.order, kind)
