# The MQTT link's keep-alive (firmware/link/mqtt.py) against a broker on loopback, in one
# process at 64 KiB, in simulated milliseconds (a fake ticks_ms): pings per MQTT 3.1.1 while
# only sending, the broker judged dead only by a missing PINGRESP, slow-loris, a broker that
# stops reading. SUBACK, session and DNS cases: test_link_session.py.
import mptest
from loopbroker import Peer, Clock, make_link, connect, varlen, held, HELD_MAX, PINGRESP
from link import mqtt
from link.mqtt import MAX_PUBLISH

def rig(**kw):
    peer, clock = Peer(), Clock()
    link = make_link(peer, clock, **kw)
    return peer, clock, link


def test_keepalive_qos0_telemetry_faster_than_half_the_interval_keeps_the_link():
    # keep-alive 30 s, telemetry every 10 s (config report_s 10): the old link sent no
    # PINGREQ (something was always sent) and judged the broker dead after 45 s of silence
    peer, clock, link = rig(keepalive_s=30)
    connect(link, peer, clock)
    pings = 0
    for s in range(300):
        clock.t += 1000
        if s % 10 == 0:
            link.publish_now("meters/m-1/tele", b'{"x": 1}', qos=0)
        link.service()
        for p in peer.read():
            if p[0] == 0xC0:
                pings += 1
                peer.send(PINGRESP)
        link.service()
    mptest.eq((link.connects, link.failures), (1, 0))
    mptest.true(link.up())
    mptest.true(9 <= pings <= 11, "a ping per silent-receive interval: %d" % pings)
    peer.close()
    link.close()


def test_keepalive_pings_when_nothing_sent_and_broker_dead_only_without_pingresp():
    peer, clock, link = rig(keepalive_s=30)
    connect(link, peer, clock)
    t0 = clock.t
    pings = []
    for s in range(300):
        clock.t += 500
        link.service()
        for p in peer.read():
            if p[0] == 0xC0:
                pings.append(clock.t - t0)
                if len(pings) < 3:
                    peer.send(PINGRESP)     # the third one goes unanswered
        link.service()
        if not link.up():
            break
    mptest.eq(pings[:3], [30000, 60000, 90000], "PINGREQ after 30 s without a send")
    mptest.true(not link.up(), "dead after a missing PINGRESP")
    mptest.eq(clock.t - t0, 120000, "judged one interval after the unanswered ping")
    peer.close()
    link.close()


def test_slow_loris_packet_never_completes_link_dropped_buffer_bounded():
    peer, clock, link = rig(keepalive_s=10)
    connect(link, peer, clock)
    peer.send(b"\x30" + varlen(MAX_PUBLISH - 10))   # a packet that never ends
    for s in range(30):
        clock.t += 1000
        peer.send(b"z")
        link.service()
        for p in peer.read():
            if p[0] == 0xC0:
                peer.send(PINGRESP)     # arrives inside the PUBLISH body: never a PINGRESP
        if not link.up():
            break
    mptest.true(not link.up(), "dribbling broker dropped")
    mptest.true(s < 25, "within two keep-alive intervals: %d s" % s)
    mptest.true(held(link) <= HELD_MAX, "receive buffer %d" % held(link))
    peer.close()
    link.close()


def test_broker_that_stops_reading_bounds_the_write_buffer():
    peer, clock = Peer(rcvbuf=2048), Clock()
    link = make_link(peer, clock, keepalive_s=30)
    connect(link, peer, clock)
    link._sock.setsockopt(1, 7, 4096)   # SO_SNDBUF: small kernel buffers, so ours fills
    msg = b"p" * 500
    queued = 0
    for s in range(2000):               # the peer never reads, but answers "pings" blindly
        if link.publish_now("meters/m-1/tele", msg) is not None:
            queued += 1
        mptest.true(link.pending_tx() <= getattr(mqtt, "MAX_WBUF", 2048) + 600, "wbuf %d" % link.pending_tx())
        if s % 20 == 0:
            clock.t += 1000
            if s % 200 == 0:
                peer.send(PINGRESP)
            link.service()
        if not link.up():
            break
    print("    %d of %d publishes of 500 B queued, %d refused" % (queued, s + 1, link.stats()["tx_dropped"]))
    mptest.true(link.stats()["tx_dropped"] > 0, "refusals counted")
    mptest.true(not link.up(), "no write progress for a keep-alive interval: dropped")
    mptest.true(s // 20 <= 40, "dropped %d s after the writes stopped" % (s // 20))
    peer.close()
    link.close()


mptest.main(globals())
