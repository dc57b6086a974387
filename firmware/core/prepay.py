# Prepay: the facade the drivers, the command layer and the app code against
# (docs/architecture.md). It composes the ledger, the tariff, the credit policy, the
# supply state machine and the day history, persists them as ONE record ("prepay")
# so money, supply, command seq (cmd) and add-on state (ext) change atomically, and
# numbers every event.
#
# Flash-wear policy (docs/ledger.md): consumption is saved in batches, when the
# unsaved use reaches cfg batch_use or batch_s of sim time has passed; any credit,
# tariff, config, supply or alarm change saves at the next tick() (callers that
# acknowledge something call save() themselves first). Worst-case consumption lost at
# a power cut: batch_use - 1 + the use of one consume() call.
from micropython import const

from core import clock, credit, history, tariff
from core.prepay_actions import Actions
from core.prepay_days import CATCHUP_DAYS, Days  # noqa: F401  (tests and docs name it here)
from core.floor import Floor
from core.ledger import Ledger
from core.check import check_now, int_in, is_int
from core.prepay_config import BATCH_USE, DEFAULTS, KINDS, check_record, split_config
from core.supply import Supply

RECORD = "prepay"
VERSION = const(1)
PENDING_MAX = const(64)  # events not yet handed to the outbox; older ones are dropped (counted)


class Prepay(Actions, Days):
    # One class in three files: this one (construction, persistence, events, measurements,
    # the tick), core/prepay_actions.py (commands, local actions, snapshot/rollback, status)
    # and core/prepay_days.py (the daily rollover and the standing charge).
    def __init__(self, store, kind, cfg, now_s, arms=None, seq_floor=0):
        # seq_floor: the outbox's highest event seq: no event is numbered twice (ledger.md §2a)
        if kind not in KINDS:
            raise ValueError("kind must be electricity, water or gas")
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, dict):
            raise ValueError("config must be a dict")
        check_now(now_s)
        self.store = store
        self.kind = kind
        self._forced_arms = arms is True  # gas: always arms, never reopens by itself
        self.recovered = None  # reason a persisted record was not usable (logged as an event)
        d = store.load(RECORD)
        if d is None and store.reasons.get(RECORD):
            self.recovered = "unreadable: " + store.reasons[RECORD]
        if d is not None:
            try:
                self._restore(d)
            except (ValueError, KeyError, TypeError) as e:
                self.recovered = "invalid: %s" % e
                d = None
        if d is None:
            self._fresh(cfg, now_s)
        self.floor = Floor(store)
        self._raise_to_floor(seq_floor)
        # history is its own record: kept even if the prepay record had to be rebuilt
        try:
            self.hist = history.History(store.load(history.RECORD))
        except ValueError:
            self.hist = history.History()  # informative only; money is not in it
        self.hist_dirty = False
        self.save_errors = 0
        self._unsaved_use = 0
        self._urgent = False
        self._saved_s = now_s
        if self.recovered:
            self.emit("store_recovery", now_s, record=RECORD, reason=self.recovered)
            self._urgent = True
        # fail safe from the first instant: the driver ticks before our first tick()
        self._apply_credit(now_s)

    # ---- construction and persistence -------------------------------------------
    def _fresh(self, cfg, now_s):
        known = {}
        for k in cfg:
            if k in DEFAULTS or k in credit.DEFAULTS:
                known[k] = cfg[k]  # other keys belong to the driver or the app
        own, cpatch = split_config(known)
        c = dict(DEFAULTS)
        c["batch_use"] = BATCH_USE[self.kind]
        c.update(credit.DEFAULTS)
        c.update(own)
        c.update(cpatch)
        spec = cfg.get("tariff")
        if spec is None:
            raise ValueError("config has no tariff")
        self.tar = tariff.new_state(tariff.validate(spec))
        self.cfg = c
        self.led = Ledger()
        self.cr = credit.new_state()
        self.supply = Supply(self._arms(), None)
        self.alarms = {}
        self.register = 0
        self.today = None  # [local days, use, cost_micro, standing_minor] of the open day
        self.st_day = None  # last local day whose standing charge was taken
        self.next_seq = 1
        self.pending = []
        self.dropped = 0
        self.cmd = {"last_seq": 0, "recent": []}
        self.ext = {}

    def _restore(self, d):
        if d.get("v") != VERSION or d.get("kind") != self.kind:
            raise ValueError("record version/kind mismatch")
        check_record(d)  # shapes first: nothing below indexes a wrong type
        cfg = d["cfg"]
        m = cfg.get("recharge_max_minor")
        if is_int(m) and m > credit.MONEY_MAX:
            cfg["recharge_max_minor"] = credit.MONEY_MAX  # older firmware allowed up to 10^12
        own, cpatch = split_config(cfg, cfg)
        if len(own) + len(cpatch) != len(DEFAULTS) + len(credit.DEFAULTS):
            raise ValueError("record config incomplete")
        self.cfg = cfg
        self.led = Ledger(d["led"])
        self.tar = tariff.check_state(d["tar"])
        fired = d["cr"].get("fired")
        if type(fired) is list and not [x for x in fired if not is_int(x)]:
            # older firmware let levels of a previous warn_pct pile up here (docs/ledger.md)
            d["cr"]["fired"] = credit.prune_fired(fired, cfg)
        self.cr = credit.check_state(d["cr"])
        self.supply = Supply(self._arms(), d["sup"])
        self.alarms = d["alarms"]
        self.register = d["reg"]
        self.today = d["day"]
        self.st_day = d["std"]
        self.next_seq = d["seq"]
        self.pending = d["pend"]
        self.dropped = d.get("drop", 0)
        self.cmd = d["cmd"]
        self.ext = d["ext"]

    def _arms(self):
        return True if self._forced_arms else bool(self.cfg.get("arm_on_restore"))

    def to_dict(self):
        return {"v": VERSION, "kind": self.kind, "cfg": self.cfg, "led": self.led.to_dict(),
                "tar": self.tar, "cr": self.cr, "sup": self.supply.to_dict(),
                "alarms": self.alarms, "reg": self.register, "day": self.today,
                "std": self.st_day, "seq": self.next_seq, "pend": self.pending,
                "drop": self.dropped, "cmd": self.cmd, "ext": self.ext}

    def save(self):
        """Atomic persist of the whole record now (history first: its fold is idempotent)."""
        if self.hist_dirty:
            self.store.save(history.RECORD, self.hist.to_dict())
            self.hist_dirty = False
        self.store.save(RECORD, self.to_dict())
        self._unsaved_use = 0
        self._urgent = False

    def save_soon(self):
        """Something outside the batch policy changed in the record: save at the next tick."""
        self._urgent = True

    @property
    def balance_minor(self):
        return self.led.balance_minor

    # ---- events ------------------------------------------------------------------
    def emit(self, type, now_s, **fields):
        if not isinstance(type, str) or not 0 < len(type) <= 32:
            raise ValueError("event type must be a str of 1..32 chars")
        ev = {"seq": self.next_seq, "ts": now_s, "type": type}
        for k in fields:
            if k not in ev:
                ev[k] = fields[k]
        self.next_seq += 1
        self.pending.append(ev)
        if len(self.pending) > PENDING_MAX:
            self.pending.pop(0)
            self.dropped += 1
        return ev

    def pending_events(self):
        return list(self.pending)

    def events_delivered(self, upto_seq):
        int_in(upto_seq, "upto_seq")
        keep = [e for e in self.pending if e["seq"] > upto_seq]
        if len(keep) != len(self.pending):
            self.pending = keep

    def _supply_events(self, evs, now_s):
        for st, reason in evs:
            self.emit("supply", now_s, state=st, reason=reason)
            self._urgent = True

    # ---- measurements ------------------------------------------------------------
    def consume(self, t0_s, t1_s, use_base):
        check_now(t0_s)
        check_now(t1_s)
        if t1_s < t0_s:
            raise ValueError("t1_s before t0_s")
        int_in(use_base, "use_base", 0)
        if use_base > 10 ** 9:
            raise ValueError("use_base implausibly large")
        if use_base == 0:
            return 0
        cur = self.tar["cur"]
        cost_micro = tariff.cost(self.tar, t0_s, t1_s, use_base)
        if self.tar["cur"] is not cur:  # a pending tariff took over inside this interval
            self.emit("tariff_active", t1_s)
            self._urgent = True
        minor = self.led.charge(cost_micro)
        credit.note_cost(self.cr, t1_s, minor)
        self.register += use_base
        if self.today is None:
            self.today = [clock.local(t0_s, tariff.tz_offset_s(self.tar))[0], 0, 0, 0]
        self.today[1] += use_base
        self.today[2] += cost_micro
        self._unsaved_use += use_base
        return minor

    def tick(self, now_s):
        check_now(now_s)
        # the rollover first: days it charges late see a still-pending tariff's "from"
        self._rollover(now_s)
        if tariff.activate(self.tar, now_s):
            self.emit("tariff_active", now_s)
            self._urgent = True
        # warnings_due marks the levels it fires in the credit state: a level fired but not
        # saved would fire again after a reboot, so every firing saves ("bal" it also
        # writes is a cache refreshed on every call, not worth a flash write)
        for level in credit.warnings_due(self.cr, self.cfg, self.led.balance_minor, now_s):
            self.emit("low_balance", now_s, level=level, balance=self.led.balance_minor)
            self._urgent = True
        self._apply_credit(now_s)
        if now_s < self._saved_s:
            self._saved_s = now_s  # clock went back: restart the batch window
        if (self._urgent or self._unsaved_use >= self.cfg["batch_use"]
                or (self._unsaved_use and now_s - self._saved_s >= self.cfg["batch_s"])):
            try:
                self.save()
            except OSError as e:
                # flash error: keep metering and retry next tick (the changes stay
                # marked); report once per run of failures
                self.save_errors += 1
                if self.save_errors == 1:
                    self.emit("store_error", now_s, errno=e.args[0] if e.args else 0)
                self._urgent = True
                return
            self.save_errors = 0
            self._saved_s = now_s

    def _apply_credit(self, now_s):
        spent = self.cr["ec_out"]
        ok = credit.credit_ok(self.cr, self.cfg, self.led.balance_minor, now_s)
        if self.cr["ec_out"] != spent:
            self._urgent = True  # emergency credit used up: persist it (no reconnect after a reboot)
        self._supply_events(self.supply.set_credit(ok, now_s), now_s)

    # ---- views -------------------------------------------------------------------
    def price_now(self, now_s):
        check_now(now_s)
        return tariff.price_at(self.tar, now_s)
