# Prepay's commands and local actions (recharge, tariff, config, supply, emergency credit,
# button, alarms): each validates everything first and changes nothing on error, then
# mutates RAM and marks the record for saving at the next tick (docs/architecture.md).
# A base class of Prepay (core/prepay.py): these are Prepay's own methods, in a file of
# their own so that each file of the facade stays readable.
from core import credit, tariff
from core.ledger import check_amount, check_txn
from core.check import bool_, check_now
from core.prepay_config import split_config

BALANCE_MAX = credit.MONEY_MAX * 10  # minor units; credit.credit_ok() refuses a larger balance


def _check_alarm(name):
    if not isinstance(name, str) or not 0 < len(name) <= 32:
        raise ValueError("alarm name must be a str of 1..32 chars")


def _copy(v):
    if isinstance(v, dict):
        return {k: _copy(v[k]) for k in v}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v                      # int, str, bool, None: immutable


class Actions:
    def recharge(self, txn, amount_minor, now_s, via="remote"):
        check_txn(txn)
        check_amount(amount_minor, self.cfg["recharge_max_minor"])
        check_now(now_s)
        if not isinstance(via, str) or not 0 < len(via) <= 16:
            raise ValueError("via must be a short str")
        if self.led.seen(txn):
            return False
        if self.led.balance_minor + amount_minor > BALANCE_MAX:
            # maximum balance cap (GB SMETS2): the credit checks bound the balance
            raise ValueError("balance would exceed 10^10")
        # on_recharge also re-arms the warnings (new reference balance) and ends an
        # emergency credit once the balance is back at or above zero
        to_bal, recovered = credit.on_recharge(self.cr, self.cfg, self.led.balance_minor,
                                               amount_minor, now_s)
        assert to_bal + recovered == amount_minor and 0 <= recovered <= amount_minor
        self.led.credit(txn, amount_minor, self.cfg["recharge_max_minor"], recovered)
        # protocol v1 event names (docs/protocol.md §6) everywhere: outbox and local event log
        self.emit("recharge", now_s, txn=txn, amount=amount_minor, recovered=recovered, via=via,
                  balance=self.led.balance_minor)
        self._urgent = True
        self._apply_credit(now_s)
        return True

    def set_tariff(self, spec, now_s, from_s=None):
        check_now(now_s)
        if from_s is not None:
            check_now(from_s)
        tariff.set_pending(self.tar, spec, now_s if from_s is None else from_s)
        self.emit("tariff", now_s, **({"from": from_s} if from_s is not None else {}))
        self._urgent = True

    def configure(self, patch, now_s):
        check_now(now_s)
        own, cpatch = split_config(patch, self.cfg)
        if self._forced_arms and own.get("arm_on_restore") is False:
            raise ValueError("this meter always arms")
        old = dict(self.cfg)
        self.cfg.update(own)
        self.cfg.update(cpatch)
        credit.on_config(self.cr, old, self.cfg)      # state that depends on config follows it
        if "arm_on_restore" in own:
            self.supply.arms = self._arms()
        self.emit("config", now_s, keys=sorted(patch))
        self._urgent = True

    def supply_command(self, on, now_s):
        bool_(on, "on")
        check_now(now_s)
        self._supply_events(self.supply.remote(on, now_s), now_s)
        self._urgent = True

    def emergency(self, now_s):
        check_now(now_s)
        credit.take_emergency(self.cr, self.cfg, now_s, self.led.balance_minor)  # ValueError if not offered
        self.emit("emergency", now_s, balance=self.led.balance_minor)
        self._urgent = True
        self._apply_credit(now_s)

    def button(self, now_s):
        """Local confirmation: armed -> on. Not for kinds the driver arms (gas), whose
        driver runs its leak check and then calls confirm_restore()."""
        check_now(now_s)
        if self._forced_arms:
            return []
        return self.confirm_restore(now_s)

    def confirm_restore(self, now_s):
        check_now(now_s)
        evs = self.supply.confirm(now_s)
        self._supply_events(evs, now_s)
        return evs

    def alarm(self, name, now_s, latch=False, **fields):
        _check_alarm(name)
        check_now(now_s)
        bool_(latch, "latch")
        if name not in self.alarms:
            self.alarms[name] = now_s
            self.emit("alarm", now_s, name=name, active=True, latch=latch, **fields)
            self._urgent = True
        if latch:
            self._supply_events(self.supply.latch(name, now_s), now_s)

    def alarm_clear(self, name, now_s):
        _check_alarm(name)
        check_now(now_s)
        if name not in self.alarms and name not in self.supply.latches:
            raise ValueError("alarm not active")
        self.alarms.pop(name, None)
        self.emit("alarm_clear", now_s, name=name, active=False)
        self._urgent = True
        if name in self.supply.latches:
            self._supply_events(self.supply.clear(name, now_s), now_s)

    # ---- floors, snapshot and rollback -------------------------------------------------------

    def _raise_to_floor(self, seq_floor):
        """After the record is loaded (or rebuilt): the next event seq is above every seq that
        may have left the meter (the outbox's, and for a rebuilt record the floor record's
        reservation), and the floor record covers what the prepay record knows (a record from
        firmware without a floor record). A failed write here is retried by the next use."""
        f = self.floor
        low = seq_floor + 1
        if self.recovered and f.evt + 1 > low:
            low = f.evt + 1           # the events pending in the lost record are lost anyway
        if self.next_seq < low:
            self.next_seq = low
        try:
            f.use_cmd(self.cmd["last_seq"])
            f.reserve_evt(self.next_seq - 1)
        except OSError:
            pass

    def snapshot(self):
        """A private copy of the RAM state, for rollback() (each snapshot is used once)."""
        d = self.to_dict()
        for k in d:
            # emitted events are never changed afterwards: the list is copied, not each event
            # (the pending list is the largest part of the record)
            d[k] = list(d[k]) if k == "pend" else _copy(d[k])
        return (d, self._urgent, self._unsaved_use, self.hist_dirty)

    def rollback(self, snap):
        d, self._urgent, self._unsaved_use, self.hist_dirty = snap
        # drivers and the token entry hold the ext parts they own (prepay.ext["elec"], ...):
        # those dicts are restored in place, so every holder sees the rolled-back values
        live = self.ext
        for k in list(live):
            if k not in d["ext"]:
                del live[k]
        for k in d["ext"]:
            v = d["ext"][k]
            if type(live.get(k)) is dict and type(v) is dict:
                live[k].clear()
                live[k].update(v)
            else:
                live[k] = v
        d["ext"] = live
        self._restore(d)                 # the copy becomes the live state

    # ---- views ----------------------------------------------------------------------------

    def status(self, now_s):
        check_now(now_s)
        t = self.today or [0, 0, 0, 0]
        return {"balance": self.led.balance_minor, "supply": self.supply.state,
                "alarms": sorted(self.alarms), "latches": sorted(self.supply.latches),
                "tariff": tariff.describe(self.tar, now_s), "price_now": tariff.price_at(self.tar, now_s),
                "register": self.register, "today_use": t[1],
                "today_cost": t[2] // 1000000 + t[3],
                "credits": self.led.credits_minor, "charges": self.led.charges_minor,
                "standing": self.led.standing_minor, "recovered": self.led.recovered_minor,
                "emergency_offered": credit.emergency_offered(self.cr, self.cfg, self.led.balance_minor),
                "credit": credit.describe(self.cr, self.cfg, self.led.balance_minor),
                "unsaved_use": self._unsaved_use, "pending_events": len(self.pending),
                "dropped_events": self.dropped, "save_errors": self.save_errors}
