# What the MQTT link does with each packet it receives (MQTT 3.1.1): read at most
# READS_PER_SERVICE chunks per service() call, then CONNACK, PUBLISH (handed to the app,
# then PUBACK), PUBACK, SUBACK and PINGRESP; anything the broker must not send closes the
# connection (Violation). A base class of Link (link/mqtt.py): Link's own methods.
import errno
from link import wire
from link.rx import Violation

DOWN, RESOLVE, CONNECTING, TLS, CONNACK, UP = 0, 1, 2, 3, 4, 5   # Link.state
READS_PER_SERVICE = 8    # bounded work per service() call


class Inbound:
    def _on_connack(self, body, now):
        if self.state != CONNACK:
            raise Violation("CONNACK when connected")
        if len(body) != 2 or body[1] != 0:
            raise OSError(errno.ECONNREFUSED)
        self.state = UP
        self.connects += 1
        self._t_rx = self._t_tx = now
        self._t_ping = None
        self.sub.send(self, now, self.subs)
        if self.on_connect and self.state == UP:
            self.on_connect(self)

    def _read(self, now):
        rx = self.rx
        for _ in range(READS_PER_SERVICE):
            k = rx.fill(self._sock)
            if k is None:
                break
            if not k:
                raise OSError(errno.ECONNRESET)
            while self._sock is not None:   # None: a handler's write failed, the link is down
                p = rx.packet()
                if p is None:
                    break
                self._t_rx = now
                self._packet(p[0], p[1], now)
            if self._sock is None:
                return

    def _packet(self, hdr, body, now):
        t = hdr & 0xF0
        if self.state != UP and t != 0x20:
            raise Violation("packet before CONNACK")
        if t == 0x30:
            qos = (hdr >> 1) & 3
            if qos == 2:
                # the meter subscribes at QoS 1 only and a broker must not send more (MQTT
                # 3.1.1 §3.8.4): not handled, no PUBREC, the connection is closed
                raise Violation("QoS 2 PUBLISH on a QoS 1 subscription")
            if body is None:            # too large: skipped unread, the app says too_large
                topic, pid, payload = self.rx.topic, self.rx.pid, None
            else:
                topic, pid, payload = wire.publish_fields(hdr, body)
            if self.on_message:
                self.on_message(topic, payload, bool(hdr & 1))
            if qos:
                self.puback(pid)     # after the handler: a crash before it means redelivery
        elif t == 0x40:
            if len(body) == 2 and self.on_puback:
                self.on_puback(body[0] << 8 | body[1])
        elif t == 0x20:
            self._on_connack(body, now)
        elif t == 0x90:
            if len(body) < 3:
                raise Violation("SUBACK without a return code")
            r = self.sub.suback(body, now)
            if r is not None and self.on_suback:
                self.on_suback(r[0], r[1])
        elif t == 0xD0:
            self._t_ping = None
        # PUBREC, PUBREL, PUBCOMP, UNSUBACK: never asked for, nothing to do
