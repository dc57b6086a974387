# core/store.py on real LittleFS v2 (vfs.VfsLfs2, the ESP32 filesystem) over a
# file-backed block device with power cuts at the block level (the block device protocol of MicroPython's docs/library/vfs.rst).
# For each update: count its device operations (erases and programs), then for EVERY
# prefix k of them cut the power after k operations (the device keeps exactly the first
# k; every later write raises OSError(5)), remount, and require that the store yields
# exactly the old or the new record, and that the next save works.
import gc
import os
import vfs

import mptest
from core.store import Store

BS = 4096
NBLOCKS = 32
IMG = "lfs_test.img"
BASE = "lfs_test.base"
CUT = "lfs_test.cut"
MNT = "/lfs_t"


class CutDev:
    """Block device on a file; `limit` = number of erase/program ops allowed before the cut."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "r+b")
        self.ops = 0
        self.limit = None
        self.closed = False
        self.dead = False
        # blocks touched; preallocated because a file left open by a cut save is closed
        # by its GC finaliser, which runs with the heap locked (no allocation allowed)
        self.blocks = bytearray(NBLOCKS)

    def readblocks(self, n, buf, off=0):
        if self.closed:
            return  # a LittleFS file object left from a cut mount, finalised by the GC
        self.f.seek(n * BS + off)
        self.f.readinto(buf)

    def _op(self, n):
        if self.closed:
            return False
        if self.limit is not None and self.ops >= self.limit:
            if self.dead:
                return False  # power is gone: later writes reach nothing
            self.dead = True
            raise OSError(5)
        self.ops += 1
        self.blocks[n] = 1
        return True

    def writeblocks(self, n, buf, off=None):
        if not self._op(n):
            return
        self.f.seek(n * BS + (off or 0))
        self.f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return NBLOCKS
        if op == 5:
            return BS
        if op == 6:  # erase: to 0xff, as NOR flash does
            if not self._op(arg):
                return 0
            self.f.seek(arg * BS)
            ff = b"\xff" * 256
            for _ in range(BS // 256):
                self.f.write(ff)
            return 0
        return None

    def close(self):
        self.closed = True
        self.f.close()


def _copy(src, dst):
    buf = bytearray(1024)
    with open(src, "rb") as a, open(dst, "wb") as b:
        while True:
            n = a.readinto(buf)
            if not n:
                break
            b.write(memoryview(buf)[:n])


def _umount():
    try:
        vfs.umount(MNT)
    except OSError:
        pass


def _format():
    with open(IMG, "wb") as f:
        blk = b"\xff" * 1024
        for _ in range(NBLOCKS * BS // 1024):
            f.write(blk)
    d = CutDev(IMG)
    vfs.VfsLfs2.mkfs(d)
    d.close()


def _mount():
    d = CutDev(IMG)
    vfs.mount(vfs.VfsLfs2(d), MNT)
    return d


def _record(i):
    # a prepay-sized record (~2.5 KB: crosses LittleFS's inline limit and a block's worth of progs)
    return {"i": i, "bal": 1000 - i, "tx": ["txn-%03d-%s" % (j, "x" * 24) for j in range(64)]}


def _check_every_prefix(n_saved):
    """Store holds records 0..n_saved-1; cut the save of record n_saved at every prefix."""
    _umount()
    _copy(IMG, BASE)
    d = _mount()
    st = Store(MNT + "/s")
    mptest.eq(st.load("prepay")["i"], n_saved - 1)
    d.ops = 0
    st.save("prepay", _record(n_saved))
    total = d.ops
    _umount()
    d.close()
    mptest.true(total > 0)
    olds = news = 0
    for k in range(total + 1):
        _copy(BASE, IMG)
        d = _mount()
        st = Store(MNT + "/s")
        st.load("prepay")
        d.ops = 0
        d.limit = k
        try:
            st.save("prepay", _record(n_saved))
            cut = False
        except OSError:
            cut = True
        mptest.eq(cut, k < total, "k=%d total=%d" % (k, total))
        # the flash now holds exactly the first k ops: keep that image, let the dead
        # mount's leftovers (file finalisers, unmount) run against a scratch copy
        d.f.flush()
        _copy(IMG, CUT)
        d.limit = None
        d.dead = False
        gc.collect()
        _umount()
        d.close()
        _copy(CUT, IMG)
        d = _mount()  # power back: remount what the flash holds
        got = Store(MNT + "/s").load("prepay")
        mptest.true(got is not None, "record lost at k=%d" % k)
        if got == _record(n_saved):
            news += 1
        else:
            mptest.eq(got, _record(n_saved - 1), "neither old nor new at k=%d" % k)
            olds += 1
        # and the store still works after the cut
        st2 = Store(MNT + "/s")
        st2.load("prepay")
        st2.save("prepay", _record(99))
        mptest.eq(Store(MNT + "/s").load("prepay"), _record(99))
        _umount()
        d.close()
    _copy(BASE, IMG)
    mptest.true(olds >= 1 and news >= 1)
    return total


def test_every_prefix_of_a_save_leaves_old_or_new():
    _umount()
    _format()
    d = _mount()
    st = Store(MNT + "/s")
    st.save("prepay", _record(0))
    _umount()
    d.close()
    totals = []
    # save #2 goes to the empty slot b; #3 overwrites slot a; #4 overwrites slot b
    for n in (1, 2, 3):
        totals.append(_check_every_prefix(n))
        d = _mount()
        st = Store(MNT + "/s")
        st.load("prepay")
        st.save("prepay", _record(n))
        _umount()
        d.close()
    print("device ops per save:", totals)
    for f in (BASE, IMG, CUT):
        os.remove(f)


mptest.main(globals())
