#!/usr/bin/env python3
"""Reference head-end for protocol v1 (docs/protocol.md): sign and send every op, print the
acks, follow evt / tele / state / ack for one meter or all (`+`), provision a flash dir.

  headend.py provision DIR --id e-0001 --kind electricity [--broker mqtt://127.0.0.1:1883] [--sim-speed 1]
  headend.py send DIR recharge txn=t-1 amount=500          (DIR holds the meter's config.json)
  headend.py send DIR tariff '{"price": 30000}'            (args as one JSON object)
  headend.py follow DIR            |   headend.py follow --broker mqtt://h:p --root meters --id +
  headend.py sim DIR '{"button": "press"}'

The command seq defaults to the current unix time in milliseconds, kept strictly increasing
for one head-end (one more than the last when two commands fall in the same millisecond or the
host clock steps back), without any state on disk (an integrator with several senders keeps a
counter).
"""
import argparse
import hashlib
import hmac
import json
import os
import queue
import secrets
import socket
import sys
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


def sign(key, body):
    """BODY + b"\\n" + 64 lowercase hex HMAC-SHA256(key, BODY)."""
    return body + b"\n" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def body_of(meter, seq, op, args, cid=None, exp=None):
    d = {"id": cid or "c-%d" % seq, "meter": meter, "seq": seq, "op": op, "args": args}
    if exp is not None:
        d["exp"] = exp
    return json.dumps(d, separators=(",", ":")).encode()


def provision(flash, meter_id, kind, broker="mqtt://127.0.0.1:1883", sim_speed=1, root=None, extra=None):
    os.makedirs(flash, exist_ok=True)
    conf = {"id": meter_id, "kind": kind, "key": secrets.token_hex(32), "broker": broker,
            "board": "sim", "sim_speed": sim_speed}
    if root:
        conf["root"] = root
    conf.update(extra or {})
    path = os.path.join(flash, "config.json")
    with open(path + ".new", "w") as f:
        json.dump(conf, f, indent=1)
    os.replace(path + ".new", path)
    return conf


class HeadEnd:
    """One paho connection: send signed commands, collect acks and everything a meter publishes."""

    def __init__(self, broker, root="meters", meter="+", client_id=None, clean=True,
                 username="headend", password=None, tls=None):
        u = urlparse(broker)
        self.root = root
        self.meter = meter
        self.q = queue.Queue()
        self.acks = {}
        self.last_seq = 0
        self._cv = threading.Condition()    # wait_ack wakes the moment an ack arrives
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "",
                             clean_session=clean)
        if username:
            # a named session: amqtt queues QoS 1 for an offline persistent session only when
            # it is not anonymous (docs/protocol.md §1)
            self.c.username_pw_set(username, password)
        if u.scheme == "mqtts":
            self.c.tls_set(**(tls or {}))
        self.c.on_message = self._msg
        self.c.on_connect = self._conn
        self._up = queue.Queue()
        self.c.connect(u.hostname, u.port or 1883, keepalive=30)
        self.c.loop_start()
        self._up.get(timeout=10)
        # TCP_NODELAY on the head-end hop too (otherwise Nagle's algorithm stalls small writes ~40 ms)
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _conn(self, c, userdata, flags, rc, props=None):
        for t in ("ack", "evt", "tele", "state"):
            c.subscribe("%s/%s/%s" % (self.root, self.meter, t), qos=1)
        self._up.put(rc)

    def _msg(self, c, userdata, m):
        parts = m.topic.split("/")
        try:
            obj = json.loads(m.payload)
        except ValueError:
            obj = {"_raw": m.payload}
        kind = parts[-1]
        if kind == "ack" and isinstance(obj, dict):
            with self._cv:
                self.acks.setdefault(obj.get("id"), []).append(obj)
                self._cv.notify_all()
        self.q.put((parts[-2], kind, obj, m.retain))

    def publish_raw(self, meter, payload, topic="cmd", retain=False, qos=1):
        return self.c.publish("%s/%s/%s" % (self.root, meter, topic), payload, qos=qos, retain=retain)

    def next_seq(self):
        """Unix milliseconds, strictly increasing for this head-end: a reused (id, seq) is
        answered as a duplicate of the earlier command, nothing applied (docs/protocol.md §3),
        and two commands can fall in the same millisecond or the host clock step back."""
        self.last_seq = max(int(time.time() * 1000), self.last_seq + 1)
        return self.last_seq

    def send(self, meter, key, op, args=None, seq=None, cid=None, exp=None, wait_s=10.0):
        if seq is None:
            seq = self.next_seq()
        elif isinstance(seq, int) and seq > self.last_seq:
            self.last_seq = seq      # a default seq after an explicit one stays above it
        b = body_of(meter, seq, op, args or {}, cid, exp)
        cid = json.loads(b)["id"]
        n0 = len(self.acks.get(cid, []))
        self.publish_raw(meter, sign(key, b))
        return self.wait_ack(cid, n0, wait_s) if wait_s else None

    def wait_ack(self, cid, n0=0, wait_s=10.0):
        t_end = time.monotonic() + wait_s
        with self._cv:
            while True:
                got = self.acks.get(cid, [])
                if len(got) > n0:
                    return got[n0]
                left = t_end - time.monotonic()
                if left <= 0:
                    return None
                self._cv.wait(left)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def _conf(flash):
    with open(os.path.join(flash, "config.json")) as f:
        return json.load(f)


def _args(items):
    if len(items) == 1 and items[0].startswith("{"):
        return json.loads(items[0])
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("provision")
    p.add_argument("flash")
    p.add_argument("--id", required=True)
    p.add_argument("--kind", required=True, choices=("electricity", "water", "gas"))
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    p.add_argument("--sim-speed", type=int, default=1)
    p.add_argument("--root")
    s = sub.add_parser("send")
    s.add_argument("flash")
    s.add_argument("op")
    s.add_argument("args", nargs="*")
    s.add_argument("--seq", type=int)
    s.add_argument("--exp", type=int)
    s.add_argument("--wait", type=float, default=10.0)
    m = sub.add_parser("sim")
    m.add_argument("flash")
    m.add_argument("json")
    f = sub.add_parser("follow")
    f.add_argument("flash", nargs="?")
    f.add_argument("--broker")
    f.add_argument("--root", default="meters")
    f.add_argument("--id", default="+")
    a = ap.parse_args(argv)
    if a.cmd == "provision":
        c = provision(a.flash, a.id, a.kind, a.broker, a.sim_speed, a.root)
        print("provisioned %s (%s) in %s" % (c["id"], c["kind"], a.flash))
        return 0
    conf = _conf(a.flash) if getattr(a, "flash", None) else {}
    broker = getattr(a, "broker", None) or conf.get("broker")
    root = conf.get("root", getattr(a, "root", None) or "meters")
    if a.cmd == "follow":
        he = HeadEnd(broker, root, conf.get("id", a.id))
        try:
            while True:
                meter, kind, obj, retained = he.q.get()
                print("%s %-5s %s%s" % (meter, kind, json.dumps(obj), " (retained)" if retained else ""), flush=True)
        except KeyboardInterrupt:
            return 0
    he = HeadEnd(broker, root, conf["id"])
    try:
        if a.cmd == "sim":
            he.publish_raw(conf["id"], a.json.encode(), topic="sim", qos=0).wait_for_publish(5)
            return 0
        ack = he.send(conf["id"], bytes.fromhex(conf["key"]), a.op, _args(a.args), a.seq, exp=a.exp,
                      wait_s=a.wait)
        print(json.dumps(ack) if ack else "no ack within %.0f s" % a.wait)
        return 0 if ack and ack.get("ok") else 1
    finally:
        he.close()


if __name__ == "__main__":
    sys.exit(main())
