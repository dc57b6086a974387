# The receive side of the MQTT link: every byte from the network is bounded before it is
# buffered. One fixed buffer (allocated once) holds at most one packet; each packet type a
# broker may send has a maximum body (MQTT 3.1.1 §3: CONNACK, PUBACK, PUBREC, PUBREL,
# PUBCOMP and UNSUBACK carry 2 bytes, PINGRESP none, SUBACK a packet id and one code per
# topic). A larger body is skipped as it arrives, never stored, and counted; a PUBLISH over
# MAX_PUBLISH is reported with its topic (if short enough) so the app can answer
# `too_large`. Types a server never sends (§2.2.1) and malformed headers raise Violation:
# a protocol violation, on which the link closes the connection (§4.8).
from micropython import const


class Violation(ValueError):
    """The broker broke MQTT 3.1.1: the connection is closed (§4.8)."""

MAX_PUBLISH = const(2048 + 260)   # frame.MAX_FRAME + topic and packet id
MAX_TOPIC = const(256)            # longer topics are never ours: skipped without a look
MAX_SUBS = const(8)               # SUBACK: one return code per topic of one SUBSCRIBE
HDR_MAX = const(5)                # type byte + up to 4 bytes of remaining length
PUBLISH = const(0x30)

# body limits per packet type (first byte & 0xF0); a type missing here is a violation
LIMIT = {0x20: 2, PUBLISH: MAX_PUBLISH, 0x40: 2, 0x50: 2, 0x60: 2, 0x70: 2,
         0x90: 2 + MAX_SUBS, 0xB0: 2, 0xD0: 0}
FIXED = (0x20, 0x40, 0x50, 0x60, 0x70, 0xB0)    # exactly 2 bytes: shorter is malformed


class Receiver:
    def __init__(self):
        self.buf = bytearray(HDR_MAX + MAX_PUBLISH)
        self.mv = memoryview(self.buf)
        self.n = 0              # bytes held
        self.skip = 0           # bytes of an oversized packet still to discard as they come
        self.skipped = 0        # oversized packets skipped (counter for telemetry)
        self.topic = None       # oversized PUBLISH: its topic and packet id
        self.pid = 0

    def reset(self):
        self.n = self.skip = 0

    def fill(self, sock):
        """Read what the socket has into the free space: the number of bytes read, None
        when nothing is waiting; OSError(ECONNRESET)-worthy 0 at end of stream."""
        k = sock.readinto(self.mv[self.n:])
        if not k:
            return k
        self.n += k
        if self.skip:
            self._drop(min(self.skip, self.n), True)
        return k

    def _drop(self, k, skipping=False):
        if skipping:
            self.skip -= k
        rest = self.n - k
        if rest:
            self.mv[0:rest] = self.mv[k:self.n]
        self.n = rest

    def _skip(self, total):
        # discard `total` bytes from the front: what is buffered now, the rest as it arrives
        k = min(total, self.n)
        self.skip = total - k
        self._drop(k)
        self.skipped += 1

    def packet(self):
        """The next complete packet as (first byte, body bytes); (first byte, None) for an
        oversized PUBLISH whose .topic/.pid are set; None when more bytes are needed."""
        while self.n >= 2 and not self.skip:
            b = self.buf
            hdr = b[0]
            n, i, sh = 0, 1, 0
            while True:
                if i >= self.n:
                    return None
                c = b[i]
                n |= (c & 0x7F) << sh
                i += 1
                if not c & 0x80:
                    break
                sh += 7
                if sh > 21:
                    raise Violation("remaining length over 4 bytes")
            t = hdr & 0xF0
            limit = LIMIT.get(t)
            if limit is None:
                raise Violation("packet type %d from a server" % (t >> 4))
            if t == PUBLISH and (hdr & 6) == 6:
                raise Violation("PUBLISH with QoS 3")
            if n < limit and t in FIXED:
                raise Violation("packet type %d of %d bytes" % (t >> 4, n))
            if n > limit:
                if t != PUBLISH:
                    self._skip(i + n)
                    continue
                got = self._oversized(hdr, i, n)
                if got == 0:
                    return None
                if got == 1:
                    return hdr, None
                continue
            if self.n < i + n:
                return None
            body = bytes(self.mv[i:i + n])
            self._drop(i + n)
            return hdr, body
        return None

    def _oversized(self, hdr, i, n):
        # 0: wait for the head; 1: topic and pid read, the rest skipped; 2: skipped unseen
        if self.n < i + 2:
            return 0
        tl = self.buf[i] << 8 | self.buf[i + 1]
        if tl > MAX_TOPIC:
            self._skip(i + n)
            return 2
        head = 2 + tl + (2 if hdr & 6 else 0)
        if head > n:
            raise Violation("PUBLISH topic longer than the packet")
        if self.n < i + head:
            return 0
        self.topic = bytes(self.mv[i + 2:i + 2 + tl])
        p = i + head
        self.pid = self.buf[p - 2] << 8 | self.buf[p - 1] if hdr & 6 else 0
        self._skip(i + n)
        return 1
