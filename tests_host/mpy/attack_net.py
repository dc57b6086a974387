# Attack findings on the network bring-up and network time (tests_host/test_attack_findings.py
# runs one test of this script per finding): a hostile modem on the UART, a hostile NTP reply,
# an unauthenticated time source against an unsynced clock.
#   micropython attack_net.py <test name>
import sys
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import gc              # noqa: E402
import struct          # noqa: E402
import machine         # noqa: E402  (the fake)
import network         # noqa: E402  (the fake)
import ntptime         # noqa: E402  (the fake)
import mptest          # noqa: E402
from vtime import VirtualTime, FakeRTC      # noqa: E402
from net.at import AtPort                   # noqa: E402
from net.wifi import Wifi, NTP_BUDGET_MS    # noqa: E402
from net.netconf import wifi as wifi_conf   # noqa: E402
from net import timesync                    # noqa: E402
from hal.rtc_clock import RtcClock, RtcMemory   # noqa: E402

T0 = 1800000000


class Silent:
    """A UART peer that answers nothing by itself: the test feeds what the modem says."""

    def rx(self, data, uart):
        pass

    def poll(self, uart):
        pass


def test_modem_endless_reply_lines_stay_bounded():
    # a hostile or broken modem answers ATD*99# (30 s dial window) with endless bare lines:
    # 30 s at 115200 baud is ~345 KB; the reply's information lines must stay bounded
    vt = VirtualTime()
    machine.reset_world()
    machine.attach(1, Silent())
    u = machine.UART(1, 115200, rxbuf=4096)
    p = AtPort(u, vt.ticks_ms)
    p.send("ATD*99#", 30000)
    gc.collect()
    free0 = gc.mem_free()
    for _ in range(300):                 # 3 s of line noise, 1 KB per 10 ms
        u.feed(b"x\r\n" * 340)
        mptest.eq(p.poll(), None)
        vt.advance(10)
    gc.collect()
    used = free0 - gc.mem_free()
    mptest.true(len(p.lines) <= 32, "%d information lines kept" % len(p.lines))
    mptest.true(used < 4096, "%d bytes of heap held by the reply" % used)
    mptest.true(p.junk > 0, "the dropped lines are counted")
    u.feed(b"CONNECT 150000000\r\n")
    r = p.poll()
    mptest.eq(r.status, "CONNECT", "the real answer still lands")


def test_modem_endless_prefixed_lines_stay_bounded():
    # the same with lines that carry the command's prefix (+CSQ: ...)
    vt = VirtualTime()
    machine.reset_world()
    machine.attach(1, Silent())
    u = machine.UART(1, 115200, rxbuf=4096)
    p = AtPort(u, vt.ticks_ms)
    p.send("AT+CSQ", 2000)
    for _ in range(100):
        u.feed(b"+CSQ: 20,99\r\n" * 80)
        p.poll()
        vt.advance(10)
    mptest.true(len(p.lines) <= 32, "%d information lines kept" % len(p.lines))


def _ntp_short_reply():
    # what micropython-lib's ntptime.time() does with a reply shorter than 44 bytes (any
    # host may answer the unconnected UDP socket): struct.unpack on msg[40:44]
    msg = b"\x1c" * 12
    return struct.unpack("!I", msg[40:44])[0]


def test_ntp_short_reply_is_a_failed_query_not_a_link_drop():
    vt = VirtualTime()
    network.set_clock(vt.ticks_ms)
    network.reset_world()
    ntptime.fail = None
    opts = wifi_conf({"ssid": "meters", "password": "secret-pass", "ntp": True})
    w = Wifi(network, opts, vt.ticks_ms, backoff_max_ms=8000, ntptime=ntptime)
    real = ntptime.time
    ntptime.time = _ntp_short_reply
    try:
        ups = 0
        errors = []
        for _ in range(200):               # 10 s, idle time enough for NTP at every pass
            try:
                if w.service(True, NTP_BUDGET_MS + 100):
                    ups += 1
            except Exception as e:         # app_net.service would close the link here
                errors.append(repr(e))
            vt.advance(50)
    finally:
        ntptime.time = real
    mptest.eq(errors[:1], [], "%d passes raised" % len(errors))
    mptest.true(ups > 150, "up in %d of 200 passes" % ups)
    mptest.true(w.ntp_error is not None, "the failed query is recorded")


def test_unauthenticated_time_cannot_strand_the_clock_in_the_future():
    # after a power cut the clock is unsynced (RTC memory lost), so one spoofed NTP reply
    # (or a fake cell's NITZ) may set it to 2099; the signed `time` op can then never bring
    # it back (at most 300 s back per step, and the wall clock is held still meanwhile)
    vt = VirtualTime(T0, epoch=2000)
    rtc = FakeRTC(vt)
    c = RtcClock(T0, RtcMemory(rtc), rtc, tm=vt)        # floored at the last save, unsynced
    applied, d = timesync.offer(c, 4102444000, "ntp")   # 2099-12-31, spoofed
    vt.advance(60000)
    truth = T0 + 60
    ok = True
    try:
        c.set_now(truth)                                # the head-end's signed correction
    except ValueError as e:
        ok = False
        why = str(e)
    mptest.true(not applied or ok, "spoofed jump of %r s applied; signed fix refused: %s"
                % (d, "" if ok else why))
    mptest.true(c.now_s() < truth + 3600, "clock at %d, truth %d" % (c.now_s(), truth))


def test_spoofed_time_within_the_bound_is_undone_by_the_signed_time_op():
    # the bound (net/timesync.py NET_UNSYNCED_MAX_S) still lets a spoofer move an unsynced
    # clock up to a week ahead; the head-end's signed `time` op must bring it back at once
    # (down to the last signed time, never below), and network time may never rewind it
    vt = VirtualTime(T0, epoch=2000)
    rtc = FakeRTC(vt)
    c = RtcClock(T0, RtcMemory(rtc), rtc, tm=vt)
    c.set_now(T0)                                       # signed: the floor of truth
    rtc.mem = b""                                       # a power cut: RTC memory lost
    c = RtcClock(T0, RtcMemory(rtc), rtc, tm=vt)
    c.signed_s = T0                                     # the app restores it (clock record)
    mptest.eq(c.ok, False)
    applied, d = timesync.offer(c, T0 + timesync.NET_UNSYNCED_MAX_S, "ntp")
    mptest.eq((applied, d), (True, timesync.NET_UNSYNCED_MAX_S), "within the bound")
    vt.advance(60000)
    applied, why = timesync.offer(c, T0 + 60, "ntp")    # the real NTP cannot rewind it
    mptest.eq(applied, False, why)
    mptest.true(c.now_s() > T0 + 86400)
    c.set_now(T0 + 60)                                  # the head-end's correction
    mptest.eq(c.now_s(), T0 + 60, "rewound at once, not held")
    vt.advance(5000)
    mptest.eq(c.now_s(), T0 + 65, "and running")
    mptest.raises(ValueError, c.set_now, T0 - 400)      # below the last signed time
    # the rewound time survives a reset (RTC memory kept): no floor above it on the RTC
    c2 = RtcClock(T0 + 65, RtcMemory(rtc), rtc, tm=vt)
    mptest.eq(c2.now_s(), T0 + 65)


mptest.main(globals())
