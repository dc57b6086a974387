"""A two-node RabbitMQ cluster with the MQTT plugin, on loopback, for the fleet test.

This is what a deployment beyond one broker machine looks like: meters spread over both
nodes, the head-end on one of them. Debian's rabbitmq-server (3.10) runs each node with
its own environment (RABBITMQ_NODENAME, RABBITMQ_NODE_PORT, its own mnesia folder). Started as root, rabbitmq-server drops to the
rabbitmq user, so every folder here is chowned to it.

    with RabbitCluster() as c:  c.mqtt_ports -> [p1, p2]; c.restart_node(1)
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from brokers import free_port, wait_port

NODES = ("lab1", "lab2")


def available():
    return shutil.which("rabbitmq-server") or os.path.exists("/usr/sbin/rabbitmq-server")


def _exe(name):
    return shutil.which(name) or "/usr/sbin/" + name


class RabbitCluster:
    def __init__(self, base=None):
        self.base = Path(base or tempfile.mkdtemp(prefix="rabbit-"))
        self.host = socket.gethostname()
        self.nodes = []
        self.procs = {}

    def _env(self, i):
        n = self.nodes[i]
        d = n["dir"]
        env = dict(os.environ)
        env.update({
            "RABBITMQ_NODENAME": "%s@localhost" % n["name"],
            "RABBITMQ_NODE_PORT": str(n["amqp"]),
            "RABBITMQ_DIST_PORT": str(n["dist"]),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(d / "feature_flags"),
            "RABBITMQ_PID_FILE": str(d / "rabbit.pid"),
            "RABBITMQ_ERLANG_COOKIE_FILE": str(self.base / ".erlang.cookie"),
            "HOME": str(self.base),
            "RABBITMQ_USE_LONGNAME": "false",
        })
        return env

    def _ctl(self, i, *args, timeout=120):
        return subprocess.run([_exe("rabbitmqctl"), "-n", "%s@localhost" % self.nodes[i]["name"]] + list(args),
                              env=self._env(i), capture_output=True, text=True, timeout=timeout)

    def start(self):
        if not available():
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        cookie = self.base / ".erlang.cookie"
        cookie.write_text("FLEETTESTCOOKIE%d" % os.getpid())
        cookie.chmod(0o400)
        for name in NODES:
            d = self.base / name
            (d / "mnesia").mkdir(parents=True)
            (d / "log").mkdir()
            n = {"name": name, "dir": d, "amqp": free_port(), "dist": free_port(), "mqtt": free_port()}
            (d / "rabbitmq.conf").write_text(
                "listeners.tcp.1 = 127.0.0.1:%d\nmqtt.listeners.tcp.1 = 127.0.0.1:%d\n"
                "mqtt.allow_anonymous = true\nloopback_users = none\nmanagement.tcp.port = %d\n"
                "mqtt.tcp_listen_options.nodelay = true\n" % (n["amqp"], n["mqtt"], free_port()))
            (d / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
            self.nodes.append(n)
        try:
            uid = pwd.getpwnam("rabbitmq")
            for p in [self.base] + list(self.base.rglob("*")):
                os.chown(p, uid.pw_uid, uid.pw_gid)
        except KeyError:
            pass
        for i in range(len(self.nodes)):
            self._start_node(i)
        # node 2 joins node 1
        for args in (("stop_app",), ("join_cluster", "%s@localhost" % NODES[0]), ("start_app",)):
            r = self._ctl(1, *args)
            if r.returncode:
                raise RuntimeError("rabbitmqctl %s failed: %s" % (" ".join(args), r.stderr or r.stdout))
        for n in self.nodes:
            if not wait_port("127.0.0.1", n["mqtt"], 90):
                raise RuntimeError("MQTT listener of %s did not come up" % n["name"])
        return self

    def _start_node(self, i):
        n = self.nodes[i]
        log = open(n["dir"] / "server.out", "a")
        self.procs[i] = subprocess.Popen([_exe("rabbitmq-server")], env=self._env(i), stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self._ctl(i, "await_startup", timeout=130).returncode == 0:
                return
            time.sleep(1)
        raise RuntimeError("rabbitmq node %s did not start (see %s)" % (n["name"], n["dir"]))

    @property
    def mqtt_ports(self):
        return [n["mqtt"] for n in self.nodes]

    def cluster_status(self):
        return self._ctl(0, "cluster_status").stdout

    def restart_node(self, i):
        self._ctl(i, "stop_app")
        r = self._ctl(i, "start_app")
        if r.returncode:
            raise RuntimeError("restart of %s failed: %s" % (self.nodes[i]["name"], r.stderr))
        if not wait_port("127.0.0.1", self.nodes[i]["mqtt"], 90):
            raise RuntimeError("MQTT listener of %s did not come back" % self.nodes[i]["name"])

    def stop(self):
        for i in range(len(self.nodes)):
            try:
                self._ctl(i, "stop", timeout=60)
            except Exception:
                pass
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        # epmd outlives the nodes; end it by its process id
        r = subprocess.run(["pgrep", "-x", "epmd"], capture_output=True, text=True)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), 15)
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
