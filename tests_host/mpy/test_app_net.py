# The app's network glue (firmware/app_net.py) with recording stand-ins for the app's link,
# prepay and interface: the link is serviced only while the interface is up and closed when
# it goes down, a still-open link keeps the interface wanted, network time is applied under
# net/timesync.py's rules and reported (time_sync / time_rejected), and an interface driver
# that raises never reaches the loop (net_fault, at most hourly per distinct error).
import mptest
import field_rig
import app_net
from vtime import VirtualTime, FakeRTC
from hal.rtc_clock import RtcClock, RtcMemory

T0 = 1800000000


class Link:
    def __init__(self):
        self.want = True
        self.state = 0
        self.closed = 0

    def close(self):
        self.closed += 1
        self.state = 0


class Net:
    KIND = "wifi"
    ALWAYS_UP = False

    def __init__(self):
        self.up = False
        self.offer = None
        self.raise_ = None
        self.calls = []
        self.state = "connecting"
        self.reason = None

    def service(self, want, idle_ms):
        self.calls.append((want, idle_ms))
        if self.raise_:
            raise self.raise_
        return self.up

    def take_time(self):
        t, self.offer = self.offer, None
        return t

    def info(self):
        return {"iface": "wifi", "up": self.up}


class App:
    def __init__(self, synced=True):
        self.vt = VirtualTime(T0)
        rtc = FakeRTC(self.vt)
        self.clock = RtcClock(0, RtcMemory(rtc), rtc, tm=self.vt)
        if synced:
            self.clock.set_now(T0)
        self.prepay = field_rig.FakePrepay([])
        self.link = Link()
        self.net = Net()
        self.next_tick_s = T0 + 1


def types(a):
    return [e["type"] for e in a.prepay.events]


def test_link_only_while_up_and_closed_when_down():
    a = App()
    mptest.eq(app_net.service(a), False)
    a.net.up = True
    mptest.eq(app_net.service(a), True)
    a.link.state = 4                    # connected
    a.net.up = False
    mptest.eq(app_net.service(a), False)
    mptest.eq((a.link.closed, a.link.state), (1, 0), "the link goes down with the interface")
    mptest.eq(a.net.calls[0], (True, 1000), "want and the idle time before the next tick")


def test_a_closing_link_keeps_the_interface_wanted():
    a = App()
    a.link.want = False
    a.link.state = 4                    # still flushing its "asleep" state
    app_net.service(a)
    mptest.eq(a.net.calls[-1][0], True)
    a.link.state = 0
    app_net.service(a)
    mptest.eq(a.net.calls[-1][0], False)


def test_network_time_applied_under_the_rules_and_reported():
    a = App(synced=True)
    a.net.up = True
    a.net.offer = (T0 + 600, "ntp")
    app_net.service(a)
    mptest.eq(a.clock.now_s(), T0 + 600)
    e = a.prepay.events[-1]
    mptest.eq((e["type"], e["source"], e["step_s"]), ("time_sync", "ntp", 600))
    a.net.offer = (T0 + 600 + 3600, "cclk")
    app_net.service(a)
    mptest.eq(a.clock.now_s(), T0 + 600, "a synced clock is not moved an hour")
    mptest.eq(types(a)[-1], "time_rejected")
    a.net.offer = (T0 + 601, "ntp")
    n = len(a.prepay.events)
    app_net.service(a)
    mptest.eq(len(a.prepay.events), n, "noise: nothing applied, nothing reported")


def test_unsynced_clock_takes_the_network_time():
    a = App(synced=False)
    a.net.up = True
    a.net.offer = (T0 + 5 * 86400, "cclk")
    app_net.service(a)
    mptest.eq((a.clock.now_s(), a.clock.ok), (T0 + 5 * 86400, True))


def test_driver_exceptions_are_contained_and_reported_hourly():
    a = App()
    a.link.state = 4
    for exc in (OSError("Wifi Internal Error"), RuntimeError("Wifi Unknown Error 0x3001")):
        a.net.raise_ = exc
        mptest.eq(app_net.service(a), False)
    mptest.eq(types(a).count("net_fault"), 2)
    mptest.eq(a.link.state, 0)
    for _ in range(50):
        app_net.service(a)
        a.vt.advance(1000)
    mptest.eq(types(a).count("net_fault"), 2, "the same error again: not within the hour")
    a.vt.advance(3600 * 1000)
    app_net.service(a)
    mptest.eq(types(a).count("net_fault"), 3)


mptest.main(globals())
