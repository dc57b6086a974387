"""A two-node RabbitMQ cluster with the MQTT plugin, on loopback, for the fleet test.

This is what a deployment beyond one broker machine looks like: meters spread over both
nodes, the head-end on one of them. Debian's rabbitmq-server (3.10) runs each node with
its own environment (RABBITMQ_NODENAME, RABBITMQ_NODE_PORT, its own mnesia folder). Started as root, rabbitmq-server drops to the
rabbitmq user, so every folder here is chowned to it.

    with RabbitCluster() as c:  c.mqtt_ports -> [p1, p2]; c.restart_node(1)

Several clusters may run at once on one machine (parallel test runs) and a killed run may
leave its nodes behind, so each cluster is its own: node names unique to the run
(fl<pid><random>a/b@localhost), its own epmd on its own port (ERL_EPMD_PORT), its folder
under the temp dir named rabbit-fleet-*. stop() ends exactly those nodes and that epmd (by
the pids the nodes wrote and `epmd -kill` on that port), never another cluster's; start()
first ends the nodes and epmd of earlier clusters whose owning process is gone, and cleans
up after itself when it fails half way.
"""
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from brokers import free_port, wait_port

PREFIX = "rabbit-fleet-"


def available():
    return shutil.which("rabbitmq-server") or os.path.exists("/usr/sbin/rabbitmq-server")


def _exe(name):
    return shutil.which(name) or "/usr/sbin/" + name


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _read_int(path):
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _end_pid(pid, wait_s=20):
    if pid is None or not _alive(pid):
        return
    try:
        os.kill(pid, 15)
    except OSError:
        return
    deadline = time.time() + wait_s
    while time.time() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def _kill_epmd(port):
    """End the epmd listening on port (ours: started for this cluster's nodes)."""
    if port:
        subprocess.run([shutil.which("epmd") or "epmd", "-port", str(port), "-kill"],
                       capture_output=True, timeout=30)


def reap_orphans(tmp=None, log=None):
    """End the nodes and epmd of earlier clusters whose owner process is gone (a run killed
    before its stop()), and remove their folders. A live owner's cluster is left alone."""
    for d in Path(tmp or tempfile.gettempdir()).glob(PREFIX + "*"):
        owner = _read_int(d / "owner")
        if owner is not None and _alive(owner):
            continue
        for pidfile in d.glob("*/rabbit.pid"):
            _end_pid(_read_int(pidfile))
        _kill_epmd(_read_int(d / "epmd_port"))
        if log:
            log("rabbit: removed the leftovers of %s" % d)
        shutil.rmtree(d, ignore_errors=True)


class RabbitCluster:
    def __init__(self, base=None):
        reap_orphans()
        self.base = Path(base or tempfile.mkdtemp(prefix=PREFIX))
        self.host = socket.gethostname()
        tag = "fl%d%04x" % (os.getpid(), random.getrandbits(16))
        self.names = (tag + "a", tag + "b")
        self.epmd_port = free_port()
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
            "ERL_EPMD_PORT": str(self.epmd_port),     # this cluster's own epmd
        })
        return env

    def _ctl(self, i, *args, timeout=120):
        return subprocess.run([_exe("rabbitmqctl"), "-n", "%s@localhost" % self.nodes[i]["name"]] + list(args),
                              env=self._env(i), capture_output=True, text=True, timeout=timeout)

    def start(self):
        if not available():
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        (self.base / "owner").write_text("%d\n" % os.getpid())
        (self.base / "epmd_port").write_text("%d\n" % self.epmd_port)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        cookie = self.base / ".erlang.cookie"
        cookie.write_text("FLEETTESTCOOKIE%d%08x" % (os.getpid(), random.getrandbits(32)))
        cookie.chmod(0o400)
        for name in self.names:
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
        for args in (("stop_app",), ("join_cluster", "%s@localhost" % self.names[0]), ("start_app",)):
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
            _end_pid(_read_int(self.nodes[i]["dir"] / "rabbit.pid"))     # the node's own beam
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        # epmd outlives the nodes: end this cluster's own, on its own port
        try:
            _kill_epmd(self.epmd_port)
        except Exception:
            pass
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
