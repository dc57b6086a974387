# TEST-ONLY stand-in for core.prepay.Prepay (used until / besides the real facade) and a
# minimal driver. It follows the docs/architecture.md contract: ValueError on bad args with
# nothing changed, mutators touch RAM only, save() persists one record through core.store.
from core.store import Store


class FakeSupply:
    def __init__(self):
        self.state = "on"


class FakePrepay:
    def __init__(self, store, kind, cfg, now_s):
        self.store = store
        self.kind = kind
        self.cfg = cfg
        r = store.load("prepay") or {}
        self.balance_minor = r.get("balance", 0)
        self.txns = r.get("txns", [])
        self.cmd = r.get("cmd", {"last_seq": 0, "recent": []})
        self.alarms = r.get("alarms", {})
        self.remote_off = r.get("remote_off", False)
        self.price = r.get("price", 200000)
        self.conf = r.get("conf", {"warn_pct": 30})
        self.ev_seq = r.get("ev_seq", 0)
        self.pending = r.get("pending", [])
        self.supply = FakeSupply()
        self._update_supply()

    def _rec(self):
        return {"balance": self.balance_minor, "txns": self.txns, "cmd": self.cmd,
                "alarms": self.alarms, "remote_off": self.remote_off, "price": self.price,
                "conf": self.conf, "ev_seq": self.ev_seq, "pending": self.pending}

    def save(self):
        self.store.save("prepay", self._rec())

    def save_soon(self):
        pass                # the fake saves only when told to

    def snapshot(self):
        import json
        return json.dumps(self._rec())

    def rollback(self, snap):
        import json
        r = json.loads(snap)
        self.balance_minor, self.txns, self.cmd = r["balance"], r["txns"], r["cmd"]
        self.alarms, self.remote_off, self.price = r["alarms"], r["remote_off"], r["price"]
        self.conf, self.ev_seq, self.pending = r["conf"], r["ev_seq"], r["pending"]
        self._update_supply()

    def _update_supply(self):
        if [a for a in self.alarms if a.startswith("latch")]:
            self.supply.state = "off_safety"
        elif self.remote_off:
            self.supply.state = "off_remote"
        elif self.balance_minor <= 0:
            self.supply.state = "off_credit"
        else:
            self.supply.state = "on"

    def emit(self, type, now_s, **fields):
        self.ev_seq += 1
        e = {"seq": self.ev_seq, "ts": now_s, "type": type}
        e.update(fields)
        self.pending.append(e)
        return e

    def pending_events(self):
        return list(self.pending)

    def events_delivered(self, upto_seq):
        self.pending = [e for e in self.pending if e["seq"] > upto_seq]

    def consume(self, t0_s, t1_s, use_base):
        self.balance_minor -= use_base * self.price // 1000000
        self._update_supply()

    def tick(self, now_s):
        pass

    def recharge(self, txn, amount_minor, now_s, via="remote"):
        if not isinstance(amount_minor, int) or not 0 < amount_minor <= 1000000:
            raise ValueError("amount must be 1..recharge_max_minor")
        if txn in self.txns:
            return False
        self.txns.append(txn)
        self.balance_minor += amount_minor
        self.emit("recharge", now_s, txn=txn, amount=amount_minor, balance=self.balance_minor)
        old = self.supply.state
        self._update_supply()
        if old != self.supply.state:
            self.emit("supply", now_s, state=self.supply.state, reason="credit")
        return True

    def set_tariff(self, spec, now_s, from_s=None):
        p = spec.get("price")
        if len(spec) != 1 or not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 10 ** 9:
            raise ValueError("price must be an int 0..10^9")
        self.price = p

    def configure(self, patch, now_s):
        for k, v in patch.items():
            if k != "warn_pct":
                raise ValueError("unknown config key " + k)
            if not isinstance(v, int) or not 1 <= v <= 90:
                raise ValueError("warn_pct must be 1..90")
        self.conf.update(patch)

    def supply_command(self, on, now_s):
        self.remote_off = not on
        old = self.supply.state
        self._update_supply()
        if old != self.supply.state:
            self.emit("supply", now_s, state=self.supply.state, reason="remote")

    def emergency(self, now_s):
        raise ValueError("not_offered")

    def button(self, now_s):
        pass

    def alarm(self, name, now_s, latch=False, **fields):
        key = ("latch:" if latch else "") + name
        self.alarms[key] = now_s
        self.emit("alarm", now_s, name=name)
        self._update_supply()

    def alarm_clear(self, name, now_s):
        if name not in self.alarms:
            raise ValueError("alarm not active")
        self.alarms.pop(name)
        self.emit("alarm_clear", now_s, name=name)
        self._update_supply()

    def price_now(self, now_s):
        return self.price

    def status(self, now_s):
        return {"balance": self.balance_minor, "tariff": {"price": self.price}, "conf": self.conf}


class FakeDriver:
    KIND = "electricity"
    UNIT = "Wh"
    ARMS = False
    ALWAYS_ONLINE = True
    CONFIG_KEYS = ("max_w",)

    def __init__(self, prepay, board, cfg, store):
        self.prepay = prepay
        self.max_w = 5000
        self.ticks = []
        self.load_w = 0
        self.register_wh = 0

    def tick(self, now_s):
        self.ticks.append(now_s)

    def period_s(self):
        return 1

    def button(self, now_s):
        self.prepay.button(now_s)

    def sim(self, msg):
        if "load_w" in msg:
            self.load_w = msg["load_w"]

    def telemetry(self, now_s):
        return {"power_w": self.load_w, "register": self.register_wh}

    def op(self, name, args, now_s):
        if name == "selfcheck":
            return "ok"
        return None

    def check_config(self, patch, now_s):
        v = patch.get("max_w")
        if not isinstance(v, int) or not 100 <= v <= 20000:
            raise ValueError("max_w must be 100..20000")

    def configure(self, patch, now_s):
        self.check_config(patch, now_s)
        self.max_w = patch["max_w"]

    def can_clear(self, alarm, remote):
        return alarm != "latch:tamper"

    def safe_stop(self, now_s):
        pass


class FakeClock:
    def __init__(self, now_s=1767225600):
        self.t = now_s
        self.ok = False

    def now_s(self):
        return self.t

    def set_now(self, t):
        if not 1704067200 <= t < 4102444800:
            raise ValueError("implausible time")
        self.t = t
        self.ok = True
