"""A rollout over a fleet of real firmware processes (tools/fleet.py machinery, one broker):
waves of 10 %, 50 % and 100 % of 10 meters; the new bundle fails on two meters of the second
wave. The rollout halts by itself in that wave, the third wave never hears of the update, the
failed meters roll back by themselves and still answer, the first wave keeps the update."""
import sys
import time

import pytest

from conftest import ROOT, have

sys.path.insert(0, str(ROOT / "tools"))
from brokers import Broker  # noqa: E402
import ota_fleet  # noqa: E402

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_rollout_halts_on_a_failing_wave_and_the_failed_meters_roll_back(tmp_path):
    kind = "mosquitto" if have("mosquitto") else "amqtt"
    bad = ("f-00002", "f-00003")
    with Broker(kind, persistence=kind == "mosquitto") as b:
        res, f = ota_fleet.run(10, b.uri, tmp_path, waves=(10, 50, 100), max_fail=0.25, bad=bad,
                               health_s=30, log=lambda s: None)
        try:
            st = res["status"]
            assert res["online"] == 10
            assert res["result"] == "halted", res
            assert [w["pct"] for w in res["waves"]] == [10, 50], res["waves"]
            assert st["f-00000"] == "committed", st
            for mid in bad:
                assert st[mid] == "rolled_back" and res["reasons"][mid] == "crash", (mid, res)
            for i in range(5, 10):
                assert "f-%05d" % i not in st, "wave 3 was never announced"
            # every meter still answers, on the bundle it should run
            from headend import HeadEnd
            he = HeadEnd(b.uri, "meters", "+", username="he-check")
            try:
                seq = int(time.time() * 1000)
                for mid, m in sorted(f.meters.items()):
                    seq += 1
                    a = he.send(mid, m["key"], "status", {}, seq=seq, wait_s=15)
                    assert a and a["ok"], (mid, a)
                    want = "1.1.0" if st.get(mid) == "committed" else "1.0.0"
                    assert a["fw"] == want, (mid, st.get(mid), a["fw"])
            finally:
                he.close()
        finally:
            f.stop()
