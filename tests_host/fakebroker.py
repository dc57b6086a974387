"""A scripted MQTT 3.1.1 broker on loopback for one meter at a time: it answers like a broker
(CONNACK, SUBACK, PUBACK, PINGRESP) unless told otherwise, records what the meter sends, and
lets a test misbehave at will: refuse or delay CONNACK, refuse a subscription, never PUBACK,
ignore pings, send raw bytes (huge lengths, unknown types, QoS 2, a slow-loris dribble).
Used by tests_host/test_link_hostile.py and tools/bench_hostile.py with the real firmware."""
import json
import socket
import struct
import threading
import time


def varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def publish_packet(topic, payload, qos=0, pid=1, retain=False):
    t = topic.encode()
    var = struct.pack("!H", len(t)) + t + (struct.pack("!H", pid) if qos else b"")
    hdr = 0x30 | qos << 1 | (1 if retain else 0)
    return bytes([hdr]) + varlen(len(var) + len(payload)) + var + payload


class FakeBroker:
    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.uri = "mqtt://127.0.0.1:%d" % self.port
        # behaviour, changed by the test at any time
        self.connack_rc = 0
        self.connack_delay_s = 0.0
        self.suback_code = None       # None: grant what was asked; 0x80: refuse
        self.puback = True            # acknowledge the meter's QoS 1 publishes
        self.pingresp = True
        # what the meter did
        self.lock = threading.Lock()
        self.tcp = 0                  # TCP connections accepted
        self.connects = 0             # CONNECT packets
        self.subscribes = 0
        self.pings = 0
        self.disconnects = 0          # DISCONNECT packets
        self.published = []           # (topic, payload bytes, qos, retain, conn no)
        self.t_last_connect = 0.0
        self.ready = 0                # the connection number that got its first SUBACK
        self.conn = None
        self.conn_no = 0
        self._pid = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    # ---- what the test reads ---------------------------------------------------------
    def topics(self, suffix):
        with self.lock:
            return [p for p in self.published if p[0].endswith(suffix)]

    def json_on(self, suffix):
        out = []
        for p in self.topics(suffix):
            try:
                out.append(json.loads(p[1]))
            except ValueError:
                pass
        return out

    def events(self, type=None):
        return [e for e in self.json_on("/evt") if type is None or e.get("type") == type]

    def wait_ready(self, after=0, timeout_s=15.0):
        """Wait for a connection numbered above `after` that is past CONNACK and a SUBACK."""
        return self.wait(lambda: self.ready > after and self.ready == self.conn_no, timeout_s)

    def wait(self, pred, timeout_s=20.0, step_s=0.05):
        end = time.time() + timeout_s
        while time.time() < end:
            v = pred()
            if v:
                return v
            time.sleep(step_s)
        return pred()

    # ---- what the test does ------------------------------------------------------------
    def send(self, data):
        c = self.conn
        if c is None:
            raise OSError("no connection")
        c.sendall(data)

    def publish(self, topic, payload, qos=1):
        self._pid = self._pid % 65535 + 1
        self.send(publish_packet(topic, payload, qos, self._pid))

    def drop(self):
        c = self.conn
        self.conn = None
        if c is not None:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def stop(self):
        self._stop = True
        self.drop()
        self.srv.close()

    # ---- the broker ---------------------------------------------------------------------
    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.drop()
            with self.lock:
                self.tcp += 1
                self.conn_no += 1
                n = self.conn_no
            self.conn = c
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _packets(self, c):
        buf = b""
        while True:
            try:
                d = c.recv(4096)
            except OSError:
                return
            if not d:
                return
            buf += d
            while len(buf) >= 2:
                n, i, sh = 0, 1, 0
                while i < len(buf):
                    b = buf[i]
                    n |= (b & 0x7F) << sh
                    i += 1
                    sh += 7
                    if not b & 0x80:
                        break
                else:
                    break
                if len(buf) < i + n:
                    break
                yield buf[0], buf[i:i + n]
                buf = buf[i + n:]

    def _serve(self, c, n):
        for hdr, body in self._packets(c):
            t = hdr & 0xF0
            try:
                if t == 0x10:
                    with self.lock:
                        self.connects += 1
                    self.t_last_connect = time.time()
                    if self.connack_delay_s:
                        time.sleep(self.connack_delay_s)
                    c.sendall(bytes([0x20, 2, 0, self.connack_rc]))
                    if self.connack_rc:
                        c.close()
                        return
                elif t == 0x80:
                    pid = body[:2]
                    tl = body[2] << 8 | body[3]
                    qos = body[4 + tl]
                    with self.lock:
                        self.subscribes += 1
                    code = qos if self.suback_code is None else self.suback_code
                    c.sendall(b"\x90\x03" + pid + bytes([code]))
                    self.ready = n
                elif t == 0x30:
                    qos = (hdr >> 1) & 3
                    tl = body[0] << 8 | body[1]
                    topic = body[2:2 + tl].decode()
                    p = 2 + tl + (2 if qos else 0)
                    with self.lock:
                        self.published.append((topic, body[p:], qos, bool(hdr & 1), n))
                    if qos and self.puback:
                        c.sendall(b"\x40\x02" + body[p - 2:p])
                elif t == 0xC0:
                    with self.lock:
                        self.pings += 1
                    if self.pingresp:
                        c.sendall(b"\xd0\x00")
                elif t == 0xE0:
                    with self.lock:
                        self.disconnects += 1
            except OSError:
                return
