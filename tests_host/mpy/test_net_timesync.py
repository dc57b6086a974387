# Network time (firmware/net/timesync.py): +CCLK parsing against the port's own gmtime for
# generated instants and zones, the module's unset default refused, and which offers may move
# the clock and by how much (docs/field-guide.md "The clock").
import time
import random
import mptest
from vtime import VirtualTime, FakeRTC
from hal.rtc_clock import RtcClock, RtcMemory
from net import timesync

T0 = 1800000000


def cclk(t_utc, q):
    """+CCLK text for UTC t at a zone of q quarter hours (3GPP TS 27.007 8.15)."""
    g = time.gmtime(t_utc + q * 900)
    return '"%02d/%02d/%02d,%02d:%02d:%02d%s%02d"' % (g[0] % 100, g[1], g[2], g[3], g[4], g[5],
                                                      "-" if q < 0 else "+", abs(q))


def test_parse_generated_instants_and_zones():
    random.seed(8)
    for _ in range(400):
        t = 1704067200 + random.getrandbits(30) % (3155760000 - 1704067200 - 86400)
        q = random.randint(-48, 56)
        s = cclk(t, q)
        got = timesync.parse_cclk(s)
        if time.gmtime(t + q * 900)[0] >= 2080:
            mptest.eq(got, None, s)
        else:
            mptest.eq(got, t, s)


def test_parse_refuses_default_and_garbage():
    for s in ('"80/01/06,00:00:00+00"', '"99/12/31,23:59:59+00"', '"23/12/31,23:59:59+00"', "",
              '"24/13/01,00:00:00+00"', '"24/01/01,24:00:00+00"', '"24/01/01,00:00:00+57"',
              '"24/01/01 00:00:00+00"', '"24/01/01,00:00:00*00"', '"2x/01/01,00:00:00+00"',
              '24/01/01,00:00:00+0', "garbage" * 5):
        mptest.eq(timesync.parse_cclk(s), None, s)


def clock(ok):
    vt = VirtualTime(T0)
    rtc = FakeRTC(vt)
    c = RtcClock(0, RtcMemory(rtc), rtc, tm=vt)
    if ok:
        c.set_now(T0)
    return c


def test_offer_rules():
    c = clock(ok=False)
    mptest.eq(timesync.offer(c, T0 + 5 * 86400, "cclk"), (True, 5 * 86400), "unsynced: a week")
    mptest.eq(c.ok, True)
    for d in (timesync.NET_UNSYNCED_MAX_S + 1, 4102444000 - T0, -301, -86400):
        c = clock(ok=False)
        applied, why = timesync.offer(c, T0 + d, "ntp")
        mptest.eq((applied, c.now_s(), c.ok), (False, T0, False), "unsynced, %d s: %s" % (d, why))
    c = clock(ok=True)
    mptest.eq(timesync.offer(c, T0 + 1, "ntp"), (False, 1), "noise left alone")
    mptest.eq(timesync.offer(c, T0 + 600, "ntp"), (True, 600), "drift trimmed")
    applied, why = timesync.offer(c, c.now_s() + 901, "ntp")
    mptest.eq(applied, False)
    mptest.true("exceeds" in why, why)
    applied, why = timesync.offer(c, c.now_s() - 400, "cclk")
    mptest.eq(applied, False, "back more than set_now allows")
    mptest.eq(timesync.offer(c, c.now_s() - 200, "cclk")[0], True)
    for bad in (None, "1800000000", 1.8e9, 10):
        mptest.eq(timesync.offer(c, bad, "ntp")[0], False, repr(bad))


mptest.main(globals())
