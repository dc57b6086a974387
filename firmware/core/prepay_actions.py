# Prepay's commands and local actions (recharge, tariff, config, supply, emergency credit,
# button, alarms): each validates everything first and changes nothing on error, then
# mutates RAM and marks the record for saving at the next tick (docs/architecture.md).
# Functions of the Prepay object `p`; core/prepay.py exposes them as methods. Kept apart
# so each module compiles in a small heap on the unix port (docs/ledger.md, "Memory").
from core import credit, tariff
from core.ledger import check_amount, check_txn
from core.prepay_config import check_now, split_config

BALANCE_MAX = credit.MONEY_MAX * 10  # minor units; credit.credit_ok() refuses a larger balance


def recharge(p, txn, amount_minor, now_s, via="remote"):
    check_txn(txn)
    check_amount(amount_minor, p.cfg["recharge_max_minor"])
    check_now(now_s)
    if not isinstance(via, str) or not 0 < len(via) <= 16:
        raise ValueError("via must be a short str")
    if p.led.seen(txn):
        return False
    if p.led.balance_minor + amount_minor > BALANCE_MAX:
        # maximum balance cap (SMETS2, domain.md): the credit checks bound the balance
        raise ValueError("balance would exceed 10^10")
    # on_recharge also re-arms the warnings (new reference balance) and ends an
    # emergency credit once the balance is back at or above zero
    to_bal, recovered = credit.on_recharge(p.cr, p.cfg, p.led.balance_minor,
                                           amount_minor, now_s)
    assert to_bal + recovered == amount_minor and 0 <= recovered <= amount_minor
    p.led.credit(txn, amount_minor, p.cfg["recharge_max_minor"], recovered)
    # protocol v1 event names (docs/protocol.md §6) everywhere: outbox and local event log
    p.emit("recharge", now_s, txn=txn, amount=amount_minor, recovered=recovered, via=via,
           balance=p.led.balance_minor)
    p._urgent = True
    p._apply_credit(now_s)
    return True


def set_tariff(p, spec, now_s, from_s=None):
    check_now(now_s)
    if from_s is not None:
        check_now(from_s)
    tariff.set_pending(p.tar, spec, now_s if from_s is None else from_s)
    p.emit("tariff", now_s, **({"from": from_s} if from_s is not None else {}))
    p._urgent = True


def configure(p, patch, now_s):
    check_now(now_s)
    own, cpatch = split_config(patch, p.cfg)
    if p._forced_arms and own.get("arm_on_restore") is False:
        raise ValueError("this meter always arms")
    old = dict(p.cfg)
    p.cfg.update(own)
    p.cfg.update(cpatch)
    credit.on_config(p.cr, old, p.cfg)      # state that depends on config follows it
    if "arm_on_restore" in own:
        p.supply.arms = p._arms()
    p.emit("config", now_s, keys=sorted(patch))
    p._urgent = True


def supply_command(p, on, now_s):
    if not isinstance(on, bool):
        raise ValueError("on must be a bool")
    check_now(now_s)
    p._supply_events(p.supply.remote(on, now_s), now_s)
    p._urgent = True


def emergency(p, now_s):
    check_now(now_s)
    credit.take_emergency(p.cr, p.cfg, now_s, p.led.balance_minor)  # ValueError if not offered
    p.emit("emergency", now_s, balance=p.led.balance_minor)
    p._urgent = True
    p._apply_credit(now_s)


def button(p, now_s):
    """Local confirmation: armed -> on. Not for kinds the driver arms (gas), whose
    driver runs its leak check and then calls confirm_restore()."""
    check_now(now_s)
    if p._forced_arms:
        return []
    return p.confirm_restore(now_s)


def confirm_restore(p, now_s):
    check_now(now_s)
    evs = p.supply.confirm(now_s)
    p._supply_events(evs, now_s)
    return evs


def alarm(p, name, now_s, latch=False, **fields):
    _check_alarm(name)
    check_now(now_s)
    if not isinstance(latch, bool):
        raise ValueError("latch must be a bool")
    if name not in p.alarms:
        p.alarms[name] = now_s
        p.emit("alarm", now_s, name=name, active=True, latch=latch, **fields)
        p._urgent = True
    if latch:
        p._supply_events(p.supply.latch(name, now_s), now_s)


def alarm_clear(p, name, now_s):
    _check_alarm(name)
    check_now(now_s)
    if name not in p.alarms and name not in p.supply.latches:
        raise ValueError("alarm not active")
    p.alarms.pop(name, None)
    p.emit("alarm_clear", now_s, name=name, active=False)
    p._urgent = True
    if name in p.supply.latches:
        p._supply_events(p.supply.clear(name, now_s), now_s)


def _check_alarm(name):
    if not isinstance(name, str) or not 0 < len(name) <= 32:
        raise ValueError("alarm name must be a str of 1..32 chars")


# ---- floors, snapshot and rollback -------------------------------------------------------
def raise_to_floor(p, seq_floor):
    """After the record is loaded (or rebuilt): the next event seq is above every seq that
    may have left the meter (the outbox's, and for a rebuilt record the floor record's
    reservation), and the floor record covers what the prepay record knows (a record from
    firmware without a floor record). A failed write here is retried by the next use."""
    f = p.floor
    low = seq_floor + 1
    if p.recovered and f.evt + 1 > low:
        low = f.evt + 1           # the events pending in the lost record are lost anyway
    if p.next_seq < low:
        p.next_seq = low
    try:
        f.use_cmd(p.cmd["last_seq"])
        f.reserve_evt(p.next_seq - 1)
    except OSError:
        pass


def _copy(v):
    if isinstance(v, dict):
        return {k: _copy(v[k]) for k in v}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v                      # int, str, bool, None: immutable


def snapshot(p):
    d = p.to_dict()
    for k in d:
        # emitted events are never changed afterwards: the list is copied, not each event
        # (the pending list is the largest part of the record)
        d[k] = list(d[k]) if k == "pend" else _copy(d[k])
    return (d, p._urgent, p._unsaved_use, p.hist_dirty)


def rollback(p, snap):
    d, p._urgent, p._unsaved_use, p.hist_dirty = snap
    # drivers and the token entry hold the ext parts they own (prepay.ext["elec"], ...):
    # those dicts are restored in place, so every holder sees the rolled-back values
    live = p.ext
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
    p._restore(d)                 # the copy becomes the live state


# ---- views ----------------------------------------------------------------------------
def status(p, now_s):
    check_now(now_s)
    t = p.today or [0, 0, 0, 0]
    return {"balance": p.led.balance_minor, "supply": p.supply.state,
            "alarms": sorted(p.alarms), "latches": sorted(p.supply.latches),
            "tariff": tariff.describe(p.tar, now_s), "price_now": tariff.price_at(p.tar, now_s),
            "register": p.register, "today_use": t[1],
            "today_cost": t[2] // 1000000 + t[3],
            "credits": p.led.credits_minor, "charges": p.led.charges_minor,
            "standing": p.led.standing_minor, "recovered": p.led.recovered_minor,
            "emergency_offered": credit.emergency_offered(p.cr, p.cfg, p.led.balance_minor),
            "credit": credit.describe(p.cr, p.cfg, p.led.balance_minor),
            "unsaved_use": p._unsaved_use, "pending_events": len(p.pending),
            "dropped_events": p.dropped, "save_errors": p.save_errors}
