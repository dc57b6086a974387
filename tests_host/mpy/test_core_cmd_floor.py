# heap: 192k
# Commands on the real Prepay under faults (docs/protocol.md §3, §4): an ack only after the
# save succeeded, a failed save answered `storage` with RAM as before, a failure inside
# answered `internal` with RAM as before, a command's seq used up whatever its outcome, and
# the replay floor kept where a rebuilt prepay record cannot lower it.
import gc
import json

import mptest
from core.commands import Commands
from core.prepay import Prepay
from core.store import Store
from fakemeters.cmdfix import DIR, KEY, MID, NOW, body, rmtree, send
from fakemeters.fakeprepay import FakeClock, FakeDriver
from core import frame


class FlakyStore(Store):
    """A Store whose writes of the named records fail as on a full or worn flash."""

    def __init__(self, root):
        Store.__init__(self, root)
        self.failing_names = ()

    def _save(self, name, obj):
        if name in self.failing_names:
            raise OSError(28)
        Store._save(self, name, obj)


def _boot(fresh=False, cls=Prepay, drv=FakeDriver):
    if fresh:
        rmtree(DIR)
    st = FlakyStore(DIR)
    p = cls(st, "electricity", {"tariff": {"price": 150000}}, NOW)
    p.tick(NOW)
    p.save()
    return Commands(MID, KEY, p, drv(p, None, {}, st), FakeClock(NOW), fw="test")


def _state(p):
    # everything but the answers kept for redeliveries (cmd.recent), which do move
    gc.collect()
    d = json.loads(json.dumps(p.to_dict()))
    d["cmd"].pop("recent")
    return json.dumps(d)


def _recharge(c, seq, txn, amount, cid=None):
    return send(c, body(seq, "recharge", {"txn": txn, "amount": amount}, cid=cid))


def test_failed_save_acks_storage_and_leaves_ram_as_before():
    c = _boot(True)
    mptest.eq(_recharge(c, 1, "t-1", 500)["code"], "ok")
    before = _state(c.prepay)
    c.prepay.store.failing_names = ("prepay",)
    a = _recharge(c, 2, "t-2", 700)
    mptest.eq((a["ok"], a["code"], a["balance"], a["seq"]), (False, "storage", 500, 1))
    mptest.true(json.loads(_state(c.prepay)) == json.loads(before), "RAM changed by a failed save")
    # the broker redelivers the same frame: never `ok` + dup for a credit that was not saved
    a = _recharge(c, 2, "t-2", 700)
    mptest.eq((a["ok"], a["code"], a.get("dup")), (False, "storage", True))
    c.prepay.store.failing_names = ()
    # a power cut now: nothing of t-2 anywhere
    c = _boot()
    mptest.eq(c.prepay.balance_minor, 500)
    mptest.true(not c.prepay.led.seen("t-2"))
    # the head-end resends it as a new command (new seq): credited once
    mptest.eq(_recharge(c, 3, "t-2", 700)["code"], "ok")
    mptest.eq(c.prepay.balance_minor, 1200)


def test_failed_floor_write_acks_storage_and_uses_nothing():
    c = _boot(True)
    c.prepay.store.failing_names = ("floor",)
    mptest.eq(_recharge(c, 1, "t-1", 500)["code"], "storage")
    mptest.eq(c.prepay.balance_minor, 0)
    c.prepay.store.failing_names = ()
    mptest.eq(_recharge(c, 1, "t-1", 500, cid="again")["code"], "ok")   # seq 1 was not used


def test_rejected_command_uses_up_its_seq():
    c = _boot(True)
    big = body(1, "recharge", {"txn": "x-1", "amount": 2000000})   # over recharge_max_minor
    a = c.handle(frame.sign(KEY, big), NOW)
    mptest.eq(a["code"], "bad_args")
    # the limit is raised at the console (no command seq moves); the captured rejected
    # frame is replayed: never credited
    c.prepay.configure({"recharge_max_minor": 5000000}, NOW)
    a = c.handle(frame.sign(KEY, big), NOW)
    mptest.eq((a["code"], a.get("dup")), ("bad_args", True))
    mptest.eq(c.prepay.balance_minor, 0)
    # ... nor after a reboot (the answer to a redelivery is then `replay`)
    c = _boot()
    a = c.handle(frame.sign(KEY, big), NOW)
    mptest.true(a["code"] in ("bad_args", "replay") and not a["ok"], a)
    mptest.eq(c.prepay.balance_minor, 0)


def test_replay_floor_survives_a_rebuilt_record():
    c = _boot(True)
    old = [frame.sign(KEY, body(s, "recharge", {"txn": "r%d" % s, "amount": 100})) for s in (1, 2)]
    for f in old:
        mptest.eq(c.handle(f, NOW)["code"], "ok")
    # the prepay record is refused at the next boot (a CRC-valid but wrong record)
    d = c.prepay.to_dict()
    d["led"]["bal"] = -12345
    c.prepay.store.save("prepay", d)
    c = _boot()
    mptest.true(c.prepay.recovered is not None, "the record was rebuilt")
    for f in old:
        a = c.handle(f, NOW)
        mptest.eq((a["ok"], a["code"]), (False, "replay"))
    mptest.eq(c.prepay.balance_minor, 0)
    mptest.eq(send(c, body(3, "status", {}))["code"], "ok")


class BadPrepay(Prepay):
    def recharge(self, txn, amount_minor, now_s, via="remote"):
        Prepay.recharge(self, txn, amount_minor, now_s, via)
        raise AssertionError("a bug after the credit")


def test_failure_inside_acks_internal_and_rolls_back():
    c = _boot(True, cls=BadPrepay)
    before = _state(c.prepay)
    a = _recharge(c, 1, "t-1", 500)
    mptest.eq((a["ok"], a["code"], a["balance"]), (False, "internal", 0))
    mptest.true("AssertionError" in a["reason"], a)
    mptest.true(json.loads(_state(c.prepay)) == json.loads(before), "RAM changed")
    mptest.eq(c.prepay.pending_events()[-1]["type"] != "recharge", True)


class BadDriver(FakeDriver):
    def configure(self, patch, now_s):
        raise KeyError("driver bug")


def test_config_failing_in_the_driver_changes_no_core_key():
    c = _boot(True, drv=BadDriver)
    a = send(c, body(1, "config", {"warn_pct": [50], "max_w": 3000}))
    mptest.eq(a["code"], "internal")
    mptest.eq(c.prepay.cfg["warn_pct"], [30, 10])


def test_debt_cap_lowered_then_recharge_never_escapes():
    c = _boot(True)
    mptest.eq(send(c, body(1, "config", {"debt_minor": 10000, "debt_pct": 50,
                                          "debt_cap_minor": 1000}))["code"], "ok")
    mptest.eq(_recharge(c, 2, "t-1", 1000)["code"], "ok")
    mptest.eq(send(c, body(3, "config", {"debt_cap_minor": 100}))["code"], "ok")
    a = _recharge(c, 4, "t-2", 1000)
    mptest.eq(a["code"], "ok")
    mptest.eq(c.prepay.balance_minor, 1500)


def test_token_txn_namespace_is_refused_remotely():
    c = _boot(True)
    a = _recharge(c, 1, "tok-5", 500)
    mptest.eq(a["code"], "bad_args")
    mptest.true("reserved" in a["reason"], a)
    mptest.eq(c.prepay.balance_minor, 0)


def test_status_seq_is_durable_before_the_ack():
    c = _boot(True)
    f = frame.sign(KEY, body(1, "status", {}))
    mptest.eq(c.handle(f, NOW)["code"], "ok")
    c = _boot()                       # power cut right after the ack
    mptest.eq(c.handle(f, NOW)["code"], "replay")


mptest.main(globals())
