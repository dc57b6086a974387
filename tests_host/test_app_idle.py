"""An idle meter costs next to nothing: connected to mosquitto with nothing to do, the real
firmware (main.py on the unix port, sim board at sim_speed 1) sleeps in poll() until its
next tick, its next keep-alive or a packet. It never spins: the loop used to wake every
20 ms (50 wakeups a second), which is what bounded a fleet of meters on one machine
(docs/bench.md, "fleet"). Counted as the process's voluntary context switches: one per
poll() that sleeps; a count, not a wall time."""
import os
import subprocess
import sys
import time

import pytest

from conftest import APP_HEAP, MICROPYTHON, ROOT, app_env, app_main, have

sys.path.insert(0, str(ROOT / "tools"))
from brokers import Broker  # noqa: E402
from headend import HeadEnd, provision  # noqa: E402

pytestmark = pytest.mark.broker


def sleeps(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc/%d/status" % pid)


@pytest.mark.skipif(not have("mosquitto"), reason="mosquitto not installed (make sysdeps)")
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_idle_connected_meter_wakes_once_per_tick(tmp_path):
    with Broker("mosquitto") as b:
        conf = provision(str(tmp_path / "m"), "idle-1", "electricity", b.uri, 1,
                         extra={"sim_script": {"daily": [["00:00", {"load_w": 0, "pf": 1.0}]]}})
        he = HeadEnd(b.uri, "meters", conf["id"])
        p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + APP_HEAP, app_main(),
                              str(tmp_path / "m")], env=app_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT)
        try:
            end = time.time() + 30
            online = False
            while time.time() < end and not online:
                try:
                    _, leaf, obj, _ = he.q.get(timeout=1)
                except Exception:
                    continue
                online = leaf == "state" and obj.get("online") is True
            assert online, "the meter never came online"
            time.sleep(1.5)                  # past the connect's own traffic
            n0, t0 = sleeps(p.pid), time.time()
            time.sleep(4)
            rate = (sleeps(p.pid) - n0) / (time.time() - t0)
            assert p.poll() is None
            # 1 tick a second; a keep-alive ping every 15 s; the telemetry every 60 s
            assert rate < 3, "%.1f wakeups a second while idle (one per tick expected)" % rate
        finally:
            p.terminate()
            p.wait()
            he.close()
