# Prepay on real LittleFS with a block-level power cut at EVERY prefix of a credit's
# save (run by tests_host/test_core_lfs.py at CORE_HEAP). After each cut the remounted
# flash must give a Prepay whose ledger is exactly the state before the credit or the
# state after it (never a mix, never a lost older credit), and which keeps working.
import gc
import os
import vfs

import mptest
from core.prepay import Prepay
from core.store import Store

BS = 4096
NB = 48
IMG, BASE, CUT, MNT = "pl.img", "pl.base", "pl.cut", "/pl"
T0 = 1700006400
CFG = {"tariff": {"price": 150000, "standing_minor_per_day": 30}}


class CutDev:
    def __init__(self, path):
        self.f = open(path, "r+b")
        self.ops = 0
        self.limit = None
        self.dead = False
        self.closed = False

    def readblocks(self, n, buf, off=0):
        if self.closed:
            return
        self.f.seek(n * BS + off)
        self.f.readinto(buf)

    def _op(self):
        if self.closed:
            return False
        if self.limit is not None and self.ops >= self.limit:
            if self.dead:
                return False
            self.dead = True
            raise OSError(5)
        self.ops += 1
        return True

    def writeblocks(self, n, buf, off=None):
        if self._op():
            self.f.seek(n * BS + (off or 0))
            self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return NB
        if op == 5:
            return BS
        if op == 6:
            if self._op():
                self.f.seek(arg * BS)
                for _ in range(BS // 512):
                    self.f.write(b"\xff" * 512)
            return 0


def _copy(a, b):
    buf = bytearray(1024)
    with open(a, "rb") as x, open(b, "wb") as y:
        while True:
            n = x.readinto(buf)
            if not n:
                break
            y.write(memoryview(buf)[:n])


def _mount():
    d = CutDev(IMG)
    vfs.mount(vfs.VfsLfs2(d), MNT)
    return d


def _umount(d):
    try:
        vfs.umount(MNT)
    except OSError:
        pass
    d.closed = True
    d.f.close()


def _ledger(p):
    return p.led.to_dict()


def test_every_prefix_of_a_credit_save():
    with open(IMG, "wb") as f:
        for _ in range(NB * BS // 1024):
            f.write(b"\xff" * 1024)
    d = CutDev(IMG)
    vfs.VfsLfs2.mkfs(d)
    d.f.close()
    d = _mount()
    p = Prepay(Store(MNT + "/m"), "electricity", CFG, T0)
    p.tick(T0)
    t = T0
    for i in range(20):
        p.recharge("pre-%d" % i, 500, t)
        p.consume(t, t + 60, 30)
        t += 60
        p.tick(t)
    p.save()
    old = _ledger(p)
    _umount(d)
    _copy(IMG, BASE)
    # count the device ops of one credit + save
    d = _mount()
    p = Prepay(Store(MNT + "/m"), "electricity", CFG, t)
    mptest.eq(_ledger(p), old)
    d.ops = 0
    p.recharge("the-credit", 777, t)
    p.save()
    new = _ledger(p)
    total = d.ops
    _umount(d)
    mptest.true(total > 0)
    seen = {"old": 0, "new": 0}
    for k in range(total + 1):
        _copy(BASE, IMG)
        d = _mount()
        p = Prepay(Store(MNT + "/m"), "electricity", CFG, t)
        d.ops = 0
        d.limit = k
        try:
            p.recharge("the-credit", 777, t)
            p.save()
        except OSError:
            pass
        d.f.flush()
        _copy(IMG, CUT)
        d.limit = None
        d.dead = False
        p = None
        gc.collect()
        _umount(d)
        _copy(CUT, IMG)
        d = _mount()
        q = Prepay(Store(MNT + "/m"), "electricity", CFG, t)
        got = _ledger(q)
        if got == new:
            seen["new"] += 1
            mptest.eq(q.recharge("the-credit", 777, t), False)
        else:
            mptest.eq(got, old)
            seen["old"] += 1
            mptest.eq(q.recharge("the-credit", 777, t), True)  # redelivery applies it once
        q.save()
        mptest.eq(Prepay(Store(MNT + "/m"), "electricity", CFG, t).led.to_dict(), _ledger(q))
        q = None
        gc.collect()
        _umount(d)
    print("device ops per credit save:", total, "cuts ->", seen)
    mptest.true(seen["old"] and seen["new"])
    for f in (IMG, BASE, CUT):
        os.remove(f)


mptest.main(globals())
