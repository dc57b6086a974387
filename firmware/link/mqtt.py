# Non-blocking MQTT 3.1.1 connection supervisor, serviced once per app loop: service() never
# blocks more than a few ms and never raises. umqtt.simple 1.3.4 blocks and writes packets in
# pieces (Nagle stalls), so the link holds an MQTTClient only for its settings and last-will
# API (it never calls its blocking connect/publish/wait_msg) and does the I/O itself: the address looked up off the loop (resolve.py), a non-blocking connect, one write
# per packet into a bounded buffer (wire.py), a bounded receive parser (rx.py), SUBACK checks
# (subs.py), keep-alive, backoff with jitter (docs/protocol.md §1).
# Keep-alive (MQTT 3.1.1 §3.1.2.10): PINGREQ after an interval with nothing sent, or nothing
# received; the broker is dead only when the PINGRESP is an interval late, never because of
# the meter's own traffic; a write without progress for an interval also ends the connection.
import errno
import random
import select
import socket
import time
from umqtt.simple import MQTTClient
from link import wire
from link.rx import Receiver, Violation, MAX_PUBLISH  # noqa: F401 (the app's bound)
from link.inbound import Inbound, DOWN, RESOLVE, CONNECTING, TLS, CONNACK, UP  # noqa: F401
from link.resolve import Resolver
from link.subs import Subs

CONNECT_TIMEOUT_MS = 5000
MAX_WBUF = 2048          # bytes waiting for the socket (an event or an ack of at most 1 KiB
                         # and control packets); beyond, a packet is refused (counted)
TX_RETRY_MS = 20         # retry a partial write (or poll a DNS lookup) this often


class Link(Inbound):
    clean = False

    def __init__(self, client_id, host, port, keepalive_s=60, tls=None, backoff_max_s=60,
                 ticks_ms=time.ticks_ms, user=None, password=None, getaddrinfo=None):
        # the CONNECT's fields (client_id, user, pswd, lw_*), in umqtt.simple's checked form
        self.client = MQTTClient(client_id.encode(), host, port, user=user, password=password,
                                 keepalive=keepalive_s)
        self.keepalive = keepalive_s
        self.pid = 0
        self.tls = tls                    # an ssl.SSLContext, or None
        self.backoff_max_ms = backoff_max_s * 1000
        self.ticks_ms = ticks_ms
        self.state = DOWN
        self.subs = []                    # (topic bytes, qos): resubscribed on every connect
        self.on_connect = None            # callback(link) after CONNACK
        self.on_message = None            # callback(topic, payload or None if too large, retained)
        self.on_puback = None             # callback(pid)
        self.on_suback = None             # callback(topic bytes, granted bool)
        self.want = True                  # water: connect only during sessions
        self.resolver = Resolver(host, port, getaddrinfo)
        self.rx = Receiver()
        self.sub = Subs(self.backoff_max_ms)
        self.connects = self.failures = 0
        self.rx_bad = 0                   # protocol violations by the broker
        self.errors = 0                   # anything else contained by service()
        self._sock = None
        self._poll = select.poll()
        self._t_next = 0                  # ticks_ms of the next connect attempt ...
        self._holdoff = False             # ... while backing off (cleared while not wanted)
        self._backoff_ms = 1000
        self._refresh = False             # the last attempt failed: look the address up again
        self._t_state = self._t_tx = self._t_rx = 0
        self._t_ping = None               # ticks_ms of the PINGREQ awaiting its PINGRESP
        self.tx = wire.Tx(MAX_WBUF)

    # ---- public ---------------------------------------------------------------------
    def set_last_will(self, topic, msg, retain=False, qos=0):
        self.client.set_last_will(topic, msg, retain, qos)

    def subscribe_on_connect(self, topic, qos):
        self.subs.append((topic.encode(), qos))

    def up(self):
        return self.state == UP

    def subscribed(self):
        """UP with every subscription granted: commands can arrive."""
        return self.state == UP and self.sub.t_granted is not None

    def settled(self):
        """UP, no SUBACK awaited: what the broker queued for us is on its way."""
        return self.state == UP and not self.sub.wait

    def quiet_ms(self):
        """ms since CONNACK or the last packet received, whichever is later (0 when not UP)."""
        return time.ticks_diff(self.ticks_ms(), self._t_rx) if self.state == UP else 0

    def stats(self):
        return {"connects": self.connects, "drops": self.failures, "rx_skipped": self.rx.skipped,
                "rx_bad": self.rx_bad, "tx_dropped": self.tx.dropped,
                "sub_refused": self.sub.refused, "errors": self.errors}

    def next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    def publish_now(self, topic, msg, qos=0, retain=False):
        """Queue one PUBLISH as a single write; its packet id (0 for QoS 0), or None if down
        or the write buffer is full."""
        if self.state != UP or not self.tx.room(wire.publish_size(topic, msg, qos)):
            return None
        pid = self.next_pid() if qos else 0
        self._send(wire.publish(topic, msg, qos, retain, pid))
        return pid

    def puback(self, pid):
        if self.state == UP and self.tx.room(4):
            self._send(wire.puback(pid))

    def send_subscribe(self, pid, topic, qos):
        self._send(wire.subscribe(pid, topic, qos))

    def pending_tx(self):
        return self.tx.n

    def idle(self, ms):
        """Wait up to ms for the socket (returns early when data arrives, or when a
        connect in progress completes or fails); sleeps when there is no socket."""
        if self._sock is not None:
            self._poll.poll(ms)
        else:
            time.sleep_ms(ms)

    def due_ms(self):
        """ms until service() has timed work to do: the next connect attempt, a DNS answer,
        a connect or handshake timeout, a keep-alive ping or its PINGRESP deadline, a
        stalled write, a SUBACK time-out or retry. None: nothing timed (down and not wanted).
        Socket events wake idle() sooner."""
        now = self.ticks_ms()
        if self.state == DOWN:
            if not self.want:
                return None
            return max(0, time.ticks_diff(self._t_next, now)) if self._holdoff else 0
        if self.tx.n or self.state == RESOLVE:
            return TX_RETRY_MS          # a partial write waits for room; a lookup for its thread
        if self.state != UP:
            return max(0, time.ticks_diff(self._t_state, now) + CONNECT_TIMEOUT_MS + 1)
        ka = self.keepalive * 1000
        d = self.sub.due_ms(now, ka)
        if ka:
            if self._t_ping is not None:
                k = time.ticks_diff(self._t_ping, now) + ka
            else:
                k = min(time.ticks_diff(self._t_tx, now), time.ticks_diff(self._t_rx, now)) + ka
            d = k if d is None else min(d, k)
        return None if d is None else max(0, d)

    def close(self, graceful=False):
        if self._sock is not None and graceful and self.state == UP:
            self._flush()               # on a write error this already closed the socket
            # DISCONNECT only after every queued byte: glued into a half-written packet it
            # would corrupt the stream; without it the broker publishes the will
            if self._sock is not None and not self.tx.n:
                try:
                    self._sock.write(b"\xe0\x00")
                except OSError:
                    pass
            if self.sub.t_granted is not None:
                self._backoff_ms = 1000     # a session that worked: the next starts afresh
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
        self.rx.reset()
        self.sub.reset()
        self.tx.n = 0
        self._t_ping = None
        self.state = DOWN

    def service(self):
        now = self.ticks_ms()
        try:
            if not self.want and self.state not in (DOWN, UP):
                self.close()            # a session ended while connecting: abort, send nothing
            elif self.state == DOWN:
                # a deadline older than half the ticks period reads as in the future: the
                # backoff only spaces attempts while a connection is wanted
                if not self.want:
                    self._holdoff = False
                elif not self._holdoff or time.ticks_diff(now, self._t_next) >= 0:
                    self._holdoff = False
                    self.state = RESOLVE
                    self._t_state = now
                    self._resolved(now)
            elif self.state == RESOLVE:
                self._resolved(now)
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
                    self.sub.check(self, now, self.keepalive * 1000)
                    if not self.want and not self.tx.n:
                        self.close(graceful=True)
        except Violation:               # by the broker (MQTT 3.1.1 §4.8): close, back off
            self.rx_bad += 1
            self._fail(now)
        except OSError:                 # refused, reset, timed out: back off
            self._fail(now)
        except Exception:               # MemoryError, a callback's bug: contained, counted
            self.errors += 1
            self._fail(now)

    # ---- connection -------------------------------------------------------------------
    def _fail(self, now):
        t = self.sub.t_granted
        stable = t is not None and time.ticks_diff(now, t) >= self.keepalive * 1000
        self.close()
        self.failures += 1
        self._refresh = True
        if stable:
            self._backoff_ms = 1000     # it worked for a keep-alive interval: a fresh failure
        # exponential backoff with jitter: a fleet reconnecting after a broker restart spreads out
        d = self._backoff_ms
        self._t_next = time.ticks_add(now, d // 2 + random.getrandbits(16) % (d // 2 + 1))
        self._holdoff = True
        self._backoff_ms = min(d * 2, self.backoff_max_ms)

    def _resolved(self, now):
        addr = self.resolver.poll(self._refresh)
        self._refresh = False
        if addr is None:
            return                      # the lookup runs on its thread: the loop goes on
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
                    self._sock = self.tls.wrap_socket(self._sock, server_hostname=self.client.server,
                                                      do_handshake_on_connect=False)
                    self._poll.register(self._sock, select.POLLIN)
                    self.state = TLS
                else:
                    self._poll.modify(self._sock, select.POLLIN)
                    self.state = CONNACK
                # TLS: CONNECT waits in the write buffer; each write() of it advances the non-blocking
                # handshake (mbedTLS returns WANT_READ -> None) and sends it once done.
                # write(b"") cannot do this: MicroPython's stream layer returns 0 for an empty
                # write without calling mbedTLS (found by tests_host/test_link_tls.py)
                self._t_state = now
                self._send(wire.connect(self.client, self.keepalive, self.clean))
                return
        if time.ticks_diff(now, self._t_state) > CONNECT_TIMEOUT_MS:
            raise OSError(errno.ETIMEDOUT)

    def _keepalive(self, now):
        ka = self.keepalive * 1000
        if not ka:
            return
        if self._t_ping is not None:
            if time.ticks_diff(now, self._t_ping) >= ka:
                raise OSError(errno.ETIMEDOUT)      # no PINGRESP: half-open or hung
        elif time.ticks_diff(now, self._t_tx) >= ka or time.ticks_diff(now, self._t_rx) >= ka:
            self._t_ping = now
            self._send(b"\xc0\x00")
        if self.tx.n and time.ticks_diff(now, self.tx.t_wait) >= ka:
            raise OSError(errno.ETIMEDOUT)          # no write progress: the broker stopped reading

    # ---- I/O ------------------------------------------------------------------------------
    def _send(self, pkt):
        # a control packet that does not fit waits behind a stalled write: that stall ends
        # the connection by itself (_keepalive)
        if self.tx.put(pkt, self.ticks_ms()):
            self._flush()

    def _flush(self):
        if not self.tx.n or self._sock is None:
            return
        try:
            n = self.tx.write(self._sock, self.ticks_ms())
        except (OSError, ValueError):   # ValueError: mbedTLS certificate errors
            # EPIPE / ECONNRESET while the app publishes (ack, evt, tele, state): the link goes
            # down and backs off; it must never raise into the metering loop
            self._fail(self.ticks_ms())
            return
        if n is None:
            return
        if self.state == TLS:
            self.state = CONNACK        # the handshake is over: the CONNECT went out
        if n:
            self._t_tx = self.tx.t_wait
