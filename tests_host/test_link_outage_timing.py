"""Metering and safety never wait on the network (docs/architecture.md): an electricity meter with a tiny
balance and a 2 kW motor-like load (pf 0.7: a resistive step trips the malicious-load
detector instead) must open its relay for lack of credit at the SAME simulated second
with a healthy broker, a REFUSED one (nothing listens) and a HUNG one (accepts TCP, never
answers). The instant is the `supply` event's ts, read from what the cloud received (healthy)
or from the meter's outbox on flash (refused, hung: nothing could be sent)."""
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import APP_HEAP, MICROPYTHON, ROOT, app_env, app_main, have

import sys
sys.path.insert(0, str(ROOT / "tools"))
from brokers import Broker, free_port  # noqa: E402
from headend import HeadEnd, provision  # noqa: E402

pytestmark = pytest.mark.broker
START_S = 1800000000
SPEED = int(os.environ.get("LINK_OUTAGE_SPEED", "1000"))
SEED = """
from core.store import Store
from core.prepay import Prepay
import json
c = json.load(open(%(d)r + "/config.json"))
cfg = dict(c.get("config") or {}); cfg["tariff"] = c["tariff"]
p = Prepay(Store(%(d)r), "electricity", cfg, %(t)d)
p.recharge("seed", 400, %(t)d, via="remote")
p.save()
"""


def hung_server():
    """Accepts TCP connections and never reads or answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    conns = []

    def run():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            conns.append(c)
    threading.Thread(target=run, daemon=True).start()
    return s, conns


def cutoff_ts(tmp, name, uri, he=None):
    d = str(tmp / name)
    provision(d, "t-1", "electricity", uri, SPEED,
              extra={"sim_start": START_S, "backoff_max_s": 1, "tariff": {"price": 250000},
                     "sim_script": {"once": [[START_S + 5, {"load_w": 2000, "pf": 0.7}]]}})
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + APP_HEAP, "-c", SEED % {"d": d, "t": START_S}],
                       env=app_env(), capture_output=True, text=True, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + APP_HEAP, app_main(), d],
                         env=app_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ts = None
    t_end = time.time() + 60
    try:
        while ts is None and time.time() < t_end and p.poll() is None:
            time.sleep(0.2)
            evs = []
            if he is not None:
                evs = [e for (_, k, e, _) in list(he.q.queue) if k == "evt"]
            else:
                try:
                    evs = [json.loads(x) for x in Path(d, "outbox.log").read_text().splitlines() if x.strip()]
                except (OSError, ValueError):
                    pass
            on = False
            for e in sorted(evs, key=lambda e: e["seq"]):
                if e.get("type") == "supply":
                    if e.get("state") == "on":
                        on = True          # the seeded credit closed the relay...
                    elif on and e.get("state") == "off_credit":
                        ts = e["ts"]       # ...and running out of it opened it again
    finally:
        p.terminate()
        out = p.communicate(timeout=10)[0].decode(errors="replace")
    assert ts is not None, "no off_credit event (%s): %s" % (name, out[-2000:])
    return ts


def test_relay_opens_on_the_same_tick_with_broker_healthy_refused_hung(tmp_path):
    if not have("mosquitto"):
        pytest.skip("needs mosquitto")
    b = Broker("mosquitto").start()
    he = HeadEnd(b.uri, "meters", "t-1")
    try:
        healthy = cutoff_ts(tmp_path, "healthy", b.uri, he)
    finally:
        he.close()
        b.stop()
    refused = cutoff_ts(tmp_path, "refused", "mqtt://127.0.0.1:%d" % free_port())
    srv, conns = hung_server()
    try:
        hung = cutoff_ts(tmp_path, "hung", "mqtt://127.0.0.1:%d" % srv.getsockname()[1])
        assert conns, "the meter never tried the hung broker"
    finally:
        srv.close()
    assert healthy > START_S
    assert (healthy, refused, hung) == (healthy, healthy, healthy), (healthy, refused, hung)
