# heap: 96k
# The event outbox (firmware/link/outbox.py, segment.py) under a failing flash, on the real
# port: generated runs of appends (the app's drain, retried after a failure), publishes with
# their PUBACKs and reboots, with an OSError injected once at every write, remove and rename
# point the fault-free run passes (a write may also leave half its bytes: a worn flash),
# then a second time on a LittleFS image at every block program/erase (tests_host/mpy/
# stateful_flash.py). Once the flash recovers, every payload published is exactly one
# intact event (byte for byte as appended), within a boot no event is published twice or out
# of order, and every event is published (a low-priority one may be shed by the documented
# policy, counted). OUTBOX_FAULT_SEEDS (default 2) scales the runs.
import json
import os
import random
import mptest
import core.store
import link.segment
from core.store import Store
from link.outbox import Outbox

SEEDS = int(os.getenv("OUTBOX_FAULT_SEEDS") or 2)
OPS = 40


class Faults:
    """Counts the write points (a write on a file opened to write, a remove, a rename) and
    raises OSError(EIO) at the chosen one."""

    def __init__(self):
        self.reset(None, False)

    def reset(self, at, partial):
        self.n = 0
        self.at = at
        self.partial = partial
        self.fired = False

    def hit(self):
        self.n += 1
        if self.at is not None and self.n == self.at:
            self.fired = True
            return True
        return False


F = Faults()
_open = open
_os = os


class _File:
    def __init__(self, f):
        self.f = f

    def write(self, b, n=None):
        data = b if n is None else memoryview(b)[:n]
        if F.hit():
            if F.partial and len(data) > 1:
                self.f.write(data[:len(data) // 2])
            raise OSError(5)
        return self.f.write(data)

    def seek(self, *a):
        return self.f.seek(*a)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()

    def close(self):
        self.f.close()


def _fopen(path, mode="r", *a):
    f = _open(path, mode, *a)
    return _File(f) if ("w" in mode or "a" in mode) else f


class _FOs:
    def remove(self, p):
        if F.hit():
            raise OSError(5)
        _os.remove(p)

    def rename(self, a, b):
        if F.hit():
            raise OSError(5)
        _os.rename(a, b)

    def stat(self, p):
        return _os.stat(p)


def ops_faulty(on):
    if on:
        link.segment.open = core.store.open = _fopen
        link.segment.os = _FOs()
    else:
        for m in (link.segment, core.store):
            try:
                del m.open
            except (AttributeError, KeyError):
                pass
        link.segment.os = _os


_n = [0]


def fresh(root=None):
    _n[0] += 1
    d = "%s/of%d" % (root, _n[0]) if root else "of%d" % _n[0]
    try:
        _os.mkdir(d)
    except OSError:
        pass
    for f in _os.listdir(d):
        _os.remove(d + "/" + f)
    return d


class Run:
    """One generated run against the outbox in directory d, checked as it goes."""

    def __init__(self, d, seed):
        self.d = d
        self.rnd = seed
        self.events = {}          # seq -> the payload appended
        self.pending = []         # the app's pending events (prepay RAM / record)
        self.next = 1
        self.published = {}       # seq -> times (all boots)
        self.dropped_low = 0
        self.boot()

    def r(self, n):
        self.rnd = (self.rnd * 1103515245 + 12345) & 0x7fffffff
        return (self.rnd >> 8) % n

    def boot(self):
        while True:
            try:
                self.ob = Outbox(self.d, Store(self.d), max_n=32, max_bytes=2048)
                break
            except OSError:
                pass              # a failing write at start-up: the app's boot retries
        self.last_pub = 0         # seq last published in this boot

    def event(self):
        seq = self.next
        self.next += 1
        low = self.r(8) == 0
        e = {"seq": seq, "ts": 1700000000 + seq, "type": "tele" if low else "recharge",
             "pad": "x" * self.r(120)}
        self.events[seq] = json.dumps(e).encode()
        self.pending.append(e)

    def drain(self):
        # as app._drain: in order; a failure leaves the rest pending for the next drain
        ob = self.ob
        d0 = ob.dropped_low
        mptest.eq(ob.dropped_high, 0, "a high event shed")
        while self.pending:
            try:
                ob.append(self.pending[0])
            except OSError:
                break
            self.pending.pop(0)
        self.dropped_low += ob.dropped_low - d0

    def publish(self, k):
        ob = self.ob
        for _ in range(k):
            try:
                h = ob.head()
            except OSError:
                return
            if h is None:
                return
            seq, payload = h
            mptest.true(payload == self.events.get(seq), "published %r as seq %d" % (payload[:80], seq))
            mptest.true(isinstance(json.loads(payload), dict))
            mptest.true(seq > self.last_pub, "seq %d after %d in one boot" % (seq, self.last_pub))
            self.last_pub = seq
            self.published[seq] = self.published.get(seq, 0) + 1
            try:
                ob.acked(seq)
            except OSError:
                pass              # the ack pointer: retried (Store.failing)

    def step(self):
        x = self.r(16)
        if x < 7:
            self.event()
        elif x < 15:
            self.publish(1 + self.r(3))
        else:
            self.boot()
        self.drain()

    def recover(self):
        """The flash works again: everything left goes out."""
        for _ in range(3):
            self.drain()
            self.publish(1000)
        self.boot()
        self.drain()
        self.publish(1000)
        mptest.eq(self.pending, [])
        mptest.eq(len(self.ob), 0)
        lost = [s for s in self.events if s not in self.published]
        for s in lost:
            mptest.true(b'"tele"' in self.events[s], "high event %d lost" % s)
        mptest.true(len(lost) <= self.dropped_low, "%d low events lost, %d shed" % (len(lost), self.dropped_low))


def one(seed, at, partial, root="."):
    F.reset(at, partial)
    r = Run(fresh(root), seed)
    for _ in range(OPS):
        r.step()
    fired = F.fired
    F.reset(None, False)
    r.recover()
    return fired


def test_every_write_remove_rename_failing_once():
    ops_faulty(True)
    runs = 0
    try:
        for seed in range(1, SEEDS + 1):
            F.reset(None, False)
            r = Run(fresh(), seed)
            for _ in range(OPS):
                r.step()
            points = F.n
            r.recover()
            mptest.true(points > 20, "a run with few write points (%d)" % points)
            for at in range(1, points + 1):
                for partial in (False, True):
                    mptest.true(one(seed, at, partial), "fault %d not reached" % at)
                    runs += 1
    finally:
        ops_faulty(False)
    print("outbox faults: %d runs of %d ops, every write point once" % (runs, OPS))


def test_every_block_write_failing_once_on_littlefs():
    import stateful_flash
    import vfs
    img = "outbox_flash.img"
    try:
        _os.remove(img)
    except OSError:
        pass
    dev = stateful_flash.mount(img, "/obflash")
    runs = 0
    try:
        F.reset(None, False)
        d = fresh("/obflash")
        w0 = dev.writes
        r = Run(d, 7)
        for _ in range(OPS):
            r.step()
        blocks = dev.writes - w0
        r.recover()
        step = 1
        for k in range(0, blocks, step):     # every block program and erase of the run
            d = fresh("/obflash")
            dev.fail(k, 1)
            r = Run(d, 7)
            for _ in range(OPS):
                r.step()
            dev.fail(0, 0)
            r.recover()
            runs += 1
            for f in _os.listdir(d):        # room on the image for the next run
                _os.remove(d + "/" + f)
            _os.rmdir(d)
    finally:
        vfs.umount("/obflash")
        _os.remove(img)
    print("outbox faults on LittleFS: %d runs, %d block writes each" % (runs, blocks))


mptest.main(globals())
