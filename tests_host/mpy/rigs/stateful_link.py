# Test-only network and time for the whole-meter stateful test: a fake MQTT 3.1.1 broker
# behind fake `socket` and `select` modules (the subset link/mqtt.py uses, with the port's
# names and semantics: non-blocking connect raising EINPROGRESS, read() -> None when nothing
# is there and b"" at the peer's close, poll() -> [(sock, event)]), and a virtual `time`
# whose milliseconds pass only when the meter waits, so a run is fast and repeatable.
#
# The broker keeps the meter's persistent session: commands queued for it are delivered at
# QoS 1 after each (re)subscribe, in order, and redelivered with DUP until the meter PUBACKs
# them, exactly what makes an unsaved-but-recorded command come back after a dropped link.
import errno
import struct

POLLIN, POLLOUT, POLLERR, POLLHUP = 1, 4, 8, 16


class VTime:
    """A stand-in for `time` in simclock, app and link.mqtt: ticks_ms() is virtual."""
    ms = 0

    @staticmethod
    def ticks_ms():
        return VTime.ms

    @staticmethod
    def ticks_us():
        return VTime.ms * 1000

    @staticmethod
    def ticks_diff(a, b):
        return a - b

    @staticmethod
    def ticks_add(a, b):
        return a + b

    @staticmethod
    def sleep_ms(ms):
        VTime.ms += ms

    @staticmethod
    def sleep(s):
        VTime.ms += int(s * 1000)

    @staticmethod
    def time():
        return 1800000000 + VTime.ms // 1000


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(b):
    return struct.pack("!H", len(b)) + b


class Broker:
    def __init__(self):
        self.up = True              # accepting connections
        self.sock = None            # the meter's connection
        self.queue = []             # [pid, topic, payload]: for the meter, until it PUBACKs
        self._sent = []             # pids delivered on this connection
        self.pid = 0
        self.published = []         # (topic, payload, qos, retain) from the meter
        self.connects = 0
        self.seen = []              # pids ever delivered (a later delivery carries DUP)

    def enqueue(self, topic, payload):
        self.pid = self.pid % 65535 + 1
        self.queue.append([self.pid, topic, payload])
        if self.sock is not None and self.sock.subscribed:
            self._deliver()
        return self.pid

    def pending(self, pid=None):
        if pid is None:
            return len(self.queue)
        return any(q[0] == pid for q in self.queue)

    def set_up(self, up):
        self.up = up
        if not up and self.sock is not None:
            self.sock.peer_closed = True
            self.sock = None

    def _deliver(self):
        s = self.sock
        for pid, topic, payload in self.queue:
            if pid in self._sent:
                continue
            dup = 0x08 if pid in s.seen else 0
            var = _str(topic) + struct.pack("!H", pid)
            s.inbound += bytes([0x32 | dup]) + _varlen(len(var) + len(payload)) + var + payload
            self._sent.append(pid)
            s.seen.append(pid)

    # ---- what the meter writes -----------------------------------------------------------
    def receive(self, s, data):
        s.outbuf += data
        b = s.outbuf
        while len(b) >= 2:
            n, i, sh = 0, 1, 0
            while True:
                if i >= len(b):
                    return
                c = b[i]
                n |= (c & 0x7F) << sh
                i += 1
                if not c & 0x80:
                    break
                sh += 7
            if len(b) < i + n:
                return
            self._packet(s, b[0], bytes(b[i:i + n]))
            b = s.outbuf = b[i + n:]

    def _packet(self, s, hdr, body):
        t = hdr & 0xF0
        if t == 0x10:                                   # CONNECT
            self.connects += 1
            s.inbound += b"\x20\x02\x00\x00"
        elif t == 0x80:                                 # SUBSCRIBE
            s.inbound += b"\x90\x03" + body[:2] + b"\x01"
            s.subscribed = True
            self._deliver()
        elif t == 0x30:                                 # PUBLISH from the meter
            qos = (hdr >> 1) & 3
            tl = body[0] << 8 | body[1]
            topic = body[2:2 + tl]
            p = 2 + tl
            if qos:
                pid = body[p:p + 2]
                p += 2
                s.inbound += b"\x40\x02" + pid
            self.published.append((topic.decode(), body[p:], qos, bool(hdr & 1)))
        elif t == 0x40:                                 # PUBACK of a command
            pid = body[0] << 8 | body[1]
            self.queue = [q for q in self.queue if q[0] != pid]
        elif t == 0xC0:                                 # PINGREQ
            s.inbound += b"\xd0\x00"
        elif t == 0xE0:                                 # DISCONNECT
            s.peer_closed = True


class Sock:
    def __init__(self, broker):
        self.b = broker
        self.connecting = False
        self.connected = False
        self.refused = False
        self.peer_closed = False
        self.subscribed = False
        self.inbound = b""
        self.outbuf = b""
        self.seen = broker.seen

    def setblocking(self, flag):
        pass

    def setsockopt(self, *a):
        pass

    def connect(self, addr):
        if not self.b.up:
            raise OSError(errno.ECONNREFUSED)
        self.connecting = True
        raise OSError(errno.EINPROGRESS)

    def write(self, data, n=None):
        if self.peer_closed:
            raise OSError(errno.ECONNRESET)
        data = bytes(data) if n is None else bytes(data[:n])
        if self.b.sock is self:
            self.b.receive(self, data)
        return len(data)

    def read(self, n):
        if self.inbound:
            out, self.inbound = self.inbound[:n], self.inbound[n:]
            return out
        if self.peer_closed:
            return b""
        return None

    def readinto(self, buf):
        got = self.read(len(buf))
        if not got:
            return got
        buf[:len(got)] = got
        return len(got)

    def close(self):
        if self.b.sock is self:
            self.b.sock = None
            self.b._sent = []


class Poll:
    def __init__(self):
        self.socks = []

    def register(self, s, ev=0):
        if s not in self.socks:
            self.socks.append(s)

    def modify(self, s, ev):
        pass

    def unregister(self, s):
        if s in self.socks:
            self.socks.remove(s)

    def poll(self, ms=-1):
        # level-triggered, as poll(2): a connected socket is always writable
        out = []
        for s in self.socks:
            if s.connecting:
                s.connecting = False
                b = s.b
                if b.up and b.sock is None:
                    b.sock = s
                    b._sent = []
                    s.connected = True
                else:
                    s.refused = True
            ev = 0
            if s.refused:
                ev = POLLERR
            elif s.connected:
                ev = POLLOUT | (POLLIN if s.inbound or s.peer_closed else 0)
            if ev:
                out.append((s, ev))
        return out


class SocketModule:
    def __init__(self, broker):
        self.broker = broker

    def getaddrinfo(self, host, port):
        return [(2, 1, 0, "", ("127.0.0.1", port))]

    def socket(self, *a):
        return Sock(self.broker)


class SelectModule:
    POLLIN, POLLOUT, POLLERR, POLLHUP = POLLIN, POLLOUT, POLLERR, POLLHUP

    @staticmethod
    def poll():
        return Poll()


def patch(run, broker):
    """Install the seams before the app is built: virtual time for the sim clock, the app
    and the link; the fake broker behind the link's socket and select; the board's RTC
    (run["rtc"]: its time after this reset) and physical parts as the last run left them."""
    import simclock
    simclock.time = VTime
    VTime.ms = run["vms"]
    import board as boardmod
    real_clock, real_make = boardmod.clock, boardmod.make

    def clock(conf, floor_s=0):
        conf = dict(conf)
        conf["sim_start"] = run["rtc"]
        return real_clock(conf, floor_s)

    def make(kind, cfg, clk):
        # the valve stays where it was, the latching relay's contacts too (the drivers read
        # the end stops and re-pulse the coil at boot)
        b = real_make(kind, cfg, clk)
        phys = run.get("phys") or {}
        if "valve_pos" in phys:
            b.valve_model.pos = phys["valve_pos"]
        if "relay_closed" in phys:
            b.world.closed = phys["relay_closed"]
        return b
    boardmod.clock, boardmod.make = clock, make
    import app
    import link.mqtt as lm
    import app_link
    app.time = VTime
    app_link.time = VTime
    lm.time = VTime
    lm.socket = SocketModule(broker)
    lm.select = SelectModule
    broker.up = run["broker_up"]

