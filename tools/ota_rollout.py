"""Head-end side of the update transfer and of a rollout (docs/ota.md, docs/protocol.md §11).

ChunkServer answers every meter's `<root>/<id>/ota/get` request from a publish directory
(tools/ota.py publish): one reply on `<root>/<id>/ota/data`, QoS 0, at most 1 KiB of data.
It is not trusted by the meters (they check everything against the signed manifest), so it
needs no secret. Rollout announces an update in waves, confirms each meter's probation with a
signed `status` (the round trip the meter waits for), and halts when a wave's failures
(refused, failed, rolled back, silent past the wave timeout) cross the threshold.
"""
import json
import math
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

CHUNK_MAX = 1024
TERMINAL = ("committed", "rolled_back", "refused", "failed", "cancelled")
_ID_OK = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")
_PATH_OK = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/")


class ChunkServer:
    def __init__(self, pub_dir, broker, root="meters"):
        self.pub = Path(pub_dir).resolve()
        self.root = root
        self.chunks = 0
        self.bytes = 0
        self.wire = 0               # MQTT bytes both ways (PUBLISH packets, QoS 0)
        self.drop = None            # test hook: fn(meter, request) -> True to not answer
        u = urlparse(broker)
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ota-srv-%d" % id(self))
        self.c.username_pw_set("ota-server")
        self.c.on_message = self._on
        self.c.on_connect = lambda c, *a: c.subscribe("%s/+/ota/get" % root, qos=0)
        self.c.connect(u.hostname, u.port or 1883, keepalive=30)
        self.c.loop_start()
        import socket
        deadline = time.time() + 10
        while not self.c.is_connected() and time.time() < deadline:
            time.sleep(0.02)
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _file(self, u, f):
        if not isinstance(u, str) or not u or set(u) - _ID_OK or not isinstance(f, str):
            return None
        if not 0 < len(f) <= 64 or set(f) - _PATH_OK or ".." in f.split("/"):
            return None                     # the meter's own rule (firmware/ota/manifest.py)
        base = self.pub / u if (self.pub / u / "MANIFEST").exists() else self.pub
        if not (base / "MANIFEST").exists() or json.loads((base / "update.json").read_text())["update"] != u:
            return None
        if f in ("MANIFEST", "IMAGE"):
            p = base / f
        else:
            p = (base / "files" / f).resolve()
            if base.resolve() / "files" not in p.parents:
                return None
        return p if p.is_file() else None

    def _on(self, c, userdata, m):
        parts = m.topic.split("/")
        try:
            req = json.loads(m.payload)
            mid, u, f, o, n = parts[-3], req["u"], req["f"], req["o"], req["n"]
        except (ValueError, KeyError, IndexError, TypeError):
            return
        if not isinstance(o, int) or not isinstance(n, int) or o < 0 or not 0 < n <= CHUNK_MAX:
            return
        if self.drop is not None and self.drop(mid, req):
            return
        hdr = {"u": u, "f": f, "o": o}
        try:
            p = self._file(u, f)
        except (OSError, ValueError, KeyError):     # a half-published update, a bad name
            p = None
        if p is None:
            hdr["err"] = "not_found"
            data = b""
        else:
            with open(p, "rb") as fh:
                fh.seek(o)
                data = fh.read(n)
        topic = "%s/%s/ota/data" % (self.root, mid)
        payload = json.dumps(hdr, separators=(",", ":")).encode() + b"\n" + data
        self.chunks += 1
        self.bytes += len(data)
        # fixed header (1) + remaining length (2) + topic length (2) + topic + payload
        self.wire += 5 + len(m.topic) + len(m.payload) + 5 + len(topic) + len(payload)
        c.publish(topic, payload, qos=0)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def serve_forever(pub_dir, broker, root):
    s = ChunkServer(pub_dir, broker, root)
    print("serving %s on %s (%s/+/ota/get); Ctrl-C to stop" % (pub_dir, broker, root), flush=True)
    try:
        while True:
            time.sleep(5)
    except KeyboardInterrupt:
        s.close()
        print("served %d chunks, %d bytes" % (s.chunks, s.bytes))
        return 0


def meters_in(d):
    """Provisioned meters under d: {id: {"key": bytes, "broker", "root"}}."""
    out = {}
    for conf in sorted(Path(d).glob("*/config.json")):
        c = json.loads(conf.read_text())
        out[c["id"]] = {"key": bytes.fromhex(c["key"]), "broker": c["broker"],
                        "root": c.get("root", "meters")}
    return out


class Rollout:
    def __init__(self, broker, root, update_dir, meters, waves=(1, 10, 100), max_fail=0.1,
                 wave_timeout_s=900.0, log=print, server=None, confirm=True):
        from headend import HeadEnd
        self.info = json.loads((Path(update_dir) / "update.json").read_text())
        self.uid = self.info["update"]
        self.meters = meters
        self.order = sorted(meters)
        self.waves = list(waves)
        self.max_fail = max_fail
        self.wave_timeout_s = wave_timeout_s
        self.log = log
        self.confirm = confirm
        self.server = server or ChunkServer(Path(update_dir).parent, broker, root)
        self.own_server = server is None
        self.he = HeadEnd(broker, root, "+", username="ota-rollout")
        self.status = {}            # meter -> last ota status seen
        self.reason = {}
        self.seen = {}              # meter -> highest event seq (events come at least once)
        self.seq = {}
        self.lock = threading.Lock()

    def _send(self, mid, op, args):
        s = max(self.seq.get(mid, 0) + 1, int(time.time() * 1000))
        self.seq[mid] = s
        self.he.send(mid, self.meters[mid]["key"], op, args, seq=s, wait_s=0)

    def announce(self, mid):
        self.status[mid] = "announced"
        self._send(mid, "ota", {"update": self.uid, "size": self.info["size"], "sig": self.info["sig"]})

    def _pump(self, timeout_s):
        import queue
        try:
            mid, kind, obj, _ = self.he.q.get(timeout=timeout_s)
        except queue.Empty:
            return
        if mid not in self.meters or not isinstance(obj, dict):
            return
        if kind == "ack" and obj.get("code") != "ok" and self.status.get(mid) == "announced":
            self.status[mid] = "refused"
            self.reason[mid] = "%s %s" % (obj.get("code"), obj.get("reason", ""))
        if kind != "evt" or obj.get("type") != "ota" or obj.get("update") != self.uid:
            return
        seq = obj.get("seq", 0)
        if seq <= self.seen.get(mid, 0):
            return
        self.seen[mid] = seq
        st = obj.get("status")
        if self.status.get(mid) in TERMINAL and st not in ("committed", "rolled_back"):
            return
        self.status[mid] = st
        if obj.get("reason"):
            self.reason[mid] = obj["reason"]
        if st == "trial" and self.confirm:
            self._send(mid, "status", {})   # the signed round trip probation waits for

    def _failed(self, wave):
        return [m for m in wave if self.status.get(m) in TERMINAL and self.status[m] != "committed"]

    def run(self):
        done, out, halted = 0, [], None
        n = len(self.order)
        try:
            for pct in self.waves:
                upto = min(n, max(done + 1, int(math.ceil(n * pct / 100.0))))
                wave = self.order[done:upto]
                done = upto
                self.log("wave %g%%: %d meters" % (pct, len(wave)))
                for m in wave:
                    self.announce(m)
                t_end = time.time() + self.wave_timeout_s
                limit = self.max_fail * len(wave)
                while time.time() < t_end:
                    self._pump(0.2)
                    if len(self._failed(wave)) > limit:
                        break
                    if all(self.status.get(m) in TERMINAL for m in wave):
                        break
                for m in wave:
                    if self.status.get(m) not in TERMINAL:
                        self.status[m] = self.status.get(m) or "announced"
                bad = self._failed(wave) + [m for m in wave if self.status[m] not in TERMINAL]
                w = {"pct": pct, "meters": len(wave), "failed": len(bad),
                     "committed": sum(1 for m in wave if self.status[m] == "committed")}
                out.append(w)
                self.log("wave %g%%: %d committed, %d failed" % (pct, w["committed"], w["failed"]))
                if len(bad) > limit:
                    halted = "wave %g%%: %d of %d failed (limit %.0f%%)" % (
                        pct, len(bad), len(wave), 100 * self.max_fail)
                    self.confirm = False    # probations still open end by their window
                    for m in wave:
                        if self.status[m] in ("announced", "accepted", "progress", "staged"):
                            self._send(m, "ota", {"cancel": self.uid})
                    break
            # meters already on probation finish by themselves; collect their last word
            t_end = time.time() + 5
            while time.time() < t_end:
                self._pump(0.2)
        finally:
            self.he.close()
            if self.own_server:
                self.server.close()
        return {"result": "halted" if halted else "done", "reason": halted, "update": self.uid,
                "waves": out, "status": dict(self.status), "reasons": dict(self.reason)}
