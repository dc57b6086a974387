# heap: app+16k
# Metering and safety never wait for the network (docs/porting.md "Network"): the real App
# on the esp32_electricity board (fakes of machine and network, a BL0942 behind a latching
# relay, a SIM7080G on UART1) runs on virtual time in which only the app's own waiting and
# the relay's coil pulse move the clock. Credit runs out under a constant load; the relay's
# RESET coil must pulse at the same virtual instant whatever the network is doing then:
# Wi-Fi up, no access point (retrying with backoff), the modem still booting and
# registering, or the modem not answering (being power-cycled). A network call that blocked
# would move that instant (or hang this test).
# Heap: the App's (tools/heap_policy.py) + 16k: the fakes of the Wi-Fi and the SIM7080G and the
# simulated parts compile from source (floor 301k at APP_HEAP 304k, tools/heap_margins.py).
import gc
import sys
import os
import json
HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/fakes")
import machine          # noqa: E402  (the fake)
import network          # noqa: E402  (the fake)
import mptest           # noqa: E402
import esp32_world      # noqa: E402
from vtime import VirtualTime, FakeRTC      # noqa: E402
from hal.rtc_clock import RtcClock, RtcMemory   # noqa: E402

FLASH = "netinstant"
BOARDS = HERE + "/../../boards/"
T0 = 1800000000
vt = VirtualTime(T0)
network.set_clock(vt.ticks_ms)
esp32_world.set_clock(vt.ticks_ms)


BOARD_CODE = []


def load_board():
    g = {"__name__": "board"}
    if not BOARD_CODE:      # compiled once: each scenario runs it into a fresh module
        BOARD_CODE.append(compile(open(BOARDS + "esp32_electricity/board.py").read(), "board.py", "exec"))
    exec(BOARD_CODE[0], g)

    class Module:
        pass
    mod = Module()
    for k, v in g.items():
        setattr(mod, k, v)
    rtc = FakeRTC(vt)
    mod.clock = lambda conf, floor_s=0: RtcClock(floor_s, RtcMemory(rtc), rtc, tm=vt)
    sys.modules["board"] = mod
    return mod


def fresh(net, world):
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    for n in os.listdir(FLASH):
        os.remove(FLASH + "/" + n)
    conf = {"id": "ni-1", "kind": "electricity", "key": "cd" * 32, "board": "esp32_electricity",
            "broker": "mqtt://127.0.0.1:9", "backoff_max_s": 2, "net": net,
            "tariff": {"price": 1000000}}             # 1 minor unit per Wh
    with open(FLASH + "/config.json", "w") as f:
        json.dump(conf, f)
    machine.reset_world()
    w = dict(world, bl0942={"uart": 2, "load_w": 3600, "set": 25, "reset": 26})
    esp32_world.World(w)
    load_board()
    import app
    app.APP = None          # the last scenario's meter: one meter in the heap, as on a board
    gc.collect()
    a = app.App(FLASH)
    a.link.idle = lambda ms: vt.advance(ms)          # the app's own wait: virtual
    return a


def cutoff(a, limit_ms=120000):
    """Run until the relay's RESET coil pulses; -> (virtual ms since start, the network's
    state at that instant, loop passes per virtual second)."""
    t_reset = []
    machine.watch(26, lambda v: t_reset.append(vt.ms) if v else None)
    t0 = vt.ms
    passes = 0
    now = a.clock.now_s()
    a.prepay.recharge("t-1", 30, now)                  # 30 Wh at 3.6 kW: 30 s
    a.prepay.save()
    while vt.ms - t0 < limit_ms:
        a.step()
        passes += 1
        vt.advance(1)                                  # each pass costs a millisecond
        if t_reset and vt.ms - t_reset[-1] > 50 and a.prepay.supply.state == "off_credit":
            break
    net_state = (a.net.state, a.net.up)
    a.shutdown()
    return (t_reset[-1] - t0) if t_reset else None, net_state, passes * 1000 // (vt.ms - t0)


SCENARIOS = {
    "wifi_up": ({"wifi": {"ssid": "meters", "password": "secret-pass", "ntp": False}},
                {"ap": {"ssid": "meters", "key": "secret-pass", "assoc_ms": 100}}),
    "wifi_no_ap": ({"wifi": {"ssid": "meters", "password": "secret-pass", "ntp": False}},
                   {"ap": {"present": False}}),
    "cell_bringing_up": ({"cellular": {"rat": "nbiot"}},
                         {"modem": {"uart": 1, "pwrkey": 23, "status": 34, "boot_ms": 10000,
                                    "reg_ms": 60000}}),
    "cell_not_answering": ({"cellular": {"rat": "nbiot"}},
                           {"modem": {"uart": 1, "pwrkey": 23, "status": 34, "boot_ms": 500,
                                      "reg_ms": 500, "dead": True}}),
}


def test_relay_cuts_off_at_the_same_instant_whatever_the_network_does():
    got = {}
    for name in sorted(SCENARIOS):
        vt.__init__(T0)
        net, world = SCENARIOS[name]
        got[name] = cutoff(fresh(net, world))     # no name keeps the App past its scenario
    print(got)
    instants = set(v[0] for v in got.values())
    mptest.true(None not in instants, "the relay never cut off: %r" % got)
    mptest.eq(len(instants), 1, "cut-off instants differ: %r" % got)
    t = instants.pop()
    # 30 Wh at 3.6 kW is 30 s of load once the relay has closed (the first tick, ~1 s); the
    # energy arrives in BL0942 CF pulses of 0.195 Wh and is billed at the next 1 s tick
    mptest.true(30000 <= t <= 35000, "cut-off at %d ms" % t)
    mptest.eq(got["wifi_up"][1], ("up", True), "the network really was up")
    mptest.true(not got["wifi_no_ap"][1][1], "really down")
    mptest.true(got["cell_bringing_up"][1][0] in ("probe", "pwrkey", "boot", "init", "register"),
                "really being brought up: %r" % (got["cell_bringing_up"][1],))
    mptest.true(not got["cell_not_answering"][1][1], "really down")
    # the loop sleeps between passes whatever the network does: an interface being brought
    # up is polled (app_net.NET_POLL_MS), never spun on; a pass costs 1 ms here, so a
    # spinning loop would make ~1000 passes a second
    for name, v in got.items():
        mptest.true(v[2] <= 100, "%s: %d loop passes a second" % (name, v[2]))


def test_ticks_go_on_when_the_clock_is_set_back():
    # the ESP32 clock absorbs a `time` op that sets it back by holding now_s still; the
    # tick is due on the monotonic clock, so metering and safety go on meanwhile
    vt.__init__(T0)
    net, world = SCENARIOS["wifi_up"]
    a = fresh(net, world)
    ticks = [0]                     # a count: a list of 3000 instants costs the heap 16 KiB
    real = a.driver.tick

    def counted(now_s):
        ticks[0] += 1
        return real(now_s)
    a.driver.tick = counted
    for _ in range(3000):
        a.step()
        vt.advance(1)
    a.clock.set_now(a.clock.now_s() - 120)           # accepted: at most 300 s back
    held = a.clock.now_s()
    n = ticks[0]
    t0 = vt.ms
    while vt.ms - t0 < 30000:
        a.step()
        vt.advance(1)
    mptest.eq(a.clock.now_s(), held, "the wall clock is held still")
    mptest.true(ticks[0] - n >= 28, "%d ticks in 30 s while the clock was held" % (ticks[0] - n))
    a.shutdown()


mptest.main(globals())
