"""Start an MQTT broker on loopback for the sim, the fleet test and the tests.

Order of preference for `auto`: mosquitto when it is on the PATH (or in /usr/sbin),
else amqtt from the virtual environment. `BROKER=mqtt://host:port` uses an external one.
Every broker started here listens on 127.0.0.1 only and is stopped by `stop()`.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mosquitto_path():
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


def wait_port(host, port, timeout_s=20.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _writable_by_mosquitto(path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return                          # not root: mosquitto runs as us and can write it
    try:
        shutil.chown(path, user="mosquitto")
    except (LookupError, OSError):
        os.chmod(path, 0o777)           # no such user: any user mosquitto may run as


class Broker:
    """A broker process on 127.0.0.1:port (or an external URL, which is never stopped)."""

    def __init__(self, kind="auto", port=None, url=None, persistence=False):
        self.kind = kind
        self.proc = None
        self.dir = None
        self.url = url
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.persistence = persistence

    def start(self):
        if self.url:
            u = urlparse(self.url)
            self.host, self.port, self.kind = u.hostname, u.port or 1883, "external"
            if not wait_port(self.host, self.port, 5):
                raise RuntimeError("external broker %s is not reachable" % self.url)
            return self
        kind = self.kind
        if kind == "auto":
            kind = "mosquitto" if mosquitto_path() else "amqtt"
        self.kind = kind
        # the same directory across stop() / start(): a persistent broker restarts from the
        # database it saved there (a new directory per start lost every queued message)
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="broker-")
        log = open(os.path.join(self.dir, "broker.log"), "a")
        if kind == "mosquitto":
            conf = os.path.join(self.dir, "mosquitto.conf")
            lines = ["listener %d 127.0.0.1" % self.port, "allow_anonymous true",
                     "set_tcp_nodelay true", "max_queued_messages 100000"]
            if self.persistence:
                lines += ["persistence true", "persistence_location %s/" % self.dir, "autosave_interval 1"]
                # started as root, mosquitto drops to its own user and could not write its
                # database into our private temp dir: it logged "Error saving in-memory
                # database" and lost, at a restart, every message queued for an offline
                # persistent session (tests_host/test_link_broker.py saw gaps in the seqs)
                _writable_by_mosquitto(self.dir)
            Path(conf).write_text("\n".join(lines) + "\n")
            cmd = [mosquitto_path(), "-c", conf]
        elif kind == "amqtt":
            conf = os.path.join(self.dir, "broker.yaml")
            Path(conf).write_text(
                "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:%d\n"
                # allow_anonymous false: amqtt 0.12 marks EVERY session anonymous when it is
                # true and then queues nothing for offline sessions (broker.py: `not
                # target_session.is_anonymous`); false accepts any client that gives a username,
                # no password needed (plugins/authentication.py). Nameless clients are refused.
                "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: false\n"
                % self.port)
            exe = Path(sys.executable).parent / "amqtt"
            cmd = [str(exe if exe.exists() else "amqtt"), "-c", conf]
        else:
            raise ValueError("unknown broker kind %r (auto, mosquitto, amqtt)" % kind)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        if not wait_port(self.host, self.port):
            self.stop()
            raise RuntimeError("%s did not start on port %d (log in %s)" % (kind, self.port, self.dir))
        return self

    @property
    def uri(self):
        return "mqtt://%s:%d" % (self.host, self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        kind, self.kind = self.kind, self.kind
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
