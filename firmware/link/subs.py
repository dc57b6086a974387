# Subscriptions of the link and their SUBACKs (MQTT 3.1.1 §3.8, §3.9). A SUBACK return code
# 0x80 is a refusal (a broker ACL, a quota): commands would never arrive on such a link, so
# the refusal is reported (callback, counter) and the SUBSCRIBE is retried on the same
# connection with a doubling delay. A SUBACK that never comes ends the connection.
import time

WAIT_MS = 5000          # at least this long for a SUBACK (the keep-alive interval if longer)


class Subs:
    def __init__(self, backoff_max_ms):
        self.backoff_max_ms = backoff_max_ms
        self.refused = 0                # counter
        self.reset()

    def reset(self):
        self.wait = {}                  # SUBSCRIBE pid -> (topic, qos), awaiting its SUBACK
        self.t_sent = 0
        self.retry = []                 # refused (topic, qos) ...
        self.retry_at = None            # ... subscribed again at this ticks_ms
        self.backoff_ms = 1000
        self.t_granted = None           # ticks_ms when every subscription was granted

    def send(self, link, now, subs):
        for topic, qos in subs:
            pid = link.next_pid()
            self.wait[pid] = (topic, qos)
            link.send_subscribe(pid, topic, qos)
        self.t_sent = now
        if not self.wait and self.retry_at is None:
            self.t_granted = now

    def suback(self, body, now):
        """-> (topic, granted) for a SUBACK of ours, else None. body: pid + return codes."""
        sub = self.wait.pop(body[0] << 8 | body[1], None)
        if sub is None:
            return None                 # not ours (a late SUBACK of a dead attempt)
        ok = body[2] != 0x80            # 0x80: refused; 0..2: the granted QoS
        if not ok:
            self.refused += 1
            self.retry.append(sub)
            self.retry_at = time.ticks_add(now, self.backoff_ms)
            self.backoff_ms = min(self.backoff_ms * 2, self.backoff_max_ms)
        elif not self.wait and self.retry_at is None:
            self.t_granted = now
        return sub[0], ok

    def due_ms(self, now, wait_ms):
        """ms until check() has timed work (a SUBACK time-out, a retry), or None."""
        d = None
        if self.wait:
            d = time.ticks_diff(self.t_sent, now) + max(WAIT_MS, wait_ms) + 1
        if self.retry_at is not None:
            r = time.ticks_diff(self.retry_at, now)
            d = r if d is None else min(d, r)
        return d

    def check(self, link, now, wait_ms):
        if self.wait and time.ticks_diff(now, self.t_sent) > max(WAIT_MS, wait_ms):
            raise OSError(110)          # ETIMEDOUT: the SUBACK never came, the broker is stuck
        if self.retry_at is not None and time.ticks_diff(now, self.retry_at) >= 0:
            subs, self.retry, self.retry_at = self.retry, [], None
            self.send(link, now, subs)
