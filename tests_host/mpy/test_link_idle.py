# link/mqtt.py's due_ms(): how long the app loop may sleep before the link has timed work
# (a reconnect attempt, a connect timeout, a keep-alive ping, the broker-silence limit).
# The loop sleeps in poll() until then, the next tick or a packet (app.py, step).
import time

import mptest
from link import mqtt

NOW = 5000


class Ticks:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def link(t=NOW, keepalive_s=30):
    return mqtt.Link("m-1", "127.0.0.1", 9, keepalive_s=keepalive_s, ticks_ms=Ticks(t))


def test_down_waits_for_the_next_connect_attempt():
    k = link()
    mptest.eq(k.due_ms(), 0, "first attempt at once")
    k._fail(NOW)                          # refused: back off 0.5..1 s (jitter)
    d = k.due_ms()
    mptest.true(500 <= d <= 1000, d)
    k.want = False                        # water between sessions: nothing timed
    mptest.eq(k.due_ms(), None)


def test_connecting_waits_for_the_timeout_at_most():
    k = link()
    k.state, k._t_state = mqtt.CONNECTING, NOW - 1000
    mptest.eq(k.due_ms(), mqtt.CONNECT_TIMEOUT_MS - 1000 + 1)
    k.state = mqtt.CONNACK
    mptest.eq(k.due_ms(), mqtt.CONNECT_TIMEOUT_MS - 1000 + 1)
    k._t_state = NOW - 2 * mqtt.CONNECT_TIMEOUT_MS
    mptest.eq(k.due_ms(), 0, "overdue: service now, never negative")


def test_up_waits_for_the_keepalive():
    # MQTT 3.1.1 keep-alive (docs/protocol.md §1): a ping once a keep-alive passes with
    # nothing sent or nothing received, then the PINGRESP deadline
    k = link()
    k.state, k._t_rx, k._t_tx = mqtt.UP, NOW, NOW
    mptest.eq(k.due_ms(), 30000, "a ping after a keep-alive with nothing sent or received")
    k._t_rx = NOW - 10000
    mptest.eq(k.due_ms(), 20000, "counted from the older of the last send and receive")
    k._t_ping = NOW - 5000
    mptest.eq(k.due_ms(), 25000, "then the PINGRESP deadline, one keep-alive after the ping")
    k.tx.put(b"\x30\x00", NOW)
    mptest.eq(k.due_ms(), mqtt.TX_RETRY_MS, "a partial write is retried soon")
    k2 = link(keepalive_s=0)
    k2.state = mqtt.UP
    mptest.eq(k2.due_ms(), None, "no keep-alive: nothing timed")


def test_due_across_the_ticks_wrap():
    # ticks_ms wraps (2**30 ms on a 32-bit port or an ESP32): deadlines still count forward
    near = time.ticks_add(0, -300)
    k = link(t=near)
    k._t_next, k._holdoff = time.ticks_add(near, 700), True      # backing off
    mptest.eq(k.due_ms(), 700)
    k.state, k._t_rx, k._t_tx = mqtt.UP, near, time.ticks_add(near, -29000)
    mptest.eq(k.due_ms(), 1000)


def test_a_stale_backoff_never_delays_a_connect():
    # water between sessions: the link is down by choice for days. A backoff deadline set
    # before that is more than half the ticks period old (6.2 days on an ESP32) and compares
    # as if in the future; the next session must still connect at once
    k = link(t=NOW)
    k._fail(NOW)
    k.want = False
    k.service()
    half = (time.ticks_add(0, -1) + 1) // 2
    k.ticks_ms.t = time.ticks_add(time.ticks_add(k._t_next, half - 1), 2)
    mptest.true(time.ticks_diff(k.ticks_ms(), k._t_next) < 0, "the old deadline looks ahead")
    k.want = True
    mptest.eq(k.due_ms(), 0)
    k.service()
    mptest.true(k.state != mqtt.DOWN or k.failures == 2, "a connect attempt was made")
    k.close()


mptest.main(globals())
