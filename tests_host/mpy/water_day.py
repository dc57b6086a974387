# Bench workload for the water meter (run by tools/bench_water.py on the unix port): a
# typical household for DAYS simulated days, woken as the app wakes it. Prints one JSON line
# of figures: wakes and sessions per day, uplink bytes per day, flash writes per day, awake
# time per wake (in-process and as a deep-sleep reboot), and the heap in use.
import gc
import json
import random
import sys
import time

gc.collect()
heap0 = gc.mem_alloc()
from water_rig import Rig  # noqa: E402

DAYS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
ID = "wm-00012345"
TOPIC = len("meters/%s/evt" % ID)

# MQTT application bytes the meter sends per session (3.1.1 framing, no TCP/IP headers):
# CONNECT with client id and a last will {"online": false} on the state topic, SUBSCRIBE to
# cmd, the retained state {"online": true, ...}, DISCONNECT. Each PUBLISH at QoS 1 adds a
# fixed header (2-3 bytes), the topic (2 + len) and a packet id (2).
CONNECT_B = 12 + 2 + len(ID) + 2 + TOPIC + 2 + len('{"online": false}')
SUBSCRIBE_B = 2 + 2 + 2 + TOPIC + 1
DISCONNECT_B = 2


def pub_bytes(payload):
    n = len(payload)
    return 3 + 2 + TOPIC + 2 + n


class Day(Rig):
    def __init__(self):
        self.up_bytes = 0
        self.sent_seq = 0
        self.awake_us = []
        Rig.__init__(self)

    def on_session(self, now):
        b = CONNECT_B + SUBSCRIBE_B + DISCONNECT_B
        st = {"online": True, "supply": self.p.supply.state, "alarms": sorted(self.p.alarms)}
        b += pub_bytes(json.dumps(st))
        for e in self.log + self.p.pending_events():    # the outbox's content
            if e["seq"] > self.sent_seq:
                b += pub_bytes(json.dumps(e))
                self.sent_seq = e["seq"]
        tele = {"ts": now, "balance": self.p.balance_minor, "supply": self.p.supply.state,
                "price": self.p.price_now(now), "register": self.p.register}
        tele.update(self.d.telemetry(now))
        b += pub_bytes(json.dumps(tele))
        self.up_bytes += b

    def wake(self):
        t = time.ticks_us()
        Rig.wake(self)
        self.awake_us.append(time.ticks_diff(time.ticks_us(), t))


def household(r, days):
    random.seed(7)
    for day in range(days):
        for h in range(24):
            if h in (6, 7, 12, 18, 19, 20, 21):
                r.sim({"flow_lph": random.randint(20, 200)})
            else:
                r.sim({"flow_lph": 0})
            r.run(3600)


r = Day()
gc.collect()
heap = gc.mem_alloc() - heap0    # the whole stack built (core, driver, sim board, rig)
r.run(3600)                      # settle the first-boot session
w0, s0, u0 = r.wakes, len(r.sessions), r.up_bytes
wr0, by0 = r.store.writes, r.store.bytes_written
r.awake_us = []
household(r, DAYS)
aw = sorted(r.awake_us)
fw, fb = r.store.writes - wr0, r.store.bytes_written - by0

# a wake as the ESP32 runs it: a reboot from deep sleep rebuilds everything from flash + RTC
boot_us = []
for i in range(30):
    r.clock.t += 900
    t = time.ticks_us()
    r.boot()
    r.wake()
    boot_us.append(time.ticks_diff(time.ticks_us(), t))
boot_us.sort()
print(json.dumps({
    "days": DAYS,
    "wakes_day": (r.wakes - w0 - 0) / DAYS,
    "sessions_day": (len(r.sessions) - s0) / DAYS,
    "session_reasons": [s[1] for s in r.sessions[s0:]],
    "uplink_bytes_day": (r.up_bytes - u0) // DAYS,
    "flash_writes_day": fw / DAYS,
    "flash_bytes_day": fb // DAYS,
    "rtc_bytes": r.d.rtc_bytes,
    "awake_ms_p50": aw[len(aw) // 2] / 1000, "awake_ms_p99": aw[len(aw) * 99 // 100] / 1000,
    "boot_wake_ms_p50": boot_us[len(boot_us) // 2] / 1000,
    "heap_bytes": heap, "register_l": r.p.register,
}))
