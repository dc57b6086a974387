"""The real firmware (main.py on the MicroPython unix port, sim board) against a hostile or
broken broker on loopback (tests_host/fakebroker.py): huge remaining lengths, an oversized
topic, unknown packet types, a QoS 2 command, a slow-loris dribble, a refused subscription,
keep-alive with fast telemetry, a broker that never acknowledges under a keypad flood, and
the water meter's sessions (a slow CONNACK, an outage, a session that times out while
connecting). The meter must never die, keep its money and events, and say what happened."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import APP_HEAP, MICROPYTHON, ROOT, app_env, app_main
from fakebroker import FakeBroker, varlen, publish_packet

sys.path.insert(0, str(ROOT / "tools"))
from headend import body_of, provision, sign  # noqa: E402

HEAP = APP_HEAP
START_S = 1800000000
PAYGO_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"


class Meter:
    def __init__(self, flash, conf):
        self.flash = str(flash)
        self.conf = conf
        self.key = bytes.fromhex(conf["key"])
        self.id = conf["id"]
        self.seq = 0
        self.log = open(self.flash + ".log", "w")
        self.p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + HEAP,
                                   app_main(), self.flash],
                                  env=app_env(), stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self):
        return self.p.poll() is None

    def output(self):
        return Path(self.flash + ".log").read_text()

    def stop(self):
        if self.alive():
            self.p.send_signal(2)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def command(self, broker, op, args=None):
        self.seq += 1
        broker.publish("meters/%s/cmd" % self.id, sign(self.key, body_of(self.id, self.seq, op, args or {})))
        return "c-%d" % self.seq

    def outbox(self):
        out = []
        for name in ("outbox.log", "outbox_low.log"):
            p = Path(self.flash, name)
            if p.exists():
                for line in p.read_text().splitlines():
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return sorted(out, key=lambda e: e["seq"])


def ack_of(broker, cid):
    return [a for a in broker.json_on("/ack") if a.get("id") == cid]


def start(tmp_path, broker, kind="electricity", name="m", **extra):
    conf = {"keepalive_s": 5, "backoff_max_s": 1, "sim_start": START_S}
    conf.update(extra)
    c = provision(str(tmp_path / name), "h-1", kind, broker.uri, conf.pop("sim_speed", 1), extra=conf)
    return Meter(tmp_path / name, c)


@pytest.fixture
def broker():
    b = FakeBroker()
    yield b
    b.stop()


def connected(broker):
    return broker.wait_ready() and broker.wait(lambda: broker.topics("/state"), 15)


def test_hostile_byte_streams_never_kill_the_meter(broker, tmp_path):
    m = start(tmp_path, broker, sim_speed=10)
    try:
        assert connected(broker), m.output()
        # 1. a SUBACK claiming 200,000,000 bytes (the old link buffered it: MemoryError, exit)
        broker.send(b"\x90" + varlen(200000000))
        for _ in range(128):
            broker.send(bytes(4096))            # 512 KiB of it, twice the meter's heap
        time.sleep(0.5)
        assert m.alive(), m.output()[-2000:]
        n = broker.conn_no
        broker.drop()                           # the rest never comes
        assert broker.wait_ready(n), "reconnected"
        # 2. an oversized command with a 64 KiB topic, then a real command right behind it
        big = publish_packet("t" * 65000, b"x" * 3000, qos=1)
        broker.send(big)
        cid = m.command(broker, "status")
        assert broker.wait(lambda: ack_of(broker, cid), 10), "the command after the skip"
        # 3. an oversized command on the meter's own topic: answered too_large
        broker.publish("meters/h-1/cmd", b"y" * 5000)
        assert broker.wait(lambda: [a for a in broker.json_on("/ack") if a["code"] == "too_large"], 10)
        # 4. protocol violations: unknown type, a QoS 2 command (never handled, no PUBREC)
        for bad in (b"\xf0\x00", publish_packet("meters/h-1/cmd", sign(m.key, body_of("h-1", 50, "status", {})), qos=2)):
            n = broker.conn_no
            broker.send(bad)
            assert broker.wait_ready(n), "violation closed the link"
        assert not ack_of(broker, "c-50"), "a QoS 2 command was handled"
        # 5. slow-loris: a PUBLISH that never ends, one byte every 0.4 s
        n = broker.conn_no
        broker.send(b"\x30" + varlen(2000))
        t0 = time.time()
        while broker.conn_no == n and time.time() - t0 < 30:
            try:
                broker.send(b"z")
            except OSError:
                pass
            time.sleep(0.4)
        assert broker.conn_no > n, "the dribbling connection was never dropped"
        assert time.time() - t0 < 2 * 5 + 5, "dropped within two keep-alive intervals"
        # still a working meter that counted what happened
        assert broker.wait_ready(n)
        cid = m.command(broker, "recharge", {"txn": "after", "amount": 500})
        a = broker.wait(lambda: ack_of(broker, cid), 10)
        assert a and a[0]["ok"], a
        tele = broker.wait(lambda: [t for t in broker.json_on("/tele") if t.get("link", {}).get("rx_bad")], 20)
        link = tele[-1]["link"]
        assert link["rx_skipped"] >= 3 and link["rx_bad"] >= 2 and "errors" not in link, link
        assert m.alive()
    finally:
        m.stop()


def test_refused_subscription_raises_an_alarm_and_is_retried(broker, tmp_path):
    broker.suback_code = 0x80                   # an ACL refuses the cmd topic
    m = start(tmp_path, broker)
    try:
        al = broker.wait(lambda: [e for e in broker.events("alarm") if e["name"] == "subscribe_refused"], 15)
        assert al, m.output()
        assert broker.wait(lambda: broker.subscribes >= 4, 10), "SUBSCRIBE retried"
        st = broker.json_on("/state")
        assert "subscribe_refused" in st[-1]["alarms"], st[-1]
        broker.suback_code = None               # the ACL is fixed
        assert broker.wait(lambda: broker.events("alarm_clear"), 30), "cleared once granted"
        cid = m.command(broker, "status")
        assert broker.wait(lambda: ack_of(broker, cid), 10)
        assert broker.connects == 1, "one connection all along"
    finally:
        m.stop()


def test_keepalive_with_telemetry_faster_than_half_the_interval_keeps_one_connection(broker, tmp_path):
    # report_s 10 at sim_speed 10: a QoS 0 tele every real second, keep-alive 5 s. The old
    # link never pinged and dropped the connection after 7.5 s of broker silence
    m = start(tmp_path, broker, sim_speed=10)
    try:
        assert connected(broker)
        cid = m.command(broker, "config", {"report_s": 10})     # the documented minimum
        assert broker.wait(lambda: ack_of(broker, cid), 10)

        def fast():     # the new interval is in force: two tele a real second apart
            t = [p for p in broker.topics("/tele")]
            return len(t) >= 2 and json.loads(t[-1][1])["ts"] - json.loads(t[-2][1])["ts"] <= 10
        assert broker.wait(fast, 15)
        n, pings = len(broker.topics("/tele")), broker.pings
        time.sleep(10)
        assert (broker.tcp, broker.connects) == (1, 1), "reconnected: %d" % broker.connects
        assert broker.pings > pings, "pinged while only sending"
        assert len(broker.topics("/tele")) - n >= 8
        assert m.alive()
    finally:
        m.stop()


def test_keypad_flood_with_a_broker_that_never_acks(broker, tmp_path):
    # the outbox fills (no PUBACK), a recharge and 300 wrong keypad codes: the old outbox
    # shed the recharge for the noise and could end in MemoryError
    broker.puback = False
    m = start(tmp_path, broker, paygo={"key": PAYGO_KEY, "unit": 100})
    try:
        assert connected(broker)
        cid = m.command(broker, "recharge", {"txn": "keep-me", "amount": 700})
        assert broker.wait(lambda: ack_of(broker, cid), 10)
        for i in range(300):
            broker.publish("meters/h-1/sim", json.dumps({"keypad": "%09d" % (i * 7919)}).encode(), qos=0)
            if i % 50 == 0:
                time.sleep(0.2)
        cid = m.command(broker, "status")
        assert broker.wait(lambda: ack_of(broker, cid), 20), m.output()[-2000:]
        assert m.alive()
        # the head-end's clear of the keypad lockout
        cid = m.command(broker, "clear", {"alarm": "token_lockout"})
        a = broker.wait(lambda: ack_of(broker, cid), 10)
        assert a and a[0]["ok"], a
    finally:
        m.stop()
    evs = m.outbox()
    assert [e for e in evs if e.get("txn") == "keep-me"], "the recharge event was shed"
    assert [e for e in evs if e["type"] == "token"]
    size = sum(p.stat().st_size for p in Path(m.flash).glob("outbox*.log"))
    assert size <= 32768, "outbox files %d bytes" % size


def water(tmp_path, broker, **cfg):
    # a new meter without credit: its supply goes off_credit at boot, a session at once
    c = {"session_max_s": 5}
    c.update(cfg)
    return start(tmp_path, broker, kind="water", sim_speed=10, config=c)


def test_water_session_stays_open_for_a_command_after_a_slow_connack(broker, tmp_path):
    broker.connack_delay_s = 2.0                # a TLS handshake on an ESP32 takes this long
    m = water(tmp_path, broker)
    try:
        assert connected(broker), m.output()
        time.sleep(0.1)                         # the queued command comes 100 ms after SUBACK
        cid = m.command(broker, "status")
        a = broker.wait(lambda: ack_of(broker, cid), 10)
        assert a and a[0]["ok"], m.output()[-2000:]
        assert broker.connects == 1, "answered in the same session"
        asleep = broker.wait(lambda: [s for s in broker.json_on("/state") if s.get("asleep")], 10)
        assert asleep, "the session ended with the asleep state"
    finally:
        m.stop()


def test_water_urgent_event_during_an_outage_is_retried_until_delivered(broker, tmp_path):
    broker.connack_rc = 3                       # "server unavailable" for the first session
    m = water(tmp_path, broker, session_retry_s=60)
    try:
        assert broker.wait(lambda: broker.connects >= 1, 15), m.output()
        # the failed session ends (session_max_s 5 at most): wait until it stopped trying
        assert broker.wait(lambda: time.time() - broker.t_last_connect > 2.0, 15)
        broker.connack_rc = 0
        t0 = time.time()
        ev = broker.wait(lambda: [e for e in broker.events("supply") if e["state"] == "off_credit"], 20)
        assert ev, "the event waited for the daily session: %s" % m.output()[-1500:]
        assert time.time() - t0 < 15, "retried about 60 sim s (6 s) after the failed session"
    finally:
        m.stop()


def test_water_session_that_times_out_while_connecting_leaves_no_online_state(broker, tmp_path):
    broker.connack_delay_s = 7.0                # past session_max_s: the session gives up
    m = water(tmp_path, broker, session_retry_s=3600)
    try:
        assert broker.wait(lambda: broker.connects >= 1, 15), m.output()
        time.sleep(9)
        online = [s for s in broker.json_on("/state") if s.get("online")]
        assert not online, "a retained online:true after the session gave up: %r" % online
        assert broker.disconnects == 0, "aborted without DISCONNECT: the will says offline"
        assert m.alive()
    finally:
        m.stop()
