# Non-blocking MQTT connection supervisor (issue 3), serviced once per app loop:
# service() never blocks more than a few ms. umqtt.simple 1.3.4 blocks in connect(),
# publish(qos=1), subscribe() and wait_msg() and writes packets in pieces (Nagle stalls,
# toolchain.md), so this subclass keeps its settings and last-will API and replaces the I/O
# with a state machine: non-blocking TCP connect, CONNACK awaited by polling, one write per
# packet, an incremental receive parser, keep-alive, exponential backoff with jitter.
import errno
import random
import select
import socket
import struct
import time
from umqtt.simple import MQTTClient

DOWN, CONNECTING, TLS, CONNACK, UP = 0, 1, 2, 3, 4
CONNECT_TIMEOUT_MS = 5000
RECV_CHUNK = 256
MAX_PUBLISH = 2048 + 256         # frame.MAX_FRAME + topic: larger payloads are skipped unread
TX_RETRY_MS = 20                 # retry a partial write this often (the loop's old pace)


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def _str(s):
    return struct.pack("!H", len(s)) + s


class Link(MQTTClient):
    def __init__(self, client_id, host, port, keepalive_s=60, tls=None, backoff_max_s=60,
                 ticks_ms=time.ticks_ms, user=None, password=None):
        super().__init__(client_id.encode(), host, port, user=user, password=password,
                         keepalive=keepalive_s)
        self.tls = tls                    # an ssl.SSLContext, or None
        self.backoff_max_ms = backoff_max_s * 1000
        self.ticks_ms = ticks_ms
        self.state = DOWN
        self.subs = []                    # (topic bytes, qos): resubscribed on every connect
        self.on_connect = None            # callback(link) after CONNACK
        self.on_message = None            # callback(topic, payload or None if too large, retained) -> None
        self.on_puback = None             # callback(pid)
        self.want = True                  # water: connect only during sessions
        self.connects = 0
        self.failures = 0
        self._sock = None
        self._poll = select.poll()
        self._t_next = 0                  # ticks_ms of the next connect attempt ...
        self._holdoff = False             # ... while backing off (cleared while not wanted)
        self._backoff_ms = 1000
        self._t_state = 0
        self._t_tx = self._t_rx = 0
        self._ping_out = False
        self._rbuf = bytearray()
        self._skip = 0                    # bytes of an oversized PUBLISH still to discard
        self._wbuf = b""

    # ---- public ---------------------------------------------------------------------
    def subscribe_on_connect(self, topic, qos):
        self.subs.append((topic.encode(), qos))

    def up(self):
        return self.state == UP

    def publish_now(self, topic, msg, qos=0, retain=False):
        """Queue one PUBLISH as a single write; returns its packet id (0 for QoS 0), or None if down."""
        if self.state != UP:
            return None
        if isinstance(topic, str):
            topic = topic.encode()
        pid = 0
        hdr = 0x30 | qos << 1 | (1 if retain else 0)
        if qos:
            self.pid = self.pid % 65535 + 1
            pid = self.pid
            var = _str(topic) + struct.pack("!H", pid)
        else:
            var = _str(topic)
        self._send(bytes([hdr]) + _varlen(len(var) + len(msg)) + var + msg)
        return pid

    def puback(self, pid):
        if self.state == UP:
            self._send(b"\x40\x02" + struct.pack("!H", pid))

    def pending_tx(self):
        return len(self._wbuf)

    def idle(self, ms):
        """Wait up to ms for the socket (returns early when data arrives, or when a
        connect in progress completes or fails); sleeps when there is no socket."""
        if self._sock is not None:
            self._poll.poll(ms)
        else:
            time.sleep_ms(ms)

    def due_ms(self):
        """ms until service() has timed work to do: the next connect attempt, a connect or
        handshake timeout, a keep-alive ping, the broker-silence limit. None: nothing timed
        (down and not wanted). Socket events wake idle() sooner."""
        now = self.ticks_ms()
        if self._wbuf:
            return TX_RETRY_MS          # a partial write waits for room in the socket
        if self.state == DOWN:
            if not self.want:
                return None
            return max(0, time.ticks_diff(self._t_next, now)) if self._holdoff else 0
        if self.state != UP:
            return max(0, time.ticks_diff(self._t_state, now) + CONNECT_TIMEOUT_MS + 1)
        ka = self.keepalive * 1000
        if not ka:
            return None
        d = time.ticks_diff(self._t_rx, now) + ka * 3 // 2 + 1
        if not self._ping_out:
            d = min(d, time.ticks_diff(self._t_tx, now) + ka // 2 + 1)
        return max(0, d)

    def close(self, graceful=False):
        if self._sock is not None:
            if graceful and self.state == UP:
                self._flush()           # on a write error this already closed the socket
                try:
                    if self._sock is not None:
                        self._sock.write(b"\xe0\x00")
                except OSError:
                    pass
        if self._sock is not None:
            try:
                self._poll.unregister(self._sock)
            except Exception:
                pass
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._rbuf = bytearray()
        self._wbuf = b""
        self._skip = 0
        self.state = DOWN

    def service(self):
        now = self.ticks_ms()
        try:
            if self.state == DOWN:
                # a deadline older than half the ticks period reads as in the future: the
                # backoff only spaces attempts while a connection is wanted
                if not self.want:
                    self._holdoff = False
                elif not self._holdoff or time.ticks_diff(now, self._t_next) >= 0:
                    self._holdoff = False
                    self._start_connect(now)
            elif self.state == CONNECTING:
                self._check_connected(now)
            else:
                self._flush()
                if self._sock is not None:
                    self._read(now)
                if self.state in (TLS, CONNACK) and time.ticks_diff(now, self._t_state) > CONNECT_TIMEOUT_MS:
                    raise OSError(errno.ETIMEDOUT)
                if self.state == UP:
                    self._keepalive(now)
                    if not self.want and not self._wbuf:
                        self.close(graceful=True)
        except (OSError, ValueError, IndexError) as e:
            self._fail(now)

    # ---- connection -------------------------------------------------------------------
    def _fail(self, now):
        self.close()
        self.failures += 1
        # exponential backoff with jitter: a fleet reconnecting after a broker restart spreads out
        d = self._backoff_ms
        self._t_next = time.ticks_add(now, d // 2 + random.getrandbits(16) % (d // 2 + 1))
        self._holdoff = True
        self._backoff_ms = min(d * 2, self.backoff_max_ms)

    def _start_connect(self, now):
        addr = socket.getaddrinfo(self.server, self.port)[0][-1]
        s = socket.socket()
        self._sock = s
        s.setblocking(False)
        s.setsockopt(6, 1, 1)   # TCP_NODELAY (IPPROTO_TCP=6, TCP_NODELAY=1): no 40 ms Nagle stalls
        try:
            s.connect(addr)
        except OSError as e:
            if e.errno != errno.EINPROGRESS:
                raise
        self._poll.register(s, select.POLLOUT)
        self.state = CONNECTING
        self._t_state = now

    def _check_connected(self, now):
        for _, ev in self._poll.poll(0):
            if ev & (select.POLLERR | select.POLLHUP):
                raise OSError(errno.ECONNREFUSED)
            if ev & select.POLLOUT:
                if self.tls is not None:
                    # the raw socket leaves the poll set: a stale registration would leak one
                    # entry per reconnect and make idle() return at once on a closed fd
                    self._poll.unregister(self._sock)
                    self._sock = self.tls.wrap_socket(self._sock, server_hostname=self.server,
                                                      do_handshake_on_connect=False)
                    self._poll.register(self._sock, select.POLLIN)
                    self.state = TLS
                else:
                    self._poll.modify(self._sock, select.POLLIN)
                # TLS: CONNECT waits in _wbuf; each write() of it advances the non-blocking
                # handshake (mbedTLS returns WANT_READ -> None) and sends it once done.
                # write(b"") cannot do this: MicroPython's stream layer returns 0 for an empty
                # write without calling mbedTLS (found by tests_host/test_link_tls.py)
                self._send_connect(now)
                return
        if time.ticks_diff(now, self._t_state) > CONNECT_TIMEOUT_MS:
            raise OSError(errno.ETIMEDOUT)

    def _send_connect(self, now):
        flags = 0x02 if self.clean else 0    # clean_session=False: commands queue while offline
        var = bytearray(b"\x00\x04MQTT\x04\x00") + struct.pack("!H", self.keepalive)
        pay = _str(self.client_id)
        if self.lw_topic:
            flags |= 0x04 | (self.lw_qos & 3) << 3 | (0x20 if self.lw_retain else 0)
            pay += _str(self.lw_topic) + _str(self.lw_msg)
        # a username makes the session non-anonymous: amqtt 0.12 queues QoS 1 messages for an
        # offline persistent session only then (broker.py: `not target_session.is_anonymous`)
        if self.user:
            flags |= 0x80
            pay += _str(self.user.encode() if isinstance(self.user, str) else self.user)
            if self.pswd:
                flags |= 0x40
                pay += _str(self.pswd.encode() if isinstance(self.pswd, str) else self.pswd)
        var[7] = flags
        if self.state != TLS:
            self.state = CONNACK
        self._t_state = now
        self._t_rx = now
        self._send(b"\x10" + _varlen(len(var) + len(pay)) + var + pay)

    clean = False

    def _on_connack(self, body, now):
        if len(body) != 2 or body[1] != 0:
            raise OSError(errno.ECONNREFUSED)
        self.state = UP
        self.connects += 1
        self._backoff_ms = 1000
        self._ping_out = False
        for topic, qos in self.subs:
            self.pid = self.pid % 65535 + 1
            var = struct.pack("!H", self.pid) + _str(topic) + bytes([qos])
            self._send(b"\x82" + _varlen(len(var)) + var)
        if self.on_connect and self.state == UP:
            self.on_connect(self)

    def _keepalive(self, now):
        ka = self.keepalive * 1000
        if not ka:
            return
        if time.ticks_diff(now, self._t_rx) > ka * 3 // 2:
            raise OSError(errno.ETIMEDOUT)      # broker silent: half-open or hung
        if time.ticks_diff(now, self._t_tx) > ka // 2 and not self._ping_out:
            self._ping_out = True
            self._send(b"\xc0\x00")

    # ---- I/O ------------------------------------------------------------------------------
    def _send(self, pkt):
        self._wbuf = self._wbuf + pkt if self._wbuf else pkt
        self._flush()

    def _flush(self):
        if not self._wbuf or self._sock is None:
            return
        try:
            n = self._sock.write(self._wbuf)
        except (OSError, ValueError):   # ValueError: mbedTLS certificate errors
            # EPIPE / ECONNRESET while the app publishes (ack, evt, tele, state): the link goes
            # down and backs off; it must never raise into the metering loop
            self._fail(self.ticks_ms())
            return
        if n is None:
            return
        if self.state == TLS:
            self.state = CONNACK        # the handshake is over: the CONNECT went out
        self._wbuf = self._wbuf[n:]
        self._t_tx = self.ticks_ms()

    def _read(self, now):
        for _ in range(8):      # bounded work per service()
            d = self._sock.read(RECV_CHUNK)
            if d is None:
                break
            if not d:
                raise OSError(errno.ECONNRESET)
            self._t_rx = now
            self._ping_out = False
            if self._skip:
                k = min(self._skip, len(d))
                self._skip -= k
                d = d[k:]
            self._rbuf.extend(d)
            self._parse(now)
            if self._sock is None or len(d) < RECV_CHUNK:   # a handler's write failed: down
                break

    def _parse(self, now):
        b = self._rbuf
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
                if sh > 21:
                    raise ValueError("bad remaining length")
            t = b[0] & 0xF0
            if t == 0x30 and n > MAX_PUBLISH:
                self._oversized(b, i, n)
                return
            if len(b) < i + n:
                return
            body = bytes(b[i:i + n])
            hdr = b[0]
            self._rbuf = b = b[i + n:]
            self._packet(hdr, body, now)
            if self._sock is None:
                return

    def _oversized(self, b, i, n):
        # too large: wait for topic + packet id, then discard the rest unread (never in RAM)
        if len(b) < i + 2:
            return
        tl = b[i] << 8 | b[i + 1]
        need = i + 2 + tl + (2 if b[0] & 6 else 0)
        if len(b) < need:
            return
        topic = bytes(b[i + 2:i + 2 + tl])
        pid = b[need - 2] << 8 | b[need - 1] if b[0] & 6 else 0
        rest = i + n - len(b)
        self._rbuf = bytearray() if rest >= 0 else b[i + n:]
        self._skip = max(rest, 0)
        if self.on_message:
            self.on_message(topic, None, bool(b[0] & 1))
        if pid:
            self.puback(pid)

    def _packet(self, hdr, body, now):
        t = hdr & 0xF0
        if t == 0x30:
            tl = body[0] << 8 | body[1]
            topic = body[2:2 + tl]
            qos = (hdr >> 1) & 3
            p = 2 + tl
            pid = 0
            if qos:
                pid = body[p] << 8 | body[p + 1]
                p += 2
            if self.on_message:
                self.on_message(topic, body[p:], bool(hdr & 1))
            if qos == 1:
                self.puback(pid)     # after the handler: a crash before it means redelivery
        elif t == 0x40:
            if self.on_puback:
                self.on_puback(body[0] << 8 | body[1])
        elif t == 0x20:
            self._on_connack(body, now)
        # SUBACK (0x90), PINGRESP (0xd0): nothing to do beyond the rx timestamp
