"""mqtts:// end to end on loopback (docs/protocol.md §10): a CA, a server certificate
for 127.0.0.1/localhost and a client certificate are generated with the openssl CLI; mosquitto
runs a TLS listener that requires client certificates (and a plain loopback listener for the
head-end). The real firmware (main.py on the unix port, sim board) must connect, answer a
signed recharge over TLS and deliver its events; a server certificate from another CA and a
missing client certificate must both be refused while metering goes on.

Also on the port: link/tls.py turns PEM into the DER the port's mbedTLS needs (it has no PEM
parser), checked byte for byte against openssl over generated certificates and keys, and bad
files raise ValueError with a reason."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import APP_HEAP, MICROPYTHON, ROOT, app_env, app_main, have, run_mpy

sys.path.insert(0, str(ROOT / "tools"))
from brokers import free_port, wait_port  # noqa: E402
from headend import HeadEnd, provision  # noqa: E402

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not have("mosquitto") or not shutil.which("openssl"),
                                 reason="needs mosquitto and openssl")]
HEAP = APP_HEAP


def ossl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".pem", "-days", "30", "-subj", "/CN=" + name, cwd=d)


def make_cert(d, name, ca, san=None):
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "30"]
    if san:
        Path(d, name + ".ext").write_text("subjectAltName=" + san + "\n")
        args += ["-extfile", name + ".ext"]
    ossl(*args, cwd=d)
    ossl("x509", "-in", name + ".pem", "-outform", "der", "-out", name + ".der", cwd=d)
    ossl("pkey", "-in", name + ".key", "-outform", "der", "-out", name + ".key.der", cwd=d)
    os.chmod(Path(d, name + ".key"), 0o644)      # mosquitto drops root privileges


@pytest.fixture(scope="module")
def pki():
    # not under pytest's tmp dir (mode 0700): mosquitto started as root drops to its own user
    d = Path(tempfile.mkdtemp(prefix="pki-"))
    os.chmod(d, 0o755)
    yield from _pki(d)
    shutil.rmtree(d, ignore_errors=True)


def _pki(d):
    make_ca(d, "ca")
    make_ca(d, "evil")
    ossl("x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der", cwd=d)
    make_cert(d, "server", "ca", "DNS:localhost,IP:127.0.0.1")
    make_cert(d, "rogue", "evil", "DNS:localhost,IP:127.0.0.1")   # right name, wrong CA
    make_cert(d, "m-1", "ca")
    yield d


class Mosq:
    def __init__(self, pki, server="server"):
        self.dir = Path(str(pki) + "-" + server + "-%d" % free_port())
        self.dir.mkdir()
        os.chmod(self.dir, 0o755)
        self.tls_port, self.plain_port = free_port(), free_port()
        conf = self.dir / "m.conf"
        conf.write_text("\n".join([
            "per_listener_settings true",
            "listener %d 127.0.0.1" % self.plain_port, "allow_anonymous true",
            "listener %d 127.0.0.1" % self.tls_port, "allow_anonymous true",
            "cafile %s/ca.pem" % pki, "certfile %s/%s.pem" % (pki, server),
            "keyfile %s/%s.key" % (pki, server), "require_certificate true",
            "set_tcp_nodelay true", ""]))
        self.log = open(self.dir / "log", "w")
        self.p = subprocess.Popen(["/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto")
                                   else "mosquitto", "-c", str(conf), "-v"],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        assert wait_port("127.0.0.1", self.plain_port) and wait_port("127.0.0.1", self.tls_port)

    def text(self):
        self.log.flush()
        return (self.dir / "log").read_text()

    def stop(self):
        self.p.terminate()
        self.p.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def meter(tmp_path, pki, port, tls, speed=10):
    flash = tmp_path / "m"
    flash.mkdir()
    for f in set(tls.values()):
        shutil.copy(Path(pki, f), flash / f)
    conf = provision(str(flash), "m-1", "electricity", "mqtts://127.0.0.1:%d" % port, speed,
                     extra={"backoff_max_s": 1, "tls": tls})
    log = open(str(flash) + ".log", "w")
    env = app_env()
    p = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + HEAP, app_main(),
                          str(flash)], env=env, stdout=log, stderr=subprocess.STDOUT)
    return p, bytes.fromhex(conf["key"]), flash


def stop(p):
    if p.poll() is None:
        p.send_signal(2)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def online(he, t):
    t_end = time.time() + t
    while time.time() < t_end:
        for (_, kind, obj, _) in list(he.q.queue):
            if kind == "state" and obj.get("online"):
                return True
        time.sleep(0.05)
    return False


DER = {"ca": "ca.der", "cert": "m-1.der", "key": "m-1.key.der"}
PEM = {"ca": "ca.pem", "cert": "m-1.pem", "key": "m-1.key"}


@pytest.mark.parametrize("files", ["der", "pem"])
def test_tls_connects_recharge_acked_events_arrive(tmp_path, pki, files):
    b = Mosq(pki)
    he = HeadEnd("mqtt://127.0.0.1:%d" % b.plain_port, "meters", "m-1")
    p, key, flash = meter(tmp_path, pki, b.tls_port, DER if files == "der" else PEM)
    try:
        assert online(he, 20), Path(str(flash) + ".log").read_text()
        a = he.send("m-1", key, "recharge", {"txn": "tls-1", "amount": 1234})
        assert a and a["ok"] and not a.get("dup"), a
        a2 = he.send("m-1", key, "status", {})
        assert a2["balance"] == a["balance"]
        t_end = time.time() + 10
        evts = []
        while time.time() < t_end:
            evts = [e for (_, k, e, _) in list(he.q.queue) if k == "evt"]
            if any(e.get("type") == "recharge" and e.get("txn") == "tls-1" for e in evts):
                break
            time.sleep(0.05)
        assert any(e.get("type") == "recharge" and e.get("txn") == "tls-1" for e in evts), evts
        seqs = [e["seq"] for e in evts]
        assert seqs == sorted(seqs)
        # the meter really came in over the TLS listener with its client certificate
        assert "m-1" in b.text() and p.poll() is None
    finally:
        he.close()
        stop(p)
        b.stop()


@pytest.mark.parametrize("case", ["rogue_server", "no_client_cert"])
def test_tls_refused_meter_never_online_metering_goes_on(tmp_path, pki, case):
    b = Mosq(pki, "rogue" if case == "rogue_server" else "server")
    he = HeadEnd("mqtt://127.0.0.1:%d" % b.plain_port, "meters", "m-1")
    tls = dict(DER) if case == "rogue_server" else {"ca": "ca.der"}
    t0 = int(time.time())
    p, key, flash = meter(tmp_path, pki, b.tls_port, tls, speed=600)
    try:
        assert not online(he, 6), "the meter came online through a refused TLS connection"
        assert p.poll() is None, Path(str(flash) + ".log").read_text()
        log = b.text()
        assert log.count("New connection from 127.0.0.1:") >= 2, log    # retried with backoff
        assert " as m-1 " not in log, log                                 # never got an MQTT session
        if case == "no_client_cert":
            assert "peer did not return a certificate" in log, log       # refused by the broker
    finally:
        he.close()
        stop(p)
        b.stop()
    # metering went on: the sim clock (600 sim s per real s) kept stepping through ~6 s of
    # refused handshakes; shutdown saved it
    r = run_mpy(["-c", "from core.store import Store; print(Store(%r).load('clock')['t'])" % str(flash)])
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) - t0 >= 600 * 4, (r.stdout, t0)
