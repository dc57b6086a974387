# heap: 96k
# (the link with its fixed buffers and a broker peer in one process; floor 68k)
# The MQTT link's receive side (firmware/link/rx.py, mqtt.py) against a hostile or broken
# broker on loopback, in one process: every packet type bounded (huge lengths
# skipped unallocated and counted, oversized PUBLISH topics, the packet after a skip),
# protocol violations (unknown types, QoS 2, short fixed packets) and generated garbage
# streams. The keep-alive, SUBACK, session and DNS cases are in test_link_keepalive.py.
import gc
import os
import random
import mptest
from loopbroker import (Peer, Clock, make_link, connect, settle, publish, varlen, held,
                        HELD_MAX, PINGRESP)
from link.mqtt import MAX_PUBLISH

CMD = b"meters/m-1/cmd"


def rig(**kw):
    peer, clock = Peer(), Clock()
    link = make_link(peer, clock, **kw)
    return peer, clock, link


def pump(link, peer, n=6):
    for _ in range(n):
        link.service()
    return peer.read()


def feed(peer, link, data, chunk=1024):
    # write a long stream in pieces, servicing the link in between (it reads 8 x its buffer)
    for i in range(0, len(data), chunk):
        peer.send(data[i:i + chunk])
        link.service()
    settle(link)


def test_huge_length_of_any_type_is_skipped_unallocated_and_counted():
    peer, clock, link = rig()
    connect(link, peer, clock)
    gc.collect()
    free0 = gc.mem_free()
    # SUBACK with a remaining length of 200,000,000: the old link buffered it (MemoryError)
    peer.send(b"\x90" + varlen(200000000))
    body = bytes(1024)
    for _ in range(96):                 # 96 KiB of it: more than this whole heap
        peer.send(body)
        link.service()
    mptest.true(link.up(), "still connected while skipping")
    mptest.eq(link.stats()["rx_skipped"], 1)
    mptest.eq(link.stats()["errors"], 0)
    gc.collect()
    mptest.true(free0 - gc.mem_free() < 4096, "heap held: %d" % (free0 - gc.mem_free()))
    peer.close()
    link.close()


def test_oversized_publish_with_a_64k_topic_is_skipped_without_a_look():
    peer, clock, link = rig()
    connect(link, peer, clock)
    # streamed in pieces: the old link buffered the whole topic (64 KiB) before looking
    peer.send(b"\x32" + varlen(2 + 65000 + 2 + 100) + b"\xfd\xe8")
    for i in range(65):
        peer.send(b"t" * 1000)
        link.service()
    peer.send(b"\x00\x07" + b"x" * 100)
    settle(link)
    mptest.eq(link.msgs, [], "no callback for a topic that is never ours")
    mptest.eq(link.stats()["rx_skipped"], 1)
    # and the link still reads the next packet
    peer.send(publish(CMD, b"hello"))
    settle(link)
    mptest.eq(link.msgs, [(CMD, b"hello", False)])
    peer.close()
    link.close()


def send_big(peer, pid, size, tail=b""):
    """A QoS 1 PUBLISH on CMD with a `size`-byte payload, streamed in 256-byte writes (never
    built whole), with `tail` glued to its last piece."""
    var = b"\x00\x0e" + CMD + bytes([pid >> 8, pid & 255])
    peer.send(b"\x32" + varlen(len(var) + size) + var)
    chunk = b"y" * 256
    sent = 0
    while sent < size:
        k = min(256, size - sent)
        peer.send(chunk[:k] + (tail if sent + k >= size else b""))
        sent += k


def test_oversized_command_reported_too_large_and_next_packet_read_at_once():
    peer, clock, link = rig()
    connect(link, peer, clock)
    nxt = publish(CMD, b"after", qos=1, pid=10)
    send_big(peer, 9, MAX_PUBLISH + 10, tail=nxt)   # the next packet behind the skipped tail
    settle(link)
    mptest.eq([(t, p) for t, p, r in link.msgs], [(CMD, None), (CMD, b"after")])
    acks = [p for p in peer.read() if p[0] == 0x40]
    mptest.eq([a[1] for a in acks], [b"\x00\x09", b"\x00\x0a"], "both PUBACKed")
    # all of it in one read: the whole skip and the next packet already buffered
    link.msgs = []
    big = publish(CMD, b"z" * (MAX_PUBLISH + 100), qos=1, pid=11)
    peer.send(big)
    peer.send(nxt)                      # both in the socket before the link reads
    big = None
    settle(link)
    mptest.eq([(t, p) for t, p, r in link.msgs], [(CMD, None), (CMD, b"after")])
    peer.close()
    link.close()


def test_unknown_types_and_qos2_close_the_connection_unhandled():
    for bad in (b"\xf0\x00", b"\x00\x00", b"\x10\x02ab", b"\xc0\x00", b"\x82\x05\x00\x01\x00\x00\x01",
                publish(CMD, b"q2", qos=2, pid=5), bytes([0x36]) + publish(CMD, b"q3", qos=1)[1:],
                b"\x90\xff\xff\xff\xff\x01", b"\x40\x01\x00", b"\x30\x03\x00\x09a"):
        peer, clock, link = rig()
        connect(link, peer, clock)
        peer.send(bad)
        settle(link)
        mptest.eq(link.msgs, [], "handled %r" % bad)
        mptest.true(not link.up(), "still up after %r" % bad)
        mptest.true(link.stats()["rx_bad"] == 1 or bad == b"\x40\x01\x00", "rx_bad %d for %r" % (link.stats()["rx_bad"], bad))
        mptest.true(0x50 not in peer.types(peer.read()), "no PUBREC")
        mptest.eq(link.stats()["errors"], 0)
        peer.close()
        link.close()
        peer = link = None
        gc.collect()


def test_generated_hostile_streams_never_escape_or_grow_the_heap():
    n = int(os.getenv("FUZZ_N") or 2000) // 20
    rnd = random.Random(5) if hasattr(random, "Random") else None
    rb = (lambda k: rnd.getrandbits(k)) if rnd else random.getrandbits
    if rnd is None:
        random.seed(5)
    pieces = (lambda: publish(CMD, bytes(rb(8) for _ in range(rb(6))), qos=rb(1)),
              lambda: b"\x90" + varlen(rb(28)),
              lambda: b"\x30" + varlen(rb(24)) + b"\x00\x0e" + CMD,
              lambda: bytes([rb(8)]) + varlen(rb(5)),
              lambda: PINGRESP,
              lambda: bytes(rb(8) for _ in range(rb(5))),
              lambda: b"\x40\x02" + bytes([rb(8), rb(8)]))
    free = [0, 0, 0]
    for case in range(n):
        peer, clock, link = rig(keepalive_s=5)
        connect(link, peer, clock)
        for _ in range(1 + rb(3)):
            try:
                peer.send(pieces[rb(8) % len(pieces)]())
            except OSError:
                break
            clock.t += rb(12)
            link.service()
        settle(link)
        mptest.eq(link.stats()["errors"], 0, "case %d" % case)
        mptest.true(held(link) <= HELD_MAX, "receive buffer %d" % held(link))
        peer.close()
        link.close()
        del link, peer
        gc.collect()
        if case in (0, n // 2, n - 1):
            free[(case > 0) + (case == n - 1)] = gc.mem_free()
    print("    free heap after case 1, %d/2, %d: %d %d %d" % (n, n, free[0], free[1], free[2]))
    mptest.true(free[1] - free[2] < 512, "heap held growing over %d cases" % n)


mptest.main(globals())
