# Test rig for the OTA code on the MicroPython unix port (not a test_*.py itself): a signer
# with the test key, manifest builders, an in-process chunk server that can corrupt or lose
# chunks, and a small stand-in for the app shell with exactly the attributes ota/hook.py
# uses (prepay.cmd/emit/save, outbox.acked_seq, link.publish_now/up, commands.ops/fw,
# clock, stop_code), so the real hook, update, trial and loader code run end to end.
import hashlib
import json
import os
from binascii import b2a_base64, unhexlify

import ota_testkey
from ota import rsa

KEY_N = int.from_bytes(unhexlify(ota_testkey.N_HEX), "big")
KEY_D = int(ota_testkey.D_HEX, 16)
OTHER_N = int.from_bytes(unhexlify(ota_testkey.OTHER_N_HEX), "big")
OTHER_D = int(ota_testkey.OTHER_D_HEX, 16)


def sign(data, n=KEY_N, d=KEY_D):
    em = rsa.encoded(hashlib.sha256(data).digest())
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(256, "big")


def b64(sig):
    return b2a_base64(sig).strip().decode()


def hexs(b):
    return "".join("%02x" % x for x in b)


def header(**kw):
    h = {"type": "bundle", "version": "1.1.0", "board": "sim",
         "kinds": ["electricity", "water", "gas"], "min_from": "1.0.0", "health_s": 60,
         "loops": 3}
    h.update(kw)
    return b"OTA1 " + json.dumps(h).encode() + b"\n"


def bundle_manifest(files, **kw):
    names = sorted(files)
    lines = b""
    total = 0
    for p in names:
        total += len(files[p])
        lines += ("%s %d %s\n" % (hexs(hashlib.sha256(files[p]).digest()), len(files[p]), p)).encode()
    return header(files=len(names), bytes=total, **kw) + lines


def image_manifest(img, **kw):
    lines = b""
    for i in range(0, len(img), 4096):
        lines += hexs(hashlib.sha256(img[i:i + 4096]).digest()).encode() + b"\n"
    kw.setdefault("type", "firmware")
    return header(size=len(img), block=4096, **kw) + lines


def sample_files(tag=b"v2", n=5, size=1500):
    # an app module plus a few others in sub-directories, sizes across chunk boundaries
    out = {"app.py": b"FW = '" + tag + b"'\n" + b"#" * 300 + b"\n"}
    for i in range(n):
        body = (tag + b"-%d-" % i) * (size // 6 + i * 37)
        out["pkg%d/mod%d.py" % (i % 2, i)] = body[:size + i * 411]
    return out


class Server:
    """Answers chunk requests from `objects` {"MANIFEST": bytes, "IMAGE": bytes, path: bytes}.
    corrupt(req) -> bytes or None: a replacement payload data; lose(req) -> True drops it."""

    def __init__(self, uid, objects):
        self.uid = uid
        self.objects = objects
        self.corrupt = None
        self.lose = None
        self.requests = 0
        self.bytes = 0

    def answer(self, req):
        self.requests += 1
        if self.lose is not None and self.lose(req):
            return None
        h = {"u": req["u"], "f": req["f"], "o": req["o"]}
        data = self.objects.get(req["f"])
        if req["u"] != self.uid or data is None:
            h["err"] = "not_found"
            data = b""
        else:
            data = data[req["o"]:req["o"] + req["n"]]
            if self.corrupt is not None:
                c = self.corrupt(req, data)
                if c is not None:
                    data = c
        self.bytes += len(data)
        return json.dumps(h).encode() + b"\n" + data


class Clock:
    def __init__(self, t=1800000000):
        self.t = t
        self.ms = 0

    def now_s(self):
        return self.t

    def mono_s(self):
        return self.t           # the rig's time only moves forward: wall and monotonic agree

    def ticks_ms(self):
        return self.ms


class Prepay:
    def __init__(self):
        self.cmd = {"last_seq": 0, "recent": []}
        self.events = []
        self.seq = 0
        self.supply = "on"
        self.saves = 0

    def emit(self, type, now_s, **kw):
        self.seq += 1
        ev = {"seq": self.seq, "ts": now_s, "type": type}
        ev.update(kw)
        self.events.append(ev)
        return ev

    def save(self):
        self.saves += 1


class Link:
    def __init__(self):
        self.sent = []
        self.is_up = True
        self.subs = []
        self.want = True
        self.on_message = lambda t, p, r: None
        self.on_connect = lambda lk: None

    def up(self):
        return self.is_up

    def subscribe_on_connect(self, t, q):
        self.subs.append(t)

    def publish_now(self, topic, msg, qos=0, retain=False):
        if not self.is_up:
            return None
        self.sent.append((topic, msg))
        return 0


class Outbox:
    acked_seq = 0


class Commands:
    def __init__(self, fw):
        self.ops = {}
        self.fw = fw


class App:
    REBOOT = 3

    def __init__(self, flash, store, kind="electricity", always_online=True, fw="1.0.0",
                 pub=None, prepay=None, clock=None):
        self.flash = flash
        self.store = store
        self.kind = kind
        self.conf = {"id": "m-1", "board": "sim", "ota": {"pub": pub or ota_testkey.N_HEX}}
        self.topic = "meters/m-1/"
        self.always_online = always_online
        self.minimal = False
        self.prepay = prepay or Prepay()
        self.outbox = Outbox()
        self.link = Link()
        self.clock = clock or Clock()
        self.commands = Commands(fw)
        self.stop_code = None
        self.session_ms = None
        self.driver = None

    def drain(self, now):
        pass


def statuses(app):
    return [e.get("status") for e in app.prepay.events if e["type"] == "ota"]


def pump(app, ota, server, steps=2000, stop=None):
    """Run the loop: ota.step, deliver each request's answer. Ends at a reboot request, when
    nothing is in flight any more, or after `steps` passes."""
    for _ in range(steps):
        app.clock.ms += 20
        ota.step(app.clock.now_s())
        if app.stop_code is not None:
            return "reboot"
        sent, app.link.sent = app.link.sent, []
        for topic, msg in sent:
            p = server.answer(json.loads(msg))
            if p is not None:
                ota.on_data(p)
            if app.stop_code is not None:
                return "reboot"
        if stop is not None and stop():
            return "stop"
        if ota.rec.get("st") is None and not (ota.trial and ota.trial.active) and not sent:
            return "idle"
    return "steps"


def announce(ota, uid, manifest, sig=None, **kw):
    a = {"update": uid, "size": len(manifest), "sig": b64(sig if sig is not None else sign(manifest))}
    a.update(kw)
    return ota.op(a, 0)


def digests(files):
    out = {}
    for p in files:
        out[p] = hashlib.sha256(files[p]).digest()
    return out


def files_of(d):
    """{path: sha256} of every file under d (hashed in pieces: the heap is small)."""
    out = {}
    buf = bytearray(512)
    from ota.slots import walk
    for p in walk(d):
        h = hashlib.sha256()
        with open(d + "/" + p, "rb") as f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                h.update(memoryview(buf)[:k])
        out[p] = h.digest()
    return out


def rmtree(d):
    from ota.slots import wipe_some
    while not wipe_some(d, 1000):
        pass


class RamBlocks:
    """A LittleFS block device in RAM whose writes can be cut off after a budget: the power
    cut at the level of the real filesystem (toolchain: vfs.VfsLfs2 on a Python bdev).
    Each mount gets its own view(); after a cut that view is dead for good: every call
    answers -EIO (an error code, no exception, nothing allocated), so a file the cut left
    open can never write again when the garbage collector closes it, just as nothing runs
    after a real power cut."""

    def __init__(self, n=64, bs=512):
        self.bs = bs
        self.blocks = [bytearray(bs) for _ in range(n)]     # no large contiguous allocation
        self.n = n
        self.budget = None
        self.writes = 0
        self.live = None

    def view(self):
        if self.live is not None:
            self.live.dead = True
        self.live = _View(self)
        return self.live


class _View:
    def __init__(self, dev):
        self.d = dev
        self.dead = False

    def _spend(self):
        d = self.d
        if self.dead:
            return False
        if d.budget is not None:
            if d.budget <= 0:
                self.dead = True            # the power is gone
                return False
            d.budget -= 1
        d.writes += 1
        return True

    def readblocks(self, b, buf, off=0):
        if self.dead:
            return -5
        buf[:] = memoryview(self.d.blocks[b])[off:off + len(buf)]

    def writeblocks(self, b, buf, off=None):
        if not self._spend():
            return -5
        off = off or 0
        self.d.blocks[b][off:off + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.d.n
        if op == 5:
            return self.d.bs
        if op == 6:
            if not self._spend():
                return -5
            blk = self.d.blocks[arg]
            blk[:] = b"\xff" * self.d.bs
            return 0
        return 0


def mount(bdev, path, fresh=False):
    import vfs
    try:
        vfs.umount(path)
    except OSError:
        pass
    v = bdev.view()
    if fresh:
        vfs.VfsLfs2.mkfs(v)
    vfs.mount(vfs.VfsLfs2(v), path)
