"""A rollout over a fleet of real firmware processes (`make fleet N=20 FLEET_ARGS=--ota`):
N sim meters (tools/fleet.py) run the bundle of version 1.0.0; a 1.1.0 update is built,
signed with a fresh key and rolled out by tools/ota_rollout.py in waves. Prints each wave and
how long it took. `bad` names meters on which the new bundle fails (the test of a wave that
fails: the rollout must halt and those meters roll back by themselves).
"""
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_firmware  # noqa: E402
import fleet  # noqa: E402
import ota  # noqa: E402
import ota_rollout  # noqa: E402

HEAP = os.environ.get("OTA_HEAP", "384k")   # docs/ota.md "Costs": the in-process restart


def bad_on(ids):
    """A patch for firmware/ that makes App() raise on the meters named: a bug that shows
    only on some meters' data."""
    def patch(src):
        p = src / "app.py"
        t = p.read_text()
        anchor = "        self.conf = conf = load_config(flash)\n"
        assert anchor in t
        p.write_text(t.replace(anchor, anchor + "        if conf[\"id\"] in %r:\n"
                               "            raise RuntimeError(\"bad build on this meter\")\n" % (tuple(ids),)))
    return patch


def build(out, version, patch=None):
    if patch is None:
        return build_firmware.build("sim", out, version=version, log=lambda s: None)[0]
    tmp = Path(tempfile.mkdtemp(prefix="otasrc-"))
    try:
        shutil.copytree(build_firmware.ROOT / "firmware", tmp / "firmware",
                        ignore=shutil.ignore_patterns("__pycache__"))
        patch(tmp / "firmware")
        for d in ("boards", "lib", ".venv"):
            (tmp / d).symlink_to(build_firmware.ROOT / d)
        old, build_firmware.ROOT = build_firmware.ROOT, tmp
        try:
            return build_firmware.build("sim", out, version=version, log=lambda s: None)[0]
        finally:
            build_firmware.ROOT = old
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(n, broker_uri, work, waves=(1, 10, 100), max_fail=0.1, bad=(), health_s=60,
        sim_speed=10, log=print, key=None):
    """-> (rollout result, fleet, seconds per phase). The fleet is left running: stop() it."""
    work = Path(work)
    key = key or _key()
    t0 = time.time()
    base = build(work / "base" / "sim", "1.0.0")
    new = build(work / "new" / "sim", "1.1.0", bad_on(bad) if bad else None)
    upd = ota.sign_bundle(new, key, work / "pub", "sim", "1.1.0", min_from="1.0.0",
                          health_s=health_s, loops=20, uid="fleet-110")
    t_build = time.time() - t0
    host, port = broker_uri.split("://")[1].rsplit(":", 1)
    f = fleet.Fleet(n, [int(port)], root="meters", workdir=work / "meters", port="pypi",
                    extra={"ota": {"pub": ota.pub_hex(key)}, "backoff_max_s": 1}, sim_speed=sim_speed)
    # the PyPI port from the 1.0.0 bundle's files: a bundle is .mpy files on the filesystem
    # (a native build has the firmware frozen in, and its own .mpy version)
    f.port = ("pypi", [fleet.MICROPYTHON, "-X", "heapsize=" + HEAP], str(base / "main.py"),
              "%s:%s/lib" % (base, base))
    f.provision()
    f.start()
    meters = {mid: {"key": m["key"]} for mid, m in f.meters.items()}
    t1 = time.time()
    r = ota_rollout.Rollout(broker_uri, "meters", upd, meters, waves, max_fail,
                            wave_timeout_s=120 + health_s * 2 / sim_speed, log=log)
    # wait until every meter has said it is online (retained state), then roll out
    deadline = time.time() + 30 + n * 0.5
    online = set()
    while time.time() < deadline and len(online) < n:
        try:
            mid, kind, obj, _ = r.he.q.get(timeout=0.5)
        except Exception:
            continue
        if kind == "state" and obj.get("online"):
            online.add(mid)
    t2 = time.time()
    res = r.run()
    res["seconds"] = {"build_sign": round(t_build, 1), "start": round(t2 - t1, 1),
                      "rollout": round(time.time() - t2, 1)}
    res["online"] = len(online)
    res["bytes_served"] = r.server.bytes
    return res, f


def _key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def main(n):
    from brokers import Broker
    work = Path(tempfile.mkdtemp(prefix="ota-fleet-"))
    with Broker() as b:
        res, f = run(n, b.uri, work)
        f.stop()
    print(json.dumps({k: res[k] for k in ("result", "reason", "waves", "seconds", "online",
                                          "bytes_served")}, indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if res["result"] == "done" and all(
        s == "committed" for s in res["status"].values()) else 1
