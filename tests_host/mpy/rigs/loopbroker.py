# A scripted MQTT broker on a loopback socket, in the same MicroPython process as the link
# under test: the test steps link.service() and this peer in turn, with a fake ticks_ms, so
# keep-alive and backoff run in simulated milliseconds over real sockets.
import random
import socket
import struct
from link.mqtt import Link, MAX_PUBLISH

CONNACK_OK = b"\x20\x02\x00\x00"
PINGRESP = b"\xd0\x00"


def varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def publish(topic, payload, qos=0, pid=1, retain=False, hdr=None):
    var = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", pid) if qos else b"")
    h = hdr if hdr is not None else 0x30 | qos << 1 | (1 if retain else 0)
    return bytes([h]) + varlen(len(var) + len(payload)) + var + payload


def suback(pid, code=1):
    return b"\x90\x03" + struct.pack("!H", pid) + bytes([code])


class Clock:
    def __init__(self):
        self.t = 100000

    def __call__(self):
        return self.t


class Peer:
    """The broker's side of one test: listens, accepts the link's connections, reads what
    the link sent as a list of (first byte, body) packets, writes raw bytes."""

    def __init__(self, rcvbuf=None):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.srv.setsockopt(socket.SOL_SOCKET, 8, rcvbuf)   # SO_RCVBUF: a small window
        # the unix port's socket has no getsockname(): try random high ports
        for _ in range(50):
            port = 20000 + random.getrandbits(15)
            try:
                self.srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
                break
            except OSError:
                pass
        self.srv.listen(4)
        self.port = port
        self.c = None
        self.inbuf = b""
        self.got = []           # every packet the link sent: (first byte, body)
        self.scratch = bytearray(1024)
        self.accepts = 0

    def accept(self):
        if self.c is not None:
            self.c.close()
        self.c, _ = self.srv.accept()
        self.c.setsockopt(6, 1, 1)      # TCP_NODELAY: no Nagle / delayed-ACK stall between writes
        self.c.setblocking(False)
        self.inbuf = b""
        self.accepts += 1

    def drop(self):
        if self.c is not None:
            self.c.close()
            self.c = None

    def send(self, data):
        self.c.setblocking(True)
        self.c.write(data)
        self.c.setblocking(False)

    def read(self):
        """Parse what arrived into self.got; returns the new packets."""
        new = []
        if self.c is None:
            return new
        while True:
            try:
                k = self.c.readinto(self.scratch)
            except OSError:
                k = None
            if not k:
                break
            self.inbuf += self.scratch[:k]
        b = self.inbuf
        while len(b) >= 2:
            n, i, sh = 0, 1, 0
            while True:
                if i >= len(b):
                    break
                c = b[i]
                n |= (c & 0x7F) << sh
                i += 1
                if not c & 0x80:
                    break
                sh += 7
            if len(b) < i + n:
                break
            new.append((b[0], b[i:i + n]))
            b = b[i + n:]
        self.inbuf = b
        self.got.extend(new)
        return new

    def types(self, pkts=None):
        return [p[0] & 0xF0 for p in (self.got if pkts is None else pkts)]

    def close(self):
        self.drop()
        self.srv.close()


HELD_MAX = MAX_PUBLISH + 5        # one packet and its fixed header


def held(link):
    """Bytes the link holds from the network (its receive buffer)."""
    rx = getattr(link, "rx", None)
    return rx.n if rx is not None else len(link._rbuf)


def make_link(peer, clock, keepalive_s=30, **kw):
    link = Link("m-1", "127.0.0.1", peer.port, keepalive_s=keepalive_s, ticks_ms=clock,
                user="m-1", **kw)
    link.set_last_will(b"meters/m-1/state", b'{"online": false}', retain=True, qos=1)
    link.subscribe_on_connect("meters/m-1/cmd", 1)
    link.msgs = []
    link.on_message = lambda t, p, r: link.msgs.append((bytes(t), p, r))
    return link


def connect(link, peer, clock, grant=True):
    """Drive the link through CONNECT / CONNACK / SUBSCRIBE(/SUBACK) with the peer."""
    link.service()                      # lookup + non-blocking connect
    peer.accept()
    for _ in range(20):
        link.service()                  # POLLOUT -> CONNECT
        if peer.read():
            break
    assert peer.types()[-1] == 0x10, peer.got
    peer.send(CONNACK_OK)
    for _ in range(20):
        link.service()
        if link.up():
            break
    assert link.up(), link.state
    subs = [p for p in peer.read() if p[0] & 0xF0 == 0x80]
    if grant:
        for p in subs:
            peer.send(suback(p[1][0] << 8 | p[1][1]))
        settle(link)
    return subs


def settle(link, n=5):
    for _ in range(n):
        link.idle(2)                    # returns as soon as loopback data is there
        link.service()
