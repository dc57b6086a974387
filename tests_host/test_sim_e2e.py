"""The main job as an end-to-end test: `tools/sim.py` plays the household scenario on three
real firmware processes (the .mpy bundle `make firmware BOARD=sim` builds), a real broker and
the reference head-end's signed commands, and must meet every expectation of the scenario
(warnings, cut-off and reconnect, malicious load, peak-valley switch, leak_suspected, gas
restore through armed, button and leak check). Also a short fleet against mosquitto."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, have

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "sim"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_firmware.py"), "--board", "sim", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def run_tool(args, bundle, timeout):
    env = dict(os.environ, SIM_BUNDLE=str(bundle))
    return subprocess.run([sys.executable] + [str(a) for a in args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_household_scenario_meets_every_expectation(bundle, tmp_path):
    speed = os.environ.get("SIM_SPEED", "2400")
    r = run_tool([ROOT / "tools" / "sim.py", "--scenario", "household", "--out", tmp_path, "--quiet",
                  "--speed", speed], bundle, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "sim: all 13 expectations hold" in r.stdout
    html = (tmp_path / "report.html").read_text()
    assert "13 of 13 hold" in html and "data:image/png;base64," in html
    for png in ("balance.png", "daily.png"):
        assert (tmp_path / png).stat().st_size > 10000
    rec = json.loads((tmp_path / "recording.json").read_text())
    # the event stream reached the cloud in order and without gaps, per meter
    for mid, m in rec["meters"].items():
        seqs = [e["seq"] for e in m["events"]]
        assert seqs == list(range(1, len(seqs) + 1)), (mid, seqs)


@pytest.mark.skipif(not have("mosquitto"), reason="mosquitto not installed")
def test_fleet_small_against_mosquitto(bundle):
    r = run_tool([ROOT / "tools" / "fleet.py", "-n", "8", "--json"], bundle, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])[0]
    assert res["connected"] == 8 and res["acked"] == res["commands"] == 32
    assert res["credits_ok"] and res["billing_events_ok"]


def _rabbit():
    sys.path.insert(0, str(ROOT / "tools"))
    import rabbit_cluster
    return rabbit_cluster.available()


@pytest.mark.skipif(not _rabbit(), reason="rabbitmq-server not installed (.ci/run installs it)")
def test_fleet_across_a_two_node_rabbitmq_cluster_with_a_node_restart(bundle):
    # meters alternate between the nodes, the head-end is on node 1, node 2 restarts mid-run:
    # every acknowledged credit is in the balance once and every billing event arrives
    r = run_tool([ROOT / "tools" / "fleet.py", "--cluster", "-n", "12", "--json"], bundle, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])[0]
    assert res["connected"] == 12 and res["acked"] == res["commands"] == 48
    assert res["credits_ok"] and res["billing_events_ok"]
