# MQTT 3.1.1 packets the meter sends, each built as one bytes object so it goes out in one
# write (no Nagle stalls), the bounded buffer they wait in for the socket, and the PUBLISH
# fields the meter reads (§3.1, §3.3, §3.8).
import struct
from link.rx import Violation


class Tx:
    """Packets waiting for a non-blocking socket: one buffer allocated once; a packet that
    does not fit is refused and counted, never queued."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.n = 0
        self.dropped = 0
        self.t_wait = 0         # ticks_ms of the last progress, or when the buffer filled

    def room(self, k):
        if self.n + k <= len(self.buf):
            return True
        self.dropped += 1
        return False

    def put(self, pkt, now):
        k = len(pkt)
        if not self.room(k):
            return False
        if not self.n:
            self.t_wait = now
        self.mv[self.n:self.n + k] = pkt
        self.n += k
        return True

    def write(self, sock, now):
        """One write of what waits; the bytes written, or None (the socket would block).
        OSError / ValueError (mbedTLS) from the socket go to the caller."""
        n = sock.write(self.buf, self.n)
        if n:
            rest = self.n - n
            if rest:
                self.mv[0:rest] = self.mv[n:self.n]
            self.n = rest
            self.t_wait = now
        return n


def varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def mstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def connect(c, keepalive_s, clean):
    """CONNECT for an umqtt.simple-style client c (client_id, lw_*, user, pswd)."""
    flags = 0x02 if clean else 0        # clean_session=False: commands queue while offline
    var = bytearray(b"\x00\x04MQTT\x04\x00") + struct.pack("!H", keepalive_s)
    pay = mstr(c.client_id)
    if c.lw_topic:
        flags |= 0x04 | (c.lw_qos & 3) << 3 | (0x20 if c.lw_retain else 0)
        pay += mstr(c.lw_topic) + mstr(c.lw_msg)
    # a username makes the session non-anonymous: amqtt 0.12 queues QoS 1 messages for an
    # offline persistent session only then (broker.py: `not target_session.is_anonymous`)
    if c.user:
        flags |= 0x80
        pay += mstr(c.user)
        if c.pswd:
            flags |= 0x40
            pay += mstr(c.pswd)
    var[7] = flags
    return b"\x10" + varlen(len(var) + len(pay)) + var + pay


def publish(topic, msg, qos, retain, pid):
    var = mstr(topic)
    if qos:
        var += struct.pack("!H", pid)
    return bytes([0x30 | qos << 1 | (1 if retain else 0)]) + varlen(len(var) + len(msg)) + var + msg


def publish_size(topic, msg, qos):
    return 2 + len(topic) + len(msg) + (2 if qos else 0) + 5


def subscribe(pid, topic, qos):
    var = struct.pack("!H", pid) + mstr(topic) + bytes([qos])
    return b"\x82" + varlen(len(var)) + var


def puback(pid):
    return b"\x40\x02" + struct.pack("!H", pid)


def publish_fields(hdr, body):
    """(topic, packet id or 0, payload) of a received PUBLISH body; Violation if malformed."""
    qos = (hdr >> 1) & 3
    if len(body) < 2:
        raise Violation("PUBLISH without a topic")
    tl = body[0] << 8 | body[1]
    p = 2 + tl + (2 if qos else 0)
    if p > len(body):
        raise Violation("PUBLISH topic longer than the packet")
    pid = body[p - 2] << 8 | body[p - 1] if qos else 0
    return body[2:2 + tl], pid, body[p:]
