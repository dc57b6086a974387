# The MQTT link's connection rules (firmware/link/mqtt.py, subs.py, resolve.py) against a
# broker on loopback, in one process at 64 KiB, in simulated milliseconds (a fake ticks_ms):
# a refused or missing SUBACK, a water session that ends while connecting, a hung DNS lookup.
import time
import mptest
from loopbroker import Peer, Clock, make_link, connect, settle, suback, CONNACK_OK, PINGRESP
from link import mqtt

CMD = b"meters/m-1/cmd"

def rig(**kw):
    peer, clock = Peer(), Clock()
    link = make_link(peer, clock, **kw)
    return peer, clock, link


def pump(link, peer, n=6):
    for _ in range(n):
        link.service()
    return peer.read()


def test_refused_suback_reported_retried_then_granted():
    peer, clock, link = rig()
    seen = []
    link.on_suback = lambda t, ok: seen.append((bytes(t), ok))
    subs = connect(link, peer, clock, grant=False)
    pid = subs[0][1][0] << 8 | subs[0][1][1]
    peer.send(suback(pid, 0x80))
    settle(link)
    mptest.eq(seen, [(CMD, False)])
    mptest.eq(link.stats()["sub_refused"], 1)
    mptest.true(link.up() and not link.subscribed(), "up, but commands cannot arrive")
    retries = []
    for s in range(12):
        clock.t += 1000
        for p in pump(link, peer, 2):
            if p[0] == 0x82:
                retries.append(s)
                pid = p[1][0] << 8 | p[1][1]
                peer.send(suback(pid, 0x80 if len(retries) < 3 else 1))
        settle(link, 2)
    mptest.eq(retries, [0, 2, 6], "SUBSCRIBE retried after 1, 2, then 4 s")
    mptest.eq(seen[-1], (CMD, True))
    mptest.true(link.subscribed())
    peer.close()
    link.close()


def test_missing_suback_ends_the_connection():
    peer, clock, link = rig(keepalive_s=10)
    connect(link, peer, clock, grant=False)
    for s in range(12):
        clock.t += 1000
        for p in pump(link, peer, 2):
            if p[0] == 0xC0:
                peer.send(PINGRESP)
    mptest.true(not link.up(), "no SUBACK within the keep-alive interval")
    peer.close()
    link.close()


def test_session_end_while_waiting_for_connack_aborts_without_online_state():
    peer, clock, link = rig()
    link.connected = 0

    def on_connect(l):
        l.connected += 1
    link.on_connect = on_connect
    link.service()
    peer.accept()
    pump(link, peer)
    mptest.eq(peer.types(), [0x10])
    link.want = False                   # the water session's 30 s ran out here
    link.service()
    mptest.eq(link.state, mqtt.DOWN)
    try:
        peer.send(CONNACK_OK)           # late CONNACK: the old link went UP and said online
    except OSError:
        pass
    for _ in range(5):
        link.service()
    mptest.eq(link.connected, 0)
    mptest.eq(peer.types(peer.read()), [], "nothing more sent (no DISCONNECT: the will fires)")
    peer.close()


class HungDns:
    """The socket module as the link sees it, with a resolver stuck until released."""

    def __init__(self, real):
        self.real = real
        self.calls = []
        self.release = []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def getaddrinfo(self, host, port, *a):
        import _thread
        self.calls.append(_thread.get_ident())
        for _ in range(300):            # stuck until the test lets it go (3 s at most)
            if self.release:
                return [(2, 1, 0, "", self.release[0])]
            time.sleep_ms(10)
        raise OSError(-3)               # EAI_AGAIN


def test_hung_dns_lookup_never_blocks_service():
    import _thread
    import socket
    dns = HungDns(socket)
    mods = [mqtt]
    try:
        from link import resolve
        mods.append(resolve)
    except ImportError:
        pass
    for m in mods:
        m.socket = dns
    try:
        peer, clock = Peer(), Clock()
        link = mqtt.Link("m-1", "broker.example", peer.port, ticks_ms=clock)
        for _ in range(5):
            link.service()
        mptest.true(_thread.get_ident() not in dns.calls, "getaddrinfo ran on the loop's thread")
        mptest.eq(link.state, mqtt.RESOLVE)
        dns.release.append(socket.getaddrinfo("127.0.0.1", peer.port)[0][-1])
        for _ in range(100):
            link.service()
            if link.state != mqtt.RESOLVE:
                break
            time.sleep_ms(5)
        mptest.eq(link.state, mqtt.CONNECTING)
        peer.close()
        link.close()
    finally:
        for m in mods:
            m.socket = socket


def test_only_the_non_blocking_contract_is_reachable():
    # the link holds its umqtt client for settings and the will: the client's blocking
    # connect/publish/wait_msg/check_msg/set_callback are not the link's
    peer, clock, link = rig()
    for name in ("connect", "publish", "wait_msg", "check_msg", "subscribe", "set_callback", "ping"):
        mptest.true(not hasattr(link, name), "Link has %s" % name)
    link.set_last_will(b"meters/m-1/state", b"{}", retain=True, qos=1)
    mptest.eq(link.client.lw_topic, b"meters/m-1/state")


mptest.main(globals())
